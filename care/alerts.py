"""What people do to the alerts and nudges the coach sent: acknowledge, snooze or resolve
an alert, answer a nudge ("useful" / "not useful").

The coach service opens alerts and runs their escalation ladders (coach/escalation.py);
the dashboard and the home display act on them through this module only, so the
dashboard never imports the coach service. Every action is a row in
coach_escalation_steps (who, when, at which step).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.appdb.coaching import CoachAlert, CoachNudge, EscalationStep
from core.clock import aware

logger = logging.getLogger(__name__)

OPEN = ("open", "snoozed")


def record_step(session: Session, alert: CoachAlert, index: int, role: str, recipient: str | None,
            action: str, now: datetime, by_user: str | None = None) -> None:
    session.add(EscalationStep(alert_id=alert.id, step=index, role=role,
                               recipient_id=recipient, action=action, by_user=by_user, at=now))


def acknowledge(
    session: Session, alert_id: str, by_user: str, now: datetime, *, role: str = "unknown",
    note: str | None = None,
) -> bool:
    """Stop the ladder: True if this acknowledgement did, False if it was no longer open
    (already acknowledged or resolved) or does not exist."""
    alert = session.get(CoachAlert, alert_id)
    if alert is None or alert.state not in OPEN:
        return False
    alert.state = "acknowledged"
    alert.acknowledged_by, alert.acknowledged_at = by_user, now
    alert.next_step_at = None
    if note:
        alert.note = note
    record_step(session, alert, alert.step, role, by_user, "acknowledged", now, by_user)
    session.flush()
    return True


def snooze(session: Session, alert_id: str, until: datetime, by_user: str, now: datetime) -> bool:
    """Hold an open alert until ``until`` (its ladder pauses and resumes then)."""
    alert = session.get(CoachAlert, alert_id)
    if alert is None or alert.state not in OPEN:
        return False
    alert.state, alert.snoozed_until = "snoozed", until
    if alert.kind == "escalation":
        alert.next_step_at = until
    record_step(session, alert, alert.step, "unknown", by_user, "snoozed", now, by_user)
    session.flush()
    return True


def resolve(session: Session, alert_id: str, by_user: str, now: datetime,
            note: str | None = None) -> bool:
    alert = session.get(CoachAlert, alert_id)
    if alert is None or alert.state == "resolved":
        return False
    alert.state, alert.resolved_at, alert.next_step_at = "resolved", now, None
    if note:
        alert.note = note
    record_step(session, alert, alert.step, "unknown", by_user, "resolved", now, by_user)
    session.flush()
    return True


def steps(session: Session, alert_id: str) -> list[EscalationStep]:
    return list(session.scalars(
        select(EscalationStep).where(EscalationStep.alert_id == alert_id)
        .order_by(EscalationStep.id)
    ))


def due_at(alert: CoachAlert) -> datetime | None:
    return aware(alert.next_step_at) if alert.next_step_at else None


def record_feedback(
    session: Session, nudge_id: str, *, useful: bool, by_user: str, now: datetime
) -> bool:
    """The patient answered a nudge; "not useful" lowers that nudge type for them.
    Returns False for an unknown nudge."""
    nudge = session.get(CoachNudge, nudge_id)
    if nudge is None:
        return False
    nudge.feedback = "useful" if useful else "not_useful"
    nudge.feedback_at = now
    logger.info("nudge %s feedback %s by %s", nudge_id, nudge.feedback, by_user)
    return True
