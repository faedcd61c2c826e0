"""Home blood pressure: the 7-day protocol, classification and crisis detection.

Protocol: Parati G, et al. 2021 European Society of Hypertension practice
guidelines for office and out-of-office blood pressure measurement, J Hypertens
2021;39:1293-1302: duplicate readings (1 min apart) morning and evening for 7
days (at least 3), the first day discarded, all the other readings averaged
(at least 12 readings).
Thresholds (docs/CLINICAL.md "Blood pressure"; the numbers in analytics/targets.py):
hypertension on home readings at >=130/80 mmHg
(Whelton PK et al., 2017 ACC/AHA guideline, Table 11) or >=135/85 mmHg (ESH,
Parati 2021).  Crisis: systolic >=180 or diastolic >=120 mmHg; the American
Heart Association's advice is to wait five minutes and measure again, and to
seek help at once if the reading is still that high.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from analytics import targets as tg
from analytics.timebase import US_PER_S, FloatArray, IntArray, day_label, local_day_and_minute

logger = logging.getLogger(__name__)

# Hearth's choices (no guideline gives a number): ESH 2021 asks for two readings
# 1-2 minutes apart per sitting, so readings less than 10 minutes apart are taken
# as one sitting, wide enough for a third reading and a slow cuff, far below the
# hours between a morning and an evening sitting; local noon splits the two.
SESSION_GAP_S = 10 * 60
NOON_MIN = 12 * 60
MIN_READINGS = tg.BP_MIN_READINGS  # ESH 2021 (Parati 2021): average of >=12 readings
MIN_DAYS = tg.BP_MIN_DAYS  # ESH 2021: at least 3 days (7 preferred)
# docs/CLINICAL.md; ACC/AHA 2017 (Whelton): crisis >180 and/or >120, flagged from 180/120
CRISIS_SYSTOLIC = tg.BP_CRISIS_SYSTOLIC
CRISIS_DIASTOLIC = tg.BP_CRISIS_DIASTOLIC
# Re-measure rule (American Heart Association, "Hypertensive crisis: when you should
# call 911": wait five minutes and take your blood pressure again).  Hearth's choice
# of window: a repeat counts from 1 minute after the first reading (the cuff's own
# duplicate within the minute is not a rested re-measure) to 15 minutes after it
# (three times the advised rest; later, the reading is a new one).
RECHECK_AFTER_S = 60
RECHECK_WITHIN_S = 15 * 60


class BpClass(StrEnum):
    NORMAL = "normal"
    ELEVATED = "elevated"  # ACC/AHA only: systolic 120-129 and diastolic <80
    HYPERTENSION = "hypertension"


def classify_acc_aha(systolic: float, diastolic: float) -> BpClass:
    """Home thresholds corresponding to office 130/80 (Whelton 2017, Table 11)."""
    if systolic >= tg.BP_HOME_ACC_AHA[0] or diastolic >= tg.BP_HOME_ACC_AHA[1]:
        return BpClass.HYPERTENSION
    if systolic >= tg.BP_ELEVATED_SYSTOLIC:
        return BpClass.ELEVATED
    return BpClass.NORMAL


def classify_esh(systolic: float, diastolic: float) -> BpClass:
    """ESH home hypertension threshold 135/85 mmHg (Parati 2021)."""
    high = systolic >= tg.BP_HOME_ESH[0] or diastolic >= tg.BP_HOME_ESH[1]
    return BpClass.HYPERTENSION if high else BpClass.NORMAL


@dataclass(frozen=True, slots=True)
class Sitting:
    """Consecutive readings less than 10 minutes apart: one morning or evening sitting."""

    date: str
    slot: str  # "morning" or "evening"
    start_us: int
    readings: int
    systolic: float  # mean of the sitting
    diastolic: float


@dataclass(frozen=True, slots=True)
class HomeBp:
    systolic: float  # mean of all readings after the first day
    diastolic: float
    morning: tuple[float, float]  # (systolic, diastolic) means; NaN if none
    evening: tuple[float, float]
    readings_used: int
    days_used: int
    complete_days: int  # days with both a morning and an evening sitting
    discarded_day: str  # the first day, left out by the protocol
    valid: bool  # >=12 readings over >=3 days
    acc_aha: BpClass
    esh: BpClass
    sittings: tuple[Sitting, ...]  # the evidence


def _sittings(t: IntArray, gap: float) -> IntArray:
    """Sitting number of each (sorted) reading."""
    new = np.r_[True, np.diff(t) > gap * US_PER_S]
    return np.cumsum(new) - 1


def home_bp(
    times_us: npt.ArrayLike,
    systolic: npt.ArrayLike,
    diastolic: npt.ArrayLike,
    *,
    tz: str = "UTC",
    days: int = 7,
) -> HomeBp:
    """The home protocol over the ``days`` local days starting with the first reading's day."""
    t = np.asarray(times_us, dtype=np.int64)
    order = np.argsort(t, kind="stable")
    t = t[order]
    s = np.asarray(systolic, dtype=np.float64)[order]
    d = np.asarray(diastolic, dtype=np.float64)[order]
    if t.size == 0:
        raise ValueError("no blood-pressure readings to analyse")
    day, minute = local_day_and_minute(t, tz)
    first_day = int(day[0])
    inside = day < first_day + days
    t, s, d, day, minute = t[inside], s[inside], d[inside], day[inside], minute[inside]
    sitting = _sittings(t, SESSION_GAP_S)
    sittings = _describe_sittings(t, s, d, day, minute, sitting)
    used = day > first_day  # ESH: the first day is discarded
    morning = used & (minute < NOON_MIN)
    evening = used & (minute >= NOON_MIN)
    sys_mean = float(s[used].mean()) if used.any() else float("nan")
    dia_mean = float(d[used].mean()) if used.any() else float("nan")
    days_used = int(np.unique(day[used]).size)
    return HomeBp(
        systolic=sys_mean,
        diastolic=dia_mean,
        morning=_means(s, d, morning),
        evening=_means(s, d, evening),
        readings_used=int(used.sum()),
        days_used=days_used,
        complete_days=_complete_days(sittings, day_label(first_day)),
        discarded_day=day_label(first_day),
        valid=int(used.sum()) >= MIN_READINGS and days_used >= MIN_DAYS,
        acc_aha=classify_acc_aha(sys_mean, dia_mean) if used.any() else BpClass.NORMAL,
        esh=classify_esh(sys_mean, dia_mean) if used.any() else BpClass.NORMAL,
        sittings=sittings,
    )


