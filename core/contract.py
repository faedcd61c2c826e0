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

The pydantic models below (BaseValues, Entry, ReadingMessage, SingleReadingMessage)
are the one definition of the message's shape (docs/CONTRACT.md): a valid message is
validated by them in one call from its bytes, and a message with anything invalid in
it goes through the same models again, one entry at a time, to say what and where.
What the shape cannot say (the metric catalogue, units, plausible ranges, times) is
checked by _measurement, the same for both.

Validation is pure (the clock is passed in). A message that cannot be read at
all is rejected whole; inside a readable batch each entry stands alone, so one
bad reading never costs the good ones beside it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)
from pydantic_core import ErrorDetails

from core.errors import ContractError
from core.metrics import CATALOGUE, GlucoseMethod, Metric, normalise_unit
from core.readings import Measurement, Reading, reading_maker
from core.topics import valid_topic_id

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_READINGS_PER_MESSAGE = 5000
FUTURE_TOLERANCE = timedelta(minutes=5)
# How old a reading may be when ingest receives it, by device kind: the longest a
# device's memory, or a gateway's outbox, plausibly holds readings before they reach
# Hearth (docs/CONTRACT.md, "How old a reading may be"). Older ones are refused as
# too_old: a clock reset to its factory date (1970, 2000) or a corrupt time, not a
# backfill. Only ingest applies it (decode_readings' ``oldest``); an import of a
# history file does not.
BACKFILL_DEFAULT = timedelta(days=400)
BACKFILL_LIMITS: dict[str, timedelta] = {
    # A blood glucose meter keeps up to about 1,000 dated results: at one a day, nearly
    # three years, synced when the person first connects it.
    "glucose_meter": timedelta(days=3 * 366),
    "meter": timedelta(days=3 * 366),
}


def oldest_accepted(kind: str, now: datetime) -> datetime:
    """The oldest measured time ingest accepts from a device of this kind."""
    return now - BACKFILL_LIMITS.get(kind, BACKFILL_DEFAULT)

Number = StrictInt | StrictFloat
ShortText = Annotated[StrictStr, Field(min_length=1, max_length=64)]


# -- the contract: these models are its one definition ---------------------------------
#
# They are the documentation (docs/CONTRACT.md points here) and the validator: a valid
# message is validated in one call of pydantic-core straight from its bytes
# (model_validate_json), and the same models, fed one entry at a time, word the reasons
# when something in a message is invalid. No other code checks a message's shape.


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class BaseValues(_Wire):
    """Values every entry of a batch takes unless it sets its own."""

    metric: ShortText | None = None
    unit: ShortText | None = None
    time: AwareDatetime | None = None
    source: ShortText | None = None
    context: ShortText | None = None


class Entry(_Wire):
    """One reading of a batch."""

    metric: ShortText | None = None
    value: Number
    unit: ShortText | None = None
    time: AwareDatetime | None = None
    offset_s: Number | None = None
    source: ShortText | None = None
    context: ShortText | None = None
    status: list[ShortText] = Field(default_factory=list, max_length=16)


class _Envelope(_Wire):
    schema_version: Literal[1] = Field(alias="schema")
    device_id: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    seq: Annotated[StrictInt, Field(ge=0)]
    base: BaseValues | None = None


class ReadingMessage(_Envelope):
    """A batch: the envelope and 1 to MAX_READINGS_PER_MESSAGE entries."""

    readings: Annotated[list[Entry], Field(min_length=1, max_length=MAX_READINGS_PER_MESSAGE)]


class SingleReadingMessage(_Envelope, Entry):
    """The one-reading form: the envelope's fields and one entry's in one object (it
    reads as a batch of one: the message is its own entry)."""


_ENTRY_FIELDS = frozenset(Entry.model_fields)
_NO_BASE = BaseValues()
_METRICS = {m.value: m for m in Metric}
_GLUCOSE_METHODS = {m.value: m.value for m in GlucoseMethod}


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


@dataclass(frozen=True, slots=True)
class DecodedReadings:
    """What decode_readings returns: DecodedMessage's shape, bound to a patient."""

    device_id: str
    seq: int
    measurements: tuple[Reading, ...]
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
    decoded: DecodedMessage = _decode(
        payload, topic_device_id, now, max_bytes, future_tolerance, Measurement, DecodedMessage
    )
    return decoded


