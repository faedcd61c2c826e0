"""Weight: 1-, 3- and 7-day change, the heart-failure warning and the weekly trend.

Heart failure (DESIGN.md §6; McDonagh TA et al., 2021 ESC Guidelines for heart
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

from analytics.timebase import FloatArray, IntArray, day_label
from analytics.trends import Trend, daily_values, robust_trend

logger = logging.getLogger(__name__)

HF_GAIN_3_DAYS_KG = 2.0  # "more than 2 kg in 3 days"
HF_GAIN_OVERNIGHT_KG = 1.0  # "more than 1 kg overnight"
TREND_DAYS = 28


@dataclass(frozen=True, slots=True)
class Change:
    days: int  # 1, 3 or 7
    kg: float  # latest daily weight minus the reference; NaN without a reference
    reference_date: str | None
    reference_kg: float


@dataclass(frozen=True, slots=True)
class HeartFailureWarning:
    reason: str  # "gain_3_days" or "gain_overnight"
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
    """Warnings for the latest day: >2 kg above any of the 3 days before, >1 kg above yesterday."""
    latest = int(day[-1])
    found: list[HeartFailureWarning] = []
    window = np.flatnonzero((day >= latest - 3) & (day < latest))
    if window.size:
        i = int(window[np.argmin(kg[window])])
        gain = float(kg[-1] - kg[i])
        if gain > HF_GAIN_3_DAYS_KG:
            found.append(
                HeartFailureWarning(
                    "gain_3_days",
                    gain,
                    day_label(int(day[i])),
                    float(kg[i]),
                    day_label(latest),
                    float(kg[-1]),
                )
            )
    yesterday = np.flatnonzero(day == latest - 1)
    if yesterday.size:
        i = int(yesterday[0])
        gain = float(kg[-1] - kg[i])
        if gain > HF_GAIN_OVERNIGHT_KG:
            found.append(
                HeartFailureWarning(
                    "gain_overnight",
                    gain,
                    day_label(int(day[i])),
                    float(kg[i]),
                    day_label(latest),
                    float(kg[-1]),
                )
            )
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
