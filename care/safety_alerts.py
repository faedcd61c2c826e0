"""Safety alerts where the patient and her caregiver look, and what reached the patient
(docs/DASHBOARD.md, "Safety alerts"): the reads and the acknowledgement behind the Today
page, the inbox, the caregiver's page and the home display.

A safety alert is a coach_alerts row of kind "escalation" (coach/escalation.py opens
them with their ladder patient -> caregiver -> coach -> nurse) in state open or
snoozed. Acknowledging goes through care/alerts.py with the acknowledger's role, so the
coach's escalation timer sees the ladder stopped. Who may see or acknowledge whose is
decided by dashboard/security.py, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care import alerts as care_alerts
from core.appdb.coaching import CoachAlert, CoachNudge
from core.appdb.delivery import InboxMessage

SAFETY_KIND = "escalation"
OPEN_STATES = ("open", "snoozed")
# The coach's hypoglycaemia group (coach/rules/thresholds.py "urgent_low", group "hypo"):
# an urgent alert of this group is an urgent low, whose alarm may be quieter, never silent.
URGENT_LOW_GROUP = "hypo"


@dataclass(frozen=True, slots=True)
class SafetyAlert:
    id: str
    patient_id: str
    patient_name: str
    title: str
    body: str
    why: str
    state: str
    created_at: datetime
    snoozed_until: datetime | None
    urgent_low: bool
    may_ack: bool = True  # may this viewer press OK (dashboard/security.py may_act_on_alert)

    @property
    def reason(self) -> str:
        """Why it was raised, without repeating the advice (the coach's "why" often starts
        with it)."""
        why = self.why.strip()
        if why.startswith(self.body.strip()):
            why = why[len(self.body.strip()):].strip()
        return why[1:-1] if why.startswith("(") and why.endswith(")") else why

    @property
    def sounding(self) -> bool:
        """An open (not snoozed) alert sounds until someone acknowledges it."""
        return self.state == "open"


def _aware(at: datetime | None) -> datetime | None:
    return None if at is None else (at if at.tzinfo else at.replace(tzinfo=UTC))


def open_alerts(engine: Engine, names: dict[str, str]) -> list[SafetyAlert]:
    """Open and snoozed safety alerts of these patients, oldest first (the first one
    raised is the first one answered)."""
    if not names:
        return []
    with Session(engine) as session:
        rows = session.scalars(
            select(CoachAlert)
            .where(CoachAlert.patient_id.in_(list(names)), CoachAlert.kind == SAFETY_KIND,
                   CoachAlert.state.in_(OPEN_STATES))
            .order_by(CoachAlert.created_at, CoachAlert.id)).all()
        return [SafetyAlert(a.id, a.patient_id, names[a.patient_id], a.title, a.body, a.why,
                            a.state, _aware(a.created_at) or datetime.now(UTC),
                            _aware(a.snoozed_until), a.group == URGENT_LOW_GROUP)
                for a in rows]


def version(engine: Engine, patient_ids: list[str]) -> tuple[object, ...]:
    """Changes whenever a safety alert of these patients opens, is snoozed or closes."""
    if not patient_ids:
        return ()
    with Session(engine) as session:
        return tuple(tuple(r) for r in session.execute(
            select(CoachAlert.id, CoachAlert.state)
            .where(CoachAlert.patient_id.in_(patient_ids), CoachAlert.kind == SAFETY_KIND,
                   CoachAlert.state.in_(OPEN_STATES))
            .order_by(CoachAlert.id)).all())


def acknowledge(engine: Engine, patient_id: str, alert_id: str, *, by_user: str, role: str,
                now: datetime, note: str | None = None) -> bool | None:
    """OK on one of this patient's safety alerts: None when she has no such alert; else
    True if this stopped its ladder, False if it was no longer open."""
    with Session(engine) as session:
        alert = session.get(CoachAlert, alert_id)
        if alert is None or alert.patient_id != patient_id or alert.kind != SAFETY_KIND:
            return None
        done = alert.state in OPEN_STATES and care_alerts.acknowledge(
            session, alert_id, by_user, now, role=role, note=note)
        session.commit()
        return done


@dataclass(frozen=True, slots=True)
class InboxItem:
    kind: str
    priority: str
    title: str
    body: str
    why: str
    at: datetime


def newest_message(engine: Engine, patient_id: str, *, since: datetime) -> InboxItem | None:
    """The newest message delivered to the patient since ``since`` (the home display's
    message of the day)."""
    with Session(engine) as session:
        row = session.scalars(
            select(InboxMessage)
            .where(InboxMessage.patient_id == patient_id,
                   InboxMessage.recipient_role == "patient",
                   InboxMessage.created_at >= since)
            .order_by(InboxMessage.created_at.desc(), InboxMessage.id.desc())).first()
        if row is None:
            return None
        return InboxItem(row.kind, row.priority, row.title, row.body, row.why,
                         _aware(row.created_at) or since)


def inbox(engine: Engine, patient_id: str, *, since: datetime, limit: int = 200) -> list[InboxItem]:
    """What reached the patient: messages delivered to her inbox (alerts, nudges, her
    coach's messages), and nudges the coach sent or kept for the digest; newest first."""
    with Session(engine) as session:
        messages = session.scalars(
            select(InboxMessage)
            .where(InboxMessage.patient_id == patient_id, InboxMessage.recipient_role == "patient",
                   InboxMessage.created_at >= since)
            .order_by(InboxMessage.created_at.desc()).limit(limit)).all()
        items = [InboxItem(m.kind, m.priority, m.title, m.body, m.why,
                           _aware(m.created_at) or since) for m in messages]
        delivered = {(m.title, m.body) for m in messages}
        for n in session.scalars(
                select(CoachNudge)
                .where(CoachNudge.patient_id == patient_id, CoachNudge.created_at >= since)
                .order_by(CoachNudge.created_at.desc()).limit(limit)):
            if (n.title, n.body) not in delivered:  # the inbox already holds what was sent
                items.append(InboxItem("nudge", n.priority, n.title, n.body, n.why,
                                       _aware(n.sent_at or n.created_at) or since))
    items.sort(key=lambda i: i.at, reverse=True)
    return items[:limit]
