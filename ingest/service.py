"""The ingest service: MQTT in, validated readings into the store, acknowledged after commit.

Delivery: the broker's message is acknowledged (manual PUBACK) only after the
readings it carries are committed, or after its dead letter is published, so
killing ingest at any moment loses nothing: the broker redelivers what was not
acknowledged, and the store's idempotency makes the replay harmless.

Batching is natural: the planner takes everything waiting (up to a limit) and
validates it; the writer commits each planned batch in one transaction and
acknowledges it. The two run as a pipeline: while the writer commits batch N
(the store's own work runs outside the GIL), the planner validates batch N+1.
At most one planned batch waits between them, batches are committed in the
order they were planned, and a batch's messages are acknowledged only after
its own commit. Under load batches grow; when idle, a lone reading is
committed at once.

After the commit the writer hands the batch's acknowledgements and stored events to
the announcer (ingest/announce.py): merged per device and per patient while they
wait, published through a bounded in-flight window.

The priority lane (ingest/lane.py): safety-class readings (ingest/priority.py: a low
or fast-falling glucose, a low SpO2, a BP crisis) are found as they reach the broker,
by a QoS 0 scanner of the same stream, and by the planner as it decodes each batch;
a thread of their own commits them (a small write) and announces them with an
``"urgent": true`` stored event on a connection that carries nothing else. So they
wait neither in the broker's queue for ingest's session, nor for the rest of their
batch, nor for the writer, nor behind the ordinary announcements. The reading is
committed again with its batch (the store's idempotency makes that a no-op) and its
message is acknowledged only then, as any other.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from core import topics
from core.appdb.directory import DeviceRegistry
from core.clock import Clock, SystemClock
from core.errors import StoreError, StoreUnavailableError
from core.metrics import Metric
from core.mqtt import MQTT_V5, MqttEndpoint, connect, new_client
from core.readings import Reading
from core.retry import Backoff
from core.timeseries import TimeSeriesStore
from ingest.announce import Announcer
from ingest.lane import LaneStores, PriorityLane
from ingest.pipeline import BatchPlan, Inbound, plan_batch
from ingest.settings import IngestSettings

log = logging.getLogger(__name__)


# (topic, payload, mid, qos, generation): a tuple, as paho's thread makes one a message
_Received = tuple[str, bytes, int, int, int]


@dataclass(slots=True)
class _Planned:
    live: list[_Received]
    plan: BatchPlan


@dataclass(slots=True)
class IngestStats:
    messages: int = 0
    readings_stored: int = 0
    readings_duplicate: int = 0
    readings_rejected: int = 0
    dead_letters: int = 0
    batches: int = 0
    store_failures: int = 0


class IngestService:
    def __init__(
        self,
        *,
        endpoint: MqttEndpoint,
        store: TimeSeriesStore,
        registry: DeviceRegistry,
        settings: IngestSettings,
        clock: Clock | None = None,
        lane_stores: LaneStores | None = None,
    ) -> None:
        """``lane_stores``: where the priority lane's scanner process opens a store and
        registry of its own (ingest/lane.py); without, it works through this process."""
        self._endpoint = endpoint
        self._store = store
        self._registry = registry
        self._settings = settings
        self._clock = clock or SystemClock()
        self._queue: queue.SimpleQueue[_Received] = queue.SimpleQueue()
        # The planner hands each batch to the writer; one waits while one is written.
        self._planned: queue.Queue[_Planned | None] = queue.Queue(maxsize=1)
        self._generation = 0
        # Held while acknowledging and while a disconnect voids the old message ids,
        # so an id from one connection is never acknowledged on the next.
        self._ack_lock = threading.Lock()
        self._redeliver_lock = threading.Lock()  # the planner and the writer may both ask
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self.stats = IngestStats()
        self._client = self._build_client()
        self._announcer = Announcer(
            self._client, window=settings.announce_window,
            max_pending=settings.announce_max_pending, acks=settings.publish_acks,
            stored_events=settings.publish_stored_events,
            stored_form=settings.stored_events_form)
        self._worker = threading.Thread(target=self._run, name="ingest-worker", daemon=True)
        self._writer = threading.Thread(target=self._write_planned, name="ingest-writer",
                                        daemon=True)
        # The priority lane (ingest/lane.py): its own connections and thread.
        self._lane: PriorityLane | None = None
        if settings.priority_lane and settings.publish_stored_events:
            self._lane = PriorityLane(endpoint=endpoint, store=store, registry=registry,
                                      settings=settings, now=self._clock.now,
                                      stores=lane_stores)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        connect(
            self._client,
            self._endpoint,
            clean_start=False,
            session_expiry_s=self._settings.session_expiry_s,
        )
        self._client.loop_start()
        if self._lane is not None:
            self._lane.start()
        self._announcer.start()
        self._writer.start()
        self._worker.start()

    @property
    def lane(self) -> PriorityLane | None:
        return self._lane

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        """Flush what is queued for a bounded time, then disconnect."""
        self._stopping.set()
        self._worker.join(timeout=self._settings.shutdown_flush_s + 5)
        self._writer.join(timeout=self._settings.shutdown_flush_s + 5)
        if not self._announcer.flush(timeout=self._settings.shutdown_flush_s):
            log.warning("stopping before every acknowledgement and stored event was "
                        "confirmed by the broker")
        self._announcer.stop()
        if self._lane is not None:
            self._lane.stop()
        self._client.disconnect()
        self._client.loop_stop()
        self._stopped.set()

    # -- MQTT callbacks (paho's network thread) ----------------------------

    def _build_client(self) -> mqtt.Client:
        client = new_client(
            self._settings.client_id,
            protocol=self._settings.protocol,
            manual_ack=True,
            clean_session=False,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _subscription(self) -> str:
        group = self._settings.shared_group
        return topics.shared(group, topics.UP_ALL) if group else topics.UP_ALL

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        # Subscribe on every connect: a subscription made once is lost on reconnect.
        if self._settings.protocol == MQTT_V5:
            client.subscribe(self._subscription(), options=SubscribeOptions(qos=1))
        else:
            client.subscribe(self._subscription(), qos=1)
        self._connected.set()
        log.info("connected to the broker; subscribed to %s", self._subscription())

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        # Message ids of the old connection are void: what was not acknowledged
        # will be redelivered on the new one, so queued copies are dropped.
        with self._ack_lock:
            self._generation += 1
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("disconnected from the broker (%s); paho will reconnect", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # As little as possible on paho's thread: it reads every message of the stream.
        self._queue.put((msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._generation))

    # -- the planner (worker thread) -----------------------------------------

    def _run(self) -> None:
        deadline: float | None = None
        try:
            while True:
                if self._stopping.is_set():
                    deadline = deadline or time.monotonic() + self._settings.shutdown_flush_s
                    if self._queue.empty() or time.monotonic() > deadline:
                        return
                batch = self._next_batch()
                if not batch:
                    continue
                try:
                    planned = self._plan(batch)
                except Exception:  # one bad batch must not stop ingest
                    log.exception("planning a batch of %d messages failed; reconnecting so "
                                  "that the broker redelivers it", len(batch))
                    self._redeliver()
                    continue
                if planned is not None:
                    self._planned.put(planned)
        finally:
            self._planned.put(None)  # the writer finishes what is planned, then stops

    def _next_batch(self) -> list[_Received]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        budget = self._settings.max_batch_readings
        get = self._queue.get_nowait
        while len(batch) < budget:
            try:
                batch.append(get())
            except queue.Empty:
                break
        return batch

    def _plan(self, batch: list[_Received]) -> _Planned | None:
        generation = self._generation
        live = [r for r in batch if r[4] == generation]
        if not live:
            return None
        plan = plan_batch(
            [Inbound(r[0], r[1]) for r in live],
            registry=self._registry,
            now=self._clock.now(),
            max_payload_bytes=self._settings.max_payload_bytes,
            future_tolerance=timedelta(seconds=self._settings.future_tolerance_s),
            priority=self._lane.planner_test if self._lane is not None else None,
            on_priority=self._lane.offer if self._lane is not None else None,
            pause=self._lane.pause if self._lane is not None else None,
        )
        return _Planned(live, plan)

    # -- the writer ------------------------------------------------------------

    def _write_planned(self) -> None:
        while True:
            planned = self._planned.get()
            if planned is None:
                return
            try:
                self._finish(planned.live, planned.plan)
            except Exception:  # one bad batch must not stop ingest
                log.exception("a batch of %d messages failed; reconnecting so that the "
                              "broker redelivers it", len(planned.live))
                self._redeliver()

    def _finish(self, live: list[_Received], plan: BatchPlan) -> None:
        """Commit, confirm the dead letters, and only then acknowledge and announce."""
        if self._lane is not None:
            self._lane.pause()  # the priority lane's commit first
        if not self._commit(plan.readings):
            return  # stopping with the store down: nothing acknowledged, nothing lost
        if not self._publish_dead_letters(plan):
            return
        # Before the broker hears of it: a full announcer holds the writer back, and
        # with it the acknowledgements that let the broker send more.
        touched: Mapping[str, set[Metric]] = plan.touched
        if self._lane is not None:
            touched = self._lane.not_yet_announced(plan.readings, plan.touched)
        self._announcer.add(plan.handled_seqs, touched)
        with self._ack_lock:
            generation = self._generation
            ack = self._client.ack
            for received in live:
                if received[4] == generation:
                    ack(received[2], received[3])
        self.stats.messages += len(live)
        self.stats.batches += 1
        self.stats.readings_rejected += sum(plan.rejections.values())

    def _redeliver(self) -> None:
        """The broker resends unacknowledged messages only on a new connection: make one."""
        with self._redeliver_lock:
            try:
                self._client.disconnect()
                self._client.loop_stop()
                time.sleep(Backoff(initial=1.0).next_delay())
                self._client.reconnect()
                self._client.loop_start()
            except Exception:
                log.exception("could not reconnect; paho will keep trying")
                self._client.loop_start()

    def _commit(self, readings: list[Reading]) -> bool:
        backoff = Backoff(initial=0.2, cap=10.0)
        failing = False
        while True:
            try:
                new = self._store.write(readings)
            except StoreUnavailableError as exc:
                self.stats.store_failures += 1
                if not failing:
                    log.error("store unavailable, holding %d readings unacknowledged: %s",
                              len(readings), exc)
                    failing = True
                if self._stopping.is_set():
                    return False
                time.sleep(backoff.next_delay())
                continue
            except StoreError:
                log.exception("store rejected a batch of %d readings", len(readings))
                raise
            if failing:
                log.info("store recovered; batch committed")
            self.stats.readings_stored += new
            self.stats.readings_duplicate += len(readings) - new
            return True

    def _publish_dead_letters(self, plan: BatchPlan) -> bool:
        infos = [self._client.publish(t, p, qos=1) for t, p in plan.dead_letters]
        for info in infos:
            try:
                info.wait_for_publish(timeout=10)
            except (RuntimeError, ValueError):
                pass
            if not info.is_published():
                log.warning("dead letter not confirmed by the broker; originals stay "
                            "unacknowledged")
                return False
        if plan.rejections:
            self.stats.dead_letters += len(plan.dead_letters)
            log.info("dead-lettered %d messages: %s", len(plan.dead_letters), dict(plan.rejections))
        return True
