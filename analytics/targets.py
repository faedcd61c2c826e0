"""Every clinical target and threshold Hearth's analytics and pages judge readings by.

This module is the one source of these numbers: ``analytics/`` and ``dashboard/``
import them from here and hold no literal thresholds of their own
(tests/analytics/test_targets.py scans for any).  Each number cites its row in
docs/CLINICAL.md, which gives the guideline behind it.  A patient's own target
(``PatientInfo.targets``, set by their clinician) replaces the default where a
function takes one.

Glucose is in mg/dL (1 mmol/L = 18.0156 mg/dL, core.metrics).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

# -- Glucose ranges (docs/CLINICAL.md "Glucose": Battelino 2019, Table 2) ----------------
# The five non-overlapping bands: <54, 54-69, 70-180, 181-250, >250 mg/dL.
GLUCOSE_VERY_LOW_BELOW: Final = 54.0  # level 2 hypoglycaemia (also ADA 2024 Table 6.4)
GLUCOSE_LOW_BELOW: Final = 70.0  # level 1 hypoglycaemia (also ADA 2024 Table 6.4)
GLUCOSE_HIGH_ABOVE: Final = 180.0  # level 1 hyperglycaemia
GLUCOSE_VERY_HIGH_ABOVE: Final = 250.0  # level 2 hyperglycaemia


@dataclass(frozen=True, slots=True)
class CgmTargets:
    """The consensus CGM targets of one group of people (percent of time)."""

    tir_above: float  # time in range 70-180 more than this
    below_70_under: float  # time below 70 less than this
    below_54_under: float | None  # time below 54 less than this (None: no separate target)
    above_180_under: float | None  # time above 180 less than this (None: no target)
    above_250_under: float  # time above 250 less than this


# docs/CLINICAL.md "Glucose" (Battelino 2019, Figure 3): most adults with type 1 or
# type 2 diabetes: TIR >70%, <70 <4%, <54 <1%, >180 <25%, >250 <5%.
CGM_TARGETS_ADULT: Final = CgmTargets(70.0, 4.0, 1.0, 25.0, 5.0)
# Older or high-risk adults (``older_adult`` in the patient's targets): TIR >50%,
# <70 <1%, >250 <10%; no separate <54 or >180 target.
CGM_TARGETS_OLDER: Final = CgmTargets(50.0, 1.0, None, None, 10.0)
# docs/CLINICAL.md "Glucose": the one <54 target the consensus gives (adults), used
# for the "very low" flag of every patient.
CGM_BELOW_54_UNDER: Final = 1.0
CV_TARGET_AT_MOST: Final = 36.0  # docs/CLINICAL.md "Glucose": CV <=36% (Battelino 2019)


def cgm_targets(older_or_high_risk: bool) -> CgmTargets:
    return CGM_TARGETS_OLDER if older_or_high_risk else CGM_TARGETS_ADULT


# -- CGM data sufficiency and wear (docs/CLINICAL.md "Glucose": Battelino 2019) ----------
REPORT_MIN_DAYS: Final = 14  # a valid report covers >=14 days ... (Battelino 2019)
WEAR_MIN_PERCENT: Final = 70.0  # ... with the sensor worn >=70% of the time
# A triage flag, Hearth's choice (docs/CLINICAL.md "Triage"): time in range that fell by
# more than 15 points, the last 7 days against the 7 before.
TIR_DROP_POINTS: Final = 15.0

# -- AGP (docs/CLINICAL.md "Glucose": Battelino 2019, Figure 1) --------------------------
AGP_PERCENTILES: Final = (5.0, 25.0, 50.0, 75.0, 95.0)  # the median, IQR and 5-95% bands

# -- Finger-stick meters (docs/CLINICAL.md "Glucose": ADA 2024, Table 6.3) --------------
METER_FASTING: Final = (80.0, 130.0)  # fasting and before a meal, low <= value <= high
# 1-2 h after a meal: <180 (the largest double below 180, so 180 itself is out of target)
METER_AFTER_MEAL_BELOW: Final = GLUCOSE_HIGH_ABOVE
METER_UNTAGGED: Final = (GLUCOSE_LOW_BELOW, GLUCOSE_HIGH_ABOVE)  # consensus range
# Triage of meter users, Hearth's choice (docs/CLINICAL.md "Triage"): more than half of
# the period's readings above 180 mg/dL.
METER_HIGH_SHARE_PERCENT: Final = 50.0

# -- Blood pressure (docs/CLINICAL.md "Blood pressure") ----------------------------------
BP_HOME_ACC_AHA: Final = (130.0, 80.0)  # home hypertension, ACC/AHA 2017 (Whelton, Table 11)
BP_ELEVATED_SYSTOLIC: Final = 120.0  # ACC/AHA 2017: elevated 120-129 and diastolic <80
BP_HOME_ESH: Final = (135.0, 85.0)  # home hypertension, ESH 2021 (Parati)
BP_CRISIS_SYSTOLIC: Final = 180.0  # crisis at >=180 systolic ... (AHA; ACC/AHA 2017)
BP_CRISIS_DIASTOLIC: Final = 120.0  # ... or >=120 diastolic
BP_MIN_READINGS: Final = 12  # a home-BP average needs >=12 readings ... (ESH 2021)
BP_MIN_DAYS: Final = 3  # ... over >=3 days

# -- Pulse oximetry (docs/CLINICAL.md "Pulse oximetry (SpO2)") ----------------------------
# Without a lower prescribed target: below 95% (93-94%) is under target, <=92% urgent
# (NHS @home oximetry).  People at risk of hypercapnic respiratory failure (COPD, or a
# prescribed target below 92%) aim for 88-92% (BTS 2017) and are urgent at <=83% (NEWS2
# scale 2 scores 3).
SPO2_TARGET_DEFAULT: Final = 95.0
SPO2_URGENT_AT_OR_BELOW: Final = 92.0
SPO2_TARGET_HYPERCAPNIC: Final = 88.0
SPO2_URGENT_HYPERCAPNIC: Final = 83.0


def spo2_limits(targets: Mapping[str, object], conditions: Iterable[str]) -> tuple[float, float]:
    """(under target below this, urgent at or below this) for one patient: their prescribed
    ``spo2_percent`` where set (below 92% makes them hypercapnic-risk), else by condition."""
    prescribed = targets.get("spo2_percent")
    if isinstance(prescribed, int | float) and not isinstance(prescribed, bool):
        target = float(prescribed)
        hypercapnic = target < SPO2_URGENT_AT_OR_BELOW
    else:
        hypercapnic = "copd" in conditions
        target = SPO2_TARGET_HYPERCAPNIC if hypercapnic else SPO2_TARGET_DEFAULT
    return target, SPO2_URGENT_HYPERCAPNIC if hypercapnic else SPO2_URGENT_AT_OR_BELOW


# -- Weight in heart failure (docs/CLINICAL.md "Heart-failure weight") -------------------
HF_GAIN_3_DAYS_KG: Final = 2.0  # more than 2 kg in 3 days (ESC 2021, McDonagh) ...
HF_GAIN_7_DAYS_KG: Final = 2.3  # ... or 5 lb (2.3 kg) in a week (AHA/HFSA patient guidance)
# Daily weighing (heart failure) and the prescribed pill-box doses are the advice; Hearth's
# choice for triage (docs/CLINICAL.md "Triage"): two or more days of the last 7 without
# them is poor adherence.
ADHERENCE_DAYS_MISSED: Final = 2
ADHERENCE_DAYS: Final = 7

# -- Activity (docs/CLINICAL.md "Activity": Paluch 2022) ---------------------------------
STEP_GOAL_PER_DAY: Final = 7000

# -- Device silence (docs/CLINICAL.md "Device silence": Hearth's choices) ----------------
# Hours without a reading after which a device that has been reporting is "silent": its
# usual rhythm plus slack for an ordinary missed day. The coach's device_silent rule
# (coach/device_kinds.py) and the nurse's triage both read them from here.
SILENT_AFTER_H: Final = MappingProxyType({
    "cgm": 3.0,  # every 5 minutes; 3 h covers a new sensor's warm-up
    "glucose_meter": 48.0,  # at least daily; one missed day
    "bp_cuff": 48.0,  # morning and evening; one missed day
    "scale": 48.0,  # daily weigh-in; one missed day
    "pulse_oximeter": 36.0,  # spot checks and overnight wear; one missed night
    "pedometer": 36.0,  # hourly while up; one missed day
    "thermometer": 72.0,  # a daily check at most
    "motion_sensor": 48.0,  # on motion only; inactivity is its own rule
    "door_sensor": 96.0,  # people may stay in for days
    "pill_box": 48.0,  # opened at least daily; missed doses are their own rule
})