def decode_readings(
    payload: bytes,
    *,
    topic_device_id: str,
    patient_id: str,
    now: datetime,
    max_bytes: int = MAX_PAYLOAD_BYTES,
    future_tolerance: timedelta = FUTURE_TOLERANCE,
    oldest: datetime | None = None,
) -> DecodedReadings:
    """As decode_message, with the readings bound to ``patient_id`` (ingest's hot path:
    one object per reading instead of a Measurement and then a Reading). A reading
    measured before ``oldest`` (oldest_accepted) is refused as too_old."""
    make = reading_maker(patient_id)
    decoded: DecodedReadings = _decode(
        payload, topic_device_id, now, max_bytes, future_tolerance, make, DecodedReadings,
        oldest,
    )
    return decoded


def _decode(
    payload: bytes,
    topic_device_id: str,
    now: datetime,
    max_bytes: int,
    future_tolerance: timedelta,
    make: Callable[..., Any],
    result: Callable[..., Any],
    oldest: datetime | None = None,
) -> Any:
    message = _validated(payload, max_bytes)
    if message is None:  # something is invalid: the models say what, one entry at a time
        return _full_decode(payload, topic_device_id, now, max_bytes, future_tolerance, make,
                            result, oldest)
    _check_device(message.device_id, topic_device_id)
    entries = (message,) if isinstance(message, SingleReadingMessage) else message.readings
    measurements, rejections = _judge(entries, message.base, make, topic_device_id, now,
                                      future_tolerance, oldest)
    return result(topic_device_id, message.seq, measurements, rejections)


def _validated(payload: bytes, max_bytes: int) -> ReadingMessage | SingleReadingMessage | None:
    """The whole message validated in one call from its bytes; None when it is not valid
    as it stands (or is not UTF-8), for _full_decode to word why.

    Which of the two forms to try is guessed from the bytes: a wrong guess (the word in a
    text, or an escaped key) only fails validation, as both forms refuse unknown fields."""
    if len(payload) > max_bytes:
        return None
    model = ReadingMessage if b'"readings"' in payload else SingleReadingMessage
    try:
        return model.model_validate_json(payload)
    except ValidationError:
        return None


def _full_decode(
    payload: bytes,
    topic_device_id: str,
    now: datetime,
    max_bytes: int,
    future_tolerance: timedelta,
    make: Callable[..., Any],
    result: Callable[..., Any],
    oldest: datetime | None = None,
) -> Any:
    """Every message can take this path (and a valid one comes out as from _decode); only
    it words rejections: the same models, the entries judged one by one."""
    envelope, entries = _read_envelope(payload, topic_device_id=topic_device_id,
                                       max_bytes=max_bytes)
    measurements, rejections = _judge(entries, envelope.base, make, topic_device_id, now,
                                      future_tolerance, oldest)
    return result(topic_device_id, envelope.seq, measurements, rejections)


def _judge(
    entries: Sequence[Entry | ContractError],
    base: BaseValues | None,
    make: Callable[..., Any],
    device_id: str,
    now: datetime,
    future_tolerance: timedelta,
    oldest: datetime | None,
) -> tuple[tuple[Any, ...], tuple[Rejection, ...]]:
    """Each entry's reading, or its rejection: an entry stands alone."""
    base = base or _NO_BASE
    base_time = None if base.time is None else _utc(base.time, "base.time")  # once, not per entry
    measurements: list[Any] = []
    rejections: list[Rejection] = []
    for index, entry in enumerate(entries):
        try:
            if isinstance(entry, ContractError):
                raise entry
            measurement = _measurement(make, device_id, entry, base, base_time, now=now,
                                       future_tolerance=future_tolerance)
            if oldest is not None and measurement.measured_at < oldest:
                age = (now - measurement.measured_at).days
                raise ContractError(
                    "too_old",
                    f"measured time {measurement.measured_at.isoformat()} is {age} days old, "
                    f"older than this kind of device can hold readings "
                    f"({(now - oldest).days} days); check the device clock",
                )
            measurements.append(measurement)
        except ContractError as exc:
            rejections.append(Rejection(exc.code, f"reading {index}: {exc.reason}", index))
    return tuple(measurements), tuple(rejections)


def _read_envelope(
    payload: bytes, *, topic_device_id: str, max_bytes: int
) -> tuple[_Envelope, list[Entry] | list[Entry | ContractError]]:
    """The envelope and its entries, each entry validated or the error that says why;
    ContractError when the message as a whole cannot be read."""
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
            f"schema version {data['schema']!r} is not supported "
            f"(this ingest reads {SCHEMA_VERSION})",
        )
    if "readings" not in data and "value" in data:  # the one-reading form, as a batch of one
        data = {**{k: v for k, v in data.items() if k not in _ENTRY_FIELDS},
                "readings": [{k: v for k, v in data.items() if k in _ENTRY_FIELDS}]}
    try:
        message = ReadingMessage.model_validate(data)
    except ValidationError as exc:
        whole = [e for e in exc.errors(include_url=False) if not _in_an_entry(e["loc"])]
        if whole:
            raise ContractError("invalid_message", _describe(whole)) from exc
        envelope = _Envelope.model_validate({k: v for k, v in data.items() if k != "readings"})
        _check_device(envelope.device_id, topic_device_id)
        return envelope, [_entry(item) for item in data["readings"]]
    _check_device(message.device_id, topic_device_id)
    return message, message.readings


