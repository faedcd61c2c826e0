"""Person-centred plans: incremental goals agreed by patient and coach (issue 5, item 4).

A plan is drafted (usually from a self-assessment's starting point), then agreed
by both the patient and the coach; only then do its goals start. Each goal says
what the patient does and what the professional does. Progress is measured from
the readings (care/goals.py over the time-series store), one snapshot per
finished period; a met period is written to the joint record of achievements and
steps the goal up, a goal missed twice in a row steps down.

Functions take the SQLAlchemy session and the time-series store as arguments and
never commit: the caller owns the transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.trends import daily_values
from care import goals as g
from care.bests import record_personal_best
from care.goals import GOAL_KINDS, Behaviour, GoalKind, Measured
from core.appdb.models import Patient
from core.appdb.plans import Achievement, Goal, GoalChange, GoalProgress, Plan, SelfAssessment
from core.metrics import GlucoseMethod, Metric
from core.timeseries import TimeSeriesStore

logger = logging.getLogger(__name__)

Role = Literal["patient", "coach"]
BASELINE_DAYS = 14  # the fortnight before the plan sets a steps baseline
OPTIONS_PER_CHOICE = (2, 3)  # the coach offers two or three options; the patient picks one
SHOWN_STATUSES = ("offered", "proposed", "active", "paused")  # a plan's goals on the pages


class PlanError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class GoalDraft:
    """A goal as proposed; anything left None comes from the kind's defaults or the baseline."""

    kind: GoalKind
    target: float | None = None
    days_required: int | None = None
    behaviour: Behaviour | None = None
    patient_part: str | None = None
    professional_part: str | None = None
    what: str = ""  # self-reported goals: the action in the patient's words
    period_days: int = 7
    option_group: str | None = None  # goals offered as a choice share a group name


@dataclass(frozen=True, slots=True)
class GoalEvent:
    """What evaluating one finished period did (for positive nudges and the dashboard)."""

    goal_id: str
    patient_id: str
    period_index: int
    outcome: str  # see care.goals.Step
    met: bool
    old_target: float
    new_target: float
    measured: Measured
    achievement_id: str | None


@dataclass(frozen=True, slots=True)
class GoalView:
    goal_id: str
    behaviour: str
    kind: str
    text: str
    target: float
    unit: str
    days_required: int | None
    level: int
    status: str
    patient_part: str
    professional_part: str
    period_index: int
    current: Measured | None  # this period so far (None before it starts or self-reported)
    history: tuple[dict[str, Any], ...]  # finished periods, oldest first
    rule: str = ""  # the ladder in words at the current target
    changes: tuple[dict[str, Any], ...] = ()  # every change, newest first
    option_group: str | None = None
    amount: str = ""  # the target alone, in words
    report_period: int | None = None  # a self-reported goal's finished week to tick off ...
    report_days: tuple[date, ...] = ()  # ... and its days


@dataclass(frozen=True, slots=True)
class PlanView:
    plan_id: str
    patient_id: str
    coach_id: str | None
    focus: str
    status: str
    patient_agreed: bool
    coach_agreed: bool
    goals: tuple[GoalView, ...]
    achievements: tuple[dict[str, Any], ...] = field(default=())
    suggested_focus: str | None = None
    focus_reason: str = ""
    note: str = ""
    retired: tuple[GoalView, ...] = ()  # retired goals (and declined options), for the record

    @property
    def choices(self) -> dict[str, list[GoalView]]:
        """Option groups still waiting for the patient's pick."""
        out: dict[str, list[GoalView]] = {}
        for goal in self.goals:
            if goal.status == "offered" and goal.option_group:
                out.setdefault(goal.option_group, []).append(goal)
        return out


def new_id() -> str:
    return uuid.uuid4().hex


def patient_timezone(session: Session, patient_id: str) -> str:
    patient = session.get(Patient, patient_id)
    return patient.timezone if patient is not None and patient.timezone else "UTC"


# --- Drafting and agreeing --------------------------------------------------------------


def steps_baseline(store: TimeSeriesStore, patient_id: str, now: datetime, tz: str) -> float | None:
    """Median daily steps over the last full fortnight (None without data)."""
    end = datetime.combine(now.astimezone(ZoneInfo(tz)).date(), datetime.min.time(),
                           ZoneInfo(tz)).astimezone(UTC)
    series = store.read_series(patient_id, Metric.STEPS, end - timedelta(days=BASELINE_DAYS), end)
    if len(series) == 0:
        return None
    _, totals = daily_values(series.times_us, series.values, tz=tz, how="sum")
    return float(np.median(totals))


