"""The real-time path: ``hearth/v1/stored/{patient_id}`` in, rules and delivery within seconds.

Ingest publishes a small event after it commits readings (no values: the patient
id and the metrics that have news), since issue 22 one for a whole batch's patients on
``hearth/v1/stored`` (core/stored_events.py): each of its patients is filed as from an
event of its own, and the message is acknowledged when the last of them is done.
The coach subscribes at QoS 1 with a persistent
session (MQTT v5 ``clean_start=False`` with a session expiry, or a 3.1.1 persistent
session) and ``manual_ack``; on MQTT 5 through the shared subscription
``$share/{shared_group}/hearth/v1/stored/+``, so several coach processes split the
stream (each event goes to one of them).

Three stages, so that an urgent low never waits behind routine work:

1. **paho's network thread** only files the event under its patient (no I/O). An
   event marked ``"urgent": true`` (ingest's priority lane, ingest/priority.py: a
   safety-class reading committed ahead of its batch) goes straight to the urgent
   lane, without waiting for triage or reading the store to decide.
2. **Triage** (``triage_workers`` batches at a time, so a slow store read does not hold
   up the next batch): every ``triage_window_s`` it takes every patient with new
   events and reads their newest glucose and BP in one go
   (coach/realtime_eval.py ``triage``). A patient over an urgent rule's threshold
   goes to the **urgent lane** (its own workers, its own delivery pools in
   coach/notify.py); the others join the **routine lane**'s queue, where further
   events of the same patient merge into the waiting entry (coalescing: however
   many events arrive for one patient while it waits, one evaluation).
3. **Evaluation** (either lane): the real-time rules whose metrics arrived, on one
   context read once, then the dispatcher; urgent messages are handed to delivery
   first. One patient is never evaluated by two workers at once (an urgent patient
   being evaluated by the routine lane is taken up by the urgent lane as soon as
   that evaluation ends, with everything that arrived meanwhile).

Acknowledgement: an event is acknowledged after its patient's evaluation and
delivery finished (bounded wait; for the urgent lane a thread of its own waits, so
that an urgent worker moves on to the next patient as soon as its messages are handed
to delivery), so a coach that dies in between gets it again,
and the dispatcher's cool-downs and the delivery record's unique key keep that
replay from repeating a message. The broker stops sending once its in-flight
window of unacknowledged messages is full (Mosquitto ``max_inflight_messages``),
and an urgent event must never wait for that window: so at most ``max_unacked``
events wait for the routine lane unacknowledged; beyond that the oldest are
acknowledged early (their patients stay queued for evaluation; a coach killed
then does not re-run those routine rules). Urgent-lane events are never
acknowledged early. Events that no real-time rule reads (steps, motion) and
malformed events are acknowledged at once.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from care.messages import Outbound
from coach.settings import CoachSettings
from core import topics
from core.clock import Clock, SystemClock
from core.cpu_priority import favour_this_thread
from core.mqtt import MQTT_V5, MqttEndpoint, connect, new_client
from core.stored_events import read_batch

log = logging.getLogger(__name__)

Evaluate = Callable[[str, Any, set[str]], list[Outbound]]  # (patient, now, metrics) -> messages
Deliver = Callable[[Outbound], "Future[Any]"]
Triage = Callable[[Mapping[str, set[str]], datetime], set[str]]  # -> the urgent patients
Wakes = Callable[[set[str]], bool]  # can these metrics make any real-time rule speak?


class _Shared:
    """One MQTT message whose event several patients share (a batch stored event,
    ``hearth/v1/stored``): acknowledged once every one of them is done with it (evaluated,
    or acknowledged early, or found quiet). Each patient holds one share."""

    __slots__ = ("ack", "left", "weight")

    def __init__(self, ack: tuple[int, int, int], patients: int) -> None:
        self.ack = ack
        self.left = patients
        self.weight = 1.0 / patients  # counts as one message among the unacknowledged


_Ack = tuple[int, int, int] | _Shared  # (mid, qos, connection generation), or a share


def _weight(acks: list[_Ack]) -> float:
    """How many MQTT messages these acknowledgements stand for (a share as a fraction)."""
    return sum(a.weight if isinstance(a, _Shared) else 1.0 for a in acks)

TRIAGE_CHUNK = 200  # patients triaged in one call
URGENT_RETRIES = 5  # an urgent evaluation that raised is tried again, this many times,
URGENT_FIRST_S = 5.0  # routine evaluation and triage wait at most this long for urgent ones
URGENT_RETRY_S = 1.0  # this long after (then its events wait, unacknowledged, as others)


@dataclass(slots=True)
class _Pending:
    metrics: set[str] = field(default_factory=set)
    acks: list[_Ack] = field(default_factory=list)
    since: float = 0.0  # monotonic time of the first event
    retries: int = 0  # urgent evaluations of these events that failed

    def merge(self, other: _Pending) -> None:
        self.metrics |= other.metrics
        self.acks.extend(other.acks)
        self.since = min(self.since, other.since) if self.since else other.since


@dataclass(slots=True)
class RealtimeStats:
    events: int = 0
    evaluations: int = 0
    urgent_evaluations: int = 0
    messages: int = 0
    failures: int = 0
    early_acks: int = 0  # routine events acknowledged before their evaluation (overload)
    triage_failures: int = 0
    triage_batches: int = 0
    triage_s: float = 0.0  # time spent in triage, in all
    urgent_s_max: float = 0.0  # the slowest urgent evaluation and delivery
    priority_events: int = 0  # "urgent": true events (ingest's priority lane), not triaged


class RealtimePath:
    def __init__(
        self,
        *,
        endpoint: MqttEndpoint,
        settings: CoachSettings,
        evaluate: Evaluate,
        deliver: Deliver,
        triage: Triage | None = None,
        wakes: Wakes | None = None,
        clock: Clock | None = None,
        delivery_wait_s: float = 60.0,
    ) -> None:
        self._endpoint = endpoint
        self._settings = settings
        self._evaluate = evaluate
        self._deliver = deliver
        self._triage = triage
        self._wakes = wakes
        self._clock = clock or SystemClock()
        self._delivery_wait_s = delivery_wait_s
        self._inbox: dict[str, _Pending] = {}  # not yet triaged
        self._routine: OrderedDict[str, _Pending] = OrderedDict()  # oldest first
        self._urgent_waiting: dict[str, _Pending] = {}  # urgent, patient busy elsewhere
        self._busy: set[str] = set()
        self._held = 0.0  # unacknowledged events waiting in the routine queue
        # Events whose evaluation failed: acknowledged with the patient's next success
        # (a later evaluation reads the same store, so it covers them too).
        self._failed: dict[str, list[_Ack]] = {}
        self._changed = threading.Condition()
        self._generation = 0
        self._ack_lock = threading.Lock()
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self.stats = RealtimeStats()
        self.client = self._build_client()
        self._routine_slots = threading.Semaphore(settings.realtime_workers)
        self._routine_pool = ThreadPoolExecutor(settings.realtime_workers,
                                                thread_name_prefix="coach-routine")
        self._urgent_pool = ThreadPoolExecutor(settings.urgent_workers,
                                               thread_name_prefix="coach-urgent",
                                               initializer=favour_this_thread,
                                               initargs=(settings.urgent_nice,))
        # Triage batches overlap: a slow store read does not hold up the next batch.
        self._triage_slots = threading.Semaphore(settings.triage_workers)
        self._triage_pool = ThreadPoolExecutor(settings.triage_workers,
                                               thread_name_prefix="coach-triage")
        self._threads = [
            threading.Thread(target=self._triage_loop, name="coach-triage", daemon=True),
            threading.Thread(target=self._routine_loop, name="coach-routine-feed", daemon=True),
            threading.Thread(target=self._report_loop, name="coach-realtime-report",
                             daemon=True),
            threading.Thread(target=self._acknowledge_delivered, name="coach-urgent-acks",
                             daemon=True),
        ]
        self._delivering: queue.SimpleQueue[tuple[list[Future[Any]], list[_Ack]]] = \
            queue.SimpleQueue()
        self._urgent_running = 0  # urgent evaluations in progress: routine ones wait
        self._urgent_idle = threading.Event()
        self._urgent_idle.set()

    @property
    def subscription(self) -> str:
        group = self._settings.shared_group
        if group and self._settings.protocol == MQTT_V5:
            return topics.shared(group, topics.STORED_ALL)
        return topics.STORED_ALL

    @property
    def batch_subscription(self) -> str:
        """Ingest's batch stored events (``hearth/v1/stored``, issue 22), split the same way."""
        group = self._settings.shared_group
        if group and self._settings.protocol == MQTT_V5:
            return topics.shared(group, topics.STORED_BATCH)
        return topics.STORED_BATCH

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        connect(self.client, self._endpoint, clean_start=False,
                session_expiry_s=self._settings.session_expiry_s)
        self.client.loop_start()
        for thread in self._threads:
            thread.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=10)
        self._triage_pool.shutdown(wait=True, cancel_futures=True)
        self._urgent_pool.shutdown(wait=True, cancel_futures=True)
        self._routine_pool.shutdown(wait=True, cancel_futures=True)
        self.client.disconnect()
        self.client.loop_stop()

    # -- MQTT callbacks (paho's network thread): file the event, nothing else ------------

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
        # paho's network thread files every event (no I/O) and carries the home display's
        # urgent messages out: it runs at the urgent lane's priority.
        favour_this_thread(self._settings.urgent_nice)
        topic = self.subscription
        if self._settings.protocol == MQTT_V5:
            client.subscribe([(topic, SubscribeOptions(qos=1)),
                              (self.batch_subscription, SubscribeOptions(qos=1))])
        else:
            client.subscribe([(topic, 1), (self.batch_subscription, 1)])
        self._connected.set()
        log.info("coach connected; subscribed to %s", topic)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._ack_lock:
            self._generation += 1  # ids of the old connection are void; the broker resends
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("coach disconnected from the broker (%s); paho will reconnect", reason)

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == topics.STORED_BATCH:
            self._on_batch(msg)
            return
        patient_id = topics.last_level(msg.topic, "stored")
        event = _event(bytes(msg.payload))
        ack = (msg.mid, msg.qos, self._generation)
        if patient_id is None or event is None:
            log.warning("ignoring a malformed stored event on %s", msg.topic)
            self._ack([ack])
            return
        metrics, urgent = event
        if urgent:  # ingest's priority lane: straight to the urgent lane, no triage read
            with self._changed:
                self.stats.events += 1
                self.stats.priority_events += 1
                self._to_urgent(patient_id, _Pending(metrics, [ack], since=time.monotonic()))
                self._changed.notify_all()
            return
        with self._changed:
            pending = self._inbox.get(patient_id)
            if pending is None:
                pending = self._inbox[patient_id] = _Pending(since=time.monotonic())
            pending.metrics |= metrics
            pending.acks.append(ack)
            self.stats.events += 1
            self._changed.notify_all()

    def _on_batch(self, msg: mqtt.MQTTMessage) -> None:
        """A batch stored event: each patient filed as from their own event, all sharing the
        one message's acknowledgement (sent when the last of them is done)."""
        patients = read_batch(bytes(msg.payload))
        ack = (msg.mid, msg.qos, self._generation)
        if not patients:
            if patients is None:
                log.warning("ignoring a malformed batch stored event")
            self._ack([ack])
            return
        shared = _Shared(ack, len(patients))
        now = time.monotonic()
        with self._changed:
            for patient_id, metrics in patients.items():
                pending = self._inbox.get(patient_id)
                if pending is None:
                    pending = self._inbox[patient_id] = _Pending(since=now)
                pending.metrics |= metrics
                pending.acks.append(shared)
            self.stats.events += len(patients)
            self._changed.notify_all()

    # -- triage ----------------------------------------------------------------------------

    def _triage_loop(self) -> None:
        while not self._stopping.is_set():
            with self._changed:
                self._changed.wait_for(lambda: bool(self._inbox) or self._stopping.is_set(),
                                       timeout=1.0)
            if self._stopping.is_set():
                return
            if self._settings.triage_window_s:
                self._stopping.wait(self._settings.triage_window_s)  # let a burst gather
            # Triage (a store read, and CPU) waits while urgent evaluations wait or run.
            self._urgent_idle.wait(timeout=URGENT_FIRST_S)
            if not self._triage_slots.acquire(timeout=1.0):
                continue
            with self._changed:
                batch, self._inbox = self._inbox, {}
            if batch:
                self._triage_pool.submit(self._sort_then_release, batch)
            else:
                self._triage_slots.release()

    def _sort_then_release(self, batch: dict[str, _Pending]) -> None:
        try:
            self._sort(batch)
        except Exception:  # never lose a batch's events: they wait for a restart's replay
            log.exception("real-time triage could not file %d patients", len(batch))
        finally:
            self._triage_slots.release()

    def _sort(self, batch: dict[str, _Pending]) -> None:
        wakes = self._wakes
        quiet = [p for p, e in batch.items() if wakes is not None and not wakes(e.metrics)]
        if quiet:  # steps, motion, ...: nothing in real time reads them
            self._ack([a for p in quiet for a in batch.pop(p).acks])
        urgent: set[str] = set()
        triage = self._triage
        ids = list(batch) if triage is not None else []
        for k in range(0, len(ids), TRIAGE_CHUNK):  # a failure costs one chunk, not all
            part = ids[k:k + TRIAGE_CHUNK]
            began = time.perf_counter()
            try:
                assert triage is not None  # ids is empty without it
                urgent |= triage({p: batch[p].metrics for p in part}, self._clock.now())
            except Exception:  # the store is away: these wait for the routine lane
                self.stats.triage_failures += 1
                log.exception("real-time triage failed for %d patients", len(part))
            self.stats.triage_batches += 1
            self.stats.triage_s += time.perf_counter() - began
        with self._changed:
            for patient_id, pending in batch.items():
                if patient_id in urgent:
                    self._to_urgent(patient_id, pending)
                else:
                    queued = self._routine.get(patient_id)
                    if queued is None:
                        self._routine[patient_id] = pending
                    else:
                        queued.merge(pending)
                    self._held += _weight(pending.acks)
            early = self._over_budget()
            self._changed.notify_all()
        if early:
            self._ack(early)

    def _to_urgent(self, patient_id: str, pending: _Pending) -> None:
        """(Lock held.) Into the urgent lane, with whatever waited for the routine one."""
        queued = self._routine.pop(patient_id, None)
        if queued is not None:
            self._held -= _weight(queued.acks)
            pending.merge(queued)
        waiting = self._urgent_waiting.get(patient_id)
        if waiting is not None:
            waiting.merge(pending)
        elif patient_id in self._busy:
            self._urgent_waiting[patient_id] = pending
        else:
            self._busy.add(patient_id)
            self._submit_urgent(patient_id, pending)

    def _submit_urgent(self, patient_id: str, pending: _Pending) -> None:
        """(Lock held.) From now until its evaluation ends, routine work and triage wait."""
        self._urgent_running += 1
        self._urgent_idle.clear()
        try:
            self._urgent_pool.submit(self._handle, patient_id, pending, True)
        except RuntimeError:  # shutting down: the broker redelivers
            self._urgent_done()
            raise

    def _urgent_done(self) -> None:
        """(Lock held.)"""
        self._urgent_running -= 1
        if not self._urgent_running:
            self._urgent_idle.set()

    def _over_budget(self) -> list[_Ack]:
        """(Lock held.) Acknowledge the oldest routine events beyond ``max_unacked``."""
        early: list[_Ack] = []
        if self._held <= self._settings.max_unacked:
            return early
        for pending in self._routine.values():
            if self._held <= self._settings.max_unacked:
                break
            early.extend(pending.acks)
            self._held -= _weight(pending.acks)
            pending.acks = []
        self.stats.early_acks += round(_weight(early))
        return early

    # -- the routine lane ------------------------------------------------------------------

    def _routine_loop(self) -> None:
        while not self._stopping.is_set():
            if not self._routine_slots.acquire(timeout=1.0):
                continue
            taken: tuple[str, _Pending] | None = None
            while taken is None and not self._stopping.is_set():
                with self._changed:
                    taken = self._next_routine()
                    if taken is None:
                        self._changed.wait(timeout=self._settings.coalesce_s or 0.05)
            if taken is None:
                self._routine_slots.release()
                return
            self._routine_pool.submit(self._handle, taken[0], taken[1], False)

    def _next_routine(self) -> tuple[str, _Pending] | None:
        """(Lock held.) The oldest waiting patient not being evaluated, once its first
        event is ``coalesce_s`` old (a burst gathers meanwhile)."""
        ripe = time.monotonic() - self._settings.coalesce_s
        for patient_id, pending in self._routine.items():
            if pending.since > ripe:
                return None  # oldest first: the rest are younger
            if patient_id not in self._busy:
                del self._routine[patient_id]
                self._held -= _weight(pending.acks)
                self._busy.add(patient_id)
                return patient_id, pending
        return None

    # -- evaluation (either lane) ----------------------------------------------------------

    def _handle(self, patient_id: str, pending: _Pending, urgent: bool) -> None:
        if not urgent:
            # One process, one GIL: a routine evaluation does not start while an urgent
            # one waits or runs (bounded: an urgent evaluation is one read and the
            # dispatcher).
            self._urgent_idle.wait(timeout=URGENT_FIRST_S)
        began = time.monotonic()
        try:
            messages = self._evaluate(patient_id, self._clock.now(), pending.metrics)
            self.stats.evaluations += 1
            self.stats.urgent_evaluations += urgent
            self.stats.messages += len(messages)
            futures = [self._deliver(m) for m in messages]  # urgent ones come first
            with self._changed:
                earlier = self._failed.pop(patient_id, [])
            if urgent and futures:
                # The urgent worker is free for the next patient at once; a thread of its
                # own acknowledges these events once their messages are delivered.
                self._delivering.put((futures, earlier + pending.acks))
            else:
                if futures:
                    wait_all(futures, timeout=self._delivery_wait_s)
                self._ack(earlier + pending.acks)
            if urgent:
                took = time.monotonic() - began
                self.stats.urgent_s_max = max(self.stats.urgent_s_max, took)
                log.info("urgent lane: patient %s, %d messages; %.0f ms from its first event "
                         "to evaluation, %.0f ms to evaluate and hand to delivery",
                         patient_id, len(messages), 1000 * (began - pending.since),
                         1000 * took)
        except Exception:  # unacknowledged: a restart gets the events again
            self.stats.failures += 1
            if urgent and pending.retries < URGENT_RETRIES and not self._stopping.is_set():
                # An urgent finding must not wait for the patient's next reading: again
                # through triage in a moment (the store or database may be back).
                pending.retries += 1
                log.exception("urgent evaluation failed for patient %s; retry %d in %g s",
                              patient_id, pending.retries, URGENT_RETRY_S)
                timer = threading.Timer(URGENT_RETRY_S, self._again, (patient_id, pending))
                timer.daemon = True
                timer.start()
            else:
                with self._changed:
                    self._failed.setdefault(patient_id, []).extend(pending.acks)
                log.exception("real-time evaluation failed for patient %s; events left "
                              "unacknowledged", patient_id)
        finally:
            with self._changed:
                if urgent:
                    self._urgent_done()
                self._busy.discard(patient_id)
                waiting = self._urgent_waiting.pop(patient_id, None)
                if waiting is not None and not self._stopping.is_set():
                    self._busy.add(patient_id)
                    try:
                        self._submit_urgent(patient_id, waiting)
                    except RuntimeError:  # shutting down: the broker redelivers
                        self._busy.discard(patient_id)
                self._changed.notify_all()
            if not urgent:
                self._routine_slots.release()

    def _acknowledge_delivered(self) -> None:
        """Urgent events: acknowledged once their messages are delivered (bounded wait)."""
        while not self._stopping.is_set():
            try:
                futures, acks = self._delivering.get(timeout=1.0)
            except queue.Empty:
                continue
            wait_all(futures, timeout=self._delivery_wait_s)
            self._ack(acks)

    def _again(self, patient_id: str, pending: _Pending) -> None:
        with self._changed:
            waiting = self._inbox.get(patient_id)
            if waiting is None:
                self._inbox[patient_id] = pending
            else:
                waiting.merge(pending)
                waiting.retries = max(waiting.retries, pending.retries)
            self._changed.notify_all()

    def _report_loop(self) -> None:
        """A line every ``report_s`` while events flow: how the lanes keep up (counts only)."""
        last = -1
        while not self._stopping.wait(self._settings.report_s):
            s = self.stats
            if s.events == last:
                continue
            last = s.events
            with self._changed:
                queued, held = len(self._routine), self._held
            log.info("real time: %d events, %d evaluations (%d urgent), %d messages, "
                     "%d failures; routine queue %d patients, %d events unacknowledged, "
                     "%d acknowledged early; triage: %d batches, %.1f ms each, %d failures; "
                     "slowest urgent evaluation and delivery %.0f ms", s.events,
                     s.evaluations, s.urgent_evaluations, s.messages, s.failures, queued,
                     held, s.early_acks, s.triage_batches,
                     1000 * s.triage_s / max(1, s.triage_batches), s.triage_failures,
                     1000 * s.urgent_s_max)

    def _ack(self, acks: list[_Ack]) -> None:
        if not acks:
            return
        with self._ack_lock:
            for ack in acks:
                if isinstance(ack, _Shared):
                    ack.left -= 1
                    if ack.left:
                        continue  # other patients of the batch event are not done yet
                    ack = ack.ack
                mid, qos, generation = ack
                if qos > 0 and generation == self._generation:
                    self.client.ack(mid, qos)


def _event(payload: bytes) -> tuple[set[str], bool] | None:
    """(metrics, urgent) of a stored event; ``urgent``: from ingest's priority lane."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), list):
        return None
    return {str(m) for m in data["metrics"]}, data.get("urgent") is True
