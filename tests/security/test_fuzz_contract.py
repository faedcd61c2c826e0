"""The MQTT payload parser (core.contract.decode_message) under generated input.

Whatever arrives on ``hearth/v1/up/{device}``, decode_message either returns the
good readings with a rejection per bad one, or raises ContractError for the whole
message; nothing else escapes (an escaping exception would stop ingest's worker).
Every rejection carries a code and a reason that names what is wrong.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from core.contract import decode_message
from core.errors import ContractError
from tests.security.fuzzing import FUZZ, JSON

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DEVICE = "cgm-ann"
VALID: dict[str, Any] = {
    "schema": 1, "device_id": DEVICE, "seq": 17,
    "base": {"metric": "glucose", "unit": "mg/dL", "source": "cgm",
             "time": "2026-11-23T08:00:00Z"},
    "readings": [{"value": 104}, {"value": 109, "offset_s": 300}],
}
SINGLE: dict[str, Any] = {"schema": 1, "device_id": DEVICE, "seq": 3, "metric": "weight",
                          "value": 81.2, "unit": "kg", "time": "2026-11-23T07:02:00Z"}
# A reason for a bad field names it; a few name what the field changed instead:
# a time it gives, or (for a unit or metric that no longer fits) the value and its unit.
NAMES = {"offset_s": ("offset_s", "time"), "unit": ("unit", "value"),
         "metric": ("metric", "value"), "readings": ("reading", "payload")}


def decode(payload: bytes) -> tuple[int, list[str]]:
    """(good readings, reasons); fails the test on any exception but ContractError."""
    try:
        decoded = decode_message(payload, topic_device_id=DEVICE, now=NOW)
    except ContractError as exc:
        assert exc.code and exc.reason.strip(), exc
        return 0, [exc.reason]
    for r in decoded.rejections:
        assert r.code and r.reason.strip()
        assert r.index is not None and r.reason.startswith(f"reading {r.index}: ")
    return len(decoded.measurements), [r.reason for r in decoded.rejections]


def test_the_templates_are_valid() -> None:
    assert decode(json.dumps(VALID).encode()) == (2, [])
    assert decode(json.dumps(SINGLE).encode()) == (1, [])


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_are_rejected_with_a_reason(payload: bytes) -> None:
    decode(payload)


@FUZZ
@given(JSON)
def test_fuzz_any_json_is_decoded_or_rejected_with_a_reason(document: Any) -> None:
    decode(json.dumps(document).encode())


def _mutated(template: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(template))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


def _paths(template: dict[str, Any]) -> list[tuple[str | int, ...]]:
    out: list[tuple[str | int, ...]] = []
    for key, value in template.items():
        out.append((key,))
        if isinstance(value, dict):
            out += [(key, k) for k in value]
        if isinstance(value, list):
            out += [(key, i, k) for i, item in enumerate(value) for k in item]
    return out


@FUZZ
@given(st.data())
def test_fuzz_one_bad_field_is_named_in_the_reason(data: st.DataObject) -> None:
    template = data.draw(st.sampled_from([VALID, SINGLE]))
    path = data.draw(st.sampled_from(_paths(template)))
    value = data.draw(JSON)
    good, reasons = decode(json.dumps(_mutated(template, path, value)).encode())
    field = str(path[-1])
    for reason in reasons:
        assert any(name in reason for name in NAMES.get(field, (field,))), (path, value, reason)
    expected = 2 if template is VALID else 1
    assert good + len(reasons) >= 1 and good <= expected


@FUZZ
@given(st.lists(JSON, min_size=1, max_size=20))
def test_fuzz_each_bad_entry_of_a_batch_is_rejected_alone(entries: list[Any]) -> None:
    message = {**VALID, "readings": [*VALID["readings"], *entries]}
    good, reasons = decode(json.dumps(message).encode())
    if reasons and not reasons[0].startswith("reading "):
        return  # the envelope itself became unreadable (e.g. too many readings)
    assert good >= 2, reasons  # the two good readings survive whatever sits beside them
    assert good + len(reasons) == len(message["readings"])