def draft_goal(draft: GoalDraft, *, baseline: float | None = None) -> dict[str, Any]:
    """The goal's columns: defaults filled in, target within the kind's bounds."""
    spec = GOAL_KINDS[draft.kind]
    target = draft.target
    if target is None:
        if draft.kind is GoalKind.STEPS and baseline is not None:
            target = round((baseline + spec.step) / 100.0) * 100.0  # "500 more steps a day"
        else:
            target = spec.minimum if draft.kind is not GoalKind.FASTING_CHECKS else 3.0
    if not spec.minimum <= target <= spec.maximum:
        raise PlanError(f"{draft.kind}: target {target} outside {spec.minimum}-{spec.maximum}")
    days_required = draft.days_required if draft.days_required is not None else spec.days_required
    if spec.per_day and not (days_required and 1 <= days_required <= draft.period_days):
        raise PlanError(f"{draft.kind}: days_required must be 1-{draft.period_days}")
    if draft.kind is GoalKind.SELF_REPORT and not draft.what:
        raise PlanError("a self-reported goal says what the patient will do ('what')")
    return {
        "behaviour": str(draft.behaviour or spec.behaviour),
        "kind": str(draft.kind),
        "metric": str(spec.metric) if spec.metric else None,
        "target": float(target),
        "unit": spec.unit,
        "period_days": draft.period_days,
        "days_required": days_required if spec.per_day else None,
        "step": spec.step,
        "target_min": spec.minimum,
        "target_max": spec.maximum,
        "baseline": baseline,
        "patient_part": draft.patient_part or spec.patient_part,
        "professional_part": draft.professional_part or spec.professional_part,
        "description": draft.what,
    }


def create_plan(
    session: Session,
    store: TimeSeriesStore,
    *,
    patient_id: str,
    coach_id: str | None,
    focus: Behaviour | str,
    goals: Sequence[GoalDraft],
    now: datetime,
    assessment_id: str | None = None,
    note: str = "",
    focus_reason: str = "",
) -> Plan:
    """A draft plan with its proposed goals; a steps goal without a target gets baseline + 500.

    Goals that share an ``option_group`` are offered as a choice of two or three: the
    patient picks one (``pick_option``) before agreeing. With ``assessment_id`` the
    check-in's starting point is kept with the plan; a plan that starts elsewhere needs
    the coach's ``focus_reason`` (recorded, and shown to the patient).
    """
    if not goals:
        raise PlanError("a plan has at least one goal")
    focus = Behaviour(focus)
    suggested = None
    if assessment_id is not None:
        assessment = session.get(SelfAssessment, assessment_id)
        if assessment is None or assessment.patient_id != patient_id:
            raise PlanError("no such check-in for this patient")
        suggested = assessment.focus
        if suggested != str(focus) and not focus_reason.strip():
            raise PlanError(f"the check-in suggested starting with {_words(suggested)}: say why "
                            f"the plan starts with {_words(str(focus))} instead")
    _check_choices(goals)
    tz = patient_timezone(session, patient_id)
    plan = Plan(id=new_id(), patient_id=patient_id, coach_id=coach_id, focus=str(focus),
                status="draft", note=note, assessment_id=assessment_id, created_at=now,
                suggested_focus=suggested, focus_reason=focus_reason.strip())
    session.add(plan)
    session.flush()  # the goals refer to it
    for i, draft in enumerate(goals):
        # goals are listed by created_at: a microsecond apart keeps the order they were drafted
        _new_goal(session, store, plan, draft, now=now + timedelta(microseconds=i), tz=tz)
    session.flush()
    logger.info("plan %s drafted for patient %s with %d goals", plan.id, patient_id, len(goals))
    return plan


def _words(behaviour: str) -> str:
    return behaviour.replace("_", " ")


def _check_choices(goals: Sequence[GoalDraft]) -> None:
    sizes: dict[str, int] = {}
    for draft in goals:
        if draft.option_group:
            sizes[draft.option_group] = sizes.get(draft.option_group, 0) + 1
    low, high = OPTIONS_PER_CHOICE
    for group, n in sizes.items():
        if not low <= n <= high:
            raise PlanError(f"a choice offers {low} or {high} options, not {n} ({group})")


