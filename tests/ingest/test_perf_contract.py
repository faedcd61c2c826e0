"""The contract's two ways through its one set of models (core/contract.py) agree.

A valid message is validated in one call from its bytes (model_validate_json); any
other takes the path that parses it with json and validates each entry alone, which
alone words rejections. These tests compare the two on generated messages (valid ones,
odd-but-valid spellings, and invalid ones): the same readings, or the same error,
every time.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import contract
from core.contract import (
    DecodedMessage,
    decode_message,
    decode_readings,
    encode_message,
)
from core.errors import ContractError
from core.metrics import CATALOGUE, Metric, normalise_unit
from core.readings import Measurement

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOLERANCE = contract.FUTURE_TOLERANCE
DEVICE = "dev-1"


def _full(payload: bytes) -> DecodedMessage:
    result: DecodedMessage = contract._full_decode(
        payload, DEVICE, NOW, contract.MAX_PAYLOAD_BYTES, TOLERANCE, Measurement, DecodedMessage
    )
    return result


def _outcome(decode: Any, payload: bytes) -> Any:
    try:
        decoded = decode(payload)
    except ContractError as exc:
        return ("error", exc.code, exc.reason)
    return ("ok", decoded.device_id, decoded.seq, decoded.measurements, decoded.rejections)


def _public(payload: bytes) -> DecodedMessage:
    return decode_message(payload, topic_device_id=DEVICE, now=NOW)


def _same(a: Any, b: Any) -> bool:
    """Equal outcomes; NaN equals NaN (dataclass equality would say otherwise)."""
    if a[0] != b[0]:
        return False
    if a[0] == "error":
        return bool(a == b)
    if a[1:3] != b[1:3] or a[4] != b[4] or len(a[3]) != len(b[3]):
        return False
    for x, y in zip(a[3], b[3], strict=True):
        if type(x) is not type(y):
            return False
        for name in type(x).__slots__:
            u, v = getattr(x, name), getattr(y, name)
            if isinstance(u, float) and math.isnan(u) and isinstance(v, float) and math.isnan(v):
                continue
            if u != v or type(u) is not type(v):
                return False
        if x.measured_at.tzinfo is not UTC or y.measured_at.tzinfo is not UTC:
            return False
    return True


ODD_TIMES = [
    "2026-11-23T08:00:00.1234567Z", "2026-11-23 08:00:00Z", "2026-11-23t08:00:00z",
    "2026-11-23T08:00:00+00:60", "2026-11-23T08:00:00+24:00", "2026-11-23T08:00:00+23:59",
    "2026-11-23T08:00:00-23:59", "2026-11-23T24:00:00Z", "2026-11-23T23:59:60Z",
    "2026-02-30T08:00:00Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00", "2026-11-23T12:04:59Z", "2026-11-23T12:05:00Z",
    "2026-11-23T12:05:00.000001Z", "2026-11-23T08:00:00", "2026-11-23", "1763884800", "",
]
# Mostly valid messages, each field sometimes swapped for an odd or invalid value: the
# interesting cases are one step away from valid.
good_times = st.builds(
    lambda ago, tz: (NOW - timedelta(microseconds=ago)).astimezone(tz).isoformat().replace(
        "+00:00", "Z"),
    st.integers(min_value=-400_000_000, max_value=400 * 86_400 * 10**6),
    st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30)),
                     timezone(timedelta(hours=23, minutes=59))]),
)
odd_times = st.one_of(st.sampled_from(ODD_TIMES), st.integers(-10, 2_000_000_000), st.none())
odd_texts = st.one_of(st.none(), st.just(""), st.text(min_size=60, max_size=70), st.integers(),
                      st.booleans())
COMBOS = [("glucose", "mg/dL", "cgm"), ("glucose", "mmol/L", "meter"), ("glucose", "mg/dl", "cgm"),
          ("weight", "[lb_av]", "scale"), ("weight", "kg", None), ("weight", " KG ", None),
          ("systolic", "mmHg", None), ("systolic", "kPa", "cuff"), ("spo2", "%", None),
          ("steps", None, None), ("body_temperature", "[degF]", None), ("door", None, "door")]
odd_metrics = st.sampled_from(["nope", "", "Glucose", None, 3])
odd_units = st.sampled_from(["furlong", "kg", "mmol/L", "", None, 2])
odd_sources = st.sampled_from(["", "CGM", "meter", None, 0])


def _values(metric: str, unit: str | None) -> Any:
    """Around the plausible range in the unit sent, its edges included."""
    spec = CATALOGUE[Metric(metric)]
    code = normalise_unit(unit) if unit else spec.unit
    low, high = spec.from_canonical(spec.minimum, code), spec.from_canonical(spec.maximum, code)
    span = (high - low) / 20
    return st.one_of(st.floats(min_value=low - span, max_value=high + span),
                     st.integers(min_value=math.floor(low - span),
                                 max_value=math.ceil(high + span)),
                     st.sampled_from(_edges(low, high)))


def _edges(low: float, high: float) -> list[float]:
    return [low, high, round(low), round(high), low - 0.5, high + 0.5,
            math.nextafter(low, -math.inf), math.nextafter(high, math.inf)]


odd_values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                       st.integers(min_value=2**60, max_value=2**1100), st.text(max_size=3),
                       st.none())
good_offsets = st.one_of(st.integers(min_value=-10**6, max_value=10**6),
                         st.floats(min_value=-10**6, max_value=10**6))
odd_offsets = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                        st.integers(min_value=10**14),
                        st.booleans(), st.text(max_size=2), st.none())


_PERCENT = st.sampled_from(range(100))


def _pick(draw: Any, good: Any, odd: Any) -> Any:
    return draw(odd) if draw(_PERCENT) >= 96 else draw(good)


def _put(draw: Any, d: dict[str, Any], key: str, value: Any, keep: float = 1.0) -> None:
    """Set a field; now and then leave it out or add it where it was not wanted."""
    roll = draw(_PERCENT)  # generators favour low numbers: a rare event takes the high ones
    if (roll < keep * 100) if keep >= 0.5 else (roll >= 100 - keep * 100):
        d[key] = value


@st.composite
def entries(draw: Any, combo: tuple[str, str | None, str | None], with_base: bool) -> Any:
    if draw(st.integers(0, 40)) == 0:
        return draw(st.one_of(st.none(), st.integers(), st.lists(st.integers(), max_size=2)))
    metric, unit, source = combo
    e: dict[str, Any] = {}
    _put(draw, e, "value", _pick(draw, _values(metric, unit), odd_values), 0.98)
    if with_base and draw(st.integers(0, 5)):
        _put(draw, e, "offset_s", _pick(draw, good_offsets, odd_offsets), 0.7)
        _put(draw, e, "time", _pick(draw, good_times, odd_times), 0.05)
    else:
        _put(draw, e, "time", _pick(draw, good_times, odd_times), 0.9)
        _put(draw, e, "offset_s", _pick(draw, good_offsets, odd_offsets), 0.05)
        _put(draw, e, "metric", _pick(draw, st.just(metric), odd_metrics), 0.95)
        if unit is not None:
            _put(draw, e, "unit", _pick(draw, st.just(unit), odd_units), 0.9)
        if source is not None:
            _put(draw, e, "source", _pick(draw, st.just(source), odd_sources), 0.95)
    _put(draw, e, "metric", _pick(draw, st.just(metric), odd_metrics), 0.05)
    _put(draw, e, "context",
         _pick(draw, st.sampled_from(["fasting", "after_meal"]), odd_texts), 0.1)
    _put(draw, e, "status",
         _pick(draw, st.lists(st.sampled_from(["low_battery", "ok"]), max_size=3),
               st.one_of(st.lists(odd_texts, max_size=2), odd_texts,
                         st.lists(st.just("x"), min_size=17, max_size=17))),
         0.15)
    _put(draw, e, "extra", 1, 0.02)
    return e


@st.composite
def messages(draw: Any) -> bytes:
    combo = draw(st.sampled_from(COMBOS))
    metric, unit, source = combo
    m: dict[str, Any] = {}
    _put(draw, m, "schema", _pick(draw, st.just(1), st.sampled_from([2, True, 1.0, "1"])), 0.98)
    _put(draw, m, "device_id",
         _pick(draw, st.just(DEVICE), st.sampled_from(["other", "", 7])), 0.98)
    _put(draw, m, "seq", _pick(draw, st.integers(min_value=0, max_value=10**9),
                               st.sampled_from([-1, True, 1.5, "3", None])), 0.98)
    with_base = draw(st.booleans())
    if with_base:
        base: dict[str, Any] = {}
        _put(draw, base, "metric", _pick(draw, st.just(metric), odd_metrics), 0.97)
        if unit is not None:
            _put(draw, base, "unit", _pick(draw, st.just(unit), odd_units), 0.9)
        _put(draw, base, "time", _pick(draw, good_times, odd_times), 0.95)
        if source is not None:
            _put(draw, base, "source", _pick(draw, st.just(source), odd_sources), 0.95)
        _put(draw, base, "context", _pick(draw, st.just("fasting"), odd_texts), 0.15)
        _put(draw, base, "extra", 1, 0.02)
        m["base"] = _pick(draw, st.just(base), st.sampled_from([None, 3, []]))
    if draw(st.integers(0, 3)) == 0:  # the one-reading form
        single = draw(entries(combo, with_base))
        m.update(single if isinstance(single, dict) else {})
    else:
        m["readings"] = draw(st.lists(entries(combo, with_base), min_size=0 if
                                      draw(st.integers(0, 30)) == 0 else 1, max_size=5))
    _put(draw, m, "schema_version", 1, 0.02)
    _put(draw, m, "extra", 1, 0.02)
    text = json.dumps(m, separators=(",", ":"))
    return text.encode("utf-8") if draw(st.integers(0, 40)) else text.encode("utf-16")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_fast_and_full_paths_agree(payload: bytes) -> None:
    assert _same(_outcome(_public, payload), _outcome(_full, payload))


def _valid_batch(n: int, **base: Any) -> bytes:
    return encode_message(
        device_id=DEVICE, seq=4,
        base={"metric": "glucose", "unit": "mmol/L", "source": "cgm",
              "time": "2026-11-23T08:00:00+01:00", **base},
        readings=[{"value": 5.5 + i / 10, "offset_s": 300 * i} for i in range(n)],
    )


def test_plain_valid_messages_take_the_fast_path() -> None:
    """The benchmark's and the simulator's shapes: a batch with a base, and one reading."""
    single = json.dumps({"schema": 1, "device_id": DEVICE, "seq": 3, "metric": "weight",
                         "value": 150.2, "unit": "[lb_av]",
                         "time": "2026-11-23T07:02:00+01:00", "status": ["ok"]}).encode()
    for payload in (_valid_batch(20), _valid_batch(1, context="fasting"), single):
        assert contract._validated(payload, contract.MAX_PAYLOAD_BYTES) is not None
        assert _same(_outcome(_public, payload), _outcome(_full, payload))


def test_a_batch_with_one_bad_reading_is_worded_by_the_full_path() -> None:
    payload = encode_message(
        device_id=DEVICE, seq=1,
        base={"metric": "glucose", "unit": "mg/dL", "source": "cgm",
              "time": NOW - timedelta(hours=1)},
        readings=[{"value": 100}, {"value": 9000, "offset_s": 60}, {"value": 101, "offset_s": 120}],
    )
    decoded = decode_message(payload, topic_device_id=DEVICE, now=NOW)
    assert [m.value for m in decoded.measurements] == [100.0, 101.0]
    assert [r.index for r in decoded.rejections] == [1]
    assert decoded.rejections[0].reason.startswith("reading 1: value 9000 mg/dL is outside")


@settings(max_examples=300, deadline=None)
@given(messages())
def test_decode_readings_is_decode_message_bound_to_the_patient(payload: bytes) -> None:
    try:
        expected = decode_message(payload, topic_device_id=DEVICE, now=NOW)
    except ContractError as exc:
        try:
            decode_readings(payload, topic_device_id=DEVICE, patient_id="p1", now=NOW)
        except ContractError as again:
            assert (again.code, again.reason) == (exc.code, exc.reason)
            return
        raise AssertionError("decode_readings accepted what decode_message refused") from None
    got = decode_readings(payload, topic_device_id=DEVICE, patient_id="p1", now=NOW)
    assert (got.seq, got.rejections) == (expected.seq, expected.rejections)
    bound = tuple(m.bind("p1") for m in expected.measurements)
    assert _same(("ok", 0, 0, got.measurements, ()), ("ok", 0, 0, bound, ()))
    # built by core.readings.reading_maker, they are the same frozen Readings
    assert got.measurements == bound
    assert [hash(r) for r in got.measurements] == [hash(r) for r in bound]
    assert [repr(r) for r in got.measurements] == [repr(r) for r in bound]


# -- one step from valid, systematically -------------------------------------------------

DROP = object()
TEMPLATES: dict[str, dict[str, Any]] = {
    "batch": {"schema": 1, "device_id": DEVICE, "seq": 5,
              "base": {"metric": "glucose", "unit": "mg/dL", "source": "cgm",
                       "time": "2026-11-23T08:00:00Z", "context": "fasting"},
              "readings": [{"value": 100, "offset_s": 60}, {"value": 101.5},
                           {"value": 102, "time": "2026-11-23T09:00:00+01:00"}]},
    "events": {"schema": 1, "device_id": DEVICE, "seq": 9,
               "base": {"metric": "door", "time": "2026-11-23T11:00:00-01:00"},
               "readings": [{"value": 1}, {"value": 0, "offset_s": 5}]},
    "single": {"schema": 1, "device_id": DEVICE, "seq": 3, "metric": "weight", "value": 150.2,
               "unit": "[lb_av]", "time": "2026-11-23T07:02:00+01:00", "status": ["ok"]},
    "full entries": {"schema": 1, "device_id": DEVICE, "seq": 0,
                     "readings": [{"metric": "systolic", "value": 16, "unit": "kPa",
                                   "time": "2026-11-23T06:02:00.25-05:30", "source": "cuff",
                                   "context": "morning", "status": ["a", "b"]},
                                  {"metric": "spo2", "value": 97, "time": "2026-11-23T07:02:00Z"},
                                  {"metric": "door", "value": 1, "time": "2026-11-23T07:02:00Z"}]},
}
ODD_NUMBERS = [0, -1, 1.5, 9.99, 10, 1000, 1000.5, math.nextafter(1000, 2000), 1e308, 2**64,
               2**1100, True, False, None, "100", [], {}]
ODD_STRINGS = ["", "x" * 64, "x" * 65, 3, True, None, [], "fasting", "glucose", "kg", "meter"]
ODD_FIELDS: dict[str, list[Any]] = {
    "schema": [1, 2, 0, True, 1.0, "1", None, DROP],
    "device_id": [DEVICE, "other", "", 7, None, DROP],
    "seq": [0, -1, 2**70, True, 1.5, "3", None, DROP],
    "metric": [*ODD_STRINGS, "weight", "spo2", "steps", "nope", "Glucose", DROP],
    "unit": [*ODD_STRINGS, "mmol/L", "mg/dl", " MG/DL ", "lbs", "kPa", "%", DROP],
    "source": [*ODD_STRINGS, "cgm", "CGM", DROP],
    "context": [*ODD_STRINGS, DROP],
    "status": [[], ["x"] * 16, ["x"] * 17, [""], ["x" * 65], [3], "ok", "", 0, False, {}, None,
               DROP],
    "time": [*ODD_TIMES, "2026-11-23T08:00:00.5Z", None, 5, DROP],
    "offset_s": [0, -60, 0.5, 1e12, 1e300, float("nan"), float("inf"), True, "5", None, DROP],
    "value": [*ODD_NUMBERS, float("nan"), float("inf"), DROP],
    "extra": [1],
    "schema_version": [1],
    "readings": [[], [{"value": 1}], None, {}, [1], DROP],
}


def _cases() -> list[tuple[str, tuple[Any, ...], Any]]:
    cases = []
    for name, template in TEMPLATES.items():
        spots: list[tuple[Any, ...]] = [()]
        if "base" in template:
            spots.append(("base",))
        if "readings" in template:
            spots += [("readings", i) for i in range(len(template["readings"]))]
        for spot in spots:
            for key, values in ODD_FIELDS.items():
                cases += [(name, (*spot, key), value) for value in values]
    return cases


def _substituted(name: str, path: tuple[Any, ...], value: Any) -> bytes:
    message = json.loads(json.dumps(TEMPLATES[name]))
    target = message
    for step in path[:-1]:
        target = target[step]
    if value is DROP:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return json.dumps(message).encode()


def test_every_single_change_to_a_valid_message_decodes_as_the_full_path_says() -> None:
    for template in TEMPLATES.values():  # valid, and taken by the fast path
        payload = json.dumps(template).encode()
        assert contract._validated(payload, contract.MAX_PAYLOAD_BYTES) is not None
    accepted = 0
    for name, path, value in _cases():
        payload = _substituted(name, path, value)
        fast, full = _outcome(_public, payload), _outcome(_full, payload)
        assert _same(fast, full), (name, path, value, fast, full)
        accepted += fast[0] == "ok" and not fast[4]
    assert accepted > 100  # the templates are valid: many changes leave them so
