"""The metric catalogue: every quantity Hearth stores, in one canonical unit.

Each metric names its canonical UCUM unit, the input units it accepts with
their conversions, its plausible physical range (a value outside it is
rejected, never stored) and its LOINC code for FHIR export.

Units are converted at the edge of the system (docs/DESIGN.md §2); the original
unit and value travel with every stored reading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class Metric(StrEnum):
    GLUCOSE = "glucose"
    SYSTOLIC = "systolic"
    DIASTOLIC = "diastolic"
    PULSE = "pulse"
    WEIGHT = "weight"
    SPO2 = "spo2"
    HEART_RATE = "heart_rate"
    STEPS = "steps"
    BODY_TEMPERATURE = "body_temperature"
    MOTION = "motion"
    DOOR = "door"
    MEDICATION_TAKEN = "medication_taken"
    # Events uploaded by diabetes apps (the Nightscout API, dashboard/nightscout*.py).
    CGM_STATUS = "cgm_status"  # a CGM's error/status code sent in place of glucose: never glucose
    CGM_CALIBRATION = "cgm_calibration"
    CARBS = "carbs"
    INSULIN = "insulin"
    DEVICE_BATTERY = "device_battery"
    THERAPY_EVENT = "therapy_event"  # temporary target, temp basal, note...: its duration


class GlucoseMethod(StrEnum):
    """How a glucose value was measured; stored as the reading's source."""

    CGM = "cgm"
    METER = "meter"


# Molar mass of glucose C6H12O6 is 180.156 g/mol, so 1 mmol/L = 18.0156 mg/dL.
GLUCOSE_MGDL_PER_MMOLL = 18.0156
KG_PER_LB = 0.45359237  # international avoirdupois pound (exact)
MMHG_PER_KPA = 7.50062  # 1 kPa = 1000 Pa; 1 mmHg = 133.322 Pa


def _identity(value: float) -> float:
    return value


@dataclass(frozen=True, slots=True)
class UnitConversion:
    """An accepted input unit and how to reach the canonical unit from it."""

    ucum: str
    to_canonical: Callable[[float], float]
    from_canonical: Callable[[float], float]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    metric: Metric
    unit: str  # canonical UCUM code
    display_unit: str
    minimum: float  # plausible physical range, inclusive, canonical unit
    maximum: float
    loinc: str | None  # None: no LOINC code exists for this observation
    description: str
    conversions: Mapping[str, UnitConversion] = field(default_factory=dict)
    integer: bool = False  # counts and events

    def accepts(self, unit: str) -> bool:
        return unit == self.unit or unit in self.conversions

    def to_canonical(self, value: float, unit: str) -> float:
        if unit == self.unit:
            return value
        return self.conversions[unit].to_canonical(value)

    def from_canonical(self, value: float, unit: str) -> float:
        if unit == self.unit:
            return value
        return self.conversions[unit].from_canonical(value)

    def in_range(self, canonical_value: float) -> bool:
        return self.minimum <= canonical_value <= self.maximum

    @property
    def units(self) -> tuple[str, ...]:
        return (self.unit, *self.conversions)


def _conversions(*items: UnitConversion) -> Mapping[str, UnitConversion]:
    return MappingProxyType({c.ucum: c for c in items})


MMOL_L = UnitConversion(
    "mmol/L",
    lambda v: v * GLUCOSE_MGDL_PER_MMOLL,
    lambda v: v / GLUCOSE_MGDL_PER_MMOLL,
)
POUND = UnitConversion("[lb_av]", lambda v: v * KG_PER_LB, lambda v: v / KG_PER_LB)
FAHRENHEIT = UnitConversion(
    "[degF]", lambda v: (v - 32.0) * 5.0 / 9.0, lambda v: v * 9.0 / 5.0 + 32.0
)
KILOPASCAL = UnitConversion("kPa", lambda v: v * MMHG_PER_KPA, lambda v: v / MMHG_PER_KPA)
BEATS_PER_MIN = "/min"

