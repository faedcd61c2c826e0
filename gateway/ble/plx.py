"""PLX Spot-Check (0x2A5E) and PLX Continuous (0x2A5F) Measurements, Pulse Oximeter Service 1.0.

Spot-check flags(1): bit0 time stamp, bit1 measurement status, bit2 device and
sensor status, bit3 pulse amplitude index, bit4 device clock not set. Fields:
SpO2 SFLOAT %, pulse rate SFLOAT /min, [time stamp(7)], [measurement status
uint16], [device and sensor status uint24], [pulse amplitude index SFLOAT %].

Continuous flags(1): bit0 SpO2PR-Fast, bit1 SpO2PR-Slow, bit2 measurement
status, bit3 device and sensor status, bit4 pulse amplitude index. Fields:
SpO2PR-Normal (2 x SFLOAT), [Fast (2 x SFLOAT)], [Slow (2 x SFLOAT)], then the
status fields and index as above. Continuous has no time stamp.
"""

from __future__ import annotations

from datetime import datetime

from core.metrics import Metric
from gateway.ble.fields import Fields, bits, observation
from gateway.ble.ieee11073 import MedFloat, SpecialValue
from gateway.ble.model import Decoded, JsonValue

SPOT_CHECK = 0x2A5E
CONTINUOUS = 0x2A5F
SPOT_NAME = "PLX Spot-Check Measurement"
CONTINUOUS_NAME = "PLX Continuous Measurement"
SOURCE = "pulse_oximeter"

MEASUREMENT_STATUS = {
    5: "measurement_ongoing",
    6: "early_estimated_data",
    7: "validated_data",
    8: "fully_qualified_data",
    9: "data_from_measurement_storage",
    10: "data_for_demonstration",
    11: "data_for_testing",
    12: "calibration_ongoing",
    13: "measurement_unavailable",
    14: "questionable_measurement",
    15: "invalid_measurement",
}
DEVICE_SENSOR_STATUS = {
    0: "extended_display_update_ongoing",
    1: "equipment_malfunction",
    2: "signal_processing_irregularity",
    3: "inadequate_signal",
    4: "poor_signal",
    5: "low_perfusion",
    6: "erratic_signal",
    7: "nonpulsatile_signal",
    8: "questionable_pulse",
    9: "signal_analysis_ongoing",
    10: "sensor_interference",
    11: "sensor_unconnected_to_user",
    12: "unknown_sensor_connected",
    13: "sensor_displaced",
    14: "sensor_malfunctioning",
    15: "sensor_disconnected",
}
_NOT_PATIENT = {"data_for_demonstration": "demonstration", "data_for_testing": "testing"}


def decode_spot_check(payload: bytes) -> Decoded:
    f = Fields(SPOT_NAME, payload)
    flags = f.uint(1, "flags")
    spo2, pulse = f.sfloat("SpO2"), f.sfloat("pulse rate")
    device_time = f.date_time() if flags & 0x01 else None
    clock_not_set = bool(flags & 0x10)
    status, details = _status_fields(f, measurement=flags & 0x02, device=flags & 0x04,
                                     amplitude=flags & 0x08)
    if flags & 0x01 and (clock_not_set or device_time is None):
        state, device_time = "unset", None
    else:
        state = "present" if flags & 0x01 else "absent"
    return _decoded(SPOT_CHECK, SPOT_NAME, spo2, pulse, status, details, device_time, state)


def decode_continuous(payload: bytes) -> Decoded:
    f = Fields(CONTINUOUS_NAME, payload)
    flags = f.uint(1, "flags")
    spo2, pulse = f.sfloat("SpO2 (normal)"), f.sfloat("pulse rate (normal)")
    extra: dict[str, JsonValue] = {}
    if flags & 0x01:
        extra["spo2_fast"] = _json(f.sfloat("SpO2 (fast)"))
        extra["pulse_rate_fast"] = _json(f.sfloat("pulse rate (fast)"))
    if flags & 0x02:
        extra["spo2_slow"] = _json(f.sfloat("SpO2 (slow)"))
        extra["pulse_rate_slow"] = _json(f.sfloat("pulse rate (slow)"))
    status, details = _status_fields(f, measurement=flags & 0x04, device=flags & 0x08,
                                     amplitude=flags & 0x10)
    return _decoded(CONTINUOUS, CONTINUOUS_NAME, spo2, pulse, status, {**extra, **details},
                    None, "absent")


def _status_fields(
    f: Fields, *, measurement: int, device: int, amplitude: int
) -> tuple[tuple[str, ...], dict[str, JsonValue]]:
    status: tuple[str, ...] = ()
    details: dict[str, JsonValue] = {}
    if measurement:
        status += bits(f.uint(2, "measurement status"), MEASUREMENT_STATUS)
    if device:
        status += bits(f.uint(3, "device and sensor status"), DEVICE_SENSOR_STATUS)
    if amplitude:
        details["pulse_amplitude_index_percent"] = _json(f.sfloat("pulse amplitude index"))
    return status, details


def _decoded(
    characteristic: int,
    name: str,
    spo2: MedFloat,
    pulse: MedFloat,
    status: tuple[str, ...],
    details: dict[str, JsonValue],
    device_time: datetime | None,
    state: str,
) -> Decoded:
    not_patient = next((_NOT_PATIENT[s] for s in status if s in _NOT_PATIENT), None)
    return Decoded(
        characteristic=characteristic,
        name=name,
        observations=(
            observation(Metric.SPO2, spo2, "%", SOURCE),
            observation(Metric.PULSE, pulse, "/min", SOURCE),
        ),
        device_time=device_time,
        time_state=state,
        status=status,
        not_patient_data=not_patient,
        details=details,
    )


def _json(value: MedFloat) -> JsonValue:
    return value.value if isinstance(value, SpecialValue) else value
