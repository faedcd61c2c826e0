"""The nurse's reviews of a patient (core/appdb/reviews.py ``PatientReview``): who
reviewed, when, with which note."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.appdb.reviews import PatientReview


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
