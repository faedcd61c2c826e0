"""Care-team data the coach view shows: caseload, the plan, the message thread.

Plans are read and changed through care.plans (the coach-plans module); the message
thread is the in-app inbox (core/appdb/delivery.py ``InboxMessage``, kind "message"),
the same table the coach service writes nudges and alerts to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from care.alert_queue import OPEN_STATES, aware
from care.conversation import notify_patient
from core.appdb.coaching import CoachAlert
from core.appdb.delivery import InboxMessage
from core.appdb.directory import PatientInfo
from core.appdb.plans import Achievement, Goal, GoalProgress, Plan

MESSAGE = "message"


@dataclass(frozen=True, slots=True)
class Message:
    author_role: str  # "coach" or "patient"
    author: str
    body: str
    at: datetime


def thread(engine: Engine, patient_id: str, *, limit: int = 100) -> list[Message]:
    with Session(engine) as session:
        rows = session.scalars(
            select(InboxMessage)
            .where(InboxMessage.patient_id == patient_id, InboxMessage.kind == MESSAGE)
            .order_by(InboxMessage.created_at.desc(), InboxMessage.id.desc()).limit(limit)).all()
        return [Message("patient" if r.recipient_role == "coach" else "coach",
                        str(r.evidence.get("author_name", "")), r.body,
                        aware(r.created_at) or datetime.min) for r in reversed(rows)]


def send(engine: Engine, *, patient_id: str, author_id: str, author_name: str, author_role: str,
         recipient_key: str, body: str, now: datetime) -> None:
    """A message from the coach to the patient, or from the patient to their coach."""
    recipient_role = "patient" if author_role == "coach" else "coach"
    with Session(engine) as session:
        session.add(InboxMessage(
            recipient_key=recipient_key, recipient_role=recipient_role, patient_id=patient_id,
            kind=MESSAGE, priority="normal", flag_type=MESSAGE,
            title=f"Message from {author_name}", body=body.strip(), why="A personal message.",
            evidence={"author_id": author_id, "author_name": author_name}, ref=author_id,
            created_at=now))
        if author_role == "coach":  # the coach service tells her, within her budget
            notify_patient(session, patient_id=patient_id, author_name=author_name, now=now)
        session.commit()


@dataclass(frozen=True, slots=True)
class CaseloadRow:
    patient: PatientInfo
    open_alerts: int
    urgent_alerts: int
    last_contact: datetime | None
    plan_status: str | None
    goals_active: int
    periods_met: int
    periods_done: int

    @property
    def status(self) -> str:
        if self.urgent_alerts:
            return "urgent"
        if self.open_alerts:
            return "needs attention"
        if self.plan_status is None:
            return "no plan yet"
        return "on track" if self.periods_done == 0 or self.periods_met * 2 >= self.periods_done \
            else "struggling"


def caseload(engine: Engine, patients: list[PatientInfo]) -> list[CaseloadRow]:
    """Every patient's status, last contact (message either way) and goal progress, in
    a handful of grouped queries (no per-patient round trips)."""
    ids = [p.id for p in patients]
    if not ids:
        return []
    with Session(engine) as session:
        alerts: dict[str, tuple[int, int]] = {}
        for pid, priority, n in session.execute(
                select(CoachAlert.patient_id, CoachAlert.priority, func.count())
                .where(CoachAlert.patient_id.in_(ids), CoachAlert.state.in_(OPEN_STATES))
                .group_by(CoachAlert.patient_id, CoachAlert.priority)):
            total, urgent = alerts.get(pid, (0, 0))
            alerts[pid] = (total + n, urgent + (n if priority == "urgent" else 0))
        contact = dict(session.execute(
            select(InboxMessage.patient_id, func.max(InboxMessage.created_at))
            .where(InboxMessage.patient_id.in_(ids), InboxMessage.kind == MESSAGE)
            .group_by(InboxMessage.patient_id)).all())
        plans = dict(session.execute(
            select(Plan.patient_id, Plan.status)
            .where(Plan.patient_id.in_(ids), Plan.status != "closed")
            .order_by(Plan.created_at)).all())
        goals = dict(session.execute(
            select(Goal.patient_id, func.count()).where(Goal.patient_id.in_(ids),
                                                         Goal.status == "active")
            .group_by(Goal.patient_id)).all())
        progress: dict[str, tuple[int, int]] = {}
        for pid, met, n in session.execute(
                select(Goal.patient_id, GoalProgress.met, func.count())
                .join(GoalProgress, GoalProgress.goal_id == Goal.id)
                .where(Goal.patient_id.in_(ids), Goal.status == "active")
                .group_by(Goal.patient_id, GoalProgress.met)):
            m, d = progress.get(pid, (0, 0))
            progress[pid] = (m + (n if met else 0), d + n)
    return [CaseloadRow(p, *alerts.get(p.id, (0, 0)), aware(contact.get(p.id)),
                        plans.get(p.id), int(goals.get(p.id, 0)), *progress.get(p.id, (0, 0)))
            for p in patients]


# The caseload as a queue, who needs the coach now first (issue 18): urgent alerts, other
# open alerts, a plan that is slipping, no plan yet, then on track; within each, unread
# messages first, then the longest since the last contact.
NEED_ORDER = ("urgent", "needs attention", "struggling", "no plan yet", "on track")


def by_need(rows: list[CaseloadRow], unread: dict[str, int]) -> list[CaseloadRow]:
    def key(row: CaseloadRow) -> tuple[int, int, float, str]:
        contact = row.last_contact.timestamp() if row.last_contact else float("-inf")
        return (NEED_ORDER.index(row.status), -unread.get(row.patient.id, 0), contact,
                row.patient.display_name)

    return sorted(rows, key=key)


def unconfirmed_achievements(engine: Engine, patient_id: str, role: str) -> int:
    column = (Achievement.patient_confirmed_at if role == "patient"
              else Achievement.coach_confirmed_at)
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Achievement).where(
            Achievement.patient_id == patient_id, column.is_(None))) or 0)
