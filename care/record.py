"""The joint record of achievements as one page the patient owns (issue 21): goals met and
personal bests (the joint record of care/plans.py and care/bests.py), her goals and how
often each was met, the stories she shared, the outcomes that matter to her rated over
time (care/outcomes.py), her WHO-5 wellbeing scores (care/wellbeing.py), and a summary of
her readings beside them. Exported as PDF (care/record_pdf.py) and as a FHIR R4 Bundle
(care/record_fhir.py).

Who sees which part is decided here from what the dashboard already authorised
(dashboard/security.py, audited): the patient and her care team see every part; a
caregiver reads the record by the patient's "goals" share and sees the readings only with
her "readings" share, and never her own words about outcomes or her wellbeing scores
(neither is a scope she shares). Stories are listed only where the reader may read them
under their author's consent (care/stories.py ``readable``). Nothing here is a clinical
threshold except the glucose range of the readings summary (docs/CLINICAL.md "Glucose":
70-180 mg/dL, Battelino 2019).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from analytics import targets as tg
from care import outcomes, wellbeing
from care import plans as coach_plans
from care.goals import GoalKind, goal_text
from care.stories import Reader, readable
from core.appdb.plans import Goal, GoalProgress
from core.appdb.stories import Story, StoryMark
from core.clock import aware
from core.metrics import CATALOGUE, Metric
from core.readings import Reading

SHOWN_GOALS = ("active", "paused", "done", "retired", "stopped")
SUMMARY_DAYS = 30  # the readings summary covers the last 30 days (a page, not a report)


@dataclass(frozen=True, slots=True)
class GoalLine:
    id: str
    text: str
    behaviour: str
    status: str
    periods: int  # finished periods evaluated
    met: int  # of which met
    last_met: bool | None  # the latest finished period, None before the first
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SharedStory:
    id: str
    title: str
    audience: str
    helped: int  # "this helped me" marks
    shared_at: datetime


@dataclass(frozen=True, slots=True)
class ReadingSummary:
    metric: str
    label: str
    unit: str
    readings: int
    mean: float
    latest: float
    latest_at: datetime
    in_range: float | None = None  # glucose: % of readings 70-180 mg/dL


@dataclass(frozen=True, slots=True)
class JointRecord:
    patient_id: str
    name: str
    made_at: datetime
    achievements: tuple[dict[str, Any], ...]
    goals: tuple[GoalLine, ...]
    stories: tuple[SharedStory, ...]
    outcomes: tuple[outcomes.RatedOutcome, ...] | None  # None: not this reader's to see
    wellbeing: tuple[wellbeing.Who5, ...] | None
    readings: tuple[ReadingSummary, ...] | None

    @property
    def goals_met(self) -> tuple[dict[str, Any], ...]:
        return tuple(a for a in self.achievements if a["kind"] == "goal_met")

    @property
    def bests(self) -> tuple[dict[str, Any], ...]:
        return tuple(a for a in self.achievements if a["kind"] == "personal_best")


def goal_lines(session: Session, patient_id: str) -> list[GoalLine]:
    goals = list(session.scalars(select(Goal).where(Goal.patient_id == patient_id,
                                                    Goal.status.in_(SHOWN_GOALS))
                                 .order_by(Goal.created_at, Goal.id)))
    if not goals:
        return []
    progress: dict[str, list[bool]] = {}
    for goal_id, met in session.execute(
            select(GoalProgress.goal_id, GoalProgress.met)
            .where(GoalProgress.goal_id.in_([g.id for g in goals]))
            .order_by(GoalProgress.period_index)):
        progress.setdefault(goal_id, []).append(bool(met))
    out = []
    for goal in goals:
        done = progress.get(goal.id, [])
        out.append(GoalLine(goal.id, _goal_words(goal), goal.behaviour, goal.status, len(done),
                            sum(done), done[-1] if done else None, aware(goal.created_at)))
    return out


def _goal_words(goal: Goal) -> str:
    try:
        return goal_text(GoalKind(goal.kind), goal.target, goal.days_required, goal.description)
    except (KeyError, ValueError):
        return goal.description or goal.kind.replace("_", " ")


def shared_stories(session: Session, patient_id: str, reader: Reader) -> list[SharedStory]:
    """Her approved, not withdrawn stories that this reader may read (their consent)."""
    helped = (select(StoryMark.story_id, func.count().label("n"))
              .group_by(StoryMark.story_id).subquery())
    rows = session.execute(
        select(Story, func.coalesce(helped.c.n, 0))
        .outerjoin(helped, helped.c.story_id == Story.id)
        .where(Story.author_patient_id == patient_id,
               and_(Story.state == "approved", Story.revoked_at.is_(None)), readable(reader))
        .order_by(Story.created_at, Story.id))
    return [SharedStory(s.id, s.title, s.audience, int(n),
                        aware(s.moderated_at or s.created_at)) for s, n in rows]


def readings_summary(readings: Iterable[Reading]) -> list[ReadingSummary]:
    """Per metric: how many readings, their mean and the latest; glucose also the share of
    readings in 70-180 mg/dL (docs/CLINICAL.md "Glucose"). Systolic and diastolic apart."""
    by_metric: dict[Metric, list[Reading]] = {}
    for r in readings:
        if CATALOGUE[r.metric].loinc is not None:
            by_metric.setdefault(r.metric, []).append(r)
    out = []
    for metric in Metric:
        found = sorted(by_metric.get(metric, []), key=lambda r: r.measured_at)
        if not found:
            continue
        values = [r.value for r in found]
        spec = CATALOGUE[metric]
        in_range = None
        if metric is Metric.GLUCOSE:
            inside = sum(1 for v in values
                         if tg.GLUCOSE_LOW_BELOW <= v <= tg.GLUCOSE_HIGH_ABOVE)
            in_range = 100.0 * inside / len(values)
        out.append(ReadingSummary(str(metric), spec.description.split(";")[0],
                                  spec.display_unit, len(values), statistics.fmean(values),
                                  values[-1], found[-1].measured_at, in_range))
    return out


def build(session: Session, *, patient_id: str, name: str, reader: Reader, private: bool,
          readings: Sequence[Reading] | None, now: datetime) -> JointRecord:
    """The record as ``reader`` may see it. ``private``: her outcomes and wellbeing scores
    too (the patient and her care team); ``readings``: the period's readings to summarise,
    or None when this reader may not see them."""
    return JointRecord(
        patient_id=patient_id, name=name, made_at=now,
        achievements=coach_plans.record_view(session, patient_id),
        goals=tuple(goal_lines(session, patient_id)),
        stories=tuple(shared_stories(session, patient_id, reader)),
        outcomes=tuple(outcomes.history(session, patient_id)) if private else None,
        wellbeing=tuple(wellbeing.history(session, patient_id)) if private else None,
        readings=tuple(readings_summary(readings)) if readings is not None else None)


def share_with_care_team(session: Session, *, patient_id: str, author_id: str,
                         author_name: str, link: str, now: datetime) -> str:
    """The patient hands her record to her care team: a message in the thread with her
    coach (care/conversation.py), pointing at the page (they read it there, audited).
    Returns the coach's account id, or "care_team" when her plan names no coach."""
    from core.appdb.delivery import InboxMessage

    plan = coach_plans.current_plan(session, patient_id)
    coach_id = plan.coach_id if plan and plan.coach_id else "care_team"
    session.add(InboxMessage(
        recipient_key=coach_id, recipient_role="coach", patient_id=patient_id,
        kind="message", priority="normal", flag_type="message",
        title=f"Message from {author_name}",
        body=f"I have shared my joint record of achievements with you: {link}",
        why="A personal message.",
        evidence={"author_id": author_id, "author_name": author_name, "joint_record": True},
        ref=author_id, created_at=now))
    session.flush()
    return coach_id
