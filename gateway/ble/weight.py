"""Weight Measurement (0x2A9D), Weight Scale Service 1.0 / GATT Supplement §3.252.

flags(1): bit0 imperial (lb and inch, else kg and metre), bit1 time stamp,
bit2 user id, bit3 BMI and height (both). Weight uint16 at 0.005 kg or
0.01 lb; 0xFFFF is "measurement unsuccessful". BMI uint16 at 0.1 kg/m²;
height uint16 at 0.001 m or 0.1 inch.
"""

from __future__ import annotations

from decimal import Decimal

from core.metrics import Metric
from gateway.ble.fields import Fields, time_state
from gateway.ble.model import Decoded, JsonValue, Observation

MEASUREMENT = 0x2A9D
NAME = "Weight Measurement"
SOURCE = "scale"
UNSUCCESSFUL = 0xFFFF


def decode(payload: bytes) -> Decoded:
    f = Fields(NAME, payload)
    flags = f.uint(1, "flags")
    imperial = bool(flags & 0x01)
    raw_weight = f.uint(2, "weight")
    unit = "[lb_av]" if imperial else "kg"
    if raw_weight == UNSUCCESSFUL:
        weight = Observation(Metric.WEIGHT, None, unit, unavailable="unsuccessful", source=SOURCE)
    else:
        step = Decimal("0.01") if imperial else Decimal("0.005")
        weight = Observation(Metric.WEIGHT, float(raw_weight * step), unit, source=SOURCE)
    device_time = f.date_time() if flags & 0x02 else None
    details: dict[str, JsonValue] = {}
    if flags & 0x04:
        user = f.uint(1, "user id")
        details["user_id"] = None if user == 0xFF else user
    if flags & 0x08:
        details["bmi"] = float(f.uint(2, "BMI") * Decimal("0.1"))
        height = f.uint(2, "height")
        if imperial:
            details["height_in"] = float(height * Decimal("0.1"))
        else:
            details["height_m"] = float(height * Decimal("0.001"))
    return Decoded(
        characteristic=MEASUREMENT,
        name=NAME,
        observations=(weight,),
        device_time=device_time,
        time_state=time_state(flags & 0x02, device_time),
        details=details,
    )
