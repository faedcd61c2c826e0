"""Reads and writes of the dashboard's own tables (core/appdb/reviews.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.appdb.reviews import GLUCOSE_UNITS, WEIGHT_UNITS, PatientReview, UserPreference
from core.i18n import LANGUAGES


@dataclass(frozen=True, slots=True)
class Prefs:
    glucose_units: str = "mg/dL"
    timezone: str | None = None  # None: show each patient's own time zone
    locale: str | None = None  # language of words and dates (core/i18n.py); None: the browser's
    weight_units: str = "kg"  # "kg" or "lb" (dashboard/views/units.py)

    def zone_for(self, patient_tz: str) -> str:
        return self.timezone or patient_tz


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def load_prefs(engine: Engine, user_id: str) -> Prefs:
    with Session(engine) as session:
        row = session.get(UserPreference, user_id)
        if row is None:
            return Prefs()
        return Prefs(row.glucose_units, row.timezone, row.locale, row.weight_units or "kg")


def save_prefs(engine: Engine, user_id: str, prefs: Prefs, *, now: datetime) -> Prefs:
    if prefs.glucose_units not in GLUCOSE_UNITS:
        raise ValueError(f"glucose units must be one of {', '.join(GLUCOSE_UNITS)}")
    if prefs.timezone is not None and not valid_timezone(prefs.timezone):
        raise ValueError(f"unknown time zone {prefs.timezone!r}")
    if prefs.weight_units not in WEIGHT_UNITS:
        raise ValueError(f"weight units must be one of {', '.join(WEIGHT_UNITS)}")
    if prefs.locale is not None and prefs.locale not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    with Session(engine) as session:
        row = session.get(UserPreference, user_id) or UserPreference(user_id=user_id)
        row.glucose_units = prefs.glucose_units
        row.timezone = prefs.timezone
        row.locale = prefs.locale
        row.weight_units = prefs.weight_units
        row.updated_at = now
        session.add(row)
        session.commit()
    return prefs


@dataclass(frozen=True, slots=True)
class Review:
    reviewer: str
    reviewed_at: datetime
    note: str


def add_review(engine: Engine, *, patient_id: str, reviewer_id: str, reviewer_name: str,
               note: str, now: datetime) -> Review:
    with Session(engine) as session:
        session.add(PatientReview(patient_id=patient_id, reviewer_id=reviewer_id,
                                  reviewer_name=reviewer_name, note=note.strip(),
                                  reviewed_at=now))
        session.commit()
    return Review(reviewer_name, now, note.strip())


def reviews_of(engine: Engine, patient_id: str, *, limit: int = 50) -> list[Review]:
    with Session(engine) as session:
        rows = session.scalars(select(PatientReview).where(PatientReview.patient_id == patient_id)
                               .order_by(PatientReview.reviewed_at.desc(), PatientReview.id.desc())
                               .limit(limit)).all()
        return [Review(r.reviewer_name, r.reviewed_at, r.note) for r in rows]


def last_reviews(engine: Engine) -> dict[str, Review]:
    """The newest review of every reviewed patient (for the triage list)."""
    with Session(engine) as session:
        newest = (select(PatientReview.patient_id, func.max(PatientReview.id).label("id"))
                  .group_by(PatientReview.patient_id).subquery())
        rows = session.scalars(
            select(PatientReview).join(newest, PatientReview.id == newest.c.id)
        ).all()
        return {r.patient_id: Review(r.reviewer_name, r.reviewed_at, r.note) for r in rows}