def _new_goal(session: Session, store: TimeSeriesStore, plan: Plan, draft: GoalDraft, *,
              now: datetime, tz: str) -> Goal:
    baseline = (steps_baseline(store, plan.patient_id, now, tz)
                if draft.kind is GoalKind.STEPS else None)
    goal = Goal(id=new_id(), plan_id=plan.id, patient_id=plan.patient_id,
                status="offered" if draft.option_group else "proposed",
                option_group=draft.option_group, level=1, misses_in_row=0, evaluated_periods=0,
                created_at=now, updated_at=now, **draft_goal(draft, baseline=baseline))
    session.add(goal)
    return goal


def pick_option(session: Session, plan_id: str, goal_id: str, *, by: str,
                now: datetime) -> Goal:
    """The patient picks one of the goals offered as a choice; the others are declined."""
    plan = _plan(session, plan_id)
    goal = _goal(session, goal_id)
    if goal.plan_id != plan.id or goal.option_group is None:
        raise PlanError("this goal is not one of the plan's options")
    if plan.status != "draft":
        raise PlanError("options are picked before the plan is agreed")
    for other in _goals(session, plan.id):
        if other.option_group == goal.option_group:
            other.status = "proposed" if other.id == goal.id else "declined"
            other.updated_at = now
    _change(session, goal, change="picked", by=by, role="patient", now=now,
            text=f"You chose: {_goal_text(goal, goal.target)}.")
    session.flush()
    return goal


def add_goal(session: Session, store: TimeSeriesStore, plan_id: str, draft: GoalDraft, *,
             by: str, role: Role, now: datetime, reason: str = "") -> Goal:
    """Another goal for a plan: proposed in a draft, active from today in an agreed plan."""
    plan = _plan(session, plan_id)
    if plan.status == "closed":
        raise PlanError("the plan is closed")
    if draft.option_group:
        raise PlanError("options are offered when the plan is drafted")
    tz = patient_timezone(session, plan.patient_id)
    goal = _new_goal(session, store, plan, draft, now=now, tz=tz)
    text = f"New goal: {_goal_text(goal, goal.target)}."
    if plan.status == "agreed":
        goal.status = "active"
        goal.starts_on = now.astimezone(ZoneInfo(tz)).date()
        text = f"New goal from today: {_goal_text(goal, goal.target)}."
    session.flush()
    _change(session, goal, change="added", by=by, role=role, now=now, text=text, reason=reason,
            new_target=goal.target)
    session.flush()
    return goal


def agree_plan(session: Session, plan_id: str, *, role: Role, now: datetime) -> Plan:
    """Record one side's agreement; when both have agreed, the goals start today (local date).

    Any other agreed plan of the patient is closed: one plan is current at a time. The
    patient picks among offered options before agreeing.
    """
    plan = _plan(session, plan_id)
    if plan.status == "closed":
        raise PlanError("the plan is closed")
    if role == "patient" and any(goal.status == "offered" for goal in _goals(session, plan.id)):
        raise PlanError("pick one of the options offered first")
    if role == "patient":
        plan.patient_agreed_at = plan.patient_agreed_at or now
    elif role == "coach":
        plan.coach_agreed_at = plan.coach_agreed_at or now
    else:
        raise PlanError(f"unknown role {role!r}")
    if plan.patient_agreed_at and plan.coach_agreed_at and plan.status == "draft":
        _start(session, plan, now)
    session.flush()
    return plan


def _start(session: Session, plan: Plan, now: datetime) -> None:
    for other in session.scalars(select(Plan).where(
            Plan.patient_id == plan.patient_id, Plan.status == "agreed", Plan.id != plan.id)):
        close_plan(session, other.id, now=now)
    starts_on = now.astimezone(ZoneInfo(patient_timezone(session, plan.patient_id))).date()
    plan.status = "agreed"
    for goal in _goals(session, plan.id):
        if goal.status != "proposed":
            continue  # declined options (and anything already retired) stay as they are
        goal.status, goal.starts_on, goal.updated_at = "active", starts_on, now
        _change(session, goal, change="started", by="system", role="system", now=now,
                text=f"Agreed by you and your coach: {_goal_text(goal, goal.target)}.",
                new_target=goal.target)
    session.add(Achievement(
        id=new_id(), patient_id=plan.patient_id, kind="agreed", title="Plan agreed",
        detail=f"Starting with {plan.focus.replace('_', ' ')}", achieved_at=now,
        recorded_by="system", patient_confirmed_at=plan.patient_agreed_at,
        coach_confirmed_at=plan.coach_agreed_at, evidence={"plan_id": plan.id}))


