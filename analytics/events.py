"""Hypo- and hyperglycaemic events by the consensus rule.

An event starts after at least 15 consecutive minutes beyond the threshold and
ends after at least 15 consecutive minutes back on the other side of it
(Battelino et al., Diabetes Care 2019, International Consensus on Time in
Range; Danne et al., Diabetes Care 2017 for levels 1 and 2).  Level 1: <70 or
>180 mg/dL; level 2: <54 or >250 mg/dL.  Prolonged ("extended") events last at
least 120 minutes (Battelino et al., Lancet Diabetes Endocrinol 2023: extended
hypoglycaemia is >120 consecutive minutes <54 mg/dL).

A gap of more than 15 minutes is not bridged: an event that runs into a gap
ends at the last reading before it (``ended="gap"``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from analytics import targets as tg
from analytics.timebase import US_PER_S, BoolArray, FloatArray, IntArray, gap_after

logger = logging.getLogger(__name__)

MIN_EVENT_S = 15 * 60  # Battelino 2019: >=15 consecutive minutes to start and to end
PROLONGED_S = 120 * 60  # Battelino 2023: extended events, >=120 minutes


class EventKind(StrEnum):
    HYPO = "hypo"
    HYPER = "hyper"


@dataclass(frozen=True, slots=True)
class GlucoseEvent:
    kind: EventKind
    level: int  # 1 (<70 / >180) or 2 (<54 / >250)
    threshold: float  # mg/dL
    start_us: int  # first reading beyond the threshold
    end_us: int  # first reading of the 15-minute recovery, or the end of data before a gap
    extreme: float  # nadir of a hypo, peak of a hyper (mg/dL)
    extreme_us: int
    ended: str  # "recovered", "gap" (data stopped for >15 min) or "ongoing" (data ends)

    @property
    def duration_min(self) -> float:
        return (self.end_us - self.start_us) / US_PER_S / 60.0

    @property
    def prolonged(self) -> bool:
        return self.duration_min * 60 >= PROLONGED_S


# (kind, level, threshold): the four consensus event definitions
DEFINITIONS: tuple[tuple[EventKind, int, float], ...] = (
    (EventKind.HYPO, 1, tg.GLUCOSE_LOW_BELOW),
    (EventKind.HYPO, 2, tg.GLUCOSE_VERY_LOW_BELOW),
    (EventKind.HYPER, 1, tg.GLUCOSE_HIGH_ABOVE),
    (EventKind.HYPER, 2, tg.GLUCOSE_VERY_HIGH_ABOVE),
)


@dataclass(frozen=True, slots=True)
class _Runs:
    starts: IntArray  # index of the first reading of each run
    ends: IntArray  # index after the last reading
    beyond: BoolArray  # is the run beyond the threshold
    seconds: FloatArray  # time the run covers
    gap_after: BoolArray  # the run is followed by a gap (or the end of data)


def _runs(mask: BoolArray, weights_s: FloatArray, gaps: BoolArray) -> _Runs:
    n = mask.size
    brk = np.ones(n, dtype=bool)
    brk[1:] = (mask[1:] != mask[:-1]) | gaps[:-1]
    starts = np.flatnonzero(brk)
    ends = np.append(starts[1:], n)
    return _Runs(starts, ends, mask[starts], np.add.reduceat(weights_s, starts), gaps[ends - 1])


def detect_events(
    times_us: IntArray,
    values: FloatArray,
    weights_s: FloatArray,
    *,
    kind: EventKind,
    level: int,
    threshold: float,
) -> list[GlucoseEvent]:
    """Events of one definition over clean readings (sorted, unique, mg/dL)."""
    if values.size == 0:
        return []
    mask = values < threshold if kind is EventKind.HYPO else values > threshold
    runs = _runs(mask, weights_s, gap_after(times_us))
    events: list[GlucoseEvent] = []
    first: int | None = None  # run index where the open event started
    for k in range(runs.starts.size):
        if first is not None and runs.gap_after[k - 1]:
            events.append(
                _event(times_us, values, weights_s, runs, first, k, "gap", kind, level, threshold)
            )
            first = None
        if first is None:
            if runs.beyond[k] and runs.seconds[k] >= MIN_EVENT_S:
                first = k
        elif not runs.beyond[k] and runs.seconds[k] >= MIN_EVENT_S:
            events.append(
                _event(
                    times_us, values, weights_s, runs, first, k, "recovered", kind, level, threshold
                )
            )
            first = None
    if first is not None:
        events.append(
            _event(
                times_us,
                values,
                weights_s,
                runs,
                first,
                runs.starts.size,
                "ongoing",
                kind,
                level,
                threshold,
            )
        )
    return events


def _event(
    t: IntArray,
    v: FloatArray,
    w: FloatArray,
    runs: _Runs,
    first: int,
    stop: int,
    ended: str,
    kind: EventKind,
    level: int,
    threshold: float,
) -> GlucoseEvent:
    lo = int(runs.starts[first])
    if ended == "recovered":
        hi = int(runs.starts[stop])
        end_us = int(t[hi])
    else:  # the event ends with its last reading's coverage
        hi = int(runs.ends[stop - 1])
        end_us = int(t[hi - 1] + w[hi - 1] * US_PER_S)
    window = v[lo:hi]
    at = int(np.argmin(window) if kind is EventKind.HYPO else np.argmax(window))
    return GlucoseEvent(
        kind, level, threshold, int(t[lo]), end_us, float(window[at]), int(t[lo + at]), ended
    )


def all_events(times_us: IntArray, values: FloatArray, weights_s: FloatArray) -> list[GlucoseEvent]:
    """Level 1 and 2 hypo- and hyperglycaemic events, ordered by start time."""
    found = [
        event
        for kind, level, threshold in DEFINITIONS
        for event in detect_events(
            times_us, values, weights_s, kind=kind, level=level, threshold=threshold
        )
    ]
    return sorted(found, key=lambda e: (e.start_us, e.kind, e.level))


@dataclass(frozen=True, slots=True)
class EventSummary:
    """Counts per definition; the events themselves are the evidence."""

    hypo_level1: int
    hypo_level2: int
    hyper_level1: int
    hyper_level2: int
    prolonged_hypo: int  # level 2 hypo lasting >=120 min
    prolonged_hyper: int  # level 2 hyper lasting >=120 min
    events: tuple[GlucoseEvent, ...]


def summarise_events(events: list[GlucoseEvent]) -> EventSummary:
    def count(kind: EventKind, level: int) -> int:
        return sum(1 for e in events if e.kind is kind and e.level == level)

    def prolonged(kind: EventKind) -> int:
        return sum(1 for e in events if e.kind is kind and e.level == 2 and e.prolonged)

    return EventSummary(
        count(EventKind.HYPO, 1),
        count(EventKind.HYPO, 2),
        count(EventKind.HYPER, 1),
        count(EventKind.HYPER, 2),
        prolonged(EventKind.HYPO),
        prolonged(EventKind.HYPER),
        tuple(events),
    )


def episode_start(times_us: IntArray, values: FloatArray, *, threshold: float) -> int | None:
    """The start (epoch us) of the episode below ``threshold`` that the newest reading is in,
    or None when the newest reading is not below it.

    An episode ends once no reading has been below the threshold for more than 15 minutes
    (Battelino 2019: >=15 minutes back above the threshold ends an event; a gap in the data
    ends it too, since nobody knows what happened in it), docs/CLINICAL.md "Glucose". So
    the alerts about one episode share its start, and a low that clears and comes back is
    a new episode with a new start (coach/episodes.py)."""
    below = np.flatnonzero(values < threshold)
    if below.size == 0 or below[-1] != values.size - 1:
        return None
    elapsed = np.diff(times_us[below])
    breaks = np.flatnonzero(elapsed > MIN_EVENT_S * US_PER_S)
    first = int(below[breaks[-1] + 1]) if breaks.size else int(below[0])
    return int(times_us[first])
