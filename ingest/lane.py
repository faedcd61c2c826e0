"""The priority lane: safety-class readings committed and announced ahead of everything.

Under load, ingest's ordinary path has queues an urgent reading would wait in: the
broker's queue of ingest's persistent session (FIFO, and the broker sends no more
than its in-flight window of unacknowledged messages), ingest's own queue, the
batch being planned, the batch being written, the outgoing announcements. The
lane goes round all of them:

- **the scanner**, a second connection (client id ``{client_id}-scan``, a clean
  session) subscribed at QoS 0 to the same readings (``$share/{group}-priority/…``
  when ingest runs as a shared group, so that replicas split the scanning too). QoS 0
  is not held back by the in-flight window: the broker passes each message on as it
  arrives. On its network thread each message with a glucose, SpO2 or BP reading is
  decoded (the contract's own validation, the device's binding) and tested
  (ingest/priority.py); everything else is dropped at once.
- **the planner** tests the readings of each batch as well (ingest/service.py), for
  whatever the scanner did not see (it was reconnecting, or QoS 0 lost it).
- **the lane's thread** commits what either found (one small write; keys it committed
  already are skipped) and publishes a stored event with ``"urgent": true`` on a
  third connection (``{client_id}-priority``) that carries nothing else.

The lane only accelerates: the reading's message still goes through the ordinary
path (committed again with its batch, a no-op for the idempotent store) and is
acknowledged to the broker only after that, so what ingest promises the gateway and
the broker does not change. If the lane's commit fails, its batch carries the
reading as before.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from core import topics
from core.appdb.directory import DeviceRegistry
from core.contract import decode_readings
from core.errors import ContractError
from core.metrics import Metric
from core.mqtt import MQTT_V5, MqttEndpoint, connect, new_client
from core.readings import Reading
from core.timeseries import TimeSeriesStore
from ingest.announce import PriorityAnnouncer
from ingest.priority import PriorityTest
from ingest.settings import IngestSettings

log = logging.getLogger(__name__)

_ANNOUNCED_KEPT = 10_000  # keys the lane committed, remembered (many seconds' worth)
_MAYBE = (b'"glucose"', b'"spo2"', b'"systolic"', b'"diastolic"')  # the metrics it tests
_Key = tuple[str, Metric, datetime]


@dataclass(slots=True)
class LaneStats:
    scanned: int = 0  # messages the scanner decoded
    readings: int = 0  # committed and announced ahead of their batch
    failures: int = 0  # commits that failed (their batch carries the readings)


class PriorityLane:
    def __init__(self, *, endpoint: MqttEndpoint, store: TimeSeriesStore,
                 registry: DeviceRegistry, settings: IngestSettings,
                 now: Callable[[], datetime]) -> None:
        self._endpoint = endpoint
        self._store = store
        self._registry = registry
        self._settings = settings
        self._now = now
        self._future_tolerance = timedelta(seconds=settings.future_tolerance_s)
        self.stats = LaneStats()
        self.planner_test = PriorityTest()  # the planner's own (each is single-threaded)
        self._scanner_test = PriorityTest()
        self._found: queue.SimpleQueue[list[Reading]] = queue.SimpleQueue()
        self._announced: dict[_Key, None] = {}
        self._patients: dict[str, None] = {}  # whose readings the lane announced lately
        self._announced_lock = threading.Lock()
        self._stopping = threading.Event()
        self._scanner = new_client(f"{settings.client_id}-scan", protocol=settings.protocol)
        self._scanner.on_connect = self._on_scanner_connect
        self._scanner.on_message = self._on_scanned
        self._publisher = new_client(f"{settings.client_id}-priority",
                                     protocol=settings.protocol)
        self._announcer = PriorityAnnouncer(self._publisher)
        self._thread = threading.Thread(target=self._run, name="ingest-priority",
                                        daemon=True)

    @property
    def scan_topic(self) -> str:
        group = self._settings.shared_group
        return topics.shared(f"{group}-priority", topics.UP_ALL) if group else topics.UP_ALL

    def start(self) -> None:
        connect(self._publisher, self._endpoint)  # clean sessions: nothing to keep
        self._publisher.loop_start()
        connect(self._scanner, self._endpoint)
        self._scanner.loop_start()
        self._thread.start()

    def stop(self) -> None:
        """After the planner stopped: commit and announce what was found, then leave."""
        self._scanner.disconnect()
        self._scanner.loop_stop()
        self._stopping.set()
        self._thread.join(timeout=10)
        self._publisher.disconnect()
        self._publisher.loop_stop()

    def offer(self, readings: list[Reading]) -> None:
        """Safety-class readings the planner found (it calls this as it decodes)."""
        self._found.put(readings)

    # -- the scanner (its own network thread) ------------------------------------------

    def _on_scanner_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any,
                            _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the priority scanner's connection: %s", reason)
            return
        if self._settings.protocol == MQTT_V5:
            client.subscribe(self.scan_topic, options=SubscribeOptions(qos=0))
        else:
            client.subscribe(self.scan_topic, qos=0)

    def _on_scanned(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        if not any(name in payload for name in _MAYBE):
            return
        device_id = topics.last_level(msg.topic, "up")
        if device_id is None:
            return
        try:  # anything wrong here is the ordinary path's to dead-letter
            binding = self._registry.binding(device_id)
            if binding is None or not binding.active:
                return
            now = self._now()
            decoded = decode_readings(
                payload, topic_device_id=device_id, patient_id=binding.patient_id, now=now,
                max_bytes=self._settings.max_payload_bytes,
                future_tolerance=self._future_tolerance)
        except ContractError:
            return
        except Exception:  # noqa: BLE001 - e.g. the registry away: the planner still tests
            log.debug("priority scan of a message failed", exc_info=True)
            return
        self.stats.scanned += 1
        if decoded.measurements and (chosen := self._scanner_test.select(
                decoded.measurements, now)):
            self._found.put(chosen)

    # -- commit and announce (the lane's thread) -----------------------------------------

    def _run(self) -> None:
        while True:
            try:
                readings = self._found.get(timeout=0.2)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            while True:  # everything waiting goes in one write
                try:
                    readings = readings + self._found.get_nowait()
                except queue.Empty:
                    break
            with self._announced_lock:
                fresh = {(r.device_id, r.metric, r.measured_at): r for r in readings
                         if (r.device_id, r.metric, r.measured_at) not in self._announced}
            if fresh:
                self._commit_and_announce(fresh)

    def _commit_and_announce(self, fresh: Mapping[_Key, Reading]) -> None:
        readings = list(fresh.values())
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
        self._announcer.announce(touched)
        self.stats.readings += len(readings)
        with self._announced_lock:
            self._announced.update(dict.fromkeys(fresh))
            while len(self._announced) > _ANNOUNCED_KEPT:
                del self._announced[next(iter(self._announced))]
            for patient_id in touched:
                self._patients.pop(patient_id, None)
                self._patients[patient_id] = None
            while len(self._patients) > _ANNOUNCED_KEPT:
                del self._patients[next(iter(self._patients))]

    def not_yet_announced(self, readings: list[Reading],
                          touched: Mapping[str, set[Metric]]) -> Mapping[str, set[Metric]]:
        """A batch's touched metrics, less each patient's metric whose readings in the
        batch the lane has all announced already (so that two coach processes do not
        both evaluate it)."""
        with self._announced_lock:
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
