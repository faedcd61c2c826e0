"""The conversation between a patient and their coach: the thread with what each side has
not read yet, unread counts (the caseload, the patient's Today page), and marking read.

Messages are the in-app inbox's rows of kind "message" (core/appdb/delivery.py
``InboxMessage``): ``recipient_role`` says which side a message is for ("coach" when
the patient wrote it, "patient" when the coach did) and ``read_at`` when that side first
saw it. Functions take a session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.appdb.delivery import InboxMessage
from core.i18n import N_, say

MESSAGE = "message"
Side = Literal["patient", "coach"]


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    id: int
    author_role: str  # "patient" or "coach"
    author: str
    body: str
    at: datetime
    unread: bool  # not yet read by the viewer's side (always False for their own messages)


def thread(session: Session, patient_id: str, *, viewer: Side,
           limit: int = 100) -> list[ThreadMessage]:
    """The newest ``limit`` messages, oldest first, with what ``viewer``'s side has not read."""
    rows = session.scalars(
        select(InboxMessage)
        .where(InboxMessage.patient_id == patient_id, InboxMessage.kind == MESSAGE)
        .order_by(InboxMessage.created_at.desc(), InboxMessage.id.desc()).limit(limit)).all()
    return [ThreadMessage(r.id, "patient" if r.recipient_role == "coach" else "coach",
                          str(r.evidence.get("author_name", "")), r.body, _aware(r.created_at),
                          r.recipient_role == viewer and r.read_at is None)
            for r in reversed(rows)]


def unread_for_patient(session: Session, patient_id: str) -> int:
    """Messages from the care team the patient has not read yet (for the Today page)."""
    return int(session.scalar(select(func.count()).select_from(InboxMessage).where(
        InboxMessage.patient_id == patient_id, InboxMessage.kind == MESSAGE,
        InboxMessage.recipient_role == "patient", InboxMessage.read_at.is_(None))) or 0)


def unread_for_coach(session: Session, patient_ids: Collection[str]) -> dict[str, int]:
    """Per patient, the messages they wrote that the care team has not read (one query)."""
    if not patient_ids:
        return {}
    rows = session.execute(
        select(InboxMessage.patient_id, func.count()).where(
            InboxMessage.patient_id.in_(list(patient_ids)), InboxMessage.kind == MESSAGE,
            InboxMessage.recipient_role == "coach", InboxMessage.read_at.is_(None))
        .group_by(InboxMessage.patient_id)).all()
    return {str(pid): int(n) for pid, n in rows}


def mark_read(session: Session, patient_id: str, *, reader: Side, now: datetime) -> int:
    """The ``reader`` side has seen the thread: its unread messages are read now."""
    result = session.execute(
        update(InboxMessage).where(
            InboxMessage.patient_id == patient_id, InboxMessage.kind == MESSAGE,
            InboxMessage.recipient_role == reader, InboxMessage.read_at.is_(None))
        .values(read_at=now).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def _aware(when: datetime) -> datetime:
    """SQLite hands timestamps back naive (in UTC)."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# -- telling the patient a message is there: within the dispatcher's budget ----------------
# A coach's message is kept in the thread at once (above); the patient is *told* of it by
# the coach service, through the same attention policy as any motivational nudge (quiet
# hours, the daily budget, the morning digest: docs/DESIGN.md §5). The dashboard never
# imports the coach: it leaves a "pending" notification row in coach_nudges here, and the
# coach's dispatcher routes it (coach/dispatch.py ``route_coach_messages``): live within
# quiet hours and budget, else held for the digest.
COACH_MESSAGE = "coach_message"
PENDING = "pending"


def notify_patient(session: Session, *, patient_id: str, author_name: str,
                   now: datetime) -> None:
    """Ask the coach service to tell the patient that her coach wrote (in the caller's
    transaction, beside the message itself). The notification carries no text of the
    message (a home display is seen by the household): who wrote, and where to read it."""
    from core.appdb.coaching import CoachNudge, new_id

    session.add(CoachNudge(
        id=new_id(), patient_id=patient_id, flag_id=None, kind="message",
        flag_type=COACH_MESSAGE, priority="normal",
        title=say("A message from {name}", name=author_name)[:200],
        body=N_("Your coach wrote to you: read it on your Goals page in Hearth."),
        why=N_("Your coach sent you a personal message."),
        evidence={"author_name": author_name}, status=PENDING, counts_to_budget=False,
        created_at=now, sent_at=None))
