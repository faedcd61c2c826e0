"""Outreach by a person, and the advocate of a vulnerable patient (issue 20; the rules are
care/outreach.py and care/advocates.py).

- ``outreach_tasks``: someone should contact this patient (opened by the coach's
  dispatcher when it holds back a nudge to a disengaged person, by the daily engagement
  job, or by hand), with its due time and state (open, done). One open task per patient.
- ``outreach_contacts``: each contact made (who contacted whom, how, the outcome, the
  next step and its due date): the record that closes the loop.
- ``advocates``: the one named person (a coach or a family member the patient
  nominated) responsible for a patient across conditions.

User ids are plain strings (the accounts module owns them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Date, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.appdb.models import Base

TASK_STATES = ("open", "done")
METHODS = ("phone", "video", "home visit", "message", "letter", "in clinic")
OUTCOMES = ("reached", "no answer", "left a message", "declined", "wrong number")


def _now() -> datetime:
    return datetime.now(UTC)


class OutreachTask(Base):
    __tablename__ = "outreach_tasks"
    __table_args__ = (Index("ix_outreach_tasks_patient_state", "patient_id", "state"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(128))  # a user id, or "system"
    state: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # nudges the dispatcher held back while this task was open (figures, the coach's page)
    held_nudges: Mapped[int] = mapped_column(Integer, default=0)
    first_contact_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                              default=None)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    closed_by: Mapped[str | None] = mapped_column(String(128), default=None)


class OutreachContact(Base):
    __tablename__ = "outreach_contacts"
    __table_args__ = (Index("ix_outreach_contacts_patient_at", "patient_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str | None] = mapped_column(String(32), default=None)
    patient_id: Mapped[str] = mapped_column(String(128))
    by_user: Mapped[str] = mapped_column(String(128))
    by_name: Mapped[str] = mapped_column(String(200))
    by_role: Mapped[str] = mapped_column(String(16))
    contacted: Mapped[str] = mapped_column(String(200))  # "the patient", "her daughter", ...
    method: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    next_step: Mapped[str] = mapped_column(Text, default="")
    next_due: Mapped[date | None] = mapped_column(Date, default=None)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Advocate(Base):
    __tablename__ = "advocates"

    patient_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    advocate_id: Mapped[str] = mapped_column(String(128), index=True)
    advocate_role: Mapped[str] = mapped_column(String(16))  # coach or caregiver
    reason: Mapped[str] = mapped_column(Text, default="")
    named_by: Mapped[str] = mapped_column(String(128))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
