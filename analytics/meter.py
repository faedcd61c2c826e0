"""Finger-stick meter readings: frequency, meal-tagged statistics, time in target, lows.

Targets (American Diabetes Association, Standards of Care in Diabetes 2024,
section 6 "Glycemic Goals and Hypoglycemia", Table 6.3): before a meal (and
fasting) 80-130 mg/dL; 1-2 h after the start of a meal <180 mg/dL.  Untagged
readings are judged against the consensus range 70-180 mg/dL (Battelino 2019).
Hypoglycaemia: level 1 <70, level 2 <54 mg/dL (ADA 2024, Table 6.4).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics import targets as tg
from analytics.cgm import Units, to_mg_dl
from analytics.timebase import FloatArray, local_day_and_minute

logger = logging.getLogger(__name__)

# context tag -> (low, high) target in mg/dL, low <= value <= high (ADA 2024 Table 6.3)
# (the numbers: analytics/targets.py, docs/CLINICAL.md "Glucose")
TARGETS: dict[str, tuple[float, float]] = {
    "fasting": tg.METER_FASTING,
    "before_meal": tg.METER_FASTING,
    # "<180": the largest double below 180, so that 180 itself is out of target
    "after_meal": (0.0, float(np.nextafter(tg.METER_AFTER_MEAL_BELOW, 0.0))),
}
UNTAGGED_TARGET = tg.METER_UNTAGGED  # consensus range (Battelino 2019)
LEVEL1_LOW = tg.GLUCOSE_LOW_BELOW
LEVEL2_LOW = tg.GLUCOSE_VERY_LOW_BELOW


@dataclass(frozen=True, slots=True)
class ContextStats:
    context: str  # "fasting", "before_meal", "after_meal" or "untagged"
    readings: int
    mean: float
    minimum: float
    maximum: float
    target_low: float
    target_high: float
    percent_in_target: float


@dataclass(frozen=True, slots=True)
class Low:
    time_us: int
    value: float
    level: int  # 1 (<70) or 2 (<54)


@dataclass(frozen=True, slots=True)
class MeterSummary:
    readings: int
    days: int  # local calendar days in the period (first to last reading, or as given)
    readings_per_day: float
    days_with_readings: int
    percent_in_target: float  # every reading against its own context's target
    by_context: tuple[ContextStats, ...]
    lows: tuple[Low, ...]  # the evidence: every reading below 70 mg/dL


def _context_stats(name: str, v: FloatArray) -> ContextStats:
    lo, hi = TARGETS.get(name, UNTAGGED_TARGET)
    inside = (v >= lo) & (v <= hi)
    return ContextStats(
        name,
        int(v.size),
        float(v.mean()),
        float(v.min()),
        float(v.max()),
        lo,
        hi,
        float(100.0 * inside.mean()),
    )


def meter_summary(
    times_us: npt.ArrayLike,
    values: npt.ArrayLike,
    contexts: Sequence[str | None] | None = None,
    *,
    tz: str = "UTC",
    units: Units | str = Units.MG_DL,
    days: int | None = None,
) -> MeterSummary:
    """Summarise meter readings; ``contexts`` are the readings' meal tags (None = untagged)."""
    t = np.asarray(times_us, dtype=np.int64)
    v = to_mg_dl(values, units)
    if t.size == 0:
        raise ValueError("no meter readings to analyse")
    tags = np.array([c if c in TARGETS else "untagged" for c in (contexts or [None] * t.size)])
    if tags.size != t.size:
        raise ValueError("contexts must have one entry per reading")
    day, _ = local_day_and_minute(t, tz)
    n_days = int(day.max() - day.min() + 1) if days is None else days
    by_context = tuple(
        _context_stats(name, v[tags == name])
        for name in ("fasting", "before_meal", "after_meal", "untagged")
        if np.any(tags == name)
    )
    lows = tuple(
        Low(int(ti), float(vi), 2 if vi < LEVEL2_LOW else 1)
        for ti, vi in zip(t[v < LEVEL1_LOW], v[v < LEVEL1_LOW], strict=True)
    )
    return MeterSummary(
        readings=int(t.size),
        days=n_days,
        readings_per_day=t.size / max(n_days, 1),
        days_with_readings=int(np.unique(day).size),
        percent_in_target=_percent_in_target(v, tags),
        by_context=by_context,
        lows=lows,
    )


def _percent_in_target(v: FloatArray, tags: npt.NDArray[np.str_]) -> float:
    lo = np.array([TARGETS.get(str(tag), UNTAGGED_TARGET)[0] for tag in tags])
    hi = np.array([TARGETS.get(str(tag), UNTAGGED_TARGET)[1] for tag in tags])
    return float(100.0 * np.mean((v >= lo) & (v <= hi)))


# The day cut into four blocks of six hours for a meter's "standard day" (readings by
# time of day over the whole period, as the SMBG reports of meter makers show them).
# The blocks are Hearth's choice of presentation, not a clinical number.
DAY_BLOCKS: tuple[tuple[str, int, int], ...] = (
    ("night", 0, 360), ("morning", 360, 720), ("afternoon", 720, 1080), ("evening", 1080, 1440))


@dataclass(frozen=True, slots=True)
class TimeBlock:
    name: str  # night 00-06, morning 06-12, afternoon 12-18, evening 18-24 (local)
    start_minute: int
    end_minute: int
    readings: int
    mean: float  # NaN without readings
    minimum: float
    maximum: float
    below_70: int  # readings under the level 1 threshold (ADA 2024 Table 6.4)
    percent_in_target: float  # against the consensus range 70-180 (untagged readings)


def by_time_of_day(times_us: npt.ArrayLike, values: npt.ArrayLike, *,
                   tz: str = "UTC") -> tuple[FloatArray, tuple[TimeBlock, ...]]:
    """Each reading's local minute of the day, and the readings of each block of the day:
    a finger-stick meter's few readings a day are summarised by when they were taken,
    never drawn as a continuous profile (no percentiles between readings)."""
    t = np.asarray(times_us, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    _, minute = local_day_and_minute(t, tz)
    lo, hi = UNTAGGED_TARGET
    blocks = []
    for name, start, end in DAY_BLOCKS:
        x = v[(minute >= start) & (minute < end)]
        has = x.size > 0
        blocks.append(TimeBlock(
            name, start, end, int(x.size),
            float(x.mean()) if has else float("nan"),
            float(x.min()) if has else float("nan"),
            float(x.max()) if has else float("nan"),
            int((x < LEVEL1_LOW).sum()),
            float(100.0 * np.mean((x >= lo) & (x <= hi))) if has else float("nan")))
    return minute, tuple(blocks)
