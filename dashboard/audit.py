"""The audit log: for admins everything, for a patient "who looked at my data"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from core.appdb.account_store import REFUSED, AuditEntry
from dashboard.security import CurrentUser, User, accounts_of, csrf_token, require_role
from dashboard.templating import templates

router = APIRouter(tags=["audit"])
Admin = Annotated[User, Depends(require_role("admin"))]
PatientUser = Annotated[User, Depends(require_role("patient"))]
Limit = Annotated[int, Query(ge=1, le=1000)]


class AuditOut(BaseModel):
    at: datetime
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


def _out(request: Request, entries: list[AuditEntry]) -> list[AuditOut]:
    names = {a.id: a.display_name for a in accounts_of(request).accounts()}
    return [AuditOut(at=e.at, actor_id=e.actor_id, actor_name=names.get(e.actor_id, e.actor_id),
                     actor_role=e.actor_role, patient_id=e.patient_id,
                     purpose=e.purpose.removeprefix(REFUSED), path=e.path, refused=e.refused)
            for e in entries]


@router.get("/api/me", response_model=MeOut)
def me(request: Request, user: CurrentUser) -> MeOut:
    """Who is signed in, and the token to send as X-CSRF-Token with unsafe requests."""
    return MeOut(id=user.id, role=user.role, display_name=user.display_name,
                 patient_id=user.patient_id, clinic_id=user.clinic_id,
                 csrf_token=csrf_token(request))


@router.get("/api/audit", response_model=list[AuditOut])
def audit_log(request: Request, user: Admin, patient_id: str | None = None,
              limit: Limit = 200, offset: Annotated[int, Query(ge=0)] = 0) -> list[AuditOut]:
    """Every read of a person's data by someone else, and every refused attempt, newest
    first (admins)."""
    return _out(request, accounts_of(request).audit_log(patient_id=patient_id, limit=limit,
                                                        offset=offset))


@router.get("/api/me/audit", response_model=list[AuditOut])
def my_audit_log(request: Request, user: PatientUser, limit: Limit = 200) -> list[AuditOut]:
    """Who looked at my data: reads of the signed-in patient's data by others."""
    return _out(request, accounts_of(request).audit_log(patient_id=user.patient_id,
                                                        limit=limit, refused=False))


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(request: Request, user: Admin) -> HTMLResponse:
    rows = audit_log(request, user, None, 500, 0)
    return templates.TemplateResponse(request, "audit.html", {
        "title": "Audit log", "rows": rows, "show_patient": True})


@router.get("/my-data/audit", response_class=HTMLResponse, include_in_schema=False)
def my_audit_page(request: Request, user: PatientUser) -> HTMLResponse:
    rows = my_audit_log(request, user, 500)
    return templates.TemplateResponse(request, "audit.html", {
        "title": "Who looked at my data", "rows": rows, "show_patient": False})
