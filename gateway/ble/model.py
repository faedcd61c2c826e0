"""What a decoder returns: the readings of one Bluetooth payload, before clock correction.

Values are in the unit the device sent, spelled as UCUM codes the metric
catalogue accepts (kg/L and mol/L glucose are rescaled to mg/dL and mmol/L,
exactly, since the contract has no kg/L). A value the device could not give
(NaN, NRes, ±INF, "measurement unsuccessful") is not a number here: it is an
``Observation`` with ``value`` None and ``unavailable`` saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from core.metrics import Metric

JsonValue = Any  # str | int | float | bool | None | list | dict, as json.dumps accepts


@dataclass(frozen=True, slots=True)
class Observation:
    metric: Metric
    value: float | None  # None exactly when ``unavailable`` is set
    unit: str  # UCUM code
    unavailable: str | None = None  # "nan", "nres", "+inf", "-inf", "reserved", "unsuccessful"
    source: str = "device"  # glucose: "meter"; otherwise the kind of device

    def __post_init__(self) -> None:
        if (self.value is None) == (self.unavailable is None):
            raise ValueError("an observation has either a value or a reason it is unavailable")


@dataclass(frozen=True, slots=True)
class Decoded:
    """One payload, decoded. ``device_time`` is the device's own wall clock (naive)."""

    characteristic: int
    name: str
    observations: tuple[Observation, ...]
    device_time: datetime | None = None  # None: no time stamp, or the device's clock is unset
    time_state: str = "absent"  # "present", "absent" or "unset"
    status: tuple[str, ...] = ()  # device status flags; they apply to every observation
    context: str | None = None  # e.g. the meal tag from a Glucose Measurement Context
    sequence: int | None = None  # the device's record number, where the profile has one
    context_follows: bool = False  # a Glucose Measurement Context with this sequence follows
    not_patient_data: str | None = None  # "control_solution", "demonstration", "testing"
    details: dict[str, JsonValue] = field(default_factory=dict)

    def with_context(self, context: Decoded) -> Decoded:
        """Attach a Glucose Measurement Context (same sequence number) to a measurement."""
        if context.sequence != self.sequence:
            raise ValueError("a context belongs to the measurement with its sequence number")
        merged = {**self.details, "context": dict(context.details)}
        return replace(self, context=context.context, context_follows=False, details=merged)

    def as_json(self) -> dict[str, JsonValue]:
        return {
            "characteristic": f"0x{self.characteristic:04X}",
            "name": self.name,
            "sequence": self.sequence,
            "device_time": self.device_time.isoformat() if self.device_time else None,
            "time_state": self.time_state,
            "status": list(self.status),
            "context": self.context,
            "context_follows": self.context_follows,
            "not_patient_data": self.not_patient_data,
            "readings": [
                {
                    "metric": str(o.metric),
                    "value": o.value,
                    "unit": o.unit,
                    "unavailable": o.unavailable,
                    "source": o.source,
                }
                for o in self.observations
            ],
            "details": self.details,
        }
