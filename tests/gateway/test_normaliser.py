"""GATT payloads to contract entries: clock correction recorded with the reading, and
malformed payloads logged with the device id, without values, and never forwarded."""

from __future__ import annotations

import json
import logging
import struct
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.contract import decode_message, encode_message
from gateway.normaliser import Normaliser
from gateway.readers import Sample
from gateway.readers.simulator import blood_pressure, date_time, weight
from gateway.timing import ClockReference

RECEIVED = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def _glucose(seq: int, when: datetime | None, *, offset_min: int | None = None,
             context_follows: bool = False) -> bytes:
    flags = 0x02 | (0x01 if offset_min is not None else 0) | (0x10 if context_follows else 0)
    stamp = date_time(when) if when else bytes(7)  # an all-zero Date Time: the clock is unset
    out = struct.pack("<BH", flags, seq) + stamp
    if offset_min is not None:
        out += struct.pack("<h", offset_min)
    return out + struct.pack("<HB", 0xB078, 0x11)  # 120e-5 kg/L = 120 mg/dL; capillary, finger


def _one(normaliser: Normaliser, sample: Sample) -> dict:
    [(device_id, entry)] = normaliser.normalise(sample)
    assert device_id == sample.device_id
    return entry


def test_a_wrong_device_clock_is_corrected_from_the_gateway_reference_and_recorded() -> None:
    # The scale's clock runs 2 h 3 min 4 s behind UTC; the gateway read it at RECEIVED.
    wall_now = datetime(2026, 11, 23, 7, 26, 56)
    reference = ClockReference(device_wall=wall_now, gateway_utc=RECEIVED)
    payload = weight(81.2, datetime(2026, 11, 23, 6, 26, 56))  # taken an hour ago, device time
    entry = _one(Normaliser(), Sample("scale-1", 0x2A9D, payload, RECEIVED, reference))
    assert entry["time"] == "2026-11-23T08:30:00Z"
    assert entry["status"] == ["clock_offset_s:+7384"]


def test_the_glucose_time_offset_field_is_applied_before_the_correction() -> None:
    reference = ClockReference(device_wall=datetime(2026, 11, 23, 9, 30), gateway_utc=RECEIVED)
    payload = _glucose(7, datetime(2026, 11, 23, 10, 0), offset_min=-60)  # base + offset = 9:00
    entry = _one(Normaliser(), Sample("meter-1", 0x2A18, payload, RECEIVED, reference))
    assert entry["time"] == "2026-11-23T09:00:00Z"
    assert entry["status"] == ["clock_offset_s:+0"]
    assert entry["source"] == "meter"


def test_an_unset_device_clock_falls_back_to_the_time_received() -> None:
    entry = _one(Normaliser(), Sample("meter-1", 0x2A18, _glucose(1, None), RECEIVED))
    assert entry["time"] == "2026-11-23T09:30:00Z"
    assert entry["status"] == ["time:received", "time:device_clock_unset"]


def test_without_a_reference_device_time_is_read_in_the_home_zone() -> None:
    payload = blood_pressure(128, 82, 70, datetime(2026, 11, 23, 10, 15))  # Paris wall clock
    out = Normaliser(zone=ZoneInfo("Europe/Paris")).normalise(
        Sample("cuff-1", 0x2A35, payload, RECEIVED))
    assert {e["time"] for _, e in out} == {"2026-11-23T09:15:00Z"}
    assert {tuple(e["status"]) for _, e in out} == {("clock:zone:Europe/Paris",)}


def test_a_device_clock_ahead_of_the_gateway_is_not_believed() -> None:
    payload = weight(80.0, datetime(2026, 11, 23, 12, 0))  # 2.5 h after it was received
    entry = _one(Normaliser(), Sample("scale-1", 0x2A9D, payload, RECEIVED))
    assert entry["time"] == "2026-11-23T09:30:00Z"
    assert entry["status"] == ["time:received", "clock:ahead"]


