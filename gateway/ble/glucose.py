"""Glucose Measurement (0x2A18) and Glucose Measurement Context (0x2A34).

Layout from the Glucose Profile / Glucose Service 1.0 (Bluetooth SIG) and the
GATT Specification Supplement §3.103-3.104:

Measurement: flags(1) seq(2) base_time(7) [time_offset sint16 min, bit0]
[concentration SFLOAT + type/location nibbles, bit1; unit kg/L or mol/L, bit2]
[sensor status annunciation uint16, bit3]; bit4: a context with the same
sequence number follows.

Context: flags(1) seq(2) [extended flags(1), bit7] [carbohydrate id(1) +
SFLOAT kg, bit0] [meal(1), bit1] [tester/health nibbles(1), bit2]
[exercise duration uint16 s + intensity uint8 %, bit3] [medication id(1) +
SFLOAT kg or L (bit5), bit4] [HbA1c SFLOAT %, bit6].
"""

from __future__ import annotations

from datetime import timedelta

from core.metrics import GlucoseMethod, Metric
from gateway.ble.fields import Fields, bits, observation, rescale
from gateway.ble.ieee11073 import MedFloat, SpecialValue
from gateway.ble.model import Decoded, JsonValue, Observation

MEASUREMENT = 0x2A18
CONTEXT = 0x2A34

SENSOR_STATUS = {
    0: "device_battery_low",
    1: "sensor_malfunction",
    2: "sample_size_insufficient",
    3: "strip_insertion_error",
    4: "strip_type_incorrect",
    5: "result_above_device_range",
    6: "result_below_device_range",
    7: "sensor_temperature_too_high",
    8: "sensor_temperature_too_low",
    9: "sensor_read_interrupted",
    10: "general_device_fault",
    11: "time_fault",
}
SAMPLE_TYPES = {
    1: "capillary_whole_blood",
    2: "capillary_plasma",
    3: "venous_whole_blood",
    4: "venous_plasma",
    5: "arterial_whole_blood",
    6: "arterial_plasma",
    7: "undetermined_whole_blood",
    8: "undetermined_plasma",
    9: "interstitial_fluid",
    10: "control_solution",
}
SAMPLE_LOCATIONS = {1: "finger", 2: "alternate_site_test", 3: "earlobe", 4: "control_solution",
                    15: "not_available"}
CONTROL_SOLUTION_TYPE = 10
CONTROL_SOLUTION_LOCATION = 4

# Meal values of the Context characteristic, mapped to Hearth's context tags.
MEALS = {1: "before_meal", 2: "after_meal", 3: "fasting", 4: "casual", 5: "bedtime"}
CARBOHYDRATES = {1: "breakfast", 2: "lunch", 3: "dinner", 4: "snack", 5: "drink", 6: "supper",
                 7: "brunch"}
TESTERS = {1: "self", 2: "health_care_professional", 3: "lab_test", 15: "not_available"}
HEALTH = {1: "minor_health_issues", 2: "major_health_issues", 3: "during_menses", 4: "under_stress",
          5: "no_health_issues", 15: "not_available"}
MEDICATIONS = {1: "rapid_acting_insulin", 2: "short_acting_insulin",
               3: "intermediate_acting_insulin", 4: "long_acting_insulin", 5: "pre_mixed_insulin"}

NAME = "Glucose Measurement"
CONTEXT_NAME = "Glucose Measurement Context"


def decode_measurement(payload: bytes) -> Decoded:
    f = Fields(NAME, payload)
    flags = f.uint(1, "flags")
    sequence = f.uint(2, "sequence number")
    base_time = f.date_time("base time")
    details: dict[str, JsonValue] = {}
    device_time = base_time
    if flags & 0x01:
        offset = f.sint(2, "time offset")
        details["time_offset_min"] = offset
        if base_time is not None:
            device_time = base_time + timedelta(minutes=offset)
    observations: tuple[Observation, ...] = ()
    not_patient_data = None
    if flags & 0x02:
        concentration = f.sfloat("glucose concentration")
        type_location = f.uint(1, "type-sample location")
        sample_type, location = type_location & 0x0F, type_location >> 4
        details["sample_type"] = SAMPLE_TYPES.get(sample_type, f"reserved_{sample_type}")
        details["sample_location"] = SAMPLE_LOCATIONS.get(location, f"reserved_{location}")
        if sample_type == CONTROL_SOLUTION_TYPE or location == CONTROL_SOLUTION_LOCATION:
            not_patient_data = "control_solution"
        # kg/L -> mg/dL is x 10**5; mol/L -> mmol/L is x 10**3: exact rescalings.
        if flags & 0x04:
            value, unit = rescale(concentration, 3), "mmol/L"
        else:
            value, unit = rescale(concentration, 5), "mg/dL"
        details["unit_sent"] = "mol/L" if flags & 0x04 else "kg/L"
        observations = (observation(Metric.GLUCOSE, value, unit, GlucoseMethod.METER.value),)
    status: tuple[str, ...] = ()
    if flags & 0x08:
        status = bits(f.uint(2, "sensor status annunciation"), SENSOR_STATUS)
    return Decoded(
        characteristic=MEASUREMENT,
        name=NAME,
        observations=observations,
        device_time=device_time,
        time_state="present" if base_time is not None else "unset",
        status=status,
        sequence=sequence,
        context_follows=bool(flags & 0x10),
        not_patient_data=not_patient_data,
        details=details,
    )


def decode_context(payload: bytes) -> Decoded:
    f = Fields(CONTEXT_NAME, payload)
    flags = f.uint(1, "flags")
    sequence = f.uint(2, "sequence number")
    details: dict[str, JsonValue] = {}
    if flags & 0x80:
        details["extended_flags"] = f.uint(1, "extended flags")
    if flags & 0x01:
        carb_id = f.uint(1, "carbohydrate id")
        details["carbohydrate"] = CARBOHYDRATES.get(carb_id, f"reserved_{carb_id}")
        details["carbohydrate_kg"] = _json_number(f.sfloat("carbohydrate amount"))
    meal = None
    if flags & 0x02:
        meal_id = f.uint(1, "meal")
        meal = MEALS.get(meal_id)
        details["meal"] = meal or f"reserved_{meal_id}"
    if flags & 0x04:
        tester_health = f.uint(1, "tester-health")
        details["tester"] = TESTERS.get(tester_health & 0x0F, f"reserved_{tester_health & 0x0F}")
        details["health"] = HEALTH.get(tester_health >> 4, f"reserved_{tester_health >> 4}")
    if flags & 0x08:
        duration = f.uint(2, "exercise duration")
        details["exercise_duration_s"] = None if duration == 0xFFFF else duration  # 0xFFFF: overrun
        details["exercise_intensity_percent"] = f.uint(1, "exercise intensity")
    if flags & 0x10:
        med_id = f.uint(1, "medication id")
        details["medication"] = MEDICATIONS.get(med_id, f"reserved_{med_id}")
        amount = f.sfloat("medication amount")
        unit_litres = bool(flags & 0x20)
        details["medication_amount"] = _json_number(amount)
        details["medication_unit"] = "L" if unit_litres else "kg"
    if flags & 0x40:
        details["hba1c_percent"] = _json_number(f.sfloat("HbA1c"))
    return Decoded(CONTEXT, CONTEXT_NAME, (), sequence=sequence, context=meal, details=details)


def _json_number(value: MedFloat) -> JsonValue:
    """A number, or the special value's name (never NaN or infinity in JSON)."""
    return value.value if isinstance(value, SpecialValue) else value
