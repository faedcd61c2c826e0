"""CGM trend arrows: the rate of change between consecutive sensor readings.

Bands (mg/dL per minute), as the Dexcom G6 CGM System User Guide defines its
trend arrows and as Nightscout names them (cgm-remote-monitor ``direction``):

    |rate| <= 1: Flat ("not rising or falling more than 1 mg/dL/min")
    1 < |rate| <= 2: FortyFiveUp / FortyFiveDown
    2 < |rate| <= 3: SingleUp / SingleDown
    |rate| > 3: DoubleUp / DoubleDown

An arrow needs two readings close together: ``MAX_GAP`` (15 minutes, three
missed 5-minute readings) is Hearth's own choice, named here; beyond it, or with
fewer than two readings, the direction is ``NONE`` (also a Nightscout value).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

MAX_GAP = timedelta(minutes=15)
ARROWS = {
    "DoubleUp": "⇈", "SingleUp": "↑", "FortyFiveUp": "↗", "Flat": "→",
    "FortyFiveDown": "↘", "SingleDown": "↓", "DoubleDown": "⇊", "NONE": "",
}


def direction_for_rate(rate_per_min: float) -> str:
    """The arrow for a rate of change in mg/dL per minute (Dexcom G6 bands, symmetric)."""
    magnitude = abs(rate_per_min)
    if magnitude <= 1:
        return "Flat"
    band = "FortyFive" if magnitude <= 2 else "Single" if magnitude <= 3 else "Double"
    return band + ("Up" if rate_per_min > 0 else "Down")


def direction(previous: tuple[datetime, float] | None, current: tuple[datetime, float],
              *, max_gap: timedelta = MAX_GAP) -> str:
    """The arrow from the reading before to this one, ``NONE`` when there is no usable pair."""
    if previous is None:
        return "NONE"
    gap = current[0] - previous[0]
    if gap <= timedelta(0) or gap > max_gap:
        return "NONE"
    return direction_for_rate((current[1] - previous[1]) / (gap.total_seconds() / 60))


def directions(series: Sequence[tuple[datetime, float]], *, max_gap: timedelta = MAX_GAP
               ) -> list[str]:
    """The arrow at each reading of an ascending series."""
    return [direction(series[i - 1] if i else None, point, max_gap=max_gap)
            for i, point in enumerate(series)]


# docs/CLINICAL.md "Glucose": a fall of 3 mg/dL/min or more (Dexcom's fall-rate alert;
# Nightscout's DoubleDown), held over the last 15 minutes so one noisy pair is not a fall.
FAST_FALL_MG_DL_MIN = 3.0
FAST_FALL_WINDOW_S = 15 * 60


def fast_fall(times_us: Sequence[int], values: Sequence[float]) -> tuple[float, int] | None:
    """``(rate, start_us)`` when CGM glucose has fallen at >=3 mg/dL/min over the last 15
    minutes (the least-squares slope of every reading in that window, which must hold at
    least three readings spanning 10 minutes or more); ``start_us`` is where the fall began
    (the last reading before which glucose was not falling), so that one fall keeps one
    start however long it lasts. None otherwise."""
    n = len(times_us)
    if n < 3:
        return None
    newest = times_us[-1]
    first = n - 1
    while first > 0 and newest - times_us[first - 1] <= FAST_FALL_WINDOW_S * 1_000_000:
        first -= 1
    ts = [(t - newest) / 60_000_000 for t in times_us[first:]]
    vs = list(values[first:])
    if len(ts) < 3 or ts[-1] - ts[0] < 10:
        return None
    mean_t, mean_v = sum(ts) / len(ts), sum(vs) / len(vs)
    slope = sum((t - mean_t) * (v - mean_v) for t, v in zip(ts, vs, strict=True)) / sum(
        (t - mean_t) ** 2 for t in ts)
    if slope > -FAST_FALL_MG_DL_MIN:
        return None
    return slope, descent_start(times_us, values)


# A rise this small between two readings is sensor noise, not the end of a descent
# (Hearth's choice, about the noise of one CGM reading; docs/COACH.md "Episodes").
DESCENT_NOISE_MG_DL = 3.0


def descent_start(times_us: Sequence[int], values: Sequence[float]) -> int:
    """When the descent that ends with the newest reading began: the highest reading before
    it, walking back until glucose is more than ``DESCENT_NOISE_MG_DL`` below the highest
    seen so far (the other side of the hill) or a pause longer than ``MAX_GAP``. One fall,
    however long, keeps one start; a rebound and a new fall get a new one
    (coach/episodes.py)."""
    peak = len(times_us) - 1
    k = peak
    gap_us = MAX_GAP.total_seconds() * 1_000_000
    while k > 0 and times_us[k] - times_us[k - 1] <= gap_us:
        k -= 1
        if values[k] < values[peak] - DESCENT_NOISE_MG_DL:
            break
        if values[k] > values[peak]:
            peak = k
    return int(times_us[peak])
