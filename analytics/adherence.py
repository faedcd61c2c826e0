"""Adherence: expected against received readings per device and metric, with the days missed.

CGM wear: a day counts as worn at >=70% of its possible readings, the
consensus sufficiency level (Battelino 2019).  Home blood pressure: a morning
and an evening sitting of at least two readings each (ESH 2021, Parati et al.).
Weight: one weigh-in a day (ESC 2021 heart-failure self-care).  Pill box:
the prescribed number of openings a day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics import targets as tg
from analytics.bp import NOON_MIN, SESSION_GAP_S
from analytics.timebase import (
    US_PER_S,
    FloatArray,
    IntArray,
    day_label,
    local_day_and_minute,
    local_seconds,
)

logger = logging.getLogger(__name__)

CGM_WEAR_DAY_PERCENT = tg.WEAR_MIN_PERCENT  # docs/CLINICAL.md


@dataclass(frozen=True, slots=True)
class Adherence:
    what: str  # e.g. "cgm wear", "bp sittings", "weigh-ins", "pill-box openings"
    expected: float  # over the whole period (partial days prorated)
    received: float  # counted up to the expected number per day
    percent: float
    days: tuple[str, ...]
    per_day: tuple[float, ...]  # received per day (evidence)
    days_missed: tuple[str, ...]  # days below the day's minimum


def _day_fractions(start_us: int, end_us: int, tz: str) -> tuple[IntArray, FloatArray]:
    """Local days touched by [start, end) and the share of each day inside the period."""
    ends = local_seconds(np.array([start_us, end_us - 1], dtype=np.int64), tz)
    first, last = int(ends[0] // 86_400), int(ends[1] // 86_400)
    days = np.arange(first, last + 1, dtype=np.int64)
    lo = np.maximum(days * 86_400, ends[0])
    hi = np.minimum((days + 1) * 86_400, ends[1] + 1)
    return days, (hi - lo) / 86_400.0


def adherence(
    counts_by_day: dict[int, float],
    *,
    what: str,
    expected_per_day: float,
    minimum_per_day: float,
    start_us: int,
    end_us: int,
    tz: str,
) -> Adherence:
    """Generic: ``counts_by_day`` maps local day number to what was received that day."""
    if end_us <= start_us:
        raise ValueError("the period must end after it starts")
    days, share = _day_fractions(start_us, end_us, tz)
    expected = expected_per_day * share
    got = np.array([counts_by_day.get(int(d), 0.0) for d in days])
    missed = got < minimum_per_day * share - 1e-9
    received = np.minimum(got, expected)
    total = float(expected.sum())
    return Adherence(
        what=what,
        expected=total,
        received=float(received.sum()),
        percent=float(100.0 * received.sum() / total) if total else float("nan"),
        days=tuple(day_label(int(d)) for d in days),
        per_day=tuple(float(g) for g in got),
        days_missed=tuple(day_label(int(d)) for d in days[missed]),
    )


def _count_by_day(times_us: npt.ArrayLike, tz: str) -> dict[int, float]:
    t = np.asarray(times_us, dtype=np.int64)
    day, _ = local_day_and_minute(np.unique(t), tz)
    found, counts = np.unique(day, return_counts=True)
    return {int(d): float(c) for d, c in zip(found, counts, strict=True)}


def cgm_wear(
    times_us: npt.ArrayLike, *, start_us: int, end_us: int, tz: str, interval_s: float = 300.0
) -> Adherence:
    per_day = 86_400 / interval_s
    return adherence(
        _count_by_day(times_us, tz),
        what="cgm wear",
        expected_per_day=per_day,
        minimum_per_day=per_day * CGM_WEAR_DAY_PERCENT / 100.0,
        start_us=start_us,
        end_us=end_us,
        tz=tz,
    )


def weigh_ins(times_us: npt.ArrayLike, *, start_us: int, end_us: int, tz: str) -> Adherence:
    counts = {d: min(c, 1.0) for d, c in _count_by_day(times_us, tz).items()}
    return adherence(
        counts,
        what="weigh-ins",
        expected_per_day=1,
        minimum_per_day=1,
        start_us=start_us,
        end_us=end_us,
        tz=tz,
    )


def pill_box(
    times_us: npt.ArrayLike, *, doses_per_day: int, start_us: int, end_us: int, tz: str
) -> Adherence:
    return adherence(
        _count_by_day(times_us, tz),
        what="pill-box openings",
        expected_per_day=doses_per_day,
        minimum_per_day=doses_per_day,
        start_us=start_us,
        end_us=end_us,
        tz=tz,
    )


def bp_sittings(times_us: npt.ArrayLike, *, start_us: int, end_us: int, tz: str) -> Adherence:
    """Morning and evening sittings with at least two readings (a pair) each day."""
    t = np.unique(np.asarray(times_us, dtype=np.int64))
    counts: dict[int, float] = {}
    if t.size:
        sitting = np.cumsum(np.r_[True, np.diff(t) > SESSION_GAP_S * US_PER_S]) - 1
        starts = np.flatnonzero(np.r_[True, sitting[1:] != sitting[:-1]])
        sizes = np.diff(np.r_[starts, t.size])
        day, minute = local_day_and_minute(t[starts], tz)
        seen: set[tuple[int, bool]] = set()
        for d, m, n in zip(day.tolist(), minute.tolist(), sizes.tolist(), strict=True):
            if n >= 2:
                seen.add((d, m < NOON_MIN))
        for d, _morning in seen:
            counts[d] = counts.get(d, 0.0) + 1.0
    return adherence(
        counts,
        what="bp sittings",
        expected_per_day=2,
        minimum_per_day=2,
        start_us=start_us,
        end_us=end_us,
        tz=tz,
    )
