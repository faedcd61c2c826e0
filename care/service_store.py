"""The service agreement, requests and ratings over the application database, one
transaction each, as the dashboard's pages use them (the rules are care/agreements.py
and care/ratings.py, which take a session and never commit). Who may call what is
decided by dashboard/security.py; the rows handed back are detached, to read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care import agreements, ratings
from core.appdb.accounts import Clinic
from core.appdb.agreements import InteractionRating, ServiceComplaint

T = TypeVar("T")


def _write(engine: Engine, action: Callable[[Session], T]) -> T:
    with Session(engine) as session:
        result = action(session)
        session.commit()
        return result


def _read(engine: Engine, action: Callable[[Session], T]) -> T:
    with Session(engine) as session:
        return action(session)


@dataclass(frozen=True, slots=True)
class PatientService:
    clinic_id: str | None
    clinic_name: str | None
    promises: list[tuple[str, str]]
    personal: dict[str, int]  # limits written with her
    clinic_limits: dict[str, int]
    breaches: list[agreements.Breach]
    requests: list[ServiceComplaint]
    rateable: list[ratings.Rateable]


def patient_service(engine: Engine, patient_id: str, now: datetime) -> PatientService:
    """Her page, measured first (care.agreements.refresh)."""
    agreements.refresh(engine, now, patient_ids=[patient_id])

    def read(session: Session) -> PatientService:
        clinic_id = agreements.clinic_of(session, patient_id)
        clinic = session.get(Clinic, clinic_id) if clinic_id else None
        return PatientService(
            clinic_id, clinic.name if clinic else None,
            agreements.promises(agreements.agreement(session, clinic_id, patient_id))
            if clinic_id else [],
            agreements.personal(session, [patient_id]).get(patient_id, {}),
            agreements.agreement(session, clinic_id) if clinic_id else {},
            agreements.breaches_of(session, patient_id, now),
            agreements.requests_of(session, patient_id),
            ratings.rateable(session, patient_id, now))

    return _read(engine, read)


def raise_request(engine: Engine, patient_id: str, *, ask: str, text: str, publish: bool,
                  measure_id: int | None, now: datetime) -> str:
    return _write(engine, lambda s: agreements.raise_request(
        s, patient_id, ask=ask, text=text, publish=publish, measure_id=measure_id,
        now=now).id)


def rate(engine: Engine, patient_id: str, *, kind: str, ref: str, rating: str, comment: str,
         publish: bool, now: datetime) -> None:
    _write(engine, lambda s: ratings.rate(s, patient_id, kind=kind, ref=ref, rating=rating,
                                          comment=comment, publish=publish, now=now))


def set_personal(engine: Engine, patient_id: str, values: Mapping[str, int | None], *,
                 by: str, now: datetime) -> None:
    """The limits agreed with her, all or none (a refused one saves nothing)."""
    def write(session: Session) -> None:
        for key, value in values.items():
            agreements.set_personal_limit(session, patient_id, key, value, by=by, now=now)

    _write(engine, write)


def reply_ratings(engine: Engine, patient_id: str, now: datetime) -> dict[str, str | None]:
    """Her coach's replies she may rate, with her rating (the message thread)."""
    return _read(engine, lambda s: {r.ref: r.rating for r in ratings.rateable(
        s, patient_id, now) if r.kind == "reply"})


# -- the clinic's queue ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ClinicQueue:
    breaches: list[agreements.Breach]
    requests: list[ServiceComplaint]
    comments: list[InteractionRating]
    limits: dict[str, int]


def clinic_queue(engine: Engine, clinic_id: str, now: datetime) -> ClinicQueue:
    """The clinic's queue, measured first; the caller keeps only the patients its viewer
    may see."""
    agreements.refresh(engine, now, clinic_ids=[clinic_id])
    return _read(engine, lambda s: ClinicQueue(
        agreements.clinic_queue(s, clinic_id, now), agreements.clinic_requests(s, clinic_id),
        ratings.comments_to_moderate(s, clinic_id), agreements.agreement(s, clinic_id)))


def breach_patient(engine: Engine, measure_id: int) -> str | None:
    found = _read(engine, lambda s: agreements.measure_subject(s, measure_id))
    return found[0] if found else None


def request_patient(engine: Engine, request_id: str) -> str | None:
    return _read(engine, lambda s: s.scalar(select(ServiceComplaint.patient_id).where(
        ServiceComplaint.id == request_id)))


def rating_patient(engine: Engine, rating_id: int) -> str | None:
    return _read(engine, lambda s: s.scalar(select(InteractionRating.patient_id).where(
        InteractionRating.id == rating_id)))


def mark_seen(engine: Engine, measure_id: int, clinic_id: str, *, by: str,
              now: datetime) -> None:
    _write(engine, lambda s: agreements.mark_seen(s, measure_id, clinic_id, by=by, now=now))


def answer_request(engine: Engine, request_id: str, clinic_id: str, *, by: str,
                   response: str, now: datetime) -> None:
    _write(engine, lambda s: agreements.answer_request(s, request_id, clinic_id, by=by,
                                                       response=response, now=now))


def moderate(engine: Engine, rating_id: int, clinic_id: str, *, publish: bool,
             response: str, now: datetime) -> None:
    _write(engine, lambda s: ratings.moderate(s, rating_id, clinic_id, publish=publish,
                                              response=response, now=now))


def publish_agreement(engine: Engine, clinic_id: str, values: Mapping[str, int], *,
                      by: str, now: datetime) -> None:
    """The clinic's new limits, those that changed, all or none."""
    def write(session: Session) -> None:
        current = agreements.agreement(session, clinic_id)
        for key, value in values.items():
            if value != current.get(key):
                agreements.set_limit(session, clinic_id, key, value, by=by, now=now)

    _write(engine, write)


# -- every clinic's page ---------------------------------------------------------------------

def clinics(engine: Engine) -> list[tuple[str, str]]:
    return _read(engine, lambda s: [(c.id, c.name) for c in s.scalars(
        select(Clinic).order_by(Clinic.name))])


@dataclass(frozen=True, slots=True)
class ClinicPage:
    name: str
    report: ratings.ClinicReport
    authors: list[str]  # patients whose approved comments it shows (their reads audited)


def clinic_page(engine: Engine, clinic_id: str, now: datetime) -> ClinicPage | None:
    def read(session: Session) -> ClinicPage | None:
        clinic = session.get(Clinic, clinic_id)
        if clinic is None:
            return None
        return ClinicPage(clinic.name, ratings.clinic_report(session, clinic_id, now),
                          ratings.published_authors(session, clinic_id))

    return _read(engine, read)
