"""The ingest service: MQTT in, validated readings into the store, acknowledged after commit.

Delivery: the broker's message is acknowledged (manual PUBACK) only after the
readings it carries are committed, or after its dead letter is published, so
killing ingest at any moment loses nothing: the broker redelivers what was not
acknowledged, and the store's idempotency makes the replay harmless.

Batching is natural: the worker takes everything waiting (up to a limit),
commits it in one transaction and acknowledges it. Under load batches grow;
when idle, a lone reading is committed at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from core import topics
from core.appdb.directory import DeviceRegistry
from core.clock import Clock, SystemClock
from core.errors import StoreError, StoreUnavailableError
from core.mqtt import MQTT_V5, MqttEndpoint, connect, new_client
from core.readings import Reading
from core.retry import Backoff
from core.timeseries import TimeSeriesStore
from ingest.pipeline import BatchPlan, Inbound, plan_batch
from ingest.settings import IngestSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Received:
    message: Inbound
    mid: int
    qos: int
    generation: int


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
    ) -> None:
        self._endpoint = endpoint
        self._store = store
        self._registry = registry
        self._settings = settings
        self._clock = clock or SystemClock()
        self._queue: queue.Queue[_Received] = queue.Queue()
        self._generation = 0
        # Held while acknowledging and while a disconnect voids the old message ids,
        # so an id from one connection is never acknowledged on the next.
        self._ack_lock = threading.Lock()
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self.stats = IngestStats()
        self._client = self._build_client()
        self._worker = threading.Thread(target=self._run, name="ingest-worker", daemon=True)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        connect(
            self._client,
            self._endpoint,
            clean_start=False,
            session_expiry_s=self._settings.session_expiry_s,
        )
        self._client.loop_start()
        self._worker.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        """Flush what is queued for a bounded time, then disconnect."""
        self._stopping.set()
        self._worker.join(timeout=self._settings.shutdown_flush_s + 5)
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
        self._queue.put(
            _Received(Inbound(msg.topic, bytes(msg.payload)), msg.mid, msg.qos, self._generation)
        )

    # -- the worker --------------------------------------------------------

    def _run(self) -> None:
        deadline: float | None = None
        while True:
            if self._stopping.is_set():
                deadline = deadline or time.monotonic() + self._settings.shutdown_flush_s
                if self._queue.empty() or time.monotonic() > deadline:
                    return
            batch = self._next_batch()
            if batch:
                try:
                    self._handle(batch)
                except Exception:  # one bad batch must not stop ingest
                    log.exception("a batch of %d messages failed; reconnecting so that the "
                                  "broker redelivers it", len(batch))
                    self._redeliver()

    def _next_batch(self) -> list[_Received]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        budget = self._settings.max_batch_readings
        while len(batch) < budget:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _handle(self, batch: list[_Received]) -> None:
        live = [r for r in batch if r.generation == self._generation]
        if not live:
            return
        plan = plan_batch(
            [r.message for r in live],
            registry=self._registry,
            now=self._clock.now(),
            max_payload_bytes=self._settings.max_payload_bytes,
            future_tolerance=timedelta(seconds=self._settings.future_tolerance_s),
        )
        if not self._commit(plan.readings):
            return  # stopping with the store down: nothing acknowledged, nothing lost
        if not self._publish_dead_letters(plan):
            return
        with self._ack_lock:
            for received in live:
                if received.generation == self._generation:
                    self._client.ack(received.mid, received.qos)
        self._announce(plan)
        self.stats.messages += len(live)
        self.stats.batches += 1
        self.stats.readings_rejected += sum(plan.rejections.values())

    def _redeliver(self) -> None:
        """The broker resends unacknowledged messages only on a new connection: make one."""
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
                log.warning("dead letter not confirmed by the broker; originals stay unacknowledged")
                return False
        if plan.rejections:
            self.stats.dead_letters += len(plan.dead_letters)
            log.info("dead-lettered %d messages: %s", len(plan.dead_letters), dict(plan.rejections))
        return True

    def _announce(self, plan: BatchPlan) -> None:
        if self._settings.publish_acks:
            for topic, payload in plan.ack_messages():
                self._client.publish(topic, payload, qos=1)
        if self._settings.publish_stored_events:
            for topic, payload in plan.stored_events():
                self._client.publish(topic, payload, qos=1)
