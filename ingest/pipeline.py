"""Turn a batch of raw MQTT messages into readings to store and letters to send.

No MQTT and no store here: the service feeds messages in and carries out the plan.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core import topics
from core.acks import ack_payload
from core.appdb.directory import DeviceBinding, DeviceRegistry
from core.contract import Rejection, decode_readings, oldest_accepted
from core.errors import ContractError
from core.metrics import Metric
from core.readings import Reading
from ingest.announce import stored_payload
from ingest.deadletter import dead_letter_payload
from ingest.priority import PriorityTest

OnPriority = Callable[[list[Reading]], None]
PAUSE_EVERY = 64  # messages planned between two calls of plan_batch's ``pause``


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes


@dataclass(slots=True)
class BatchPlan:
    readings: list[Reading] = field(default_factory=list)
    dead_letters: list[tuple[str, bytes]] = field(default_factory=list)
    handled_seqs: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    touched: dict[str, set[Metric]] = field(default_factory=lambda: defaultdict(set))
    rejections: Counter[str] = field(default_factory=Counter)
    priority: list[Reading] = field(default_factory=list)  # handed to the priority lane

    def ack_messages(self) -> list[tuple[str, bytes]]:
        """``hearth/v1/ack/{device}``: which of a device's messages are durably handled."""
        return [(topics.ack(d), ack_payload(d, seqs)) for d, seqs in self.handled_seqs.items()]

    def stored_events(self) -> list[tuple[str, bytes]]:
        """``hearth/v1/stored/{patient}``: which metrics have new readings (no values)."""
        return [(topics.stored(p), stored_payload(p, (str(m) for m in metrics)))
                for p, metrics in self.touched.items()]


def plan_batch(
    messages: Sequence[Inbound],
    *,
    registry: DeviceRegistry,
    now: datetime,
    max_payload_bytes: int,
    future_tolerance: timedelta,
    priority: PriorityTest | None = None,
    on_priority: OnPriority | None = None,
    pause: Callable[[], object] | None = None,
) -> BatchPlan:
    """``on_priority`` is called with a message's safety-class readings (``priority``
    decides) as soon as that message is decoded, before the rest of the batch;
    ``pause`` every ``PAUSE_EVERY`` messages (it may wait: the priority lane first)."""
    plan = BatchPlan()
    bindings = _BatchRegistry(registry)  # a device's many messages in a batch ask once
    bindings.prefetch(messages)  # and all of the batch's devices in one bulk look-up
    lane = (priority, on_priority) if priority is not None and on_priority is not None else None
    for n, message in enumerate(messages):
        if pause is not None and n % PAUSE_EVERY == 0:
            pause()
        _plan_one(message, plan, bindings, now, max_payload_bytes, future_tolerance, lane)
    return plan


class _BatchRegistry:
    def __init__(self, inner: DeviceRegistry) -> None:
        self._inner = inner
        self._seen: dict[str, DeviceBinding | None] = {}

    def prefetch(self, messages: Sequence[Inbound]) -> None:
        """The batch's devices in one look-up, when the registry can (a
        ``core.appdb.directory.BulkRegistry``): one query per 500 devices instead of one
        per device (9% of ingest's time with thousands of devices, issue 22)."""
        bulk = getattr(self._inner, "bindings", None)
        if not callable(bulk):
            return
        ids = {d for m in messages if (d := topics.last_level(m.topic, "up")) is not None}
        if ids:
            self._seen.update(bulk(ids))

    def binding(self, device_id: str) -> DeviceBinding | None:
        try:
            return self._seen[device_id]
        except KeyError:
            found = self._seen[device_id] = self._inner.binding(device_id)
            return found


def _plan_one(
    message: Inbound,
    plan: BatchPlan,
    registry: _BatchRegistry,
    now: datetime,
    max_payload_bytes: int,
    future_tolerance: timedelta,
    lane: tuple[PriorityTest, OnPriority] | None,
) -> None:
    device_id = topics.last_level(message.topic, "up")
    if device_id is None:
        why = Rejection("bad_topic", "topic is not hearth/v1/up/{device_id}")
        _reject(plan, message, "_invalid", why, now=now)
        return
    binding = registry.binding(device_id)
    if binding is None or not binding.active:
        state = "is not registered" if binding is None else "has been revoked"
        why = Rejection("unknown_device", f"device {device_id!r} {state}")
        _reject(plan, message, device_id, why, now=now)
        return
    try:
        decoded = decode_readings(
            message.payload,
            topic_device_id=device_id,
            patient_id=binding.patient_id,
            now=now,
            max_bytes=max_payload_bytes,
            future_tolerance=future_tolerance,
            oldest=oldest_accepted(binding.kind, now),
        )
    except ContractError as exc:
        _reject(plan, message, device_id, Rejection(exc.code, exc.reason), now=now)
        return
    readings = decoded.measurements
    if readings:
        plan.readings.extend(readings)
        plan.touched[binding.patient_id].update(r.metric for r in readings)
        if lane is not None and (urgent := lane[0].select(readings, now)):
            plan.priority.extend(urgent)
            lane[1](urgent)
    if decoded.rejections:
        _reject(plan, message, device_id, *decoded.rejections, now=now)
    plan.handled_seqs[device_id].append(decoded.seq)


def _reject(
    plan: BatchPlan, message: Inbound, device_id: str, *rejections: Rejection, now: datetime
) -> None:
    """Dead-letter the message; a sender may forget it (its payload lives on in the letter)."""
    plan.rejections.update(r.code for r in rejections)
    seq = _best_effort_seq(message.payload)
    if seq is not None and device_id != "_invalid":
        plan.handled_seqs[device_id].append(seq)
    plan.dead_letters.append(
        (
            topics.dead(device_id),
            dead_letter_payload(
                device_id=device_id,
                topic=message.topic,
                payload=message.payload,
                rejections=rejections,
                received_at=now,
            ),
        )
    )


def _best_effort_seq(payload: bytes) -> int | None:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        # RecursionError: nested too deeply (the contract refused it for that); raised
        # here it failed the batch, and the broker's redelivery failed it again for ever.
        return None
    seq = data.get("seq") if isinstance(data, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else None