# Ranges are physical plausibility limits, deliberately wider than any clinical
# threshold: they catch broken devices and unit mix-ups, not illness.
_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(
        Metric.GLUCOSE, "mg/dL", "mg/dL", 10, 1000, "99504-3",
        "Glucose; LOINC 99504-3 (interstitial fluid, CGM) or 41653-7 (capillary blood, meter)",
        _conversions(MMOL_L),
    ),
    MetricSpec(Metric.SYSTOLIC, "mm[Hg]", "mmHg", 40, 300, "8480-6", "Systolic blood pressure",
               _conversions(KILOPASCAL)),
    MetricSpec(Metric.DIASTOLIC, "mm[Hg]", "mmHg", 20, 200, "8462-4",
               "Diastolic blood pressure", _conversions(KILOPASCAL)),
    MetricSpec(Metric.PULSE, BEATS_PER_MIN, "bpm", 20, 300, "8867-4",
               "Pulse rate from a blood-pressure cuff or oximeter"),
    MetricSpec(Metric.WEIGHT, "kg", "kg", 2, 400, "29463-7", "Body weight", _conversions(POUND)),
    MetricSpec(Metric.SPO2, "%", "%", 50, 100, "59408-5",
               "Oxygen saturation by pulse oximetry"),
    MetricSpec(Metric.HEART_RATE, BEATS_PER_MIN, "bpm", 20, 300, "8867-4", "Heart rate"),
    MetricSpec(Metric.STEPS, "{steps}", "steps", 0, 100_000, "55423-8",
               "Steps counted since the previous report", integer=True),
    MetricSpec(Metric.BODY_TEMPERATURE, "Cel", "°C", 25, 45, "8310-5", "Body temperature",
               _conversions(FAHRENHEIT)),
    MetricSpec(Metric.MOTION, "{event}", "event", 0, 1, None,
               "Motion detected by a home sensor (1 = motion)", integer=True),
    MetricSpec(Metric.DOOR, "{event}", "event", 0, 1, None,
               "Door contact (1 = opened, 0 = closed)", integer=True),
    MetricSpec(Metric.MEDICATION_TAKEN, "{dose}", "dose", 0, 20, None,
               "Doses taken from a pill-box compartment", integer=True),
    # Nightscout sends a CGM's status codes as sgv values below 39 (Dexcom: 1 sensor not
    # active ... 10 power deviation, 12 bad RF; docs/CLINICAL.md): kept, never glucose.
    MetricSpec(Metric.CGM_STATUS, "{code}", "code", 0, 38, None,
               "CGM error or status code sent in place of a glucose value", integer=True),
    MetricSpec(Metric.CGM_CALIBRATION, "1", "slope", -1e9, 1e9, None,
               "A CGM calibration (slope; intercept and scale kept as status)"),
    MetricSpec(Metric.CARBS, "g", "g", 0, 1000, None, "Carbohydrate eaten (a meal or treatment)"),
    MetricSpec(Metric.INSULIN, "[iU]", "U", 0, 250, None,
               "Insulin delivered (a bolus or injection)"),
    MetricSpec(Metric.DEVICE_BATTERY, "%", "%", 0, 100, None,
               "Battery of a phone, pump or CGM bridge that uploads readings"),
    MetricSpec(Metric.THERAPY_EVENT, "min", "min", 0, 525_600, None,
               "A therapy event from a diabetes app (temporary target, temp basal, note, "
               "site change); the value is its duration, the kind its context"),
)

CATALOGUE: Mapping[Metric, MetricSpec] = MappingProxyType({s.metric: s for s in _SPECS})

LOINC_BY_GLUCOSE_METHOD: Mapping[str, str] = MappingProxyType(
    {GlucoseMethod.CGM: "99504-3", GlucoseMethod.METER: "41653-7"}
)

# Spellings people and devices actually send, mapped to UCUM codes.
UNIT_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "mg/dl": "mg/dL",
        "mmol/l": "mmol/L",
        "mmhg": "mm[Hg]",
        "kpa": "kPa",
        "kg": "kg",
        "lb": "[lb_av]",
        "lbs": "[lb_av]",
        "[lb_av]": "[lb_av]",
        "°c": "Cel",
        "c": "Cel",
        "cel": "Cel",
        "°f": "[degF]",
        "f": "[degF]",
        "[degf]": "[degF]",
        "bpm": "/min",
        "/min": "/min",
        "%": "%",
        "{steps}": "{steps}",
        "steps": "{steps}",
        "{event}": "{event}",
        "event": "{event}",
        "{dose}": "{dose}",
        "dose": "{dose}",
        "{code}": "{code}",
        "min": "min",
        "g": "g",
        "u": "[iU]",
        "[iu]": "[iU]",
        "mm[hg]": "mm[Hg]",
    }
)


def normalise_unit(unit: str) -> str:
    """Return the UCUM code for a unit spelling, or the input unchanged."""
    return UNIT_ALIASES.get(unit.strip().lower(), unit.strip())


def spec(metric: Metric | str) -> MetricSpec:
    return CATALOGUE[Metric(metric)]
