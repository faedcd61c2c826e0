"""The audit log: for admins everything, for a patient "who looked at my data"."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.appdb.accounts import AuditEvent
from core.appdb.audit_log import REFUSED, AuditEntry
from dashboard.security import CurrentUser, User, accounts_of, csrf_token, require_role
from dashboard.timefields import ApiTime
from dashboard.views.common import engine_of, prefs_of, render

router = APIRouter(tags=["audit"])
Admin = Annotated[User, Depends(require_role("admin"))]
PatientUser = Annotated[User, Depends(require_role("patient"))]
Limit = Annotated[int, Query(ge=1, le=1000)]


class AuditOut(BaseModel):
    at: ApiTime
    actor_id: str
    actor_name: str
    actor_role: str
    patient_id: str
    purpose: str
    path: str
    refused: bool  # an attempt that was refused: nothing was shown


class MeOut(BaseModel):
    id: str
    role: str
    display_name: str
    patient_id: str | None
    clinic_id: str | None
    csrf_token: str


ROLE_NAMES = {"caregiver": "family member or carer", "coach": "coach", "nurse": "nurse",
              "admin": "administrator", "patient": "patient", "nightscout": "Nightscout app"}
Day = Annotated[date | None, Query(description="YYYY-MM-DD, in the viewer's time zone")]


def _out(request: Request, entries: list[AuditEntry]) -> list[AuditOut]:
    names = {a.id: a.display_name for a in accounts_of(request).users.all()}
    return [AuditOut(at=e.at, actor_id=e.actor_id, actor_name=names.get(e.actor_id, e.actor_id),
                     actor_role=e.actor_role, patient_id=e.patient_id,
                     purpose=e.purpose.removeprefix(REFUSED), path=e.path, refused=e.refused)
            for e in entries]


def _zone(request: Request, user: User) -> str:
    """The viewer's own time zone setting; for a patient, else their record's zone."""
    prefs = prefs_of(request, user)
    patient_tz = "UTC"
    if user.patient_id:
        patient = request.app.state.directory.patient(user.patient_id)
        patient_tz = patient.timezone if patient else "UTC"
    return prefs.zone_for(patient_tz)


def _day_start(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(tz)).astimezone(UTC)


def _entries(request: Request, *, patient_id: str | None = None, actor_id: str | None = None,
             since: datetime | None = None, until: datetime | None = None,
             refused: bool = True, limit: int = 200, offset: int = 0) -> list[AuditEntry]:
    """Audit rows, newest first, filtered by patient, reader and period [since, until)."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if patient_id:
        query = query.where(AuditEvent.patient_id == patient_id)
    if actor_id:
        query = query.where(AuditEvent.actor_id == actor_id)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    if not refused:
        query = query.where(AuditEvent.purpose.not_like(f"{REFUSED}%"))
    with Session(engine_of(request)) as session:
        rows = session.scalars(query.limit(limit).offset(offset))
        return [AuditEntry(r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC), r.actor_id,
                           r.actor_role, r.patient_id, r.purpose, r.path) for r in rows]


def _period(request: Request, user: User, since: date | None,
            until: date | None) -> tuple[datetime | None, datetime | None]:
    tz = _zone(request, user)
    return (_day_start(since, tz) if since else None,
            _day_start(until + timedelta(days=1), tz) if until else None)


@router.get("/api/me", response_model=MeOut)
def me(request: Request, user: CurrentUser) -> MeOut:
    """Who is signed in, and the token to send as X-CSRF-Token with unsafe requests."""
    return MeOut(id=user.id, role=user.role, display_name=user.display_name,
                 patient_id=user.patient_id, clinic_id=user.clinic_id,
                 csrf_token=csrf_token(request))


@router.get("/api/audit", response_model=list[AuditOut])
def audit_log(request: Request, user: Admin, patient_id: str | None = None,
              limit: Limit = 200, offset: Annotated[int, Query(ge=0)] = 0,
              actor_id: Annotated[str | None, Query(description="who read")] = None,
              since: Day = None, until: Day = None) -> list[AuditOut]:
    """Every read of a person's data by someone else, and every refused attempt, newest
    first (admins); by patient, by reader, and from ``since`` to ``until`` (whole days)."""
    start, end = _period(request, user, since, until)
    return _out(request, _entries(request, patient_id=patient_id, actor_id=actor_id,
                                  since=start, until=end, limit=limit, offset=offset))


@router.get("/api/me/audit", response_model=list[AuditOut])
def my_audit_log(request: Request, user: PatientUser, limit: Limit = 200) -> list[AuditOut]:
    """Who looked at my data: reads of the signed-in patient's data by others."""
    return _out(request, accounts_of(request).audit_log.entries(patient_id=user.patient_id,
                                                        limit=limit, refused=False))


def _form_day(value: str | None, name: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{name} must be a date like 2026-11-23")
        return None


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(request: Request, user: Admin, patient_id: str = "", actor_id: str = "",
               since: str = "", until: str = "") -> HTMLResponse:
    """The full audit log for admins, filtered by patient, reader and dates."""
    errors: list[str] = []
    first, last = _form_day(since, "From", errors), _form_day(until, "To", errors)
    rows = [] if errors else audit_log(request, user, patient_id.strip() or None, 500, 0,
                                       actor_id.strip() or None, first, last)
    directory = request.app.state.directory
    return render(request, user, "audit.html", {
        "title": "Audit log", "rows": rows, "admin": True, "tz": _zone(request, user),
        "role_names": ROLE_NAMES, "errors": errors,
        "filters": {"patient_id": patient_id, "actor_id": actor_id, "since": since,
                    "until": until},
        "patients": directory.patients(), "readers": accounts_of(request).users.all()})


@router.get("/my-data/audit", response_class=HTMLResponse, include_in_schema=False)
def my_audit_page(request: Request, user: PatientUser) -> HTMLResponse:
    """Who looked at my data: name and role, what, when (in the patient's time zone)."""
    rows = my_audit_log(request, user, 500)
    return render(request, user, "audit.html", {
        "title": "Who looked at my data", "rows": rows, "admin": False,
        "tz": _zone(request, user), "role_names": ROLE_NAMES, "errors": []})
