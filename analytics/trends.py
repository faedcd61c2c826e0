"""Robust trends with their uncertainty, and week-over-week change.

Slopes are Theil-Sen estimates (Sen PK, J Am Stat Assoc 1968;63:1379-1389):
the median of all pairwise slopes, robust to up to ~29% outliers.  We use
``scipy.stats.theilslopes`` rather than scikit-learn's ``TheilSenRegressor``
because it also gives Sen's confidence interval for the slope, which is the
uncertainty a nudge needs ("rising, and we are sure of it").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from analytics.cgm import range_index
from analytics.timebase import (
    FloatArray,
    IntArray,
    clean,
    coverage_s,
    day_label,
    local_day_and_minute,
)

logger = logging.getLogger(__name__)

Aggregate = Literal["mean", "sum", "first", "min", "max", "median"]


@dataclass(frozen=True, slots=True)
class Trend:
    """A Theil-Sen slope per day with its 95% confidence interval, and its evidence."""

    slope_per_day: float
    low_per_day: float  # 95% CI (Sen 1968)
    high_per_day: float
    intercept: float  # value at the first day
    points: int
    days: tuple[str, ...]  # evidence: the local dates ...
    values: tuple[float, ...]  # ... and the value of each

    @property
    def slope_per_week(self) -> float:
        return 7.0 * self.slope_per_day

    @property
    def direction(self) -> str:
        """'rising' or 'falling' when the whole 95% interval is on one side of zero."""
        if self.low_per_day > 0:
            return "rising"
        if self.high_per_day < 0:
            return "falling"
        return "flat"


def robust_trend(day: npt.ArrayLike, values: npt.ArrayLike, *, confidence: float = 0.95) -> Trend:
    """Theil-Sen slope of values against local day numbers (days since 1970-01-01)."""
    x = np.asarray(day, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(y)
    x, y = x[ok], y[ok]
    if x.size < 2 or np.unique(x).size < 2:
        raise ValueError("a trend needs values on at least two different days")
    from scipy import stats  # here, not at the top: scipy.stats takes seconds to import

    result = stats.theilslopes(y, x - x[0], alpha=confidence)
    return Trend(
        slope_per_day=float(result.slope),
        low_per_day=float(result.low_slope),
        high_per_day=float(result.high_slope),
        intercept=float(result.intercept),
        points=int(x.size),
        days=tuple(day_label(int(d)) for d in x),
        values=tuple(float(v) for v in y),
    )


def daily_values(
    times_us: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    tz: str = "UTC",
    how: Aggregate = "mean",
) -> tuple[IntArray, FloatArray]:
    """One value per local calendar day: (day numbers, aggregated values)."""
    t = np.asarray(times_us, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    if t.size == 0:
        return np.empty(0, np.int64), np.empty(0)
    day, _ = local_day_and_minute(t, tz)
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    counts = np.diff(np.r_[starts, t.size])
    if how == "mean":
        out = np.add.reduceat(v, starts) / counts
    elif how == "sum":
        out = np.add.reduceat(v, starts)
    elif how == "first":
        out = v[starts]
    elif how == "min":
        out = np.minimum.reduceat(v, starts)
    elif how == "max":
        out = np.maximum.reduceat(v, starts)
    else:
        out = np.array([np.median(v[a : a + c]) for a, c in zip(starts, counts, strict=True)])
    return day[starts], out.astype(np.float64)


def fasting_glucose_by_day(
    times_us: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    tz: str = "UTC",
    window_min: tuple[float, float] = (5 * 60, 7 * 60),
) -> tuple[IntArray, FloatArray]:
    """A fasting value per day from CGM: the median of readings 05:00-07:00 local.

    (Before a usual breakfast and after the dawn rise has begun; for meter
    readings, pass the readings tagged "fasting" to daily_values instead.)
    """
    t = np.asarray(times_us, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    _, minute = local_day_and_minute(t, tz)
    keep = (minute >= window_min[0]) & (minute < window_min[1])
    return daily_values(t[keep], v[keep], tz=tz, how="median")


def weekly_time_in_range(
    times_us: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    tz: str = "UTC",
) -> tuple[IntArray, FloatArray]:
    """Time in range 70-180 (time-weighted) per 7-day block counted back from the last day.

    Returns the last day of each block and its TIR %; the earliest block may be partial.
    """
    data = clean(times_us, values)
    if data.values.size == 0:
        return np.empty(0, np.int64), np.empty(0)
    day, _ = local_day_and_minute(data.times_us, tz)
    block = (int(day[-1]) - day) // 7  # 0 = the last week
    weights = coverage_s(data.times_us)
    in_range = range_index(data.values) == 2
    n = int(block.max()) + 1
    total = np.bincount(block, weights=weights, minlength=n)
    inside = np.bincount(block, weights=weights * in_range, minlength=n)
    has = total > 0
    last_days = int(day[-1]) - 7 * np.arange(n)
    tir = np.where(has, 100.0 * inside / np.where(has, total, 1.0), np.nan)
    return last_days[::-1][has[::-1]], tir[::-1][has[::-1]]


@dataclass(frozen=True, slots=True)
class WeekOverWeek:
    this_week: float  # mean of the last 7 days' values
    last_week: float  # mean of the 7 days before
    change: float
    percent_change: float
    this_week_days: tuple[str, ...]  # evidence
    last_week_days: tuple[str, ...]


def week_over_week(
    day: npt.ArrayLike, values: npt.ArrayLike, *, last_day: int | None = None
) -> WeekOverWeek:
    """Mean of the 7 days ending ``last_day`` (default: the latest day) against the 7 before."""
    d = np.asarray(day, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if d.size == 0:
        raise ValueError("no daily values")
    end = int(d.max()) if last_day is None else last_day
    this = (d > end - 7) & (d <= end)
    prev = (d > end - 14) & (d <= end - 7)
    if not this.any() or not prev.any():
        raise ValueError("week-over-week change needs values in both weeks")
    a, b = float(v[this].mean()), float(v[prev].mean())
    return WeekOverWeek(
        this_week=a,
        last_week=b,
        change=a - b,
        percent_change=100.0 * (a - b) / b if b else float("nan"),
        this_week_days=tuple(day_label(int(x)) for x in d[this]),
        last_week_days=tuple(day_label(int(x)) for x in d[prev]),
    )