def test_the_correction_travels_in_the_contract_and_is_kept_by_it() -> None:
    """The contract's ``status`` list carries the tags (no new field needed)."""
    payload = weight(81.2, datetime(2026, 11, 23, 6, 26, 56))
    reference = ClockReference(device_wall=datetime(2026, 11, 23, 7, 26, 56), gateway_utc=RECEIVED)
    entry = _one(Normaliser(), Sample("scale-1", 0x2A9D, payload, RECEIVED, reference))
    message = encode_message(device_id="scale-1", seq=0, readings=[entry])
    [measurement] = decode_message(message, topic_device_id="scale-1", now=RECEIVED).measurements
    assert measurement.status == ("clock_offset_s:+7384",)
    assert measurement.measured_at == datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def test_a_glucose_context_is_joined_to_its_measurement() -> None:
    normaliser = Normaliser()
    measurement = _glucose(9, datetime(2026, 11, 23, 9, 0), context_follows=True)
    assert normaliser.normalise(Sample("meter-1", 0x2A18, measurement, RECEIVED)) == []
    context = struct.pack("<BHB", 0x02, 9, 1)  # meal present: before the meal
    [(_, entry)] = normaliser.normalise(Sample("meter-1", 0x2A34, context, RECEIVED))
    assert entry["context"] == "before_meal"
    # A measurement whose context never comes is released by the next one, or by flush().
    normaliser.normalise(Sample("meter-1", 0x2A18, _glucose(10, datetime(2026, 11, 23, 9, 5),
                                                             context_follows=True), RECEIVED))
    [(_, held)] = normaliser.flush()
    assert "context" not in held


@pytest.mark.parametrize(
    ("characteristic", "payload"),
    [
        (0x2A35, bytes.fromhex("1E7800")),  # flags announce fields that never come
        (0x2A9D, b""),  # empty
        (0x2A18, bytes.fromhex("02010000000000000000")),  # truncated after the base time
        (0x2A1C, bytes.fromhex("02" + "24010000" + "e907" + "0d0101000000")),  # month 13
    ],
)
def test_a_malformed_payload_is_logged_with_the_device_and_yields_nothing(
    characteristic: int, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    normaliser = Normaliser()
    with caplog.at_level(logging.ERROR, logger="gateway.normaliser"):
        assert normaliser.normalise(Sample("ann-device-7", characteristic, payload, RECEIVED)) == []
    [record] = caplog.records
    text = record.getMessage()
    assert "ann-device-7" in text and "malformed" in text
    assert payload.hex() not in text.lower() or not payload
    assert normaliser.counts["malformed"] == 1


def test_unavailable_values_are_not_stored_as_numbers() -> None:
    # Weight "measurement unsuccessful" (0xFFFF): nothing to store, counted as skipped.
    out = Normaliser().normalise(Sample("scale-1", 0x2A9D, struct.pack("<BH", 0, 0xFFFF), RECEIVED))
    assert out == []
    assert json.dumps(out) == "[]"


def test_a_device_id_that_cannot_stand_in_a_topic_is_refused_at_the_door(
    tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    import threading
    from pathlib import Path

    from gateway.outbox import Outbox
    from gateway.service import OutboxSink

    outbox = Outbox(Path(str(tmp_path)) / "o.db", max_readings=10)
    sink = OutboxSink(outbox=outbox, normaliser=Normaliser(), forwarder=None,
                      stop=threading.Event())
    good = weight(80.0, None)
    with caplog.at_level(logging.ERROR, logger="gateway"):
        assert sink.submit([Sample("ann/scale", 0x2A9D, good, RECEIVED),
                            Sample("ann-scale", 0x2A9D, good, RECEIVED)])
    assert len(outbox) == 1 and sink.refused == 1
    assert any("cannot stand in a topic" in r.getMessage() for r in caplog.records)
    outbox.close()
