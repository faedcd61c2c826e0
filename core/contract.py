"""The reading message on the wire, and its validation.

One message carries one reading or a batch, in the spirit of SenML (RFC 8428):
optional ``base`` values apply to every entry that does not set its own, and
an entry may give its time as ``offset_s`` seconds after the base time.

    {"schema": 1, "device_id": "cgm-ann", "seq": 17,
     "base": {"metric": "glucose", "unit": "mg/dL", "source": "cgm",
              "time": "2026-11-23T08:00:00Z"},
     "readings": [{"value": 104}, {"value": 109, "offset_s": 300}]}

or, for a single reading,

    {"schema": 1, "device_id": "scale-ann", "seq": 3,
     "metric": "weight", "value": 81.2, "unit": "kg", "time": "2026-11-23T07:02:00Z"}

Validation is pure (the clock is passed in). A message that cannot be read at
all is rejected whole; inside a readable batch each entry stands alone, so one
bad reading never costs the good ones beside it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from core.errors import ContractError
from core.metrics import CATALOGUE, GlucoseMethod, Metric, normalise_unit
from core.readings import Measurement
from core.topics import valid_topic_id

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_READINGS_PER_MESSAGE = 5000
FUTURE_TOLERANCE = timedelta(minutes=5)

Number = StrictInt | StrictFloat
ShortText = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class BaseValues(_Wire):
    metric: ShortText | None = None
    unit: ShortText | None = None
    time: AwareDatetime | None = None
    source: ShortText | None = None
    context: ShortText | None = None


class Entry(_Wire):
    metric: ShortText | None = None
    value: Number
    unit: ShortText | None = None
    time: AwareDatetime | None = None
    offset_s: Number | None = None
    source: ShortText | None = None
    context: ShortText | None = None
    status: list[ShortText] = Field(default_factory=list, max_length=16)


_SINGLE_FIELDS = frozenset(Entry.model_fields)
# Validating a whole batch in one call keeps the loop inside pydantic-core; only a
# batch with an invalid entry takes the slower path that judges each entry alone.
_ENTRIES = TypeAdapter(list[Entry])
_METRICS = {m.value: m for m in Metric}
_GLUCOSE_METHODS = {m.value: m.value for m in GlucoseMethod}


class ReadingMessage(_Wire):
    """The envelope. ``readings`` stays raw here so that each entry is judged alone."""

    schema_version: Literal[1] = Field(alias="schema")
    device_id: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    seq: Annotated[StrictInt, Field(ge=0)]
    base: BaseValues | None = None
    readings: Annotated[list[Any], Field(min_length=1, max_length=MAX_READINGS_PER_MESSAGE)]

    @model_validator(mode="before")
    @classmethod
    def _single_reading(cls, data: Any) -> Any:
        """Fold the one-reading form into a batch of one."""
        if isinstance(data, dict) and "readings" not in data and "value" in data:
            entry = {k: v for k, v in data.items() if k in _SINGLE_FIELDS}
            rest = {k: v for k, v in data.items() if k not in _SINGLE_FIELDS}
            return {**rest, "readings": [entry]}
        return data


@dataclass(frozen=True, slots=True)
class Rejection:
    """One reading (``index``) or the whole message (``index`` None) that was refused."""

    code: str
    reason: str
    index: int | None = None


@dataclass(frozen=True, slots=True)
class DecodedMessage:
    device_id: str
    seq: int
    measurements: tuple[Measurement, ...]
    rejections: tuple[Rejection, ...] = field(default_factory=tuple)


def decode_message(
    payload: bytes,
    *,
    topic_device_id: str,
    now: datetime,
    max_bytes: int = MAX_PAYLOAD_BYTES,
    future_tolerance: timedelta = FUTURE_TOLERANCE,
) -> DecodedMessage:
    """Validate a payload received on ``hearth/v1/up/{topic_device_id}``.

    Raises ContractError when nothing in the message can be used; otherwise
    returns the valid measurements and a rejection for each invalid entry.
    """
    envelope = _read_envelope(payload, topic_device_id=topic_device_id, max_bytes=max_bytes)
    base = envelope.base or BaseValues()
    if base.time is not None and base.time.tzinfo is not UTC:
        # once, not per entry
        base = base.model_copy(update={"time": _utc(base.time, "base.time")})
    measurements: list[Measurement] = []
    rejections: list[Rejection] = []
    for index, entry in enumerate(_entries(envelope.readings)):
        try:
            if isinstance(entry, ContractError):
                raise entry
            measurements.append(
                _measurement(entry, base, topic_device_id, now=now,
                             future_tolerance=future_tolerance)
            )
        except ContractError as exc:
            rejections.append(Rejection(exc.code, f"reading {index}: {exc.reason}", index))
    return DecodedMessage(
        device_id=topic_device_id,
        seq=envelope.seq,
        measurements=tuple(measurements),
        rejections=tuple(rejections),
    )


def _read_envelope(payload: bytes, *, topic_device_id: str, max_bytes: int) -> ReadingMessage:
    if len(payload) > max_bytes:
        raise ContractError(
            "too_large", f"payload is {len(payload)} bytes, over the {max_bytes}-byte limit"
        )
    try:
        data = json.loads(payload)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an over-long integer
        raise ContractError("not_json", f"payload is not valid UTF-8 JSON: {exc}") from exc
    except RecursionError:
        raise ContractError("not_json", "payload is not usable JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise ContractError("not_object", "payload must be a JSON object")
    if "schema" in data and data["schema"] != SCHEMA_VERSION:
        raise ContractError(
            "schema_version",
            f"schema version {data['schema']!r} is not supported (this ingest reads {SCHEMA_VERSION})",
        )
    try:
        envelope = ReadingMessage.model_validate(data)
    except ValidationError as exc:
        raise ContractError("invalid_message", _describe(exc)) from exc
    if envelope.device_id != topic_device_id:
        raise ContractError(
            "device_mismatch",
            f"device_id {envelope.device_id!r} does not match the topic's device "
            f"{topic_device_id!r}",
        )
    return envelope


def _entries(raw: list[Any]) -> list[Entry] | list[Entry | ContractError]:
    """Every entry validated, or for each invalid one the error that says why."""
    try:
        return _ENTRIES.validate_python(raw)
    except ValidationError:
        return [_entry(item) for item in raw]


def _entry(raw: Any) -> Entry | ContractError:
    try:
        return Entry.model_validate(raw)
    except ValidationError as exc:
        return ContractError("invalid_reading", _describe(exc))


def _measurement(
    entry: Entry,
    base: BaseValues,
    device_id: str,
    *,
    now: datetime,
    future_tolerance: timedelta,
) -> Measurement:
    metric = _metric(entry.metric or base.metric)
    spec = CATALOGUE[metric]
    unit = normalise_unit(entry.unit or base.unit or spec.unit)
    if not spec.accepts(unit):
        raise ContractError(
            "unit_mismatch",
            f"unit {unit!r} does not fit metric {metric} (accepted: {', '.join(spec.units)})",
        )
    number = _finite(entry.value)
    value = spec.to_canonical(number, unit)
    if not spec.in_range(value):
        raise ContractError(
            "out_of_range",
            f"value {entry.value} {unit} is outside the plausible range for {metric} "
            f"({spec.minimum:g}–{spec.maximum:g} {spec.unit})",
        )
    measured_at = _measured_at(entry, base)
    if measured_at - now > future_tolerance:
        ahead = (measured_at - now).total_seconds() / 60
        raise ContractError(
            "future_time",
            f"measured time {measured_at.isoformat()} is {ahead:.0f} min in the future "
            f"(limit {future_tolerance.total_seconds() / 60:.0f} min); check the device clock",
        )
    return Measurement(
        device_id=device_id,
        metric=metric,
        value=round(value, 6),
        measured_at=measured_at,
        source=_source(metric, entry.source or base.source),
        original_value=number,
        original_unit=unit,
        context=entry.context or base.context,
        status=tuple(entry.status),
    )


def _finite(value: float) -> float:
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        number = math.inf
    if not math.isfinite(number):
        raise ContractError("not_finite", "value must be a finite number")
    return number


def _metric(name: str | None) -> Metric:
    if name is None:
        raise ContractError("missing_metric", "no metric given in the reading or its base")
    try:
        return _METRICS[name]
    except KeyError:
        known = ", ".join(m.value for m in Metric)
        raise ContractError("unknown_metric", f"unknown metric {name!r} (known: {known})") from None


def _measured_at(entry: Entry, base: BaseValues) -> datetime:
    if entry.time is not None:
        if entry.offset_s is not None:
            raise ContractError("ambiguous_time", "give either time or offset_s, not both")
        when = entry.time
    elif base.time is not None:
        try:
            when = base.time + timedelta(seconds=float(entry.offset_s or 0))
        except (OverflowError, ValueError):  # NaN, infinite or beyond the calendar
            raise ContractError(
                "invalid_time",
                f"offset_s {entry.offset_s!r} from the base time is not a representable time",
            ) from None
    else:
        raise ContractError("missing_time", "no measured time in the reading or its base")
    return when if when.tzinfo is UTC else _utc(when, "time")


def _utc(when: datetime, name: str) -> datetime:
    try:
        return when.astimezone(UTC)
    except OverflowError:
        raise ContractError("invalid_time", f"{name}: {when.isoformat()} is outside the "
                            "calendar in UTC") from None


def _source(metric: Metric, source: str | None) -> str:
    if metric is Metric.GLUCOSE:
        try:
            return _GLUCOSE_METHODS[source or ""]
        except KeyError:
            raise ContractError(
                "glucose_method",
                f"glucose needs its method as source: 'cgm' or 'meter' (got {source!r})",
            ) from None
    return source or "device"


def _describe(exc: ValidationError) -> str:
    """One short line per field; a number's int|float alternatives read as one error."""
    seen: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        if loc and loc[-1] in ("int", "float"):
            loc, message = loc[:-1], "must be a number"
        else:
            message = err["msg"]
        seen.setdefault(".".join(loc) or "message", message)
    parts = [f"{where}: {message}" for where, message in list(seen.items())[:5]]
    more = len(seen) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def encode_message(
    *,
    device_id: str,
    seq: int,
    readings: list[dict[str, Any]],
    base: dict[str, Any] | None = None,
) -> bytes:
    """Build a payload (devices, the gateway and tests use this; ingest only decodes)."""
    if not valid_topic_id(device_id):
        raise ValueError(f"device id {device_id!r} cannot stand in a topic")
    message: dict[str, Any] = {"schema": SCHEMA_VERSION, "device_id": device_id, "seq": seq}
    if base:
        message["base"] = base
    message["readings"] = readings
    return json.dumps(message, separators=(",", ":"), default=_iso).encode()


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot encode {type(value).__name__}")
