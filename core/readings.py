"""Domain types for readings inside Hearth (pydantic stays at the wire)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from core.metrics import Metric


@dataclass(frozen=True, slots=True)
class Measurement:
    """A validated reading from a device, in the canonical unit, not yet bound to a person."""

    device_id: str
    metric: Metric
    value: float
    measured_at: datetime  # timezone-aware UTC
    source: str  # glucose method ("cgm", "meter") or the kind of device
    original_value: float
    original_unit: str
    context: str | None = None  # e.g. a meal tag: "fasting", "before_meal", "after_meal"
    status: tuple[str, ...] = ()  # device status flags kept with the reading

    def bind(self, patient_id: str) -> Reading:
        return Reading(
            patient_id=patient_id,
            device_id=self.device_id,
            metric=self.metric,
            value=self.value,
            measured_at=self.measured_at,
            source=self.source,
            original_value=self.original_value,
            original_unit=self.original_unit,
            context=self.context,
            status=self.status,
        )


@dataclass(frozen=True, slots=True)
class Reading:
    """A stored reading. (device_id, metric, measured_at) identifies it."""

    patient_id: str
    device_id: str
    metric: Metric
    value: float
    measured_at: datetime
    source: str
    original_value: float
    original_unit: str
    context: str | None = None
    status: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, Metric, datetime]:
        return (self.device_id, self.metric, self.measured_at)


_new = object.__new__
(_patient, _device, _metric, _value, _at, _source, _ov, _ou, _context, _status) = (
    Reading.__dict__[name].__set__  # the slots' own setters
    for name in ("patient_id", "device_id", "metric", "value", "measured_at", "source",
                 "original_value", "original_unit", "context", "status")
)


def reading_maker(patient_id: str) -> Callable[..., Reading]:
    """``make(device_id, metric, value, measured_at, source, original_value, original_unit,
    context, status)``: Reading(patient_id, ...) at less than half the cost.

    A frozen dataclass sets each field through object.__setattr__; ingest builds tens of
    thousands of readings a second, so this sets the slots directly. The result is the
    same frozen Reading (tests/ingest/test_perf_contract.py compares them)."""

    def make(device_id: str, metric: Metric, value: float, measured_at: datetime, source: str,
             original_value: float, original_unit: str, context: str | None,
             status: tuple[str, ...]) -> Reading:
        reading: Reading = _new(Reading)
        _patient(reading, patient_id)
        _device(reading, device_id)
        _metric(reading, metric)
        _value(reading, value)
        _at(reading, measured_at)
        _source(reading, source)
        _ov(reading, original_value)
        _ou(reading, original_unit)
        _context(reading, context)
        _status(reading, status)
        return reading

    return make


def to_epoch_us(when: datetime) -> int:
    """Microseconds since the Unix epoch; naive datetimes are refused."""
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_us(value: int) -> datetime:
    seconds, micros = divmod(value, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros)
