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