def _in_an_entry(loc: tuple[int | str, ...]) -> bool:
    return len(loc) > 1 and loc[0] == "readings" and isinstance(loc[1], int)


def _check_device(device_id: str, topic_device_id: str) -> None:
    if device_id != topic_device_id:
        raise ContractError(
            "device_mismatch",
            f"device_id {device_id!r} does not match the topic's device {topic_device_id!r}",
        )


def _entry(raw: Any) -> Entry | ContractError:
    try:
        return Entry.model_validate(raw)
    except ValidationError as exc:
        return ContractError("invalid_reading", _describe(exc.errors(include_url=False)))


def _measurement(
    make: Callable[..., Any],
    device_id: str,
    entry: Entry,
    base: BaseValues,
    base_time: datetime | None,
    *,
    now: datetime,
    future_tolerance: timedelta,
) -> Any:
    """One valid reading (built by ``make``) or a ContractError saying why not."""
    kind = _kind(entry.metric or base.metric, entry.unit or base.unit,
                 entry.source or base.source)
    number = _finite(entry.value)
    value = number if kind.convert is None else kind.convert(number)
    if not kind.low <= value <= kind.high:
        spec = CATALOGUE[kind.metric]
        raise ContractError(
            "out_of_range",
            f"value {entry.value} {kind.unit} is outside the plausible range for {kind.metric} "
            f"({spec.minimum:g}–{spec.maximum:g} {spec.unit})",
        )
    measured_at = _measured_at(entry.time, entry.offset_s, base_time)
    if measured_at - now > future_tolerance:
        ahead = (measured_at - now).total_seconds() / 60
        raise ContractError(
            "future_time",
            f"measured time {measured_at.isoformat()} is {ahead:.0f} min in the future "
            f"(limit {future_tolerance.total_seconds() / 60:.0f} min); check the device clock",
        )
    if kind.source_error is not None:
        raise ContractError("glucose_method", kind.source_error)
    # positional, in the order Measurement and Reading (after patient_id) declare
    return make(device_id, kind.metric, round(value, 6), measured_at, kind.source, number,
                kind.unit, entry.context or base.context, tuple(entry.status))


@dataclass(frozen=True, slots=True)
class _Kind:
    """What an entry's metric, unit and source come to: derived once for each triple (a
    batch names the same in every entry)."""

    metric: Metric
    unit: str  # normalised
    convert: Callable[[float], float] | None  # to the canonical unit; None: it is canonical
    low: float  # the plausible range, canonical unit
    high: float
    source: str
    source_error: str | None  # why the source will not do (checked after the time)


@lru_cache(maxsize=1024)
def _kind(metric_name: str | None, unit_name: str | None, source: str | None) -> _Kind:
    metric = _metric(metric_name)
    spec = CATALOGUE[metric]
    unit = normalise_unit(unit_name or spec.unit)
    if not spec.accepts(unit):
        raise ContractError(
            "unit_mismatch",
            f"unit {unit!r} does not fit metric {metric} (accepted: {', '.join(spec.units)})",
        )
    convert = None if unit == spec.unit else spec.conversions[unit].to_canonical
    try:
        return _Kind(metric, unit, convert, spec.minimum, spec.maximum,
                     _source(metric, source), None)
    except ContractError as exc:
        return _Kind(metric, unit, convert, spec.minimum, spec.maximum, "", exc.reason)


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


def _measured_at(
    time: datetime | None, offset_s: int | float | None, base_time: datetime | None
) -> datetime:
    if time is not None:
        if offset_s is not None:
            raise ContractError("ambiguous_time", "give either time or offset_s, not both")
        when = time
    elif base_time is not None:
        try:
            when = base_time + timedelta(seconds=float(offset_s or 0))
        except (OverflowError, ValueError):  # NaN, infinite or beyond the calendar
            raise ContractError(
                "invalid_time",
                f"offset_s {offset_s!r} from the base time is not a representable time",
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


def _describe(errors: Sequence[ErrorDetails]) -> str:
    """One short line per field; a number's int|float alternatives read as one error."""
    seen: dict[str, str] = {}
    for err in errors:
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
