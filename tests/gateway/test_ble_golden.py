"""Golden byte strings: raw Bluetooth payloads in, readings out.

Each vector cites where its bytes were published. Sources:

[NORDIC] NordicSemiconductor/Android-BLE-Common-Library, unit tests under
    ble-common/src/test/java/no/nordicsemi/android/ble/common/callback/
    (bps/BloodPressureMeasurementDataCallbackTest.java,
     glucose/GlucoseMeasurementDataCallbackTest.java,
     glucose/GlucoseMeasurementContextDataCallbackTest.java,
     hr/HeartRateMeasurementDataCallbackTest.java,
     ht/TemperatureMeasurementDataCallbackTest.java).
[SPEZI] StanfordSpezi/SpeziBluetooth, Tests/SpeziBluetoothServicesTests/PLXTests.swift
    (testSpotCheckMeasurementCoding, testSimpleMeasurementCoding,
     testFullMeasurementCoding, testVerySimpleMeasurementCoding).
[SIGPY] RonanB96/bluetooth-sig-python, tests/gatt/characteristics/test_weight_measurement.py.
    Only its vectors that agree with the Weight Scale Service spec are used:
    WSS 1.0 defines flags bit 3 as "BMI and Height present" together, where
    that library reads bit 3 as BMI alone and bit 4 as height.
[SPEC] Layouts and special values from the Bluetooth SIG GATT Specification
    Supplement (Glucose §3.103-3.104, Blood Pressure §3.31, Weight §3.252,
    PLX §3.168-3.169, Heart Rate §3.113, Temperature §3.216) and
    IEEE 11073-20601 §F.8 (SFLOAT/FLOAT special values); vectors marked [SPEC]
    are built here by hand from those tables.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from core.metrics import Metric
from gateway.ble.decoders import decode
from gateway.ble.errors import DecodeError
from gateway.ble.model import Decoded


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def _values(decoded: Decoded) -> dict[str, tuple[float | None, str, str | None]]:
    return {str(o.metric): (o.value, o.unit, o.unavailable) for o in decoded.observations}


# -- Blood Pressure Measurement 0x2A35 ---------------------------------------------------


def test_bp_full_nordic() -> None:
    # [NORDIC] onBloodPressureMeasurementReceived_full: 138/88 mmHg, MAP 120, pulse 60,
    # user 1, status 0b100111, time stamp with year 0 (unknown).
    d = decode(0x2A35, _hex("1E 8A00 5800 7800 0000 04 11 14 29 3B 3C00 01 2700"))
    assert _values(d) == {
        "systolic": (138.0, "mm[Hg]", None),
        "diastolic": (88.0, "mm[Hg]", None),
        "pulse": (60.0, "/min", None),
    }
    assert d.details["mean_arterial_pressure"] == 120.0
    assert d.details["user_id"] == 1
    assert d.status == (
        "body_movement", "cuff_too_loose", "irregular_pulse", "improper_measurement_position"
    )
    # Year 0 means the device does not know the date: its time is unusable.
    assert d.time_state == "unset" and d.device_time is None


def test_bp_kpa_with_status_nordic() -> None:
    # [NORDIC] onBloodPressureMeasurementReceived_some: 18.9/11.0 kPa, MAP 15.9, pulse 60,
    # status: cuff too loose, pulse rate below the lower limit.
    d = decode(0x2A35, _hex("15 BDF0 0B00 9FF0 3C00 1200"))
    assert _values(d) == {
        "systolic": (18.9, "kPa", None),
        "diastolic": (11.0, "kPa", None),
        "pulse": (60.0, "/min", None),
    }
    assert d.status == ("cuff_too_loose", "pulse_rate_below_lower_limit")
    assert d.time_state == "absent"


def test_bp_minimal_nordic() -> None:
    # [NORDIC] onBloodPressureMeasurementReceived_minimal: flags 0, no optional fields.
    d = decode(0x2A35, _hex("00 BDF0 0B00 9FF0"))
    assert _values(d) == {"systolic": (18.9, "mm[Hg]", None), "diastolic": (11.0, "mm[Hg]", None)}
    assert d.status == ()


@pytest.mark.parametrize("payload", ["010203040506", "03020304050607"])
def test_bp_invalid_nordic(payload: str) -> None:
    # [NORDIC] onInvalidDataReceived_toShort and _noTimestamp.
    with pytest.raises(DecodeError, match="Blood Pressure Measurement"):
        decode(0x2A35, _hex(payload))


def test_bp_with_time_stamp_and_nan_pulse_spec() -> None:
    # [SPEC] flags 0x06: time stamp + pulse; pulse SFLOAT 0x07FF is NaN.
    d = decode(0x2A35, _hex("06 7800 5000 5E00 EA07 0B 17 08 1E 00 FF07"))
    assert d.device_time == datetime(2026, 11, 23, 8, 30, 0)
    assert _values(d)["pulse"] == (None, "/min", "nan")


# -- Glucose Measurement 0x2A18 and Context 0x2A34 ----------------------------------------


def test_glucose_nordic() -> None:
    # [NORDIC] GlucoseMeasurementDataCallbackTest.onGlucoseMeasurementReceived:
    # seq 1, 2019-02-27 11:10:30 with a -5 min offset, 30 kg/L (the test's own number),
    # capillary plasma from a finger, status 0x0105, context follows.
    d = decode(0x2A18, _hex("1B 0100 E307 02 1B 0B 0A 1E FBFF 1E00 12 0501"))
    assert d.sequence == 1
    assert d.device_time == datetime(2019, 2, 27, 11, 5, 30)
    assert d.details["sample_type"] == "capillary_plasma"
    assert d.details["sample_location"] == "finger"
    assert d.status == ("device_battery_low", "sample_size_insufficient",
                        "sensor_temperature_too_low")
    assert d.context_follows
    # kg/L to mg/dL is exactly x 100,000.
    assert _values(d) == {"glucose": (3_000_000.0, "mg/dL", None)}


def test_glucose_missing_time_offset_nordic() -> None:
    # [NORDIC] onInvalidDataReceived: flags announce a time offset that is missing.
    with pytest.raises(DecodeError, match="Glucose Measurement"):
        decode(0x2A18, _hex("1B 0000 E207 04 1A 0B 09 1E 1E00 12 0501"))


def test_glucose_mmol_spec() -> None:
    # [SPEC] flags 0x06: concentration in mol/L; 0xC037 = 55 x 10^-4 mol/L = 5.5 mmol/L;
    # type 1 (capillary whole blood), location 1 (finger).
    d = decode(0x2A18, _hex("06 0700 EA07 0B 17 07 00 00 37C0 11"))
    assert _values(d) == {"glucose": (5.5, "mmol/L", None)}
    assert d.sequence == 7 and not d.context_follows


def test_glucose_mg_dl_spec() -> None:
    # [SPEC] 0xB05A = 90 x 10^-5 kg/L = 90 mg/dL.
    d = decode(0x2A18, _hex("02 0800 EA07 0B 17 07 00 00 5AB0 11"))
    assert _values(d) == {"glucose": (90.0, "mg/dL", None)}


def test_glucose_control_solution_is_not_patient_data_spec() -> None:
    # [SPEC] type nibble 10 (control solution): a meter check, not a reading of the patient.
    d = decode(0x2A18, _hex("02 0900 EA07 0B 17 07 00 00 5AB0 4A"))
    assert d.not_patient_data == "control_solution"


def test_glucose_high_is_infinity_not_a_number_spec() -> None:
    # [SPEC] a meter's "HI": +INFINITY (0x07FE) with "result above device range".
    d = decode(0x2A18, _hex("0A 0A00 EA07 0B 17 07 00 00 FE07 11 2000"))
    assert _values(d) == {"glucose": (None, "mg/dL", "+inf")}
    assert d.status == ("result_above_device_range",)


def test_glucose_context_full_nordic() -> None:
    # [NORDIC] GlucoseMeasurementContextDataCallbackTest.onGlucoseMeasurementContextReceived_full:
    # that test's field layout and values (dinner, 100, casual meal, health care
    # professional with minor issues, 60 s at 50 %, long acting insulin, 123.45 -> 123.5
    # at SFLOAT's 4 digits, HbA1c 34.5 %); its SFLOATs are encoded here by hand.
    payload = _hex("FF 0000 B3 03 6400 04 12 3C00 32 04 D3F4 59F1")
    d = decode(0x2A34, payload)
    assert d.sequence == 0
    assert d.context == "casual"
    assert d.details["carbohydrate"] == "dinner"
    assert d.details["tester"] == "health_care_professional"
    assert d.details["health"] == "minor_health_issues"
    assert d.details["exercise_duration_s"] == 60
    assert d.details["exercise_intensity_percent"] == 50
    assert d.details["medication"] == "long_acting_insulin"
    assert d.details["carbohydrate_kg"] == 100.0
    assert d.details["medication_amount"] == 123.5
    assert d.details["medication_unit"] == "L"  # flags bit 5 set: litres
    assert d.details["hba1c_percent"] == 34.5


def test_glucose_context_empty_nordic() -> None:
    # [NORDIC] onGlucoseMeasurementContextReceived_empty: flags 0, seq 1 (trailing zeros ignored).
    d = decode(0x2A34, _hex("00 0100") + bytes(14))
    assert d.sequence == 1 and d.context is None


def test_glucose_context_truncated_nordic() -> None:
    # [NORDIC] onInvalidDataReceived: all flags but only 5 bytes.
    with pytest.raises(DecodeError, match="Glucose Measurement Context"):
        decode(0x2A34, _hex("FF 0000 B3 03"))


def test_glucose_context_attaches_meal_spec() -> None:
    measurement = decode(0x2A18, _hex("12 0500 EA07 0B 17 07 00 00 5AB0 11"))
    context = decode(0x2A34, _hex("02 0500 01"))
    assert measurement.with_context(context).context == "before_meal"


# -- Weight Measurement 0x2A9D ------------------------------------------------------------


def test_weight_kg_sigpy() -> None:
    # [SIGPY] "Basic weight measurement (metric)": 14000 x 0.005 kg.
    assert _values(decode(0x2A9D, _hex("00 B036"))) == {"weight": (70.0, "kg", None)}


def test_weight_lb_sigpy() -> None:
    # [SIGPY] "Imperial units weight measurement": 15700 x 0.01 lb.
    assert _values(decode(0x2A9D, _hex("01 543D"))) == {"weight": (157.0, "[lb_av]", None)}


def test_weight_time_stamp_sigpy() -> None:
    # [SIGPY] "Weight measurement with timestamp".
    d = decode(0x2A9D, _hex("02 B036 E707 0C 19 0E 1E 2D"))
    assert d.device_time == datetime(2023, 12, 25, 14, 30, 45)


def test_weight_full_imperial_sigpy() -> None:
    # [SIGPY] "Full imperial measurement with all optional fields" (bit 4 is RFU in WSS 1.0).
    d = decode(0x2A9D, _hex("1F 543D E707 0C 19 0E 1E 2D 03 F500 A802"))
    assert _values(d) == {"weight": (157.0, "[lb_av]", None)}
    assert d.details == {"user_id": 3, "bmi": 24.5, "height_in": 68.0}


def test_weight_unsuccessful_spec() -> None:
    # [SPEC] 0xFFFF: "Measurement Unsuccessful" - never stored as 327.675 kg.
    assert _values(decode(0x2A9D, _hex("00 FFFF"))) == {"weight": (None, "kg", "unsuccessful")}


def test_weight_bmi_without_height_is_malformed_spec() -> None:
    # [SPEC] bit 3 announces BMI and height together; a BMI alone is a truncated payload.
    with pytest.raises(DecodeError, match="height"):
        decode(0x2A9D, _hex("08 B036 F500"))


# -- PLX Spot-Check 0x2A5E and Continuous 0x2A5F -------------------------------------------


def test_plx_spot_check_spezi() -> None:
    # [SPEZI] testSpotCheckMeasurementCoding: SpO2 94, PR 147, 2024-11-29 23:08:57,
    # ongoing + questionable, equipment malfunction + low perfusion, PAI 8.7.
    payload = bytes([15, 172, 243, 190, 245, 232, 7, 11, 29, 23, 8, 57, 32, 64, 34, 0, 0, 102, 227])
    d = decode(0x2A5E, payload)
    assert _values(d) == {"spo2": (94.0, "%", None), "pulse": (147.0, "/min", None)}
    assert d.device_time == datetime(2024, 11, 29, 23, 8, 57)
    assert d.status == ("measurement_ongoing", "questionable_measurement",
                        "equipment_malfunction", "low_perfusion")
    assert d.details["pulse_amplitude_index_percent"] == 8.7


def test_plx_spot_check_clock_not_set_spec() -> None:
    # [SPEC] flags bit 4 "device clock is not set": the time stamp is not to be trusted.
    d = decode(0x2A5E, _hex("11 6200 4800 E807 0B 1D 17 08 39"))
    assert d.time_state == "unset" and d.device_time is None
    assert _values(d)["spo2"] == (98.0, "%", None)


def test_plx_continuous_spezi() -> None:
    # [SPEZI] testFullMeasurementCoding: normal 99/97, fast 97/137, slow 98/69,
    # ongoing + fully qualified, PAI 8.9.
    payload = bytes([31, 222, 243, 202, 243, 202, 243, 90, 245, 212, 243, 178, 242, 32, 1, 0, 0, 0,
                     122, 227])
    d = decode(0x2A5F, payload)
    assert _values(d) == {"spo2": (99.0, "%", None), "pulse": (97.0, "/min", None)}
    assert d.details["spo2_fast"] == 97.0 and d.details["pulse_rate_fast"] == 137.0
    assert d.details["spo2_slow"] == 98.0 and d.details["pulse_rate_slow"] == 69.0
    assert d.status == ("measurement_ongoing", "fully_qualified_data")
    assert d.details["pulse_amplitude_index_percent"] == 8.9


@pytest.mark.parametrize(
    ("payload", "spo2", "pulse"),
    [
        ([0, 100, 0, 90, 0], 100.0, 90.0),  # [SPEZI] testVerySimpleMeasurementCoding
        ([28, 95, 0, 90, 0, 32, 0, 0, 0, 0, 87, 240], 95.0, 90.0),  # [SPEZI] testSimple...
    ],
)
def test_plx_continuous_simple_spezi(payload: list[int], spo2: float, pulse: float) -> None:
    d = decode(0x2A5F, bytes(payload))
    assert _values(d) == {"spo2": (spo2, "%", None), "pulse": (pulse, "/min", None)}


def test_plx_nres_and_demo_data_spec() -> None:
    # [SPEC] SpO2 NRes (0x0800); measurement status bit 10 "data for demonstration".
    d = decode(0x2A5F, _hex("04 0008 4800 0004"))
    assert _values(d)["spo2"] == (None, "%", "nres")
    assert d.not_patient_data == "demonstration"


# -- Heart Rate Measurement 0x2A37 --------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "rate", "details", "status"),
    [
        ([0, 85], 85.0, {}, ()),  # [NORDIC] _simple
        ([0x4, 0xFF], 255.0, {"sensor_contact": False}, ("sensor_contact_not_detected",)),
        ([0b11110, 85, 50, 0, 33, 0], 85.0,  # [NORDIC] _uint8: RR 33/1024 s
         {"sensor_contact": True, "energy_expended_kj": 50, "rr_intervals_ms": [32.227]}, ()),
        ([0b11111, 1, 1, 50, 1, 1, 0, 2, 1, 0xFF, 0xFF], 257.0,  # [NORDIC] _uint16
         {"sensor_contact": True, "energy_expended_kj": 306,
          "rr_intervals_ms": [0.977, 251.953, 63999.023]}, ()),
    ],
)
def test_heart_rate_nordic(
    payload: list[int], rate: float, details: dict[str, object], status: tuple[str, ...]
) -> None:
    d = decode(0x2A37, bytes(payload))
    assert _values(d) == {"heart_rate": (rate, "/min", None)}
    assert d.details == details
    assert d.status == status


def test_heart_rate_invalid_nordic() -> None:
    # [NORDIC] onInvalidDataReceived: RR intervals announced, none sent.
    with pytest.raises(DecodeError, match="RR"):
        decode(0x2A37, bytes([0b10111, 1, 1]))


# -- Temperature Measurement 0x2A1C -------------------------------------------------------


def test_temperature_nordic() -> None:
    # [NORDIC] onTemperatureMeasurementReceived: 37.60 °C, 2012-12-05 11:50:27, finger.
    d = decode(0x2A1C, _hex("06 B00E00FE DC07 0C 05 0B 32 1B 04"))
    assert _values(d) == {"body_temperature": (37.6, "Cel", None)}
    assert d.device_time == datetime(2012, 12, 5, 11, 50, 27)
    assert d.details == {"site": "finger"}


def test_temperature_truncated_nordic() -> None:
    # [NORDIC] onInvalidDataReceived: the temperature type byte is missing.
    with pytest.raises(DecodeError, match="temperature type"):
        decode(0x2A1C, _hex("06 B00E00FE DC07 0C 05 0B 32 1B"))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("FFFF7F00", "nan"), ("00008000", "nres"), ("FEFF7F00", "+inf"), ("02008000", "-inf")],
)
def test_temperature_float_specials_spec(raw: str, reason: str) -> None:
    # [SPEC] FLOAT special values (IEEE 11073-20601 §F.8), little-endian.
    d = decode(0x2A1C, _hex("01" + raw))
    assert _values(d) == {"body_temperature": (None, "[degF]", reason)}


def test_unknown_characteristic_and_empty_payload() -> None:
    with pytest.raises(DecodeError, match="no decoder"):
        decode(0x2A00, b"\x00")
    with pytest.raises(DecodeError, match="empty"):
        decode(0x2A35, b"")


def test_metric_names_match_the_catalogue() -> None:
    d = decode(0x2A35, _hex("00 BDF0 0B00 9FF0"))
    assert {o.metric for o in d.observations} == {Metric.SYSTOLIC, Metric.DIASTOLIC}