def close_plan(session: Session, plan_id: str, *, now: datetime) -> Plan:
    plan = _plan(session, plan_id)
    plan.status, plan.closed_at = "closed", now
    for goal in _goals(session, plan.id):
        if goal.status in ("proposed", "active"):
            goal.status, goal.updated_at = "stopped", now
    return plan


def update_goal(session: Session, goal_id: str, *, now: datetime, target: float | None = None,
                days_required: int | None = None, patient_part: str | None = None,
                professional_part: str | None = None, by: str = "system",
                role: Role | Literal["system"] = "system", reason: str = "") -> Goal:
    """Patient and coach change a goal together (within the kind's bounds); the change and
    its reason go into the goal's history."""
    goal = _goal(session, goal_id)
    if goal.status in ("retired", "stopped", "declined", "done"):
        raise PlanError(f"the goal is {goal.status}")
    old_text, old_target = _goal_text(goal, goal.target), goal.target
    old_parts = (goal.patient_part, goal.professional_part)
    if target is not None:
        if not goal.target_min <= target <= goal.target_max:
            raise PlanError(f"target {target} outside {goal.target_min}-{goal.target_max}")
        goal.target = target
    if days_required is not None:
        if goal.days_required is None or not 1 <= days_required <= goal.period_days:
            raise PlanError("days_required applies to per-day goals, 1 to the period's days")
        goal.days_required = days_required
    goal.patient_part = patient_part or goal.patient_part
    goal.professional_part = professional_part or goal.professional_part
    goal.updated_at = now
    new_text = _goal_text(goal, goal.target)
    parts_changed = (goal.patient_part, goal.professional_part) != old_parts
    if new_text != old_text or parts_changed:
        who = {"coach": "Your coach", "patient": "You"}.get(role, "The plan")
        what = (f"{who} changed the goal from \u201c{old_text}\u201d to \u201c{new_text}\u201d."
                if new_text != old_text else f"{who} changed who does what.")
        _change(session, goal, change="edited", by=by, role=role, now=now,
                text=what + (f" Why: {reason.strip()}" if reason.strip() else ""), reason=reason,
                old_target=old_target, new_target=goal.target)
    session.flush()
    return goal


def pause_goal(session: Session, goal_id: str, *, by: str, role: Role, now: datetime,
               reason: str = "") -> Goal:
    """Pause an active goal (illness, a holiday): nothing is measured until it resumes."""
    goal = _goal(session, goal_id)
    if goal.status != "active":
        raise PlanError("only an active goal can be paused")
    goal.status, goal.updated_at = "paused", now
    _change(session, goal, change="paused", by=by, role=role, now=now, reason=reason,
            text="Paused for now: nothing counts against it until it starts again."
            + (f" Why: {reason.strip()}" if reason.strip() else ""))
    session.flush()
    return goal


def resume_goal(session: Session, goal_id: str, *, by: str, role: Role, now: datetime,
                reason: str = "") -> Goal:
    """Start a paused goal again from this period; the paused periods are never evaluated."""
    goal = _goal(session, goal_id)
    if goal.status != "paused" or goal.starts_on is None:
        raise PlanError("only a paused goal can be resumed")
    tz = patient_timezone(session, goal.patient_id)
    current = g.period_index_at(goal.starts_on, goal.period_days, now, tz)
    goal.evaluated_periods = max(goal.evaluated_periods, current)
    goal.status, goal.misses_in_row, goal.updated_at = "active", 0, now
    _change(session, goal, change="resumed", by=by, role=role, now=now, reason=reason,
            text=f"Started again: {_goal_text(goal, goal.target)}."
            + (f" Why: {reason.strip()}" if reason.strip() else ""))
    session.flush()
    return goal


def retire_goal(session: Session, goal_id: str, *, by: str, role: Role, now: datetime,
                reason: str = "") -> Goal:
    """Retire a goal (done with, or no longer the right one); its history is kept."""
    goal = _goal(session, goal_id)
    if goal.status not in ("proposed", "active", "paused", "offered"):
        raise PlanError(f"the goal is already {goal.status}")
    goal.status, goal.updated_at = "retired", now
    _change(session, goal, change="retired", by=by, role=role, now=now, reason=reason,
            text="Retired: this goal has done its job for now."
            + (f" Why: {reason.strip()}" if reason.strip() else ""))
    session.flush()
    return goal


