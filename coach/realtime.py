"""The real-time path: ``hearth/v1/stored/{patient_id}`` in, rules and delivery within seconds.

Ingest publishes a small event after it commits readings (no values: the
patient id and the metrics that have news). The coach subscribes with a
persistent session (MQTT v5 ``clean_start=False`` with a session expiry, or a
3.1.1 persistent session) at QoS 1 and acknowledges an event only after the
patient was evaluated and what the dispatcher decided was handed to delivery
(``manual_ack``): a coach that dies in between gets the event again, and the
dispatcher's cool-downs and the delivery record's unique key keep that replay
from repeating a message.

Events are coalesced per patient: a burst (a CGM backfill, a gateway flushing
its outbox) is one evaluation, run ``coalesce_s`` after the first event. One
patient is never evaluated by two workers at once; events that arrive while
their patient is being evaluated wait for the next round.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from coach.messages import Outbound
from coach.settings import CoachSettings
from core import topics
from core.clock import Clock, SystemClock
from core.mqtt import MQTT_V5, MqttEndpoint, connect, new_client

log = logging.getLogger(__name__)

Evaluate = Callable[[str, Any, set[str]], list[Outbound]]  # (patient, now, metrics) -> messages
Deliver = Callable[[Outbound], "Future[Any]"]


@dataclass(slots=True)
class _Pending:
    metrics: set[str] = field(default_factory=set)
    acks: list[tuple[int, int, int]] = field(default_factory=list)  # (mid, qos, generation)


@dataclass(slots=True)
class RealtimeStats:
    events: int = 0
    evaluations: int = 0
    messages: int = 0
    failures: int = 0


class RealtimePath:
    def __init__(
        self,
        *,
        endpoint: MqttEndpoint,
        settings: CoachSettings,
        evaluate: Evaluate,
        deliver: Deliver,
        clock: Clock | None = None,
        delivery_wait_s: float = 60.0,
    ) -> None:
        self._endpoint = endpoint
        self._settings = settings
        self._evaluate = evaluate
        self._deliver = deliver
        self._clock = clock or SystemClock()
        self._delivery_wait_s = delivery_wait_s
        self._pending: dict[str, _Pending] = {}
        self._busy: set[str] = set()
        # Events whose evaluation failed: acknowledged with the patient's next success
        # (a later evaluation reads the same store, so it covers them too).
        self._failed: dict[str, list[tuple[int, int, int]]] = {}
        self._changed = threading.Condition()
        self._generation = 0
        self._ack_lock = threading.Lock()
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self.stats = RealtimeStats()
        self.client = self._build_client()
        self._pool = ThreadPoolExecutor(settings.realtime_workers,
                                        thread_name_prefix="coach-realtime")
        self._worker = threading.Thread(target=self._run, name="coach-realtime", daemon=True)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        connect(self.client, self._endpoint, clean_start=False,
                session_expiry_s=self._settings.session_expiry_s)
        self.client.loop_start()
        self._worker.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        self._worker.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.disconnect()
        self.client.loop_stop()

    # -- MQTT callbacks (paho's network thread) ------------------------------------------

    def _build_client(self) -> mqtt.Client:
        client = new_client(self._settings.client_id, protocol=self._settings.protocol,
                            manual_ack=True, clean_session=False)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the coach's connection: %s", reason)
            return
        if self._settings.protocol == MQTT_V5:
            client.subscribe(topics.STORED_ALL, options=SubscribeOptions(qos=1))
        else:
            client.subscribe(topics.STORED_ALL, qos=1)
        self._connected.set()
        log.info("coach connected; subscribed to %s", topics.STORED_ALL)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._ack_lock:
            self._generation += 1  # ids of the old connection are void; the broker resends
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("coach disconnected from the broker (%s); paho will reconnect", reason)

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        patient_id = topics.last_level(msg.topic, "stored")
        metrics = _metrics(msg.payload)
        if patient_id is None or metrics is None:
            log.warning("ignoring a malformed stored event on %s", msg.topic)
            self._ack([(msg.mid, msg.qos, self._generation)])
            return
        with self._changed:
            pending = self._pending.setdefault(patient_id, _Pending())
            pending.metrics |= metrics
            pending.acks.append((msg.mid, msg.qos, self._generation))
            self.stats.events += 1
            self._changed.notify()

    # -- the worker ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._changed:
                self._changed.wait_for(lambda: self._ready() or self._stopping.is_set(),
                                       timeout=1.0)
            if self._stopping.is_set():
                return
            if not self._ready():
                continue
            self._stopping.wait(self._settings.coalesce_s)  # let a burst gather
            for patient_id, pending in self._take():
                self._pool.submit(self._handle, patient_id, pending)

    def _ready(self) -> bool:
        return any(p not in self._busy for p in self._pending)

    def _take(self) -> list[tuple[str, _Pending]]:
        with self._changed:
            ready = [p for p in self._pending if p not in self._busy]
            taken = [(p, self._pending.pop(p)) for p in ready]
            self._busy.update(ready)
        return taken

    def _handle(self, patient_id: str, pending: _Pending) -> None:
        try:
            messages = self._evaluate(patient_id, self._clock.now(), pending.metrics)
            self.stats.evaluations += 1
            self.stats.messages += len(messages)
            futures = [self._deliver(m) for m in messages]
            if futures:
                wait_all(futures, timeout=self._delivery_wait_s)
            with self._changed:
                earlier = self._failed.pop(patient_id, [])
            self._ack(earlier + pending.acks)
        except Exception:  # unacknowledged: a restart gets the events again
            self.stats.failures += 1
            with self._changed:
                self._failed.setdefault(patient_id, []).extend(pending.acks)
            log.exception("real-time evaluation failed for patient %s; events left "
                          "unacknowledged", patient_id)
        finally:
            with self._changed:
                self._busy.discard(patient_id)
                self._changed.notify()

    def _ack(self, acks: list[tuple[int, int, int]]) -> None:
        with self._ack_lock:
            for mid, qos, generation in acks:
                if qos > 0 and generation == self._generation:
                    self.client.ack(mid, qos)


def _metrics(payload: bytes) -> set[str] | None:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), list):
        return None
    return {str(m) for m in data["metrics"]}