def _means(s: FloatArray, d: FloatArray, mask: npt.NDArray[np.bool_]) -> tuple[float, float]:
    if not mask.any():
        return (float("nan"), float("nan"))
    return (float(s[mask].mean()), float(d[mask].mean()))


def _describe_sittings(
    t: IntArray,
    s: FloatArray,
    d: FloatArray,
    day: IntArray,
    minute: FloatArray,
    sitting: IntArray,
) -> tuple[Sitting, ...]:
    starts = np.flatnonzero(np.r_[True, sitting[1:] != sitting[:-1]])
    counts = np.diff(np.r_[starts, t.size])
    s_mean = np.add.reduceat(s, starts) / counts
    d_mean = np.add.reduceat(d, starts) / counts
    return tuple(
        Sitting(
            day_label(int(day[i])),
            "morning" if minute[i] < NOON_MIN else "evening",
            int(t[i]),
            int(c),
            float(sm),
            float(dm),
        )
        for i, c, sm, dm in zip(starts, counts, s_mean, d_mean, strict=True)
    )


def _complete_days(sittings: tuple[Sitting, ...], discarded: str) -> int:
    slots: dict[str, set[str]] = {}
    for sitting in sittings:
        if sitting.date != discarded:
            slots.setdefault(sitting.date, set()).add(sitting.slot)
    return sum(1 for found in slots.values() if found == {"morning", "evening"})


class CrisisStatus(StrEnum):
    RECHECK = "recheck"  # measure again now (after 5 minutes' rest); no repeat yet
    CONFIRMED = "confirmed"  # the repeat is still >=180/120: urgent advice
    NOT_CONFIRMED = "not_confirmed"  # the repeat is below the crisis level
    UNVERIFIED = "unverified"  # no repeat within 15 minutes: treated as urgent


@dataclass(frozen=True, slots=True)
class Crisis:
    time_us: int
    systolic: float
    diastolic: float
    status: CrisisStatus
    repeat: tuple[int, float, float] | None  # (time, systolic, diastolic) of the repeat used

    @property
    def urgent(self) -> bool:
        return self.status in (CrisisStatus.CONFIRMED, CrisisStatus.UNVERIFIED)


def is_crisis(systolic: float, diastolic: float) -> bool:
    """Systolic >=180 or diastolic >=120 mmHg (docs/CLINICAL.md; AHA)."""
    return systolic >= CRISIS_SYSTOLIC or diastolic >= CRISIS_DIASTOLIC


def crises(
    times_us: npt.ArrayLike,
    systolic: npt.ArrayLike,
    diastolic: npt.ArrayLike,
    *,
    now_us: int,
) -> tuple[Crisis, ...]:
    """Each crisis-level reading (not itself the repeat of an earlier one), with its status."""
    t = np.asarray(times_us, dtype=np.int64)
    order = np.argsort(t, kind="stable")
    t, s, d = (t[order], np.asarray(systolic, float)[order], np.asarray(diastolic, float)[order])
    found: list[Crisis] = []
    consumed_until = -1
    for i in np.flatnonzero((s >= CRISIS_SYSTOLIC) | (d >= CRISIS_DIASTOLIC)).tolist():
        if t[i] <= consumed_until:
            continue  # this reading was the repeat of an earlier crisis reading
        found.append(_crisis_status(t, s, d, i, now_us))
        consumed_until = int(t[i]) + RECHECK_WITHIN_S * US_PER_S
    return tuple(found)


def _crisis_status(t: IntArray, s: FloatArray, d: FloatArray, i: int, now_us: int) -> Crisis:
    lo = t[i] + RECHECK_AFTER_S * US_PER_S
    hi = t[i] + RECHECK_WITHIN_S * US_PER_S
    repeats = np.flatnonzero((t >= lo) & (t <= hi))
    first = (int(t[i]), float(s[i]), float(d[i]))
    if repeats.size:
        j = int(repeats[0])
        status = CrisisStatus.CONFIRMED if is_crisis(s[j], d[j]) else CrisisStatus.NOT_CONFIRMED
        return Crisis(*first, status, (int(t[j]), float(s[j]), float(d[j])))
    status = CrisisStatus.RECHECK if now_us <= hi else CrisisStatus.UNVERIFIED
    return Crisis(*first, status, None)