def _change(session: Session, goal: Goal, *, change: str, by: str, role: str, now: datetime,
            text: str, reason: str = "", old_target: float | None = None,
            new_target: float | None = None, period_index: int | None = None) -> GoalChange:
    row = GoalChange(goal_id=goal.id, patient_id=goal.patient_id, at=now, by=by, role=role,
                     change=change, old_target=old_target, new_target=new_target, text=text,
                     reason=reason.strip(), period_index=period_index)
    session.add(row)
    return row


# --- Measuring and the ladder -----------------------------------------------------------


def measure_goal(store: TimeSeriesStore, goal: Goal, *, start: datetime, end: datetime,
                 tz: str) -> Measured:
    """Progress of a device-measured goal over [start, end), read through the store."""
    kind = GoalKind(goal.kind)
    a, b = g.to_us(start), g.to_us(end)
    days = goal.days_required or 0
    if kind is GoalKind.STEPS:
        s = store.read_series(goal.patient_id, Metric.STEPS, start, end)
        return g.steps_progress(s.times_us, s.values, target=goal.target, days_required=days,
                                start_us=a, end_us=b, tz=tz)
    if kind is GoalKind.FASTING_CHECKS:
        glucose = store.read(goal.patient_id, Metric.GLUCOSE, start, end)
        fasting = [g.to_us(r.measured_at) for r in glucose if r.context == "fasting"]
        return g.fasting_checks_progress(fasting, target=goal.target, start_us=a, end_us=b, tz=tz)
    if kind is GoalKind.BP_PAIRS:
        s = store.read_series(goal.patient_id, Metric.SYSTOLIC, start, end)
        return g.bp_pairs_progress(s.times_us, target=goal.target, days_required=days,
                                   start_us=a, end_us=b, tz=tz)
    if kind is GoalKind.WEIGH_INS:
        s = store.read_series(goal.patient_id, Metric.WEIGHT, start, end)
        return g.weigh_ins_progress(s.times_us, target=goal.target, start_us=a, end_us=b, tz=tz)
    if kind is GoalKind.MEDICATION:
        s = store.read_series(goal.patient_id, Metric.MEDICATION_TAKEN, start, end)
        return g.medication_progress(s.times_us, target=goal.target, days_required=days,
                                     start_us=a, end_us=b, tz=tz)
    if kind is GoalKind.TIME_IN_RANGE:
        cgm = store.read_series(goal.patient_id, Metric.GLUCOSE, start, end,
                                source=GlucoseMethod.CGM)
        return g.time_in_range_progress(cgm.times_us, cgm.values, target=goal.target,
                                        start_us=a, end_us=b, tz=tz)
    raise PlanError(f"goal {goal.id} is self-reported: record_self_report() measures it")


def evaluate_goals(session: Session, store: TimeSeriesStore, now: datetime, *,
                   patient_id: str | None = None) -> list[GoalEvent]:
    """Evaluate every finished, not yet evaluated period of every active measured goal.

    Idempotent: a period is evaluated once (its snapshot is unique per goal and
    period); after downtime, the missed periods are caught up in order.
    """
    query = select(Goal).where(Goal.status == "active", Goal.kind != str(GoalKind.SELF_REPORT))
    if patient_id is not None:
        query = query.where(Goal.patient_id == patient_id)
    events: list[GoalEvent] = []
    for goal in session.scalars(query.order_by(Goal.patient_id, Goal.id)).all():
        tz = patient_timezone(session, goal.patient_id)
        while goal.starts_on is not None:
            start, end = g.period_window(goal.starts_on, goal.period_days,
                                         goal.evaluated_periods, tz)
            if end > now:
                break
            measured = measure_goal(store, goal, start=start, end=end, tz=tz)
            events.append(_apply(session, goal, measured, start=start, end=end, now=now))
    session.flush()
    return events


