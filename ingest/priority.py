"""Which readings take the priority lane: a cheap test on each reading, no store read.

A reading is *safety-class* when it is recent (at most ``RECENT`` old: the urgent
rules read only the newest reading of the last 15 minutes) and any of:

- glucose below 70 mg/dL (level 1 hypoglycaemia, analytics/cgm.py ``LOW_BELOW``),
  which covers the urgent low (<54) and the treatment advice (<70);
- glucose falling fast: the CGM trend arrow from the device's previous reading (at
  least ``MIN_GAP`` older) is ``DoubleDown`` (more than 3 mg/dL a minute,
  analytics/arrows.py);
- SpO2 at or below 92% (analytics/spo2.py ``DEFAULT_TARGET``; a patient with a lower
  prescribed target is covered: the lane is wider than any urgent rule);
- blood pressure at the hypertensive-crisis level, systolic >=180 or diastolic >=120
  mmHg (analytics/bp.py ``CRISIS_*``).

The thresholds and their sources are in docs/CLINICAL.md. The lane only decides
*order*: what is said, and to whom, is decided by the coach's rules and dispatcher,
so a test that lets a few extra readings through costs a little speed, never a
wrong message; one that misses a reading costs nothing either, as the batch's
ordinary stored event still reaches the coach, whose triage finds it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from analytics.arrows import direction
from analytics.bp import CRISIS_DIASTOLIC, CRISIS_SYSTOLIC
from analytics.cgm import LOW_BELOW
from analytics.spo2 import DEFAULT_TARGET as SPO2_URGENT_AT_OR_BELOW
from core.metrics import Metric


class _Timed(Protocol):  # a Reading, or a Measurement not yet bound to its patient
    @property
    def device_id(self) -> str: ...
    @property
    def metric(self) -> Metric: ...
    @property
    def value(self) -> float: ...
    @property
    def measured_at(self) -> datetime: ...


T = TypeVar("T", bound=_Timed)

RECENT = timedelta(minutes=15)  # the urgent rules' max_age_min (coach/rules/thresholds.py)
# A rate over less than a minute is rounding noise (0.1 mg/dL in 2 s reads as 3 mg/dL a
# minute); CGMs read every 1 to 5 minutes. Closer readings wait for an older anchor.
MIN_GAP = timedelta(minutes=1)
_REMEMBERED_DEVICES = 100_000  # newest glucose kept per CGM, for the fast-fall test


class PriorityTest:
    """Tells safety-class readings apart; remembers each device's newest glucose.

    Not thread-safe: the planner alone calls it.
    """

    def __init__(self, *, remembered: int = _REMEMBERED_DEVICES) -> None:
        self._last: OrderedDict[str, tuple[datetime, float]] = OrderedDict()
        self._remembered = remembered

    def select(self, readings: Iterable[T], now: datetime) -> list[T]:
        """The safety-class readings among ``readings`` (one message's, oldest first)."""
        chosen: list[T] = []
        for r in readings:
            metric = r.metric
            if metric is Metric.GLUCOSE:
                if self._glucose(r, now):
                    chosen.append(r)
            elif now - r.measured_at > RECENT:
                continue
            elif (metric is Metric.SPO2 and r.value <= SPO2_URGENT_AT_OR_BELOW) or \
                    (metric is Metric.SYSTOLIC and r.value >= CRISIS_SYSTOLIC) or \
                    (metric is Metric.DIASTOLIC and r.value >= CRISIS_DIASTOLIC):
                chosen.append(r)
        return chosen

    def _glucose(self, r: _Timed, now: datetime) -> bool:
        current = (r.measured_at, r.value)
        previous = self._last.get(r.device_id)
        if previous is not None and current[0] - previous[0] < MIN_GAP:
            previous = None  # too close for a rate: keep the older reading as the anchor
        elif previous is None or previous[0] < current[0]:
            self._last[r.device_id] = current
            self._last.move_to_end(r.device_id)
            if len(self._last) > self._remembered:
                self._last.popitem(last=False)
        if now - r.measured_at > RECENT:
            return False
        return r.value < LOW_BELOW or direction(previous, current) == "DoubleDown"
