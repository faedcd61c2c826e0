"""The priority lane: safety-class readings committed and announced ahead of everything.

Under load, ingest's ordinary path has queues an urgent reading would wait in: the
broker's queue of ingest's persistent session (FIFO, and the broker sends no more
than its in-flight window of unacknowledged messages), ingest's own queue, the
batch being planned, the batch being written, the outgoing announcements. The
lane goes round all of them:

- **the scanner**, a process of its own (so that it never waits for the GIL behind
  ingest's planner and writer) with its own connection (a clean session) subscribed
  at QoS 0 to the same readings (``$share/{group}-priority/…`` when ingest runs as a
  shared group, so that replicas split the scanning too). QoS 0 is not held back by
  the in-flight window: the broker passes each message on as it arrives. Each message
  with a glucose, SpO2 or BP reading is decoded (the contract's own validation) and
  tested (ingest/priority.py); everything else is dropped at once. What it finds
  goes to ingest through a pipe: the topic, the payload and which readings; ingest
  binds them to the device's patient (its registry) as the ordinary path does. The
  scanner ends when ingest does (it reads the pipe's end of file), even after a
  SIGKILL.
- **the planner** tests the readings of each batch as well (ingest/service.py), for
  whatever the scanner did not see (it was reconnecting, or QoS 0 lost it).
- **the lane's thread** commits what either found (one small write; keys it committed
  already are skipped) and publishes a stored event with ``"urgent": true`` on a
  third connection (``{client_id}-priority``) that carries nothing else.

While the lane has readings in hand, ingest's planner (between messages) and writer
(before a commit) wait for it, at most ``LANE_FIRST_S``: in one Python process the
threads share one GIL, and under a CPU hog each of the lane's many small steps (the
pipe, the HTTP request, the publish) otherwise waits behind them.

The lane only accelerates: the reading's message still goes through the ordinary
path (committed again with its batch, a no-op for the idempotent store) and is
acknowledged to the broker only after that, so what ingest promises the gateway and
the broker does not change. If the lane's commit fails, its batch carries the
reading as before.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from core import topics
from core.appdb.directory import DeviceRegistry
from core.contract import decode_message, decode_readings
from core.cpu_priority import favour_this_thread
from core.errors import ContractError
from core.metrics import Metric
from core.mqtt import MQTT_V5, MqttEndpoint, connect, new_client
from core.readings import Reading, from_epoch_us, to_epoch_us
from core.timeseries import TimeSeriesStore
from ingest.announce import PriorityAnnouncer
from ingest.priority import PriorityTest
from ingest.settings import IngestSettings

log = logging.getLogger(__name__)

LANE_FIRST_S = 1.0  # ingest's planner and writer wait at most this long for the lane
_ANNOUNCED_KEPT = 10_000  # keys the lane committed, remembered (many seconds' worth)
_MAYBE = (b'"glucose"', b'"spo2"', b'"systolic"', b'"diastolic"')  # the metrics it tests
_Key = tuple[str, Metric, datetime]


@dataclass(frozen=True, slots=True)
class LaneStores:
    """Where the scanner process opens a store and a registry of its own, to commit and
    announce what it finds itself (``hearth ingest`` gives it; without it the scanner
    hands its finds to ingest's process)."""

    timeseries_url: str
    database_url: str
    registry_cache_s: float = 30.0

    def open(self) -> tuple[TimeSeriesStore, DeviceRegistry]:
        from core.appdb.directory import CachedRegistry, SqlDirectory
        from core.appdb.engine import make_engine
        from core.timeseries.factory import open_store

        registry = CachedRegistry(SqlDirectory(make_engine(self.database_url)),
                                  ttl=self.registry_cache_s)
        return open_store(self.timeseries_url), registry


@dataclass(slots=True)
class LaneStats:
    scanned: int = 0  # messages the scanner decoded
    readings: int = 0  # committed and announced ahead of their batch
    failures: int = 0  # commits that failed (their batch carries the readings)


class PriorityLane:
    def __init__(self, *, endpoint: MqttEndpoint, store: TimeSeriesStore,
                 registry: DeviceRegistry, settings: IngestSettings,
                 now: Callable[[], datetime], stores: LaneStores | None = None) -> None:
        self._endpoint = endpoint
        self._store = store
        self._registry = registry
        self._settings = settings
        self._now = now
        self._future_tolerance = timedelta(seconds=settings.future_tolerance_s)
        self.stats = LaneStats()
        self.planner_test = PriorityTest()  # the planner's own (each is single-threaded)
        self._scanner_test = PriorityTest()
        # (readings, time.monotonic() when found: by the scanner, or by the planner)
        self._found: queue.SimpleQueue[tuple[list[Reading], float]] = queue.SimpleQueue()
        self._announced: dict[_Key, None] = {}
        self._patients: dict[str, None] = {}  # whose readings the lane announced lately
        self._announced_lock = threading.Lock()
        # Keys handed to the lane and not yet committed and announced (or failed): a
        # batch holding one waits for it a moment (``not_yet_announced``).
        self._in_flight: dict[_Key, int] = {}
        self._settled = threading.Condition(self._announced_lock)
        # Set while nothing is in the lane's hands. Ingest's planner and writer wait for
        # it (``pause``): one process, one GIL, and the lane goes first.
        self._idle = threading.Event()
        self._idle.set()
        self._stopping = threading.Event()
        self._scanner_ready = threading.Event()
        self._received = self._bound = 0.0  # when the last scanned message came, was bound
        self._publisher = new_client(f"{settings.client_id}-priority",
                                     protocol=settings.protocol)
        self._announcer = PriorityAnnouncer(self._publisher)
        self._thread = threading.Thread(target=self._run, name="ingest-priority",
                                        daemon=True)
        self._receiver = threading.Thread(target=self._receive, name="ingest-priority-scan",
                                          daemon=True)
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child_end = ctx.Pipe(duplex=True)
        self._scanner = ctx.Process(
            target=scan, name="hearth-ingest-scanner", daemon=True,
            args=(child_end, endpoint, _scan_topic(settings), settings.protocol,
                  f"{settings.client_id}-scan-{os.getpid()}", settings.max_payload_bytes,
                  settings.future_tolerance_s, stores, settings.priority_nice))
        self._child_end = child_end

    def start(self) -> None:
        connect(self._publisher, self._endpoint)  # a clean session: nothing to keep
        self._publisher.loop_start()
        self._scanner.start()
        self._child_end.close()  # the child's now: its end of file tells us it ended
        self._receiver.start()
        self._thread.start()

    def wait_scanning(self, timeout: float) -> bool:
        """Whether the scanner has subscribed (tests; the planner covers until then)."""
        return self._scanner_ready.wait(timeout)

    def stop(self) -> None:
        """After the planner stopped: commit and announce what was found, then leave."""
        self._stopping.set()
        try:
            self._pipe.send("stop")  # the scanner leaves; its end of file ends _receive
        except OSError:
            pass  # it has ended already
        self._scanner.join(timeout=10)
        if self._scanner.is_alive():
            self._scanner.kill()
            self._scanner.join(timeout=10)
        self._receiver.join(timeout=10)
        self._pipe.close()
        self._thread.join(timeout=10)
        self._publisher.disconnect()
        self._publisher.loop_stop()

    def offer(self, readings: list[Reading]) -> None:
        """Safety-class readings the planner found (it calls this as it decodes)."""
        self._hand_over(readings, time.monotonic())

    def _hand_over(self, readings: list[Reading], since: float) -> None:
        self._track(readings)
        self._found.put((readings, since))

    def _track(self, readings: list[Reading]) -> None:
        """These readings are in the lane's hands until ``_settle``."""
        with self._announced_lock:
            for r in readings:
                key = (r.device_id, r.metric, r.measured_at)
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
            self._idle.clear()

    def pause(self) -> None:
        """Wait (at most ``LANE_FIRST_S``) while the lane commits and announces."""
        self._idle.wait(timeout=LANE_FIRST_S)

    def _settle(self, readings: list[Reading]) -> None:
        """(Lock held.) These readings' hand-overs are done with."""
        for r in readings:
            key = (r.device_id, r.metric, r.measured_at)
            left = self._in_flight.get(key, 0) - 1
            if left > 0:
                self._in_flight[key] = left
            else:
                self._in_flight.pop(key, None)
        if not self._in_flight:
            self._idle.set()
        self._settled.notify_all()

    # -- what the scanner found (a thread of ingest's) -----------------------------------

    def _receive(self) -> None:
        favour_this_thread(self._settings.priority_nice)
        while True:
            try:
                found = self._pipe.recv()
            except (EOFError, OSError):  # the scanner ended
                if not self._stopping.is_set():
                    log.warning("the priority scanner ended; the planner still finds "
                                "safety-class readings, later")
                return
            if found == "ready":
                self._scanner_ready.set()
                continue
            if found[0] == "announced":  # the scanner committed and announced these itself
                self._note_announced(*found[1:])
                continue
            self._received = time.monotonic()
            try:
                self._bind(*found)
            except Exception:  # noqa: BLE001 - the ordinary path handles the message
                log.debug("a scanned message could not be bound", exc_info=True)

    def _bind(self, topic: str, payload: bytes, chosen: list[tuple[str, int]],
              since: float) -> None:
        device_id = topics.last_level(topic, "up")
        if device_id is None:
            return
        binding = self._registry.binding(device_id)
        if binding is None or not binding.active:
            return
        try:
            decoded = decode_readings(
                payload, topic_device_id=device_id, patient_id=binding.patient_id,
                now=self._now(), max_bytes=self._settings.max_payload_bytes,
                future_tolerance=self._future_tolerance)
        except ContractError:
            return
        self._bound = time.monotonic()
        wanted = {(metric, from_epoch_us(at)) for metric, at in chosen}
        readings = [r for r in decoded.measurements if (str(r.metric), r.measured_at) in wanted]
        if readings:
            self.stats.scanned += 1
            # Committed here, on the receiving thread: one thread hand-over fewer.
            self._track(readings)
            self._process(readings, since)

    # -- commit and announce (the lane's thread) -----------------------------------------

    def _run(self) -> None:
        favour_this_thread(self._settings.priority_nice)
        while True:
            try:
                readings, since = self._found.get(timeout=0.2)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            while True:  # everything waiting goes in one write
                try:
                    more, when = self._found.get_nowait()
                except queue.Empty:
                    break
                readings, since = readings + more, min(since, when)
            self._process(readings, since)

    def _process(self, readings: list[Reading], since: float) -> None:
        """Commit and announce what the lane has not yet; then settle them."""
        with self._announced_lock:
            fresh = {(r.device_id, r.metric, r.measured_at): r for r in readings
                     if (r.device_id, r.metric, r.measured_at) not in self._announced}
        try:
            if fresh:
                self._commit_and_announce(fresh, since)
        finally:
            with self._announced_lock:
                self._settle(readings)

    def _commit_and_announce(self, fresh: Mapping[_Key, Reading], since: float) -> None:
        readings = list(fresh.values())
        began = time.monotonic()
        try:
            self._store.write(readings)
        except Exception as exc:  # noqa: BLE001 - their batch carries these readings
            self.stats.failures += 1
            log.warning("priority commit of %d readings failed (%s); they follow with "
                        "their batch", len(readings), type(exc).__name__)
            return
        touched: dict[str, set[str]] = {}
        for r in readings:
            touched.setdefault(r.patient_id, set()).add(str(r.metric))
        committed = time.monotonic()
        self._announcer.announce(touched)
        self.stats.readings += len(readings)
        log.info("priority lane: %d readings committed and announced %.0f ms after they "
                 "were found (%.0f ms waiting, of which %.0f ms to receive and %.0f ms to "
                 "bind; %.0f ms to commit, %.0f ms to announce)",
                 len(readings), 1000 * (time.monotonic() - since), 1000 * (began - since),
                 1000 * max(0.0, self._received - since),
                 1000 * max(0.0, self._bound - self._received),
                 1000 * (committed - began), 1000 * (time.monotonic() - committed))
        with self._announced_lock:
            self._announced.update(dict.fromkeys(fresh))
            while len(self._announced) > _ANNOUNCED_KEPT:
                del self._announced[next(iter(self._announced))]
            for patient_id in touched:
                self._patients.pop(patient_id, None)
                self._patients[patient_id] = None
            while len(self._patients) > _ANNOUNCED_KEPT:
                del self._patients[next(iter(self._patients))]

    def _note_announced(self, keys: list[tuple[str, str, str, int]],
                        times: tuple[float, float, float, float]) -> None:
        """(patient, device, metric, µs) the scanner process committed and announced."""
        found, began, committed, done = times
        with self._announced_lock:
            for patient_id, device_id, metric, at in keys:
                self._announced[(device_id, Metric(metric), from_epoch_us(at))] = None
                self._patients.pop(patient_id, None)
                self._patients[patient_id] = None
            _trim(self._announced, _ANNOUNCED_KEPT)
            _trim(self._patients, _ANNOUNCED_KEPT)
        self.stats.readings += len(keys)
        log.info("priority lane (scanner process): %d readings committed and announced "
                 "%.0f ms after they were found (%.0f ms waiting, %.0f ms to commit, %.0f ms "
                 "to announce)", len(keys), 1000 * (done - found), 1000 * (began - found),
                 1000 * (committed - began), 1000 * (done - committed))

    def not_yet_announced(self, readings: list[Reading], touched: Mapping[str, set[Metric]],
                          *, settle_s: float = 2.0) -> Mapping[str, set[Metric]]:
        """A batch's touched metrics, less each patient's metric whose readings in the
        batch the lane has all announced already (so that two coach processes do not
        both evaluate it). Readings of the batch still in the lane's hands are waited
        for, a moment (``settle_s``): if the lane fails, the batch announces them."""
        with self._announced_lock:
            if self._in_flight:
                mine = {(r.device_id, r.metric, r.measured_at) for r in readings}
                self._settled.wait_for(lambda: mine.isdisjoint(self._in_flight),
                                       timeout=settle_s)
            patients = {p for p in touched if p in self._patients}
            if not patients:
                return touched
            announced = self._announced
            left = {(r.patient_id, r.metric) for r in readings if r.patient_id in patients
                    and (r.device_id, r.metric, r.measured_at) not in announced}
            left |= {(p, m) for p, metrics in touched.items() if p not in patients
                     for m in metrics}
        out: dict[str, set[Metric]] = {}
        for patient_id, metrics in touched.items():
            rest = {m for m in metrics if (patient_id, m) in left}
            if rest:
                out[patient_id] = rest
        return out


def _scan_topic(settings: IngestSettings) -> str:
    group = settings.shared_group
    return topics.shared(f"{group}-priority", topics.UP_ALL) if group else topics.UP_ALL


def _trim(known: dict[Any, None], limit: int) -> None:
    while len(known) > limit:
        del known[next(iter(known))]


def scan(pipe: Connection, endpoint: MqttEndpoint, topic: str, protocol: str, client_id: str,
         max_payload_bytes: int, future_tolerance_s: float,
         stores: LaneStores | None = None, nice: int = 0) -> None:
    """The scanner process: QoS 0 readings in, safety-class ones found. With ``stores``
    it commits and announces them itself (a thread of its own, a connection of its own)
    and tells ingest which; without, it hands them to ingest by ``pipe``. The whole
    process runs at ``nice`` (every thread it starts inherits it; core/cpu_priority.py)."""
    favour_this_thread(nice)
    test = PriorityTest()
    tolerance = timedelta(seconds=future_tolerance_s)
    sending = threading.Lock()
    found_q: queue.SimpleQueue[tuple[str, bytes, list[tuple[str, int]], float]] = \
        queue.SimpleQueue()
    publisher: mqtt.Client | None = None
    if stores is not None:
        publisher = new_client(f"{client_id}-pub", protocol=protocol)
        connect(publisher, endpoint)
        publisher.loop_start()
        store, registry = stores.open()
        announcer = PriorityAnnouncer(publisher)

        def commit_and_announce() -> None:
            while True:
                topic_, payload, keys, found = found_q.get()
                began = time.monotonic()
                device_id = topics.last_level(topic_, "up")
                try:
                    binding = registry.binding(device_id) if device_id else None
                    if binding is None or not binding.active:
                        continue
                    decoded = decode_readings(
                        payload, topic_device_id=str(device_id),
                        patient_id=binding.patient_id, now=datetime.now(UTC),
                        max_bytes=max_payload_bytes, future_tolerance=tolerance)
                    wanted = {(m, from_epoch_us(at)) for m, at in keys}
                    readings = [r for r in decoded.measurements
                                if (str(r.metric), r.measured_at) in wanted]
                    if not readings:
                        continue
                    store.write(readings)
                except Exception:  # noqa: BLE001 - ingest's ordinary path has the message
                    continue
                committed = time.monotonic()
                announcer.announce({binding.patient_id: {str(r.metric) for r in readings}})
                done = time.monotonic()
                with sending:
                    pipe.send(("announced",
                               [(r.patient_id, r.device_id, str(r.metric),
                                 to_epoch_us(r.measured_at)) for r in readings],
                               (found, began, committed, done)))

        threading.Thread(target=commit_and_announce, name="scanner-lane", daemon=True).start()

    def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the priority scanner's connection: %s", reason)
            return
        if protocol == MQTT_V5:
            client.subscribe(topic, options=SubscribeOptions(qos=0))
        else:
            client.subscribe(topic, qos=0)

    def on_subscribe(*_a: Any) -> None:
        with sending:
            pipe.send("ready")

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        if not any(name in payload for name in _MAYBE):
            return
        device_id = topics.last_level(msg.topic, "up")
        if device_id is None:
            return
        now = datetime.now(UTC)
        try:
            decoded = decode_message(payload, topic_device_id=device_id, now=now,
                                     max_bytes=max_payload_bytes, future_tolerance=tolerance)
        except ContractError:
            return
        chosen = test.select(decoded.measurements, now)
        if chosen:
            keys = [(str(m.metric), to_epoch_us(m.measured_at)) for m in chosen]
            if stores is not None:
                found_q.put((msg.topic, payload, keys, time.monotonic()))
                return
            with sending:
                pipe.send((msg.topic, payload, keys, time.monotonic()))

    client = new_client(client_id, protocol=protocol)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    connect(client, endpoint)
    client.loop_start()
    try:
        while pipe.recv() != "stop":  # or the end of file: ingest ended without a word
            pass
    except (EOFError, OSError, KeyboardInterrupt):
        pass
    finally:
        client.disconnect()
        client.loop_stop()
        if publisher is not None:
            publisher.disconnect()
            publisher.loop_stop()
