"""Personal bests in the joint record of achievements (issue 23): when a finished period of
a goal beats every earlier period of that goal, the record gets an entry by itself, beside
"goal met", for both sides to see and confirm (docs/DESIGN.md §5: keep joint records of
achievement and show progress back to the patient).

What counts as the period's figure, per kind of goal:

- daily steps: the best day of the period (most steps in a day);
- time in range: the period's time in range;
- every count (weigh-ins, BP pairs, fasting checks, doses, days done): the period's count.

A best needs an earlier period to beat (the first week is a start, not a best) and a
figure above zero; a tie is not a best. Nothing here is a clinical threshold: a best is
the person's own figure against her own earlier ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from care.goals import GOAL_KINDS, GoalKind, Measured
from core.appdb.plans import Achievement, Goal, GoalProgress

logger = logging.getLogger(__name__)

PERSONAL_BEST = "personal_best"


@dataclass(frozen=True, slots=True)
class Best:
    value: float
    title: str  # plain words, for the joint record


def figure(kind: GoalKind, achieved: float, per_day: tuple[float, ...] | list[float]) -> float:
    """The one number of a period that a best is judged on."""
    if kind is GoalKind.STEPS:
        return float(max(per_day, default=0.0))
    return float(achieved)


def words(kind: GoalKind, value: float, unit: str) -> str:
    if kind is GoalKind.STEPS:
        return f"Personal best: {value:,.0f} steps in a day"
    if kind is GoalKind.TIME_IN_RANGE:
        return f"Personal best: {value:.0f}% time in range over a week"
    spec = GOAL_KINDS.get(kind)
    if spec is not None and spec.per_day:  # BP pairs, doses: the days the day's target was met
        return f"Personal best: {value:g} days on target in a week"
    what = unit.split("/")[0] or "days"  # mornings/week, days/week
    return f"Personal best: {value:g} {what} in a week"


def personal_best(kind: GoalKind, measured: Measured,
                  earlier: list[tuple[float, list[float]]]) -> Best | None:
    """A best if this period's figure beats every earlier period's (None otherwise).
    ``earlier``: (achieved, per_day) of each earlier finished period."""
    if not earlier:
        return None
    value = figure(kind, measured.achieved, measured.per_day)
    before = max(figure(kind, a, per_day) for a, per_day in earlier)
    if value <= 0 or value <= before:
        return None
    return Best(value, words(kind, value, measured.unit))


def record_personal_best(session: Session, goal: Goal, measured: Measured, *,
                         period_index: int, achieved_at: datetime) -> Achievement | None:
    """Add a personal best of this finished period of ``goal`` to the joint record (in the
    caller's session; the caller has not yet written this period's snapshot)."""
    rows = session.execute(select(GoalProgress.achieved, GoalProgress.evidence)
                           .where(GoalProgress.goal_id == goal.id,
                                  GoalProgress.period_index < period_index)).all()
    earlier = [(float(a), list(_per_day(evidence))) for a, evidence in rows]
    best = personal_best(GoalKind(goal.kind), measured, earlier)
    if best is None:
        return None
    from care.plans import new_id  # the same ids as the rest of the record

    entry = Achievement(
        id=new_id(), patient_id=goal.patient_id, goal_id=goal.id, kind=PERSONAL_BEST,
        title=best.title[:200], detail=measured.summary, achieved_at=achieved_at,
        recorded_by="system",
        evidence={"period_index": period_index, "value": best.value,
                  "previous_best": max(figure(GoalKind(goal.kind), a, d) for a, d in earlier)})
    session.add(entry)
    logger.info("goal %s period %d: a personal best", goal.id, period_index)
    return entry


def _per_day(evidence: dict[str, Any] | None) -> list[float]:
    return [float(x) for x in (evidence or {}).get("per_day", [])]
