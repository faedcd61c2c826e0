"""Activity: daily steps against the goal, and unusual inactivity at home.

Steps: the daily total against the person's goal, and its trend.  A default
goal of 7,000 steps a day follows Paluch AE et al., Lancet Public Health
2022;7:e219-e228 (mortality falls progressively up to 6,000-8,000 steps a
day in adults over 60); the coach sets each person's own goal.

Home motion: each person's usual daily pattern is learned from their own
history as a matrix of days x 15-minute slots ("was there motion?").  A
period without motion is unusual when, on most past days (90% by default,
at least 7 days), there was motion in the same stretch of the day: for
example no movement by 10:00 in someone who is always up by 08:30.  No fixed
number of hours is involved: a quiet night is usual, a quiet morning is not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics import targets as tg
from analytics.timebase import (
    FloatArray,
    IntArray,
    day_label,
    local_day_and_minute,
    local_seconds,
)
from analytics.trends import Trend, daily_values, robust_trend

logger = logging.getLogger(__name__)

DEFAULT_STEP_GOAL = tg.STEP_GOAL_PER_DAY  # docs/CLINICAL.md (Paluch 2022); the coach sets each goal
# Hearth's choices for the learned motion baseline (no clinical standard exists):
# 15-minute slots (motion sensors report on movement, so a quarter of an hour
# tells "up and about" from "still"); at least 7 past days (one of each weekday)
# before judging; a stretch is unusual when >=90% of those days had motion in it
# (for 7 days: every day, or all but one of 10+).  Both are parameters of
# unusual_inactivity, to be set per person by the coach.
SLOT_MIN = 15
SLOTS = 24 * 60 // SLOT_MIN
MIN_BASELINE_DAYS = 7
MIN_USUAL_FRACTION = 0.9


@dataclass(frozen=True, slots=True)
class StepsSummary:
    goal: float
    days: tuple[str, ...]  # evidence: each day with step data ...
    steps: tuple[float, ...]  # ... and its total
    mean_daily: float
    days_met: int
    percent_days_met: float
    trend: Trend | None  # Theil-Sen over the daily totals (steps/day per day)


def steps_summary(
    times_us: npt.ArrayLike,
    steps: npt.ArrayLike,
    *,
    goal: float = DEFAULT_STEP_GOAL,
    tz: str = "UTC",
) -> StepsSummary:
    """Steps readings are counts since the previous report, so a day's total is their sum."""
    day, total = daily_values(times_us, steps, tz=tz, how="sum")
    if day.size == 0:
        raise ValueError("no step readings to analyse")
    met = total >= goal
    return StepsSummary(
        goal=goal,
        days=tuple(day_label(int(d)) for d in day),
        steps=tuple(float(s) for s in total),
        mean_daily=float(total.mean()),
        days_met=int(met.sum()),
        percent_days_met=float(100.0 * met.mean()),
        trend=robust_trend(day, total) if day.size >= 2 else None,
    )


@dataclass(frozen=True, slots=True)
class MotionBaseline:
    first_day: int  # local day number of row 0
    slots: npt.NDArray[np.bool_]  # (days, 96): any motion in that 15-minute slot
    active_days: npt.NDArray[np.bool_]  # days with any motion (days without are left out)

    @property
    def probability(self) -> FloatArray:
        """Share of active days with motion in each slot: the usual daily pattern."""
        rows = self.slots[self.active_days]
        return rows.mean(axis=0) if rows.size else np.zeros(SLOTS)

    def usual_first_motion_min(self, q: float = 90.0) -> float:
        """The time of day by which the first motion has happened on q% of active days."""
        rows = self.slots[self.active_days]
        if not rows.size:
            return float("nan")
        first = rows.argmax(axis=1) * SLOT_MIN
        return float(np.percentile(first, q))


def motion_baseline(
    times_us: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    tz: str,
    before_day: int | None = None,
) -> MotionBaseline:
    """The days x slots motion matrix of the history (days before ``before_day``)."""
    t = np.asarray(times_us, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    t = t[v > 0]
    day, minute = local_day_and_minute(t, tz)
    if before_day is not None:
        keep = day < before_day
        day, minute = day[keep], minute[keep]
    if day.size == 0:
        return MotionBaseline(0, np.zeros((0, SLOTS), bool), np.zeros(0, bool))
    first = int(day.min())
    n_days = (int(day.max()) if before_day is None else before_day - 1) - first + 1
    grid = np.zeros((n_days, SLOTS), dtype=bool)
    grid[day - first, (minute // SLOT_MIN).astype(np.int64)] = True
    return MotionBaseline(first, grid, np.asarray(grid.any(axis=1), dtype=bool))


@dataclass(frozen=True, slots=True)
class Inactivity:
    """No motion since ``since_us`` although there usually is motion in that stretch of day."""

    since_us: int  # the last motion (or the start of the look-back)
    now_us: int
    window: tuple[str, str]  # local HH:MM of the stretch compared with the history
    days_with_motion: int  # evidence: past days with motion in the same stretch ...
    days_compared: int  # ... out of these
    usual_first_motion: str  # HH:MM by which the first motion happens on 90% of days
    fraction: float


def _hhmm(minutes: float) -> str:
    m = int(minutes) % (24 * 60)
    return f"{m // 60:02d}:{m % 60:02d}"


def unusual_inactivity(
    times_us: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    now_us: int,
    tz: str,
    lookback_h: float = 24.0,
    min_days: int = MIN_BASELINE_DAYS,
    min_fraction: float = MIN_USUAL_FRACTION,
) -> Inactivity | None:
    """Is the current stretch without motion unusual for this person?  None when it is not."""
    t = np.asarray(times_us, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    now_local = int(local_seconds(np.array([now_us]), tz)[0])
    today, now_slot = now_local // 86_400, (now_local % 86_400) // (SLOT_MIN * 60)
    base = motion_baseline(t, v, tz=tz, before_day=today)
    moved = t[(v > 0) & (t <= now_us)]
    since = max(int(moved.max()) if moved.size else 0, now_us - int(lookback_h * 3600e6))
    since_local = int(local_seconds(np.array([since]), tz)[0])
    # the stretch in slots relative to today's midnight: after the last motion's slot, before now's
    start = (since_local // 86_400 - today) * SLOTS + (since_local % 86_400) // (SLOT_MIN * 60) + 1
    if now_slot - start < 1 or base.slots.shape[0] == 0:
        return None
    counts = _motion_in_window(base, int(start), int(now_slot))
    if counts.size < min_days:
        return None
    fraction = float(np.mean(counts > 0))
    if fraction < min_fraction:
        return None
    return Inactivity(
        since_us=since,
        now_us=now_us,
        window=(_hhmm(start * SLOT_MIN), _hhmm(now_slot * SLOT_MIN)),
        days_with_motion=int((counts > 0).sum()),
        days_compared=int(counts.size),
        usual_first_motion=_hhmm(base.usual_first_motion_min()),
        fraction=fraction,
    )


def _motion_in_window(base: MotionBaseline, start: int, stop: int) -> IntArray:
    """Motion slots in [start, stop) (relative to each day's midnight) for each active past day."""
    flat = np.concatenate(([0], np.cumsum(base.slots.ravel(), dtype=np.int64)))
    rows = np.arange(base.slots.shape[0])
    lo, hi = rows * SLOTS + start, rows * SLOTS + stop
    ok = (lo >= 0) & base.active_days & (hi <= flat.size - 1)
    return (flat[hi[ok]] - flat[lo[ok]]).astype(np.int64)
