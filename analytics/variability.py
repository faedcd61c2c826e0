"""Glycaemic variability indices clinicians ask for beyond SD and CV: MAGE and MODD."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from analytics.timebase import US_PER_S, FloatArray, IntArray

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Mage:
    """Mean Amplitude of Glycemic Excursions (Service FJ et al., Diabetes 1970;19:644-655).

    Excursions are the rises and falls between successive turning points that
    exceed one SD of all readings.  Following Service, the MAGE counts the
    excursions in the direction of the first valid one; ``up`` and ``down``
    give both directions (MAGE+ and MAGE-).  Computed over the whole period.
    """

    value: float  # mg/dL; NaN when there is no excursion larger than 1 SD
    up: float
    down: float
    sd: float  # the threshold used
    pivots: tuple[float, ...]  # the turning points (evidence)


def _turning_points(v: FloatArray) -> FloatArray:
    """Local maxima and minima (plateaus collapsed), plus both ends."""
    if v.size < 3:
        return v
    keep = np.r_[True, v[1:] != v[:-1]]
    w = v[keep]
    if w.size < 3:
        return w
    d = np.sign(np.diff(w))
    turn = np.flatnonzero(d[1:] != d[:-1]) + 1
    return w[np.r_[0, turn, w.size - 1]]


def _pivots(points: FloatArray, sd: float) -> list[float]:
    """Zig-zag filter: keep turning points whose swing from the previous one is >= sd."""
    pivots: list[float] = []
    lo = hi = float(points[0])
    trend = 0
    cand = lo
    for x in points[1:].tolist():
        if trend == 0:
            lo, hi = min(lo, x), max(hi, x)
            if x - lo >= sd:
                pivots.append(lo)
                trend, cand = 1, x
            elif hi - x >= sd:
                pivots.append(hi)
                trend, cand = -1, x
        elif trend == 1:
            if x > cand:
                cand = x
            elif cand - x >= sd:
                pivots.append(cand)
                trend, cand = -1, x
        elif x < cand:
            cand = x
        elif x - cand >= sd:
            pivots.append(cand)
            trend, cand = 1, x
    if trend != 0:
        pivots.append(cand)
    return pivots


def mage(values: FloatArray, sd: float | None = None) -> Mage:
    """MAGE of time-ordered values (mg/dL); ``sd`` defaults to the sample SD of the values."""
    threshold = float(np.std(values, ddof=1)) if sd is None and values.size > 1 else (sd or 0.0)
    if values.size < 2 or threshold <= 0:
        return Mage(float("nan"), float("nan"), float("nan"), threshold, ())
    pivots = _pivots(_turning_points(values), threshold)
    swings = np.diff(np.asarray(pivots))
    if swings.size == 0:
        return Mage(float("nan"), float("nan"), float("nan"), threshold, tuple(pivots))
    ups, downs = swings[swings > 0], -swings[swings < 0]
    up = float(ups.mean()) if ups.size else float("nan")
    down = float(downs.mean()) if downs.size else float("nan")
    return Mage(up if swings[0] > 0 else down, up, down, threshold, tuple(pivots))


@dataclass(frozen=True, slots=True)
class Modd:
    """Mean Of Daily Differences (Molnar GD et al., Diabetologia 1972;8:342-348).

    The mean absolute difference between each reading and the reading 24 hours
    earlier (matched within half a sampling interval).
    """

    value: float  # mg/dL; NaN when no reading has a partner 24 h earlier
    pairs: int


def modd(times_us: IntArray, values: FloatArray, *, interval_s: float = 300.0) -> Modd:
    """MODD over clean readings (sorted, unique)."""
    if values.size < 2:
        return Modd(float("nan"), 0)
    target = times_us - 86_400 * US_PER_S
    idx = np.clip(np.searchsorted(times_us, target), 1, times_us.size - 1)
    left, right = idx - 1, idx
    nearest = np.where(target - times_us[left] <= times_us[right] - target, left, right)
    ok = np.abs(times_us[nearest] - target) <= interval_s / 2 * US_PER_S
    ok &= times_us[nearest] < times_us  # a real earlier partner
    if not ok.any():
        return Modd(float("nan"), 0)
    diffs = np.abs(values[ok] - values[nearest[ok]])
    return Modd(float(diffs.mean()), int(ok.sum()))
