"""Engagement: each patient's daily engagement state (kept as history) and each clinic's
tuning of the thresholds (issue 20; the evaluation itself is care/engagement.py).

- ``engagement_states``: one row per patient and day (the patient's local date of the
  evaluation), with the state (engaged, slipping, disengaged), the points behind it and
  the evidence in words. Re-evaluating the same day replaces that day's row; earlier
  days stay: the history a coach reads back.
- ``engagement_settings``: a clinic's overrides of care/engagement.py's default
  thresholds (a JSON object of the names of ``EngagementSettings``' fields).

User and clinic ids are plain strings (the accounts module owns them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.appdb.models import Base

STATES = ("engaged", "slipping", "disengaged")


def _now() -> datetime:
    return datetime.now(UTC)


class EngagementState(Base):
    __tablename__ = "engagement_states"
    __table_args__ = (
        UniqueConstraint("patient_id", "day", name="uq_engagement_states_day"),
        Index("ix_engagement_states_patient_day", "patient_id", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(String(128))
    day: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16))
    points: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)  # 0 engaged .. 1 fully disengaged
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)  # plain words
    signals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the numbers
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class EngagementSetting(Base):
    __tablename__ = "engagement_settings"

    clinic_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column("settings", JSON, default=dict)
    updated_by: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


@dataclass(frozen=True, slots=True)
class StateRow:
    patient_id: str
    day: date
    state: str
    points: float
    score: float
    evidence: tuple[str, ...]
    computed_at: datetime


def _row(r: EngagementState) -> StateRow:
    at = r.computed_at if r.computed_at.tzinfo else r.computed_at.replace(tzinfo=UTC)
    return StateRow(r.patient_id, r.day, r.state, float(r.points), float(r.score),
                    tuple(r.evidence or ()), at)


def save_state(session: Session, *, patient_id: str, day: date, state: str, points: float,
               score: float, evidence: Iterable[str], signals: dict[str, Any],
               now: datetime) -> None:
    """Record one day's state (replacing an earlier evaluation of the same day)."""
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}")
    row = session.scalar(select(EngagementState).where(
        EngagementState.patient_id == patient_id, EngagementState.day == day))
    if row is None:
        row = EngagementState(patient_id=patient_id, day=day)
        session.add(row)
    row.state, row.points, row.score = state, points, score
    row.evidence, row.signals, row.computed_at = list(evidence), dict(signals), now


def latest_states(session: Session, patient_ids: Iterable[str]) -> dict[str, StateRow]:
    """The newest recorded state of each of these patients (absent: never evaluated)."""
    ids = list(dict.fromkeys(patient_ids))
    out: dict[str, StateRow] = {}
    for k in range(0, len(ids), 500):
        part = ids[k:k + 500]
        newest = (select(EngagementState.patient_id, func.max(EngagementState.day).label("d"))
                  .where(EngagementState.patient_id.in_(part))
                  .group_by(EngagementState.patient_id).subquery())
        for r in session.scalars(select(EngagementState).join(
                newest, (EngagementState.patient_id == newest.c.patient_id)
                & (EngagementState.day == newest.c.d))):
            out[r.patient_id] = _row(r)
    return out


def history(session: Session, patient_id: str, *, limit: int = 60) -> list[StateRow]:
    """A patient's states, newest first."""
    return [_row(r) for r in session.scalars(
        select(EngagementState).where(EngagementState.patient_id == patient_id)
        .order_by(EngagementState.day.desc()).limit(limit))]


def first_disengaged(session: Session, patient_id: str, *, since: date) -> date | None:
    """The first day since ``since`` on which the patient was recorded disengaged."""
    day: date | None = session.scalar(
        select(func.min(EngagementState.day)).where(
            EngagementState.patient_id == patient_id, EngagementState.state == "disengaged",
            EngagementState.day >= since))
    return day


def clinic_settings(session: Session, clinic_id: str | None) -> dict[str, Any]:
    """A clinic's overrides (empty: the defaults)."""
    if not clinic_id:
        return {}
    row = session.get(EngagementSetting, clinic_id)
    return dict(row.values or {}) if row is not None else {}


def set_clinic_settings(session: Session, clinic_id: str, values: dict[str, Any], *,
                        by: str, now: datetime) -> None:
    row = session.get(EngagementSetting, clinic_id)
    if row is None:
        row = EngagementSetting(clinic_id=clinic_id)
        session.add(row)
    row.values, row.updated_by, row.updated_at = dict(values), by, now
