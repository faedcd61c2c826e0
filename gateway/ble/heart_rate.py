"""Heart Rate Measurement (0x2A37), Heart Rate Service 1.0 / GATT Supplement §3.113.

flags(1): bit0 value is uint16 (else uint8), bits1-2 sensor contact (bit2
supported, bit1 detected), bit3 energy expended (uint16 kJ), bit4 RR
intervals (uint16 each, 1/1024 s, as many as fit). No time stamp: the
gateway's receive time is the measured time.
"""

from __future__ import annotations

from core.metrics import Metric
from gateway.ble.errors import DecodeError
from gateway.ble.fields import Fields
from gateway.ble.model import Decoded, JsonValue, Observation

MEASUREMENT = 0x2A37
NAME = "Heart Rate Measurement"
SOURCE = "heart_rate_monitor"


def decode(payload: bytes) -> Decoded:
    f = Fields(NAME, payload)
    flags = f.uint(1, "flags")
    rate = f.uint(2 if flags & 0x01 else 1, "heart rate")
    details: dict[str, JsonValue] = {}
    status: tuple[str, ...] = ()
    if flags & 0x04:
        contact = bool(flags & 0x02)
        details["sensor_contact"] = contact
        if not contact:
            status = ("sensor_contact_not_detected",)
    if flags & 0x08:
        details["energy_expended_kj"] = f.uint(2, "energy expended")
    if flags & 0x10:
        if f.remaining() < 2 or f.remaining() % 2:
            raise DecodeError(
                NAME, f"RR intervals are announced but {f.remaining()} bytes remain "
                "(need one or more 2-byte intervals)"
            )
        raw = [f.uint(2, "RR interval") for _ in range(f.remaining() // 2)]
        details["rr_intervals_ms"] = [round(r * 1000 / 1024, 3) for r in raw]
    return Decoded(
        characteristic=MEASUREMENT,
        name=NAME,
        observations=(Observation(Metric.HEART_RATE, float(rate), "/min", source=SOURCE),),
        status=status,
        details=details,
    )
