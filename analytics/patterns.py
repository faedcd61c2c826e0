"""Recurring time-of-day glucose patterns, with the days that show them.

A pattern is a stretch of the day (local time) in which glucose spends at
least 15 minutes beyond a threshold (the consensus event duration, Battelino
2019) on at least ``min_days`` of the last ``last_days`` days.  Two are named
in the issue: lows between 02:00 and 04:00 on at least 3 of the last 7 nights,
and highs after breakfast (07:00-11:00, >180 mg/dL).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.cgm import HIGH_ABOVE, LOW_BELOW
from analytics.timebase import clean, coverage_s, day_label, local_day_and_minute

logger = logging.getLogger(__name__)

MIN_MINUTES = 15.0  # Battelino 2019: the consensus event duration


@dataclass(frozen=True, slots=True)
class PatternDay:
    date: str
    minutes_beyond: float
    extreme: float  # the lowest (lows) or highest (highs) value in the window
    extreme_us: int


@dataclass(frozen=True, slots=True)
class Pattern:
    name: str
    found: bool
    days_with: int
    days_checked: int  # days with readings in the window among the last ``last_days``
    window: tuple[str, str]  # local HH:MM
    threshold: float
    evidence: tuple[PatternDay, ...]  # the days that show it


def recurring_pattern(
    times_us: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    name: str,
    tz: str,
    window_min: tuple[float, float],
    below: bool,
    threshold: float,
    last_days: int = 7,
    min_days: int = 3,
    end_day: int | None = None,
) -> Pattern:
    data = clean(times_us, values)
    t, v = data.times_us, data.values
    w = coverage_s(t)
    day, minute = local_day_and_minute(t, tz)
    last = (int(day.max()) if day.size else 0) if end_day is None else end_day
    inside = (
        (minute >= window_min[0])
        & (minute < window_min[1])
        & (day > last - last_days)
        & (day <= last)
    )
    beyond = inside & ((v < threshold) if below else (v > threshold))
    evidence = []
    checked = np.unique(day[inside])
    for d in checked.tolist():
        sel = beyond & (day == d)
        minutes = float(w[sel].sum() / 60.0)
        if minutes >= MIN_MINUTES:
            idx = np.flatnonzero(sel)
            at = int(idx[np.argmin(v[idx])] if below else idx[np.argmax(v[idx])])
            evidence.append(PatternDay(day_label(d), minutes, float(v[at]), int(t[at])))
    return Pattern(
        name=name,
        found=len(evidence) >= min_days,
        days_with=len(evidence),
        days_checked=int(checked.size),
        window=(_hhmm(window_min[0]), _hhmm(window_min[1])),
        threshold=threshold,
        evidence=tuple(evidence),
    )


def _hhmm(minutes: float) -> str:
    m = int(minutes)
    return f"{m // 60:02d}:{m % 60:02d}"


def nocturnal_lows(
    times_us: npt.ArrayLike, values: npt.ArrayLike, *, tz: str, end_day: int | None = None
) -> Pattern:
    """Lows (<70 mg/dL for >=15 min) between 02:00 and 04:00 on >=3 of the last 7 nights."""
    return recurring_pattern(
        times_us,
        values,
        name="nocturnal_lows",
        tz=tz,
        window_min=(120.0, 240.0),
        below=True,
        threshold=LOW_BELOW,
        end_day=end_day,
    )


def post_breakfast_highs(
    times_us: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    tz: str,
    end_day: int | None = None,
    window_min: tuple[float, float] = (420.0, 660.0),
) -> Pattern:
    """Highs (>180 mg/dL for >=15 min) 07:00-11:00 on >=3 of the last 7 days."""
    return recurring_pattern(
        times_us,
        values,
        name="post_breakfast_highs",
        tz=tz,
        window_min=window_min,
        below=False,
        threshold=HIGH_ABOVE,
        end_day=end_day,
    )
