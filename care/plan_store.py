"""The care programme over the application database, one transaction each: plans and
goals, the joint record, the conversation and the self-assessment, as the patient's and
the coach's pages use them (the rules are care/plans.py, care/conversation.py and
care/selfassessment.py, which take a session and never commit).

Everything here is scoped to one patient: a plan, goal or record entry of someone else
is ``NotFound``, as is one that does not exist; a refusal of the rules is the rules'
own error (``PlanError``, ``ValueError``) with its reason. Who may call what is decided
by dashboard/security.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from care import conversation, suggestions
from care import plans as care_plans
from care import selfassessment as sa
from core.appdb.coaching import CoachAlert, new_id
from core.appdb.plans import Achievement, Goal, Plan
from core.timeseries import TimeSeriesStore

Role = Literal["patient", "coach"]
GoalAction = Literal["pause", "resume", "retire"]


class NotFound(LookupError):
    """No such plan, goal or entry for this patient."""


@dataclass(frozen=True, slots=True)
class PatientGoals:
    plan: care_plans.PlanView | None
    record: tuple[dict[str, Any], ...]
    messages: list[conversation.ThreadMessage]


@dataclass(frozen=True, slots=True)
class CoachDetail:
    plan: care_plans.PlanView | None
    draft: suggestions.PlanDraft
    history: list[sa.AssessmentSummary]
    latest: sa.AssessmentDetail | None
    messages: list[conversation.ThreadMessage]
    record: tuple[dict[str, Any], ...]


def _plan_of(session: Session, patient_id: str, plan_id: str) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None or plan.patient_id != patient_id:
        raise NotFound(plan_id)
    return plan


def _goal_of(session: Session, patient_id: str, goal_id: str) -> Goal:
    goal = session.get(Goal, goal_id)
    if goal is None or goal.patient_id != patient_id:
        raise NotFound(goal_id)
    return goal


class PlanStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- reading -------------------------------------------------------------------------

    def patient_goals(self, store: TimeSeriesStore, patient_id: str, now: datetime, *,
                      thread_for: conversation.Side | None, mark_read: bool) -> PatientGoals:
        """The plan, the joint record and the thread as ``thread_for`` sees it (None: no
        thread); ``mark_read``: the patient has now seen her messages."""
        with Session(self._engine) as session:
            plan = care_plans.plan_view(session, store, patient_id, now)
            record = care_plans.record_view(session, patient_id)
            messages = [] if thread_for is None else conversation.thread(
                session, patient_id, viewer=thread_for)
            if mark_read:
                conversation.mark_read(session, patient_id, reader="patient", now=now)
                session.commit()
        return PatientGoals(plan, record, messages)

    def coach_detail(self, store: TimeSeriesStore, patient_id: str, now: datetime, *,
                     mark_read: bool) -> CoachDetail:
        """What the coach's patient page shows; ``mark_read``: the coach has now seen the
        patient's messages."""
        with Session(self._engine) as session:
            plan = care_plans.plan_view(session, store, patient_id, now)
            draft = suggestions.plan_draft(session, patient_id)
            history = sa.assessment_history(session, patient_id)
            messages = conversation.thread(session, patient_id, viewer="coach")
            detail = CoachDetail(plan, draft, history, sa.latest_assessment(session, patient_id),
                                 messages, care_plans.record_view(session, patient_id))
            if mark_read:
                conversation.mark_read(session, patient_id, reader="coach", now=now)
                session.commit()
        return detail

    def record(self, patient_id: str) -> tuple[dict[str, Any], ...]:
        """The joint record of achievements."""
        with Session(self._engine) as session:
            return care_plans.record_view(session, patient_id)

    def coach_of(self, patient_id: str) -> str | None:
        """The coach of the patient's current plan (None without one, or without a coach)."""
        with Session(self._engine) as session:
            plan = care_plans.current_plan(session, patient_id)
            return plan.coach_id if plan and plan.coach_id else None

    def goal_news(self, patient_id: str, *, since: datetime) -> list[dict[str, Any]]:
        with Session(self._engine) as session:
            return care_plans.goal_news(session, patient_id, since=since)

    def unread_for_patient(self, patient_id: str) -> int:
        with Session(self._engine) as session:
            return conversation.unread_for_patient(session, patient_id)

    def unread_for_coach(self, patient_ids: Collection[str]) -> dict[str, int]:
        with Session(self._engine) as session:
            return conversation.unread_for_coach(session, patient_ids)

    # -- the plan and its goals -------------------------------------------------------------

    def create_plan(self, store: TimeSeriesStore, **plan: Any) -> None:
        """care/plans.py create_plan's arguments (PlanError or ValueError with the reason)."""
        with Session(self._engine) as session:
            care_plans.create_plan(session, store, **plan)
            session.commit()

    def pick_option(self, patient_id: str, plan_id: str, goal_id: str, *, by: str,
                    now: datetime) -> None:
        with Session(self._engine) as session:
            plan = session.get(Plan, plan_id)
            goal = session.get(Goal, goal_id)
            if plan is None or plan.patient_id != patient_id or goal is None \
                    or goal.plan_id != plan_id:
                raise NotFound(goal_id)
            care_plans.pick_option(session, plan_id, goal_id, by=by, now=now)
            session.commit()

    def agree(self, patient_id: str, plan_id: str, *, role: Role, now: datetime) -> None:
        with Session(self._engine) as session:
            _plan_of(session, patient_id, plan_id)
            care_plans.agree_plan(session, plan_id, role=role, now=now)
            session.commit()

    def add_goal(self, store: TimeSeriesStore, patient_id: str, plan_id: str,
                 draft: Callable[[], care_plans.GoalDraft], *, by: str, role: Role,
                 now: datetime, reason: str = "") -> None:
        """``draft`` is made once the plan is found (no such plan comes before a form's
        error)."""
        with Session(self._engine) as session:
            _plan_of(session, patient_id, plan_id)
            care_plans.add_goal(session, store, plan_id, draft(), by=by, role=role, now=now,
                                reason=reason)
            session.commit()

    def update_goal(self, patient_id: str, goal_id: str, *, now: datetime, **change: Any) -> None:
        """care/plans.py update_goal's changes, on a goal of this patient."""
        with Session(self._engine) as session:
            _goal_of(session, patient_id, goal_id)
            care_plans.update_goal(session, goal_id, now=now, **change)
            session.commit()

    def goal_action(self, patient_id: str, goal_id: str, action: GoalAction, *, by: str,
                    role: Role, now: datetime, reason: str = "") -> None:
        """Pause, resume or retire a goal of this patient."""
        act = {"pause": care_plans.pause_goal, "resume": care_plans.resume_goal,
               "retire": care_plans.retire_goal}[action]
        with Session(self._engine) as session:
            _goal_of(session, patient_id, goal_id)
            act(session, goal_id, by=by, role=role, now=now, reason=reason)
            session.commit()

    def record_self_report(self, patient_id: str, goal_id: str, *, days_done: set[date],
                           period_index: int, now: datetime) -> None:
        with Session(self._engine) as session:
            _goal_of(session, patient_id, goal_id)
            care_plans.record_self_report(session, goal_id, days_done=days_done,
                                          period_index=period_index, now=now)
            session.commit()

    def evaluate(self, store: TimeSeriesStore, patient_id: str,
                 now: datetime) -> list[care_plans.GoalEvent]:
        """The weekly evaluation of this patient's goals now (idempotent)."""
        with Session(self._engine) as session:
            events = care_plans.evaluate_goals(session, store, now, patient_id=patient_id)
            session.commit()
            return events

    # -- the joint record ----------------------------------------------------------------------

    def add_achievement(self, patient_id: str, *, title: str, by: str, role: Role,
                        now: datetime, detail: str = "") -> None:
        with Session(self._engine) as session:
            care_plans.record_achievement(session, patient_id=patient_id, title=title, by=by,
                                          role=role, now=now, detail=detail)
            session.commit()

    def confirm_achievement(self, patient_id: str, achievement_id: str, *, role: Role,
                            now: datetime, note: str = "") -> None:
        with Session(self._engine) as session:
            entry = session.get(Achievement, achievement_id)
            if entry is None or entry.patient_id != patient_id:
                raise NotFound(achievement_id)
            care_plans.confirm_achievement(session, achievement_id, role=role, now=now,
                                           note=note)
            session.commit()

    # -- the self-assessment -------------------------------------------------------------------

    def latest_assessment(self, patient_id: str) -> sa.AssessmentDetail | None:
        with Session(self._engine) as session:
            return sa.latest_assessment(session, patient_id)

    def record_assessment(self, patient_id: str, answers: list[sa.CardAnswer],
                          dds2: tuple[int, int] | None, *, by: str,
                          now: datetime) -> sa.AssessmentResult:
        """The patient's check-in; a distress follow-up goes into the care team's alert
        queue (the dashboard delivers nothing itself: the coach sees it with its why)."""
        with Session(self._engine) as session:
            result = sa.record_self_assessment(session, patient_id=patient_id, answers=answers,
                                               dds2=dds2, by=by, now=now)
            if result.follow_up is not None:
                f = result.follow_up
                session.add(CoachAlert(id=new_id(), patient_id=patient_id, flag_type=f.flag_type,
                                       group="self_assessment", kind="alert", audience="coach",
                                       priority=str(f.priority), title=f.title, body=f.body,
                                       why=f.why, evidence=dict(f.evidence), state="open",
                                       created_at=now, ladder=[]))
            session.commit()
            return result
