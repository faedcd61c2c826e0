"""Coaching state: flags, nudges, alerts, escalation steps, per-patient coaching
preferences and cool-down bookkeeping (written by coach/dispatch.py and
coach/escalation.py).

User ids (caregiver, coach, nurse, who acknowledged) are plain strings: the accounts
module owns users, and these tables do not depend on how accounts are stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.appdb.models import Base

NUDGE_STATUSES = ("sent", "queued", "digested")  # queued: waits for the morning digest
ALERT_STATES = ("open", "acknowledged", "snoozed", "resolved")


def _now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid4().hex


class CoachingPreference(Base):
    """How and when one patient wants to be nudged, and who is on their alert ladder."""

    __tablename__ = "coaching_preferences"

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)  # None: patient's
    quiet_start: Mapped[str] = mapped_column(String(5), default="22:00")  # local HH:MM
    quiet_end: Mapped[str] = mapped_column(String(5), default="07:00")
    daily_budget: Mapped[int] = mapped_column(Integer, default=3)
    rule_tuning: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The caregiver the patient opted in to urgent alerts (None: nobody); the consent
    # itself is core/appdb/accounts.py CaregiverShare.urgent_alerts.
    caregiver_id: Mapped[str | None] = mapped_column(String(128), default=None)
    coach_id: Mapped[str | None] = mapped_column(String(128), default=None)
    nurse_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # {"patient": minutes, "caregiver": minutes, "coach": minutes} before the next step
    escalation_minutes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class CoachFlag(Base):
    """A rule's finding, as the dispatcher received it, and what became of it."""

    __tablename__ = "coach_flags"
    __table_args__ = (Index("ix_coach_flags_patient_created", "patient_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    flag_type: Mapped[str] = mapped_column(String(64))
    group: Mapped[str] = mapped_column("flag_group", String(128))
    key: Mapped[str] = mapped_column("flag_key", String(128), default="")
    severity: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(16))
    explanation: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # sent / queued (the patient's nudge) + "+coach" / "+nurse" (alerts), or escalated
    outcome: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class CoachNudge(Base):
    """A message to the patient: sent now, or queued for (and then part of) a digest."""

    __tablename__ = "coach_nudges"
    __table_args__ = (
        Index("ix_coach_nudges_patient_status", "patient_id", "status"),
        Index("ix_coach_nudges_patient_created", "patient_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    flag_id: Mapped[str | None] = mapped_column(ForeignKey("coach_flags.id"), default=None)
    kind: Mapped[str] = mapped_column(String(16))  # nudge, positive, digest
    flag_type: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    why: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))  # sent, queued, digested
    counts_to_budget: Mapped[bool] = mapped_column(default=False)
    digest_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    feedback: Mapped[str | None] = mapped_column(String(16), default=None)  # "not_useful"
    feedback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # Never read; it tells the unit of work to insert a flag before the nudges that point at
    # it, so the dispatcher can add a chunk of patients' rows and flush them once.
    flag: Mapped[CoachFlag | None] = relationship(lazy="raise")


class CoachAlert(Base):
    """An alert to the care team (coach or nurse), and the urgent ladder's state."""

    __tablename__ = "coach_alerts"
    __table_args__ = (
        Index("ix_coach_alerts_state", "state"),
        Index("ix_coach_alerts_patient", "patient_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    flag_id: Mapped[str | None] = mapped_column(ForeignKey("coach_flags.id"), default=None)
    flag_type: Mapped[str] = mapped_column(String(64))
    group: Mapped[str] = mapped_column("flag_group", String(128), default="")
    kind: Mapped[str] = mapped_column(String(16))  # alert, clinical_alert, escalation
    audience: Mapped[str] = mapped_column(String(16))  # coach or nurse (first reader)
    priority: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    why: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="open")
    note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # the ladder: the index of the last step taken, and when the next is due (None: none)
    ladder: Mapped[list[str]] = mapped_column(JSON, default=list)  # roles, in order
    step: Mapped[int] = mapped_column(Integer, default=-1)
    next_step_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    flag: Mapped[CoachFlag | None] = relationship(lazy="raise")  # insert order only (above)


class EscalationStep(Base):
    """One recorded step of an alert's ladder: who was told, skipped, or acknowledged."""

    __tablename__ = "coach_escalation_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("coach_alerts.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[str | None] = mapped_column(String(128), default=None)
    action: Mapped[str] = mapped_column(String(16))  # notified, skipped, acknowledged, exhausted
    by_user: Mapped[str | None] = mapped_column(String(128), default=None)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    alert: Mapped[CoachAlert] = relationship(lazy="raise")  # insert order only (above)


class CoachCooldown(Base):
    """The last message sent for one patient and flag group: the cool-down's memory."""

    __tablename__ = "coach_cooldowns"

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    group: Mapped[str] = mapped_column("flag_group", String(128), primary_key=True)
    last_key: Mapped[str] = mapped_column(String(128), default="")
    last_level: Mapped[int] = mapped_column(Integer)  # lower = more important
    last_sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
