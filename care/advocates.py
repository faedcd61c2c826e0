"""The advocate: one named person responsible for a vulnerable patient across conditions
(issue 20) — a coach of the patient's care team, or a family member or friend the
patient shares with (a caregiver account).

The advocate sees everything the patient's team is doing (``team_activity``: alerts,
plans and goals, outreach, messages, reviews, engagement) and is on the urgent escalation
ladder after the patient and the caregivers opted in to urgent alerts, before the coach
(coach/escalation.py); an advocate who is already on the ladder (the coach herself, an
opted-in caregiver) takes no second step.

Functions take a session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.appdb import engagement as states
from core.appdb.accounts import CaregiverShare, CareTeamMember, CareTeamPatient, User
from core.appdb.coaching import CoachAlert
from core.appdb.delivery import InboxMessage
from core.appdb.outreach import Advocate
from core.appdb.plans import Goal, Plan
from core.appdb.reviews import PatientReview
from core.clock import aware

ADVOCATE_ROLES = ("coach", "caregiver")
ACTIVITY_DAYS = 30


@dataclass(frozen=True, slots=True)
class AdvocateInfo:
    patient_id: str
    advocate_id: str
    name: str
    role: str
    reason: str
    since: datetime


@dataclass(frozen=True, slots=True)
class Activity:
    """What happened around one patient, newest first, each line in words."""

    at: datetime
    what: str  # alert, plan, goal, outreach, message, review, engagement
    text: str


def may_advocate(session: Session, patient_id: str, user_id: str) -> str:
    """The role the user would advocate in; ValueError when they may not: a coach of the
    patient's care team, or a caregiver the patient shares with."""
    user = session.get(User, user_id)
    if user is None or not user.active or user.role not in ADVOCATE_ROLES:
        raise ValueError("an advocate is an active coach or caregiver account")
    if user.role == "coach":
        ok = session.scalar(select(func.count()).select_from(CareTeamPatient).join(
            CareTeamMember, CareTeamMember.team_id == CareTeamPatient.team_id).where(
            CareTeamPatient.patient_id == patient_id, CareTeamMember.user_id == user_id))
        if not ok:
            raise ValueError("that coach is not in the patient's care team")
    else:
        share = session.get(CaregiverShare, (patient_id, user_id))
        if share is None or not share.scopes:
            raise ValueError("the patient does not share with that person")
    return user.role


def name_advocate(session: Session, patient_id: str, advocate_id: str, *, reason: str,
                  by: str, now: datetime) -> AdvocateInfo:
    """Name (or replace) the patient's advocate."""
    role = may_advocate(session, patient_id, advocate_id)
    row = session.get(Advocate, patient_id)
    if row is None:
        row = Advocate(patient_id=patient_id)
        session.add(row)
    row.advocate_id, row.advocate_role, row.reason = advocate_id, role, reason.strip()
    row.named_by, row.since = by, now
    session.flush()
    return _info(session, row)


def remove_advocate(session: Session, patient_id: str) -> bool:
    row = session.get(Advocate, patient_id)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def _info(session: Session, row: Advocate) -> AdvocateInfo:
    name = session.scalar(select(User.display_name).where(User.id == row.advocate_id))
    return AdvocateInfo(row.patient_id, row.advocate_id, name or row.advocate_id,
                        row.advocate_role, row.reason, aware(row.since))


def advocate_of(session: Session, patient_id: str) -> AdvocateInfo | None:
    row = session.get(Advocate, patient_id)
    return _info(session, row) if row is not None else None


def advocated_by(session: Session, user_id: str) -> list[str]:
    """The patients this user is the advocate of."""
    return list(session.scalars(select(Advocate.patient_id)
                                .where(Advocate.advocate_id == user_id)
                                .order_by(Advocate.patient_id)))


def team_activity(session: Session, patient_id: str, now: datetime, *,
                  days: int = ACTIVITY_DAYS, messages: bool = True) -> list[Activity]:
    """Everything the team did for the patient in the last ``days`` days, newest first.
    ``messages`` False: the coach-patient thread is private, so only its count shows."""
    since = now - timedelta(days=days)
    out: list[Activity] = []
    for a in session.scalars(select(CoachAlert).where(
            CoachAlert.patient_id == patient_id, CoachAlert.created_at >= since)):
        who = f", acknowledged by {a.acknowledged_by}" if a.acknowledged_by else ""
        out.append(Activity(aware(a.created_at), "alert",
                            f"{a.priority.capitalize()} alert: {a.title} ({a.state}{who})."))
    for p in session.scalars(select(Plan).where(Plan.patient_id == patient_id,
                                                Plan.created_at >= since)):
        out.append(Activity(aware(p.created_at), "plan",
                            f"Plan on {p.focus.replace('_', ' ')}: {p.status}."))
    for g in session.scalars(select(Goal).where(Goal.patient_id == patient_id,
                                                Goal.updated_at >= since)):
        out.append(Activity(aware(g.updated_at), "goal",
                            f"Goal \"{g.patient_part}\": {g.status}."))
    from care.outreach import contacts, open_tasks

    for c in contacts(session, patient_id):
        if c.at >= since:
            nxt = f" Next: {c.next_step}" + (f" by {c.next_due:%d %b}." if c.next_due else ".") \
                if c.next_step else ""
            out.append(Activity(c.at, "outreach", f"{c.by_name} ({c.by_role}) contacted "
                                                  f"{c.contacted} by {c.method}: {c.outcome}."
                                                  f"{nxt}"))
    task = open_tasks(session, [patient_id]).get(patient_id)
    if task is not None:
        out.append(Activity(aware(task.created_at), "outreach",
                            f"Outreach needed (due {aware(task.due_at):%d %b %H:%M}): "
                            f"{task.reason}"))
    thread = list(session.scalars(select(InboxMessage).where(
        InboxMessage.patient_id == patient_id, InboxMessage.kind == "message",
        InboxMessage.created_at >= since).order_by(InboxMessage.created_at)))
    if messages:
        for m in thread:
            side = "Patient to coach" if m.recipient_role == "coach" else "Coach to patient"
            out.append(Activity(aware(m.created_at), "message", f"{side}: {m.body}"))
    elif thread:
        out.append(Activity(aware(thread[-1].created_at), "message",
                            f"{len(thread)} messages between the patient and the coach "
                            "(private to them)."))
    for r in session.scalars(select(PatientReview).where(
            PatientReview.patient_id == patient_id, PatientReview.reviewed_at >= since)):
        note = f": {r.note}" if r.note else "."
        out.append(Activity(aware(r.reviewed_at), "review",
                            f"Reviewed by {r.reviewer_name}{note}"))
    for st in states.history(session, patient_id, limit=days):
        if st.computed_at >= since and st.state != "engaged":
            out.append(Activity(st.computed_at, "engagement",
                                f"{st.state.capitalize()}: {' '.join(st.evidence)}"))
    out.sort(key=lambda a: a.at, reverse=True)
    return out