def record_self_report(session: Session, goal_id: str, *, days_done: set[date],
                       period_index: int, now: datetime) -> GoalEvent:
    """The patient ticks off the days of a finished period of a self-reported goal."""
    goal = _goal(session, goal_id)
    if goal.kind != str(GoalKind.SELF_REPORT) or goal.starts_on is None:
        raise PlanError("only started self-reported goals take a self-report")
    if period_index != goal.evaluated_periods:
        raise PlanError(f"the next period to report is {goal.evaluated_periods}")
    tz = patient_timezone(session, goal.patient_id)
    start, end = g.period_window(goal.starts_on, goal.period_days, period_index, tz)
    if end > now:
        raise PlanError("the period has not finished yet")
    first = goal.starts_on + timedelta(days=period_index * goal.period_days)
    measured = g.self_report_progress(days_done, start=first, period_days=goal.period_days,
                                      target=goal.target)
    event = _apply(session, goal, measured, start=start, end=end, now=now)
    session.flush()
    return event


def _apply(session: Session, goal: Goal, measured: Measured, *, start: datetime, end: datetime,
           now: datetime) -> GoalEvent:
    step = g.next_step(met=measured.met, target=goal.target, level=goal.level,
                       misses_in_row=goal.misses_in_row, step=goal.step,
                       minimum=goal.target_min, maximum=goal.target_max)
    index, old_target = goal.evaluated_periods, goal.target
    session.add(GoalProgress(
        goal_id=goal.id, period_index=index, period_start=start, period_end=end,
        target=old_target, achieved=measured.achieved, met=measured.met, outcome=step.outcome,
        evidence=_evidence(measured), computed_at=now))
    achievement_id = None
    if measured.met:
        achievement_id = new_id()
        session.add(Achievement(
            id=achievement_id, patient_id=goal.patient_id, goal_id=goal.id, kind="goal_met",
            title=_goal_text(goal, old_target), detail=measured.summary, achieved_at=end,
            recorded_by="system", evidence={"period_index": index, **_evidence(measured)}))
    # a period that beats every earlier one of this goal is a personal best (care/bests.py)
    record_personal_best(session, goal, measured, period_index=index, achieved_at=end)
    goal.target, goal.level, goal.misses_in_row = step.target, step.level, step.misses_in_row
    goal.evaluated_periods, goal.updated_at = index + 1, now
    _change(session, goal, change=step.outcome, by="system", role="system", now=now,
            text=g.step_text(step.outcome, GoalKind(goal.kind), old_target=old_target,
                             new_target=step.target, summary=measured.summary),
            old_target=old_target, new_target=step.target, period_index=index)
    logger.info("goal %s period %d: %s", goal.id, index, step.outcome)
    return GoalEvent(goal.id, goal.patient_id, index, step.outcome, measured.met, old_target,
                     step.target, measured, achievement_id)


def _evidence(m: Measured) -> dict[str, Any]:
    return {"achieved": m.achieved, "target": m.target, "days_required": m.days_required,
            "unit": m.unit, "days": list(m.days), "per_day": list(m.per_day),
            "summary": m.summary}


def current_progress(session: Session, store: TimeSeriesStore, goal_id: str,
                     now: datetime) -> Measured | None:
    """This period so far (None before the goal starts, for self-reported goals, or when done)."""
    goal = _goal(session, goal_id)
    if goal.starts_on is None or goal.status != "active" or goal.kind == str(GoalKind.SELF_REPORT):
        return None
    tz = patient_timezone(session, goal.patient_id)
    index = g.period_index_at(goal.starts_on, goal.period_days, now, tz)
    if index < 0:
        return None
    start, end = g.period_window(goal.starts_on, goal.period_days, index, tz)
    return measure_goal(store, goal, start=start, end=min(end, now), tz=tz)


def goal_statuses(session: Session, store: TimeSeriesStore, patient_id: str, now: datetime, *,
                  evaluate: bool = True) -> tuple[g.GoalStatus, ...]:
    """The patient's active goals for the coaching rules' context (``goals`` feature).

    With ``evaluate`` (the default) finished periods are evaluated first, so the
    snapshots, steps and achievements are written before the rules read them.
    """
    if evaluate:
        evaluate_goals(session, store, now, patient_id=patient_id)
    out = []
    for goal in session.scalars(select(Goal).where(Goal.patient_id == patient_id,
                                                   Goal.status == "active")
                                .order_by(Goal.created_at, Goal.id)):
        tz = patient_timezone(session, patient_id)
        index = (g.period_index_at(goal.starts_on, goal.period_days, now, tz)
                 if goal.starts_on else -1)
        last = session.scalars(select(GoalProgress).where(GoalProgress.goal_id == goal.id)
                               .order_by(GoalProgress.period_index.desc()).limit(1)).first()
        out.append(g.GoalStatus(
            goal_id=goal.id, text=_goal_text(goal, goal.target), kind=goal.kind,
            behaviour=goal.behaviour, target=goal.target, period_index=index,
            current=current_progress(session, store, goal.id, now),
            last_index=last.period_index if last else None,
            last_met=bool(last and last.met),
            last_text=_goal_text(goal, last.target) if last else "",
            last_summary=str(last.evidence.get("summary", "")) if last else "",
            last_end_us=g.to_us(_aware(last.period_end)) if last else None,
            last_outcome=last.outcome if last else "",
            next_target=goal.target if last else None))
    return tuple(out)


