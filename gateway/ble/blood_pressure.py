"""Blood Pressure Measurement (0x2A35), Blood Pressure Service 1.0 / GATT Supplement §3.31.

flags(1): bit0 unit kPa (else mmHg), bit1 time stamp, bit2 pulse rate,
bit3 user id, bit4 measurement status. Then systolic, diastolic and mean
arterial pressure (SFLOAT each), [time stamp(7)], [pulse rate SFLOAT],
[user id(1)], [measurement status uint16].
"""

from __future__ import annotations

from core.metrics import Metric
from gateway.ble.fields import Fields, bits, observation, time_state
from gateway.ble.ieee11073 import SpecialValue
from gateway.ble.model import Decoded, JsonValue, Observation

MEASUREMENT = 0x2A35
NAME = "Blood Pressure Measurement"
SOURCE = "bp_cuff"

STATUS_BITS = {
    0: "body_movement",
    1: "cuff_too_loose",
    2: "irregular_pulse",
    5: "improper_measurement_position",
}
PULSE_RANGE = {1: "pulse_rate_above_upper_limit", 2: "pulse_rate_below_lower_limit",
               3: "pulse_rate_range_reserved"}
UNKNOWN_USER = 0xFF


def decode(payload: bytes) -> Decoded:
    f = Fields(NAME, payload)
    flags = f.uint(1, "flags")
    unit = "kPa" if flags & 0x01 else "mm[Hg]"
    systolic = f.sfloat("systolic")
    diastolic = f.sfloat("diastolic")
    mean_arterial = f.sfloat("mean arterial pressure")
    details: dict[str, JsonValue] = {
        "mean_arterial_pressure": mean_arterial.value
        if isinstance(mean_arterial, SpecialValue)
        else mean_arterial,
        "unit_sent": "kPa" if flags & 0x01 else "mmHg",
    }
    device_time = f.date_time() if flags & 0x02 else None
    observations: list[Observation] = [
        observation(Metric.SYSTOLIC, systolic, unit, SOURCE),
        observation(Metric.DIASTOLIC, diastolic, unit, SOURCE),
    ]
    if flags & 0x04:
        observations.append(observation(Metric.PULSE, f.sfloat("pulse rate"), "/min", SOURCE))
    if flags & 0x08:
        user = f.uint(1, "user id")
        details["user_id"] = None if user == UNKNOWN_USER else user
    status: tuple[str, ...] = ()
    if flags & 0x10:
        raw = f.uint(2, "measurement status")
        status = bits(raw, STATUS_BITS)
        pulse_range = (raw >> 3) & 0x03
        if pulse_range:
            status += (PULSE_RANGE[pulse_range],)
    return Decoded(
        characteristic=MEASUREMENT,
        name=NAME,
        observations=tuple(observations),
        device_time=device_time,
        time_state=time_state(flags & 0x02, device_time),
        status=status,
        details=details,
    )
