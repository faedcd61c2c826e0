"""Pulse oximetry: time below the patient's own target, the lowest values, night-time dips.

docs/CLINICAL.md "Pulse oximetry": SpO2 <92%, or below the patient's prescribed target (often
88-92% in COPD: O'Driscoll BR et al., BTS guideline for oxygen use in adults,
Thorax 2017;72:i1-i90), is a warning sign.  Time is weighted as for CGM:
each reading covers the time until the next, gaps over 15 minutes excluded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.targets import SPO2_URGENT_AT_OR_BELOW
from analytics.timebase import (
    US_PER_S,
    clean,
    coverage_s,
    day_label,
    gap_after,
    local_day_and_minute,
)

logger = logging.getLogger(__name__)

# docs/CLINICAL.md "Pulse oximetry (SpO2)": urgent at or below 92% without a lower target
DEFAULT_TARGET = SPO2_URGENT_AT_OR_BELOW
# Hearth's choice of "night" (no guideline fixes one): 22:00-07:00 local, which
# holds the usual sleep of older adults; the coach may pass a patient's own hours.
NIGHT_START_MIN = 22 * 60
NIGHT_END_MIN = 7 * 60


@dataclass(frozen=True, slots=True)
class LowValue:
    time_us: int
    value: float


@dataclass(frozen=True, slots=True)
class Dip:
    """Consecutive night-time readings below target (no gap over 15 min inside)."""

    night_of: str  # the local date the night began on
    start_us: int
    end_us: int  # end of the last low reading's coverage
    nadir: float
    readings: int

    @property
    def duration_min(self) -> float:
        return (self.end_us - self.start_us) / US_PER_S / 60.0


@dataclass(frozen=True, slots=True)
class Spo2Summary:
    target: float
    readings: int
    percent_time_below: float
    percent_readings_below: float
    minutes_below: float
    lowest: tuple[LowValue, ...]  # up to five lowest readings, lowest first
    night_dips: tuple[Dip, ...]
    nights_with_dips: int


def spo2_summary(
    times_us: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    target: float = DEFAULT_TARGET,
    tz: str = "UTC",
    lowest: int = 5,
) -> Spo2Summary:
    data = clean(times_us, values)
    t, v = data.times_us, data.values
    if v.size == 0:
        raise ValueError("no SpO2 readings to analyse")
    w = coverage_s(t)
    below = v < target
    order = np.argsort(v, kind="stable")[:lowest]
    dips = _night_dips(t, v, w, below, tz)
    return Spo2Summary(
        target=target,
        readings=int(v.size),
        percent_time_below=float(100.0 * w[below].sum() / w.sum()),
        percent_readings_below=float(100.0 * below.mean()),
        minutes_below=float(w[below].sum() / 60.0),
        lowest=tuple(LowValue(int(t[i]), float(v[i])) for i in order),
        night_dips=dips,
        nights_with_dips=len({d.night_of for d in dips}),
    )


def _night_dips(
    t: npt.NDArray[np.int64],
    v: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    below: npt.NDArray[np.bool_],
    tz: str,
) -> tuple[Dip, ...]:
    day, minute = local_day_and_minute(t, tz)
    night = (minute >= NIGHT_START_MIN) | (minute < NIGHT_END_MIN)
    night_of = day - (minute < NIGHT_END_MIN)  # after midnight belongs to the evening before
    low = below & night
    brk = np.r_[True, (low[1:] != low[:-1]) | gap_after(t)[:-1]]
    starts = np.flatnonzero(brk)
    stops = np.r_[starts[1:], t.size]
    return tuple(
        Dip(
            day_label(int(night_of[a])),
            int(t[a]),
            int(t[b - 1] + w[b - 1] * US_PER_S),
            float(v[a:b].min()),
            int(b - a),
        )
        for a, b in zip(starts, stops, strict=True)
        if low[a]
    )
