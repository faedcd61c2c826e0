"""Outcomes that matter to the person (issue 21): her own words for what she wants from
her care ("walk to the shops without stopping", "sleep through"), each rated 0-10 by her
over time. The rules (how many, what a rating is, the trend) live in care/outcomes.py.

``personal_outcomes``: one row per outcome; retiring one keeps it and its ratings (the
record stays whole) but takes it off her list. ``outcome_ratings``: one row per rating.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.appdb.models import Base

TEXT_MAX = 120


def _now() -> datetime:
    return datetime.now(UTC)


class PersonalOutcome(Base):
    __tablename__ = "personal_outcomes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    text: Mapped[str] = mapped_column(String(TEXT_MAX))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class OutcomeRating(Base):
    __tablename__ = "outcome_ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outcome_id: Mapped[str] = mapped_column(ForeignKey("personal_outcomes.id"), index=True)
    score: Mapped[int] = mapped_column(Integer)
    rated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
