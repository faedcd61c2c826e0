"""From decoded Bluetooth payloads to entries of the reading message (core.contract).

Only finite values of patient data become entries. An unavailable value (NaN,
NRes, ±INF, "unsuccessful") and a control-solution or demonstration record are
reported back as ``Skipped`` with the reason, for the caller to log and count:
nothing is dropped silently, and nothing that is not a number is stored as one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.contract import MAX_READINGS_PER_MESSAGE
from gateway.ble.model import Decoded
from gateway.timing import Timing

MAX_STATUS = 16  # the contract's limit on status tags per reading
MAX_TAG = 64


@dataclass(frozen=True, slots=True)
class Skipped:
    metric: str
    reason: str


def entries(decoded: Decoded, timing: Timing) -> tuple[list[dict[str, Any]], list[Skipped]]:
    """Contract entries for the usable readings, and what was left out and why."""
    if decoded.not_patient_data:
        return [], [Skipped(str(o.metric), decoded.not_patient_data) for o in decoded.observations]
    status = _status(decoded.status + timing.tags)
    out: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for o in decoded.observations:
        if o.value is None:
            skipped.append(Skipped(str(o.metric), o.unavailable or "unavailable"))
            continue
        entry: dict[str, Any] = {
            "metric": str(o.metric),
            "value": o.value,
            "unit": o.unit,
            "time": timing.measured_at,
            "source": o.source,
        }
        if decoded.context:
            entry["context"] = decoded.context
        if status:
            entry["status"] = list(status)
        out.append(entry)
    return out[:MAX_READINGS_PER_MESSAGE], skipped


def _status(tags: tuple[str, ...]) -> tuple[str, ...]:
    """At most 16 tags of at most 64 characters; the clock tags (last) are always kept."""
    tags = tuple(t[:MAX_TAG] for t in tags)
    if len(tags) <= MAX_STATUS:
        return tags
    clock = tuple(t for t in tags if t.startswith(("clock", "time:")))
    device = tuple(t for t in tags if t not in clock)
    room = MAX_STATUS - len(clock) - 1
    return (*device[:room], "status_truncated", *clock)
