"""Dashboard state: each user's display preferences, the nurse's patient reviews, and the
triage boards shared by the dashboard's server processes.

``user_id`` is the account id as text (the accounts module owns the accounts);
no foreign key, so this table does not depend on how accounts are stored.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.appdb.models import Base

GLUCOSE_UNITS = ("mg/dL", "mmol/L")
WEIGHT_UNITS = ("kg", "lb")


def _now() -> datetime:
    return datetime.now(UTC)


class UserPreference(Base):
    """How one user wants to see numbers and words: glucose units, time zone, language."""

    __tablename__ = "user_preferences"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    glucose_units: Mapped[str] = mapped_column(String(8), default="mg/dL")
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)  # None: the patient's
    # The one language and locale preference (a BCP 47 tag: "en", "pl", "ur"; "en-GB"):
    # the words of pages and messages (core/i18n.py) and the format of dates. None: the
    # browser's Accept-Language on pages, English for messages sent.
    locale: Mapped[str | None] = mapped_column(String(16), default=None)
    # "kg" or "lb" (WEIGHT_UNITS); None reads as kg (migration weightunits01)
    weight_units: Mapped[str | None] = mapped_column(String(4), default=None)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class PatientReview(Base):
    """A clinician reviewed a patient's data: who, when, and their note."""

    __tablename__ = "patient_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    reviewer_id: Mapped[str] = mapped_column(String(128))
    reviewer_name: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    reviewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class TriageBoardRecord(Base):
    """A nurse's triage board for one set of patients and one refresh period, built once
    for every server process (core/appdb/shared_boards.py). ``payload`` is empty
    while the process that claimed the build is still computing it."""

    __tablename__ = "triage_boards"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the ids
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    claimed_by: Mapped[str] = mapped_column(String(64))
    claimed_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[str | None] = mapped_column(Text, default=None)
