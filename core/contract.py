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
import re
from collections.abc import Callable, Sequence
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
    fast = _fast_decode(payload, topic_device_id, now, max_bytes, future_tolerance, make)
    if fast is not None and (oldest is None or all(r.measured_at >= oldest for r in fast[1])):
        seq, readings = fast
        return result(topic_device_id, seq, readings)
    return _full_decode(payload, topic_device_id, now, max_bytes, future_tolerance, make, result,
                        oldest)


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
    """Every message can take this path; only it words rejections."""
    envelope = _read_envelope(payload, topic_device_id=topic_device_id, max_bytes=max_bytes)
    base = envelope.base or BaseValues()
    base_time = None if base.time is None else _utc(base.time, "base.time")  # once, not per entry
    measurements: list[Any] = []
    rejections: list[Rejection] = []
    for index, entry in enumerate(_entries(envelope.readings)):
        try:
            if isinstance(entry, ContractError):
                raise entry
            measurement = _measurement(
                make, topic_device_id, entry.metric or base.metric,
                entry.unit or base.unit, entry.value, entry.time, entry.offset_s, base_time,
                entry.source or base.source, entry.context or base.context, entry.status,
                now=now, future_tolerance=future_tolerance,
            )
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
    return result(topic_device_id, envelope.seq, tuple(measurements), tuple(rejections))


# -- the fast path ---------------------------------------------------------------------
#
# Most messages are entirely valid. For them, the checks pydantic makes on the envelope
# and the entries are done here on the parsed JSON directly (about 4x cheaper than
# building the models). The fast path only ever ACCEPTS: anything it is not sure of
# (an unusual but maybe valid spelling, or anything invalid) returns None and the
# message takes the pydantic path above, which alone words every rejection. So the
# result and the error messages are the same as without it, which the differential
# tests (tests/ingest/test_perf_contract.py) check on generated messages.

_ENVELOPE_KEYS = frozenset({"schema", "device_id", "seq", "base", "readings"})
_BASE_KEYS = frozenset(BaseValues.model_fields)
_ENTRY_KEYS = frozenset(Entry.model_fields)
_MAX_STATUS = 16
# What Python's fromisoformat and pydantic's parser read alike: the offset's hours and
# minutes bounded (Python reads "+00:60" as one hour; pydantic refuses it).
_ISO_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)
_json_decode = json.JSONDecoder().decode


class _NotFast(Exception):
    """The message leaves the fast path for the full one."""


def _fast_decode(
    payload: bytes,
    device_id: str,
    now: datetime,
    max_bytes: int,
    future_tolerance: timedelta,
    make: Callable[..., Any],
) -> tuple[int, tuple[Any, ...]] | None:
    """(seq, readings) when every part of the message is plainly valid, else None."""
    # json.loads(bytes) guesses UTF-16/32 from NUL bytes; '{' then a non-NUL is UTF-8.
    if len(payload) > max_bytes or payload[:1] != b"{" or payload[1:2] == b"\0":
        return None
    try:
        data = _json_decode(payload.decode("utf-8"))
        if "readings" in data:
            if not _ENVELOPE_KEYS.issuperset(data):
                return None
            entries = data["readings"]
        else:  # the one-reading form
            if "value" not in data:
                return None
            entries = [{k: v for k, v in data.items() if k in _ENTRY_KEYS}]
            if not _ENVELOPE_KEYS.issuperset(k for k in data if k not in _ENTRY_KEYS):
                return None
        schema, seq, sent_id = data["schema"], data["seq"], data["device_id"]
        if (type(schema) is not int or schema != SCHEMA_VERSION or type(seq) is not int
                or seq < 0 or type(sent_id) is not str or sent_id != device_id
                or not 0 < len(sent_id) <= 128 or type(entries) is not list
                or not 0 < len(entries) <= MAX_READINGS_PER_MESSAGE):
            return None
        base = data.get("base")
        if base is None:
            base = {}
        elif type(base) is not dict or not _BASE_KEYS.issuperset(base):
            return None
        b_metric = _text(base.get("metric"))
        b_unit = _text(base.get("unit"))
        b_source = _text(base.get("source"))
        b_context = _text(base.get("context"))
        b_time = _time(base.get("time"))
        base_time = None if b_time is None else _utc(b_time, "base.time")
        plain: _Plain | None = None
        readings = []
        for entry in entries:
            if type(entry) is dict and _PLAIN_KEYS.issuperset(entry):
                if plain is None:
                    plain = _Plain(b_metric, b_unit, b_source, b_context)
                readings.append(plain.reading(entry, device_id, base_time, make, now,
                                              future_tolerance))
            else:
                readings.append(_fast_entry(entry, device_id, b_metric, b_unit, base_time,
                                            b_source, b_context, make, now, future_tolerance))
    except (_NotFast, ContractError, ValueError, TypeError, KeyError, OverflowError,
            RecursionError, AttributeError):
        return None
    return seq, tuple(readings)


_PLAIN_KEYS = frozenset({"value", "offset_s", "time"})


