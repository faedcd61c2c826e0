"""Weight: 1-, 3- and 7-day change, the heart-failure warning and the weekly trend.

Heart failure (docs/CLINICAL.md; McDonagh TA et al., 2021 ESC Guidelines for heart
failure, Eur Heart J 2021;42:3599-3726, patient self-care): a gain of more
than 2 kg in 3 days, or of more than 1 kg overnight, is a warning sign of
fluid retention.  The daily weight is the day's first weigh-in (patients are
taught to weigh each morning, after voiding, before breakfast).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics import targets as tg
from analytics.timebase import FloatArray, IntArray, day_label
from analytics.trends import Trend, daily_values, robust_trend

logger = logging.getLogger(__name__)

# docs/CLINICAL.md "Heart-failure weight": no overnight rule (day-to-day swings of
# +/-1 kg are normal and no guideline Hearth cites sets one that stands out from them).
HF_GAIN_3_DAYS_KG = tg.HF_GAIN_3_DAYS_KG  # ESC 2021 HF: "more than 2 kg in 3 days"
HF_GAIN_7_DAYS_KG = tg.HF_GAIN_7_DAYS_KG  # AHA/HFSA patient guidance: 5 lb in a week
TREND_DAYS = 28


@dataclass(frozen=True, slots=True)
class Change:
    days: int  # 1, 3 or 7
    kg: float  # latest daily weight minus the reference; NaN without a reference
    reference_date: str | None
    reference_kg: float


@dataclass(frozen=True, slots=True)
class HeartFailureWarning:
    reason: str  # "gain_3_days" or "gain_7_days"
    gain_kg: float
    from_date: str
    from_kg: float
    to_date: str
    to_kg: float


@dataclass(frozen=True, slots=True)
class WeightSummary:
    latest_date: str
    latest_kg: float
    changes: tuple[Change, Change, Change]  # 1-, 3- and 7-day
    warnings: tuple[HeartFailureWarning, ...]
    weekly_trend: Trend | None  # Theil-Sen over the last 28 days (kg/day; slope_per_week)
    days: tuple[str, ...]  # evidence: the daily weights used
    daily_kg: tuple[float, ...]


def _reference(day: IntArray, kg: FloatArray, latest: int, n: int) -> Change:
    """The daily weight n days before the latest day, or the closest earlier one (<= 1 day more)."""
    candidates = np.flatnonzero((day <= latest - n) & (day >= latest - n - 1))
    if candidates.size == 0:
        return Change(n, float("nan"), None, float("nan"))
    i = int(candidates[-1])
    return Change(n, float(kg[-1] - kg[i]), day_label(int(day[i])), float(kg[i]))


def heart_failure_warnings(day: IntArray, kg: FloatArray) -> tuple[HeartFailureWarning, ...]:
    """Warnings for the latest day: more than 2 kg above the lowest of the 3 days before, or
    at least 2.3 kg above the lowest of the 7 days before (docs/CLINICAL.md)."""
    latest = int(day[-1])
    found: list[HeartFailureWarning] = []
    for reason, days, limit in (("gain_3_days", 3, HF_GAIN_3_DAYS_KG),
                                ("gain_7_days", 7, HF_GAIN_7_DAYS_KG)):
        window = np.flatnonzero((day >= latest - days) & (day < latest))
        if not window.size:
            continue
        i = int(window[np.argmin(kg[window])])
        gain = round(float(kg[-1] - kg[i]), 3)  # scales show 0.1 kg; no float residue
        if gain > limit or (days == 7 and gain >= limit):
            found.append(HeartFailureWarning(reason, gain, day_label(int(day[i])), float(kg[i]),
                                             day_label(latest), float(kg[-1])))
    return tuple(found)


def weight_summary(times_us: npt.ArrayLike, kg: npt.ArrayLike, *, tz: str = "UTC") -> WeightSummary:
    """Changes, heart-failure warnings and trend, from the first weigh-in of each local day."""
    day, daily = daily_values(times_us, kg, tz=tz, how="first")
    if day.size == 0:
        raise ValueError("no weight readings to analyse")
    latest = int(day[-1])
    recent = day > latest - TREND_DAYS
    trend = robust_trend(day[recent], daily[recent]) if np.unique(day[recent]).size >= 2 else None
    return WeightSummary(
        latest_date=day_label(latest),
        latest_kg=float(daily[-1]),
        changes=(
            _reference(day, daily, latest, 1),
            _reference(day, daily, latest, 3),
            _reference(day, daily, latest, 7),
        ),
        warnings=heart_failure_warnings(day, daily),
        weekly_trend=trend,
        days=tuple(day_label(int(d)) for d in day),
        daily_kg=tuple(float(x) for x in daily),
    )
