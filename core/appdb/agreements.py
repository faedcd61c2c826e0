"""The service agreement of a clinic and what Hearth measured against it (issue 21; the
rules are care/agreements.py and care/ratings.py).

- ``service_standards``: the limits a clinic agreed to publish (one row per standard;
  a missing row is the documented default, docs/SERVICE.md).
- ``patient_service_standards``: a limit written with one patient, in place of her
  clinic's (her coach records what they agreed).
- ``service_measures``: one row per case measured against a standard (a patient's
  message waiting for a reply, an urgent alert waiting for staff, the gap between two
  reviews of a plan, a question to peers waiting for a coach, a formal request waiting
  for its answer): when the clock started, when it was due, when it was done, and when it
  was missed (``breached_at``: a breach); staff mark a breach seen in the clinic's queue.
- ``service_complaints``: a patient's formal request ("force a change": ask for a review,
  for a different coach, or something else), its status and the clinic's written answer,
  due by ``respond_by``.
- ``interaction_ratings``: one-tap ratings of a reply, an outreach contact, a check-in or
  a plan (helped / neutral / did not help), an optional comment, the patient's consent to
  publish it without her name, its moderation and the clinic's public answer.

User ids are plain strings (the accounts module owns users).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.appdb.models import Base

UTC_DATETIME = DateTime(timezone=True)
COMPLAINT_STATES = ("open", "answered")
RATINGS = ("helped", "neutral", "not_helped")
COMMENT_STATES = ("none", "pending", "published", "declined")
TEXT_MAX = 1000


def _now() -> datetime:
    return datetime.now(UTC)


class ServiceStandard(Base):
    __tablename__ = "service_standards"

    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"), primary_key=True)
    standard: Mapped[str] = mapped_column(String(32), primary_key=True)
    limit_value: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)


class PatientStandard(Base):
    """A limit written with one patient (her coach records it), in place of the clinic's."""

    __tablename__ = "patient_service_standards"

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    standard: Mapped[str] = mapped_column(String(32), primary_key=True)
    limit_value: Mapped[int] = mapped_column(Integer)
    agreed_by: Mapped[str] = mapped_column(String(128))
    agreed_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)


class ServiceMeasure(Base):
    __tablename__ = "service_measures"
    __table_args__ = (
        UniqueConstraint("standard", "ref", name="uq_service_measures_case"),
        Index("ix_service_measures_clinic_started", "clinic_id", "started_at"),
        Index("ix_service_measures_patient", "patient_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    clinic_id: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    standard: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(191))  # the case: a message, alert, question...
    limit_value: Mapped[int] = mapped_column(Integer)  # the agreement when the clock started
    started_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    due_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    done_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)
    breached_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)
    staff_seen_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)
    staff_seen_by: Mapped[str | None] = mapped_column(String(128), default=None)


class ServiceComplaint(Base):
    __tablename__ = "service_complaints"
    __table_args__ = (Index("ix_service_complaints_clinic_state", "clinic_id", "state"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    clinic_id: Mapped[str] = mapped_column(String(64))
    measure_id: Mapped[int | None] = mapped_column(ForeignKey("service_measures.id"),
                                                   default=None)
    ask: Mapped[str] = mapped_column(String(32))  # review, different_coach, other
    text: Mapped[str] = mapped_column(Text)
    publish: Mapped[bool] = mapped_column(Boolean, default=False)  # anonymised, with answer
    state: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)
    respond_by: Mapped[datetime] = mapped_column(UTC_DATETIME)
    response: Mapped[str | None] = mapped_column(Text, default=None)
    responded_by: Mapped[str | None] = mapped_column(String(128), default=None)
    responded_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)


class InteractionRating(Base):
    __tablename__ = "interaction_ratings"
    __table_args__ = (
        UniqueConstraint("patient_id", "kind", "ref", name="uq_interaction_ratings_once"),
        Index("ix_interaction_ratings_clinic_rated", "clinic_id", "rated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    clinic_id: Mapped[str | None] = mapped_column(String(64), default=None)
    kind: Mapped[str] = mapped_column(String(16))  # reply, outreach, check_in, plan
    ref: Mapped[str] = mapped_column(String(128))
    rating: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    publish: Mapped[bool] = mapped_column(Boolean, default=False)
    comment_state: Mapped[str] = mapped_column(String(16), default="none")
    rated_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)
    response: Mapped[str | None] = mapped_column(Text, default=None)  # the clinic's, public
    responded_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)