class _Plain:
    """Entries that carry only a value and a time take the base's metric, unit, source and
    context: what _measurement derives from those is derived once a message."""

    __slots__ = ("metric", "unit", "source", "context", "convert", "low", "high")

    def __init__(self, metric: str | None, unit: str | None, source: str | None,
                 context: str | None) -> None:
        self.metric = _metric(metric)
        spec = CATALOGUE[self.metric]
        self.unit = normalise_unit(unit or spec.unit)
        if not spec.accepts(self.unit):
            raise _NotFast
        self.convert = None if self.unit == spec.unit else spec.conversions[self.unit].to_canonical
        self.low, self.high = spec.minimum, spec.maximum
        self.source = _source(self.metric, source)
        self.context = context

    def reading(self, entry: dict[str, Any], device_id: str, base_time: datetime | None,
                make: Callable[..., Any], now: datetime, future_tolerance: timedelta) -> Any:
        """The same checks and results as _measurement, for this one shape of entry."""
        raw = entry["value"]
        if type(raw) is float:
            number = raw
        elif type(raw) is int:
            number = float(raw)
        else:
            raise _NotFast
        value = number if self.convert is None else self.convert(number)
        if not self.low <= value <= self.high:  # False for NaN; infinities are out of range
            raise _NotFast
        offset = entry.get("offset_s")
        if "time" in entry:
            if offset is not None:
                raise _NotFast
            when = _time(entry["time"])
            if when is None:
                raise _NotFast
            measured_at = when if when.tzinfo is UTC else _utc(when, "time")
        elif base_time is None:
            raise _NotFast
        elif offset is None:
            measured_at = base_time
        elif type(offset) is int or type(offset) is float:
            measured_at = base_time + timedelta(seconds=offset)
        else:
            raise _NotFast
        if measured_at - now > future_tolerance:
            raise _NotFast
        return make(device_id, self.metric, round(value, 6), measured_at, self.source, number,
                    self.unit, self.context, ())


def _fast_entry(
    entry: Any,
    device_id: str,
    b_metric: str | None,
    b_unit: str | None,
    base_time: datetime | None,
    b_source: str | None,
    b_context: str | None,
    make: Callable[..., Any],
    now: datetime,
    future_tolerance: timedelta,
) -> Any:
    if type(entry) is not dict or not _ENTRY_KEYS.issuperset(entry):
        raise _NotFast
    value = entry["value"]
    if type(value) is not int and type(value) is not float:
        raise _NotFast
    offset = entry.get("offset_s")
    if offset is not None and type(offset) is not int and type(offset) is not float:
        raise _NotFast
    status = entry.get("status", ())
    if status:
        if type(status) is not list or len(status) > _MAX_STATUS:
            raise _NotFast
        for flag in status:
            _text(flag)
    elif status is None or (status != () and type(status) is not list):
        raise _NotFast
    return _measurement(
        make, device_id, _text(entry.get("metric")) or b_metric,
        _text(entry.get("unit")) or b_unit, value, _time(entry.get("time")), offset, base_time,
        _text(entry.get("source")) or b_source, _text(entry.get("context")) or b_context,
        status, now=now, future_tolerance=future_tolerance,
    )


def _text(value: Any) -> str | None:
    """A ShortText (a str of 1 to 64 characters) or None."""
    if value is None:
        return None
    if type(value) is str and 0 < len(value) <= 64:
        return str(value)
    raise _NotFast


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if type(value) is not str or _ISO_TIME.fullmatch(value) is None:
        raise _NotFast
    return datetime.fromisoformat(value)


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
            f"schema version {data['schema']!r} is not supported "
            f"(this ingest reads {SCHEMA_VERSION})",
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
    make: Callable[..., Any],
    device_id: str,
    metric_name: str | None,
    unit_name: str | None,
    raw_value: int | float,
    time: datetime | None,
    offset_s: int | float | None,
    base_time: datetime | None,
    source: str | None,
    context: str | None,
    status: Sequence[str],
    *,
    now: datetime,
    future_tolerance: timedelta,
) -> Any:
    """One valid reading (built by ``make``) or a ContractError saying why not."""
    metric = _metric(metric_name)
    spec = CATALOGUE[metric]
    unit = normalise_unit(unit_name or spec.unit)
    if not spec.accepts(unit):
        raise ContractError(
            "unit_mismatch",
            f"unit {unit!r} does not fit metric {metric} (accepted: {', '.join(spec.units)})",
        )
    number = _finite(raw_value)
    value = spec.to_canonical(number, unit)
    if not spec.in_range(value):
        raise ContractError(
            "out_of_range",
            f"value {raw_value} {unit} is outside the plausible range for {metric} "
            f"({spec.minimum:g}–{spec.maximum:g} {spec.unit})",
        )
    measured_at = _measured_at(time, offset_s, base_time)
    if measured_at - now > future_tolerance:
        ahead = (measured_at - now).total_seconds() / 60
        raise ContractError(
            "future_time",
            f"measured time {measured_at.isoformat()} is {ahead:.0f} min in the future "
            f"(limit {future_tolerance.total_seconds() / 60:.0f} min); check the device clock",
        )
    # positional, in the order Measurement and Reading (after patient_id) declare
    return make(device_id, metric, round(value, 6), measured_at, _source(metric, source),
                number, unit, context, tuple(status))


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