def _aware(when: datetime) -> datetime:
    """SQLite hands timestamps back naive (in UTC)."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# --- The joint record -------------------------------------------------------------------


def record_achievement(session: Session, *, patient_id: str, title: str, by: str, role: Role,
                       now: datetime, detail: str = "", goal_id: str | None = None) -> Achievement:
    """Patient or coach add an entry to the joint record; the author's side is confirmed."""
    entry = Achievement(id=new_id(), patient_id=patient_id, goal_id=goal_id, kind="note",
                        title=title, detail=detail, achieved_at=now, recorded_by=by, evidence={})
    _confirm(entry, role=role, note="", now=now)
    session.add(entry)
    session.flush()
    return entry


def confirm_achievement(session: Session, achievement_id: str, *, role: Role, now: datetime,
                        note: str = "") -> Achievement:
    """One side confirms an entry of the joint record, optionally with a note."""
    entry = session.get(Achievement, achievement_id)
    if entry is None:
        raise PlanError(f"no achievement {achievement_id}")
    _confirm(entry, role=role, note=note, now=now)
    return entry


def _confirm(entry: Achievement, *, role: Role, note: str, now: datetime) -> None:
    if role == "patient":
        entry.patient_confirmed_at = entry.patient_confirmed_at or now
        entry.patient_note = note or entry.patient_note or ""
    elif role == "coach":
        entry.coach_confirmed_at = entry.coach_confirmed_at or now
        entry.coach_note = note or entry.coach_note or ""
    else:
        raise PlanError(f"unknown role {role!r}")


def achievements(session: Session, patient_id: str, *,
                 since: datetime | None = None) -> list[Achievement]:
    query = select(Achievement).where(Achievement.patient_id == patient_id)
    if since is not None:
        query = query.where(Achievement.achieved_at >= since)
    return list(session.scalars(query.order_by(Achievement.achieved_at, Achievement.id)))


# --- Views for the dashboard ------------------------------------------------------------


def current_plan(session: Session, patient_id: str) -> Plan | None:
    """The agreed plan, else the newest draft."""
    plans = session.scalars(select(Plan).where(Plan.patient_id == patient_id,
                                               Plan.status != "closed")
                            .order_by(Plan.created_at.desc(), Plan.id)).all()
    agreed = [p for p in plans if p.status == "agreed"]
    return (agreed or list(plans))[0] if plans else None


def plan_view(session: Session, store: TimeSeriesStore, patient_id: str,
              now: datetime) -> PlanView | None:
    """Everything the patient and coach pages show: goals, who does what, progress, record."""
    plan = current_plan(session, patient_id)
    if plan is None:
        return None
    tz = patient_timezone(session, patient_id)
    goals = _goals(session, plan.id)
    views = tuple(_goal_view(session, store, goal, now, tz) for goal in goals
                  if goal.status in SHOWN_STATUSES)
    retired = tuple(_goal_view(session, store, goal, now, tz) for goal in goals
                    if goal.status == "retired")
    record = tuple(_achievement_dict(a) for a in achievements(session, patient_id))
    return PlanView(plan.id, plan.patient_id, plan.coach_id, plan.focus, plan.status,
                    plan.patient_agreed_at is not None, plan.coach_agreed_at is not None,
                    views, record, plan.suggested_focus, plan.focus_reason, plan.note, retired)


