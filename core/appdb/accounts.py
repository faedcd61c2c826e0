"""Accounts and who may see whom: users, clinics, care teams, caregiver shares,
server-side sessions, login attempts and the audit log (docs/DESIGN.md §4).

The rules themselves live in one place in the dashboard (dashboard/security.py);
these tables only record the relations the rules read.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.appdb.models import Base

ROLES = ("patient", "caregiver", "coach", "nurse", "admin")
CARE_TEAM_ROLES = ("coach", "nurse")
# What a patient can share with a caregiver; a route names the scope it reads.
# "questions": the caregiver may ask peers questions on the patient's behalf (issue 21).
SHARE_SCOPES = ("readings", "trends", "nudges", "goals", "alerts", "export", "questions")


def _now() -> datetime:
    return datetime.now(UTC)


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class ClinicPatient(Base):
    """The clinic a patient is registered with (one at a time)."""

    __tablename__ = "clinic_patients"

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"), index=True)


class User(Base):
    """A login. ``id`` is the login name; a patient's account links to their record."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    patient_id: Mapped[str | None] = mapped_column(
        ForeignKey("patients.id"), default=None, unique=True
    )
    clinic_id: Mapped[str | None] = mapped_column(ForeignKey("clinics.id"), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class CareTeam(Base):
    __tablename__ = "care_teams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    clinic_id: Mapped[str | None] = mapped_column(ForeignKey("clinics.id"), default=None)


class CareTeamMember(Base):
    """A coach or nurse in a care team."""

    __tablename__ = "care_team_members"

    team_id: Mapped[str] = mapped_column(ForeignKey("care_teams.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)


class CareTeamPatient(Base):
    """A patient assigned to a care team."""

    __tablename__ = "care_team_patients"

    team_id: Mapped[str] = mapped_column(ForeignKey("care_teams.id"), primary_key=True)
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id"), primary_key=True, index=True
    )


class CaregiverShare(Base):
    """What a patient shares with a caregiver, and whether urgent alerts go to them."""

    __tablename__ = "caregiver_shares"

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    caregiver_id: Mapped[str] = mapped_column(
        ForeignKey("users.id"), primary_key=True, index=True
    )
    scopes: Mapped[list[str]] = mapped_column(default=list)
    urgent_alerts: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class LoginSession(Base):
    """A server-side session; the cookie holds a token, the table only its SHA-256."""

    __tablename__ = "login_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LoginAttempt(Base):
    """Each login try, for rate limiting by account and by address."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)


class AuditEvent(Base):
    """Someone other than the patient read the patient's data: who, whose, what, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor_id: Mapped[str] = mapped_column(String(128), index=True)
    actor_role: Mapped[str] = mapped_column(String(16))
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(300), default="")
