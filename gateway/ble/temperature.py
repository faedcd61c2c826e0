"""Temperature Measurement (0x2A1C), Health Thermometer Service 1.0 / GATT Supplement §3.216.

flags(1): bit0 Fahrenheit (else Celsius), bit1 time stamp, bit2 temperature
type. Temperature FLOAT (32-bit), [time stamp(7)], [type(1)].
"""

from __future__ import annotations

from core.metrics import Metric
from gateway.ble.fields import Fields, observation, time_state
from gateway.ble.model import Decoded, JsonValue

MEASUREMENT = 0x2A1C
NAME = "Temperature Measurement"
SOURCE = "thermometer"

SITES = {1: "armpit", 2: "body", 3: "ear", 4: "finger", 5: "gastrointestinal_tract", 6: "mouth",
         7: "rectum", 8: "toe", 9: "tympanum"}


def decode(payload: bytes) -> Decoded:
    f = Fields(NAME, payload)
    flags = f.uint(1, "flags")
    unit = "[degF]" if flags & 0x01 else "Cel"
    value = f.float32("temperature")
    device_time = f.date_time() if flags & 0x02 else None
    details: dict[str, JsonValue] = {}
    if flags & 0x04:
        site = f.uint(1, "temperature type")
        details["site"] = SITES.get(site, f"reserved_{site}")
    return Decoded(
        characteristic=MEASUREMENT,
        name=NAME,
        observations=(observation(Metric.BODY_TEMPERATURE, value, unit, SOURCE),),
        device_time=device_time,
        time_state=time_state(flags & 0x02, device_time),
        details=details,
    )
