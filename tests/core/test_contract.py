import json
from datetime import UTC, datetime, timedelta

import pytest

from core.contract import decode_message, encode_message
from core.errors import ContractError
from core.metrics import Metric

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def decode(payload: dict | bytes, device: str = "dev-1"):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode_message(raw, topic_device_id=device, now=NOW)


def message(**fields):
    return {"schema": 1, "device_id": "dev-1", "seq": 1, **fields}


def test_a_single_reading_round_trips() -> None:
    decoded = decode(message(metric="weight", value=81.2, unit="kg",
                             time="2026-11-23T07:02:00Z"))
    assert decoded.rejections == ()
    (m,) = decoded.measurements
    assert (m.metric, m.value, m.original_unit) == (Metric.WEIGHT, 81.2, "kg")
    assert m.measured_at == datetime(2026, 11, 23, 7, 2, tzinfo=UTC)
    assert m.source == "device"


def test_a_batch_uses_base_values_and_offsets() -> None:
    payload = encode_message(
        device_id="dev-1", seq=7,
        base={"metric": "glucose", "unit": "mmol/L", "source": "cgm",
              "time": datetime(2026, 11, 23, 8, tzinfo=UTC)},
        readings=[{"value": 5.5}, {"value": 6.0, "offset_s": 300},
                  {"value": 100, "unit": "mg/dL", "offset_s": 600}],
    )
    decoded = decode(payload)
    assert decoded.seq == 7 and decoded.rejections == ()
    assert [round(m.value, 2) for m in decoded.measurements] == [99.09, 108.09, 100.0]
    assert [m.original_value for m in decoded.measurements] == [5.5, 6.0, 100.0]
    assert [m.original_unit for m in decoded.measurements] == ["mmol/L", "mmol/L", "mg/dL"]
    assert decoded.measurements[1].measured_at == datetime(2026, 11, 23, 8, 5, tzinfo=UTC)


def test_times_with_offsets_are_stored_as_utc() -> None:
    decoded = decode(message(metric="spo2", value=94, unit="%", time="2026-11-23T09:00:00+02:00"))
    assert decoded.measurements[0].measured_at == datetime(2026, 11, 23, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("entry", "code", "words"),
    [
        ({"metric": "glucos", "value": 100, "unit": "mg/dL", "source": "cgm"}, "unknown_metric",
         "unknown metric 'glucos'"),
        ({"metric": "glucose", "value": "abc", "unit": "mg/dL", "source": "cgm"},
         "invalid_reading", "value"),
        ({"metric": "glucose", "value": True, "unit": "mg/dL", "source": "cgm"},
         "invalid_reading", "value"),
        ({"metric": "glucose", "value": 5000, "unit": "mg/dL", "source": "cgm"}, "out_of_range",
         "outside the plausible range"),
        ({"metric": "glucose", "value": 80, "unit": "kg", "source": "cgm"}, "unit_mismatch",
         "does not fit metric glucose"),
        ({"metric": "glucose", "value": 80, "unit": "mg/dL"}, "glucose_method", "'cgm' or 'meter'"),
        ({"metric": "weight", "value": 80, "unit": "kg", "colour": "red"}, "invalid_reading",
         "colour"),
    ],
)
def test_a_bad_reading_is_rejected_with_a_reason_and_spares_its_neighbours(
    entry: dict, code: str, words: str
) -> None:
    good = {"metric": "weight", "value": 80, "unit": "kg", "time": "2026-11-23T07:00:00Z"}
    entry = {"time": "2026-11-23T07:05:00Z", **entry}
    decoded = decode(message(readings=[good, entry, {**good, "time": "2026-11-23T07:10:00Z"}]))
    assert len(decoded.measurements) == 2
    (rejection,) = decoded.rejections
    assert rejection.code == code and rejection.index == 1
    assert words in rejection.reason and rejection.reason.startswith("reading 1:")


def test_a_time_in_the_future_is_rejected_beyond_five_minutes() -> None:
    soon = (NOW + timedelta(minutes=4)).isoformat()
    late = (NOW + timedelta(minutes=10)).isoformat()
    decoded = decode(message(readings=[
        {"metric": "spo2", "value": 95, "unit": "%", "time": soon},
        {"metric": "spo2", "value": 95, "unit": "%", "time": late},
    ]))
    assert len(decoded.measurements) == 1
    assert decoded.rejections[0].code == "future_time"
    assert "10 min in the future" in decoded.rejections[0].reason


def test_a_time_without_zone_is_refused() -> None:
    decoded = decode(message(metric="spo2", value=95, unit="%", time="2026-11-23T09:00:00"))
    assert decoded.rejections[0].code == "invalid_reading"
    assert "timezone" in decoded.rejections[0].reason


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"not json at all", "not_json"),
        (b"\xff\xfe\x00", "not_json"),
        (b"[1, 2]", "not_object"),
        (json.dumps({"schema": 2, "device_id": "dev-1", "seq": 1, "readings": []}).encode(),
         "schema_version"),
        (json.dumps({"schema": 1, "device_id": "dev-1", "seq": -1, "readings": [{}]}).encode(),
         "invalid_message"),
        (json.dumps({"schema": 1, "device_id": "dev-1", "seq": 1, "readings": []}).encode(),
         "invalid_message"),
        (json.dumps({"schema": 1, "device_id": "dev-2", "seq": 1,
                     "readings": [{"metric": "spo2", "value": 95}]}).encode(), "device_mismatch"),
        (b"{" + b" " * 300_000 + b"}", "too_large"),
    ],
)
def test_an_unreadable_message_is_rejected_whole(payload: bytes, code: str) -> None:
    with pytest.raises(ContractError) as err:
        decode(payload)
    assert err.value.code == code
    assert err.value.reason


def test_encode_refuses_ids_that_cannot_stand_in_a_topic() -> None:
    with pytest.raises(ValueError):
        encode_message(device_id="a/b", seq=1, readings=[])