def _goal_view(session: Session, store: TimeSeriesStore, goal: Goal, now: datetime,
               tz: str) -> GoalView:
    history = session.scalars(select(GoalProgress).where(GoalProgress.goal_id == goal.id)
                              .order_by(GoalProgress.period_index)).all()
    index = g.period_index_at(goal.starts_on, goal.period_days, now, tz) if goal.starts_on else -1
    changes = session.scalars(select(GoalChange).where(GoalChange.goal_id == goal.id)
                              .order_by(GoalChange.at.desc(), GoalChange.id.desc())).all()
    kind = GoalKind(goal.kind)
    return GoalView(
        goal.id, goal.behaviour, goal.kind, _goal_text(goal, goal.target), goal.target, goal.unit,
        goal.days_required, goal.level, goal.status, goal.patient_part, goal.professional_part,
        index, current_progress(session, store, goal.id, now),
        tuple({"period_index": p.period_index, "start": p.period_start.isoformat(),
               "end": p.period_end.isoformat(), "target": p.target, "achieved": p.achieved,
               "met": p.met, "outcome": p.outcome} for p in history),
        rule=g.rule_text(kind, target=goal.target, days_required=goal.days_required,
                         step=goal.step, minimum=goal.target_min, maximum=goal.target_max,
                         period_days=goal.period_days),
        changes=tuple({"at": _aware(c.at), "change": c.change, "text": c.text, "role": c.role,
                       "old_target": c.old_target, "new_target": c.new_target,
                       "reason": c.reason} for c in changes),
        option_group=goal.option_group, amount=g.amount_text(kind, goal.target),
        **_report_due(goal, now, tz))


def _report_due(goal: Goal, now: datetime, tz: str) -> dict[str, Any]:
    """The oldest finished, unreported week of an active self-reported goal, if any."""
    if goal.kind != str(GoalKind.SELF_REPORT) or goal.status != "active" or not goal.starts_on:
        return {}
    _, end = g.period_window(goal.starts_on, goal.period_days, goal.evaluated_periods, tz)
    if end > now:
        return {}
    first = goal.starts_on + timedelta(days=goal.evaluated_periods * goal.period_days)
    return {"report_period": goal.evaluated_periods,
            "report_days": tuple(first + timedelta(days=i) for i in range(goal.period_days))}


def goal_news(session: Session, patient_id: str, *, since: datetime,
              limit: int = 5) -> list[dict[str, Any]]:
    """What changed in the patient's goals since ``since``, newest first, in the words she
    reads (for the Today page: a step up, an easier week, an edit and its reason)."""
    rows = session.execute(
        select(GoalChange, Goal).join(Goal, Goal.id == GoalChange.goal_id)
        .where(GoalChange.patient_id == patient_id, GoalChange.at >= since,
               GoalChange.change.in_(("stepped_up", "kept_up", "missed", "stepped_down", "kept",
                                      "edited", "added", "paused", "resumed", "retired")))
        .order_by(GoalChange.at.desc(), GoalChange.id.desc()).limit(limit)).all()
    return [{"goal_id": goal.id, "goal": _goal_text(goal, goal.target), "change": c.change,
             "text": c.text, "at": _aware(c.at)} for c, goal in rows]


def record_view(session: Session, patient_id: str) -> tuple[dict[str, Any], ...]:
    """The joint record as the pages show it (oldest first), with or without a plan."""
    return tuple(_achievement_dict(a) for a in achievements(session, patient_id))


def _achievement_dict(a: Achievement) -> dict[str, Any]:
    return {"id": a.id, "kind": a.kind, "title": a.title, "detail": a.detail,
            "achieved_at": _aware(a.achieved_at).isoformat(), "at": _aware(a.achieved_at),
            "goal_id": a.goal_id, "recorded_by": a.recorded_by,
            "patient_confirmed": a.patient_confirmed_at is not None,
            "coach_confirmed": a.coach_confirmed_at is not None,
            "patient_note": a.patient_note, "coach_note": a.coach_note}


def _goal_text(goal: Goal, target: float) -> str:
    return g.goal_text(GoalKind(goal.kind), target, goal.days_required, goal.description)


def _plan(session: Session, plan_id: str) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise PlanError(f"no plan {plan_id}")
    return plan


def _goal(session: Session, goal_id: str) -> Goal:
    goal = session.get(Goal, goal_id)
    if goal is None:
        raise PlanError(f"no goal {goal_id}")
    return goal


def _goals(session: Session, plan_id: str) -> list[Goal]:
    return list(session.scalars(select(Goal).where(Goal.plan_id == plan_id)
                                .order_by(Goal.created_at, Goal.id)))
