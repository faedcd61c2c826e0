"""Time helpers shared by the analytics: cleaning, coverage and local time of day.

Local time is computed from the IANA zone with ``zoneinfo``, so that "08:00"
means 08:00 on the patient's wall clock on both sides of a daylight-saving
change.  To stay vectorised, the UTC offset is looked up once a day and the
exact instant of any change between two looks is found by bisection (zones
change offset at most once a day).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

US_PER_S = 1_000_000
S_PER_MIN = 60
S_PER_DAY = 86_400
US_PER_DAY = S_PER_DAY * US_PER_S
DEFAULT_INTERVAL_S = 300.0  # CGM sensors in common use report every 5 minutes
MAX_GAP_S = 15 * 60  # International Consensus (Battelino 2019): gaps >15 min are not bridged

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Clean:
    """Sorted readings with duplicate timestamps merged (their mean kept)."""

    times_us: IntArray
    values: FloatArray
    duplicates: int  # how many readings were merged into another at the same instant


def clean(times_us: npt.ArrayLike, values: npt.ArrayLike) -> Clean:
    """Sort by time, drop NaN values and merge readings that share a timestamp.

    Two devices (or a replayed export) may report the same instant; counting
    both would weight that instant twice, so they become one reading with
    their mean value.
    """
    t = np.asarray(times_us, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if t.shape != v.shape or t.ndim != 1:
        raise ValueError("times and values must be one-dimensional arrays of the same length")
    keep = ~np.isnan(v)
    t, v = t[keep], v[keep]
    if t.size > 1 and not bool(np.all(t[1:] > t[:-1])):
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        unique_t, first, counts = np.unique(t, return_index=True, return_counts=True)
        if unique_t.size != t.size:
            v = np.add.reduceat(v, first) / counts
            return Clean(unique_t.astype(np.int64), v, int(t.size - unique_t.size))
    return Clean(t, v, 0)


def nominal_interval_s(times_us: IntArray) -> float:
    """The sensor's sampling interval: the median spacing, rounded to whole seconds."""
    if times_us.size < 2:
        return DEFAULT_INTERVAL_S
    spacing = np.diff(times_us) / US_PER_S
    return float(min(max(round(float(np.median(spacing))), 1.0), MAX_GAP_S))


def coverage_s(times_us: IntArray, interval_s: float | None = None) -> FloatArray:
    """Seconds of time each reading stands for.

    A reading covers the time until the next one.  Where the next reading is
    more than 15 minutes away, the gap is excluded rather than interpolated
    (International Consensus on Time in Range, Battelino et al., Diabetes Care
    2019): the reading then covers one nominal sampling interval, as the last
    reading does.
    """
    n = times_us.size
    nominal = nominal_interval_s(times_us) if interval_s is None else interval_s
    out = np.full(n, nominal, dtype=np.float64)
    if n > 1:
        spacing = np.diff(times_us) / US_PER_S
        out[:-1] = np.where(spacing <= MAX_GAP_S, spacing, nominal)
    return out


def gap_after(times_us: IntArray) -> BoolArray:
    """True where the next reading is more than 15 minutes later (or there is none)."""
    out = np.ones(times_us.size, dtype=bool)
    if times_us.size > 1:
        out[:-1] = np.diff(times_us) > MAX_GAP_S * US_PER_S
    return out


def _offset_s(zone: ZoneInfo, t_s: int) -> int:
    offset = datetime.fromtimestamp(t_s, UTC).astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def utc_offsets_s(times_us: IntArray, tz: str | ZoneInfo) -> IntArray:
    """The zone's UTC offset (seconds) at each instant, DST changes included."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    if times_us.size == 0:
        return np.empty(0, dtype=np.int64)
    t_s = times_us // US_PER_S
    lo, hi = int(t_s.min()), int(t_s.max())
    samples = list(range(lo, hi, S_PER_DAY)) + [hi]
    offsets = [_offset_s(zone, s) for s in samples]
    out = np.full(times_us.size, offsets[0], dtype=np.int64)
    for a, b, before, after in zip(samples, samples[1:], offsets, offsets[1:], strict=False):
        if before == after:
            continue
        # bisect for the first second at which the new offset applies
        while b - a > 1:
            mid = (a + b) // 2
            if _offset_s(zone, mid) == before:
                a = mid
            else:
                b = mid
        out[t_s >= b] = after
    return out


def local_seconds(times_us: IntArray, tz: str | ZoneInfo) -> IntArray:
    """Wall-clock seconds since 1970-01-01 00:00 local (a 'naive local epoch')."""
    return times_us // US_PER_S + utc_offsets_s(times_us, tz)


def local_day_and_minute(times_us: IntArray, tz: str | ZoneInfo) -> tuple[IntArray, FloatArray]:
    """Local calendar day (days since 1970-01-01) and minute of the day for each instant."""
    local = local_seconds(times_us, tz)
    day = local // S_PER_DAY
    minute = (local - day * S_PER_DAY) / S_PER_MIN
    return day.astype(np.int64), minute.astype(np.float64)


def day_label(day: int) -> str:
    """ISO date of a local day number."""
    return (datetime(1970, 1, 1) + timedelta(days=int(day))).date().isoformat()
