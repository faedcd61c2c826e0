"""A clinic's engagement thresholds, on a page (issue 20; care/engagement_config.py).

Who: a nurse, for her own clinic (Hearth has no separate clinic-lead role: the clinic's
nurses are its clinical staff, and ``/staff/patients`` is theirs the same way), and an
admin, for any clinic (``?clinic=``). The thresholds are no one's health data and name no
patient. A change is checked as a whole (every error in words beside its field, nothing
saved unless all are right), CSRF-protected like every form, declared in STATE_CHANGES and
written to the audit log as "change engagement thresholds" against ``clinic:<id>``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from care import engagement_config as config
from core.appdb.audit_log import AuditEntry
from dashboard.security import User, accounts_of, now_of, require_role
from dashboard.views.common import engine_of, render

logger = logging.getLogger(__name__)

pages = APIRouter(include_in_schema=False)
Lead = Annotated[User, Depends(require_role("nurse", "admin"))]
AUDIT_PURPOSE = "change engagement thresholds"


def _clinic_of(user: User, asked: str | None) -> str | None:
    """The clinic this user may change: a nurse's own; an admin's choice (None: choose)."""
    if user.role == "admin":
        return asked or None
    if asked and asked != user.clinic_id:
        raise HTTPException(403, "a nurse changes the thresholds of her own clinic only")
    return user.clinic_id


def _page(request: Request, user: User, clinic_id: str | None, *,
          errors: dict[str, str] | None = None, sent: dict[str, str] | None = None,
          status_code: int = 200) -> HTMLResponse:
    engine = engine_of(request)
    current = config.read(engine, clinic_id) if clinic_id else None
    if clinic_id and current is None:
        raise HTTPException(404, "no such clinic")
    return render(request, user, "views/staff_engagement.html", {
        "current": current, "thresholds": config.thresholds(), "defaults": config.defaults(),
        "clinics": config.clinics(engine) if user.role == "admin" else {},
        "errors": errors or {}, "sent": sent or {},
        "saved": request.query_params.get("saved") == "1"}, status_code=status_code)


@pages.get("/staff/engagement", response_class=HTMLResponse)
def engagement_page(request: Request, user: Lead,
                    clinic: Annotated[str | None, Query(max_length=64)] = None) -> HTMLResponse:
    """The clinic's thresholds: what applies, Hearth's default beside it, who changed it."""
    return _page(request, user, _clinic_of(user, clinic))


@pages.post("/staff/engagement", response_class=HTMLResponse)
async def change_engagement(request: Request, user: Lead,
                            clinic_id: Annotated[str, Form(max_length=64)]) -> Response:
    clinic = _clinic_of(user, clinic_id)
    if clinic is None:
        raise HTTPException(422, "choose a clinic")
    form = await request.form()
    names = {t.name for t in config.thresholds()}
    sent = {k: str(v) for k, v in form.items() if k in names}
    try:
        overrides = config.check(sent)
    except config.ThresholdError as refused:
        return _page(request, user, clinic, errors=refused.errors, sent=sent, status_code=422)
    now = now_of(request)
    try:
        config.save(engine_of(request), clinic, overrides, by=user.id, now=now)
    except KeyError:
        raise HTTPException(404, "no such clinic") from None
    accounts_of(request).audit_log.record([AuditEntry(now, user.id, user.role, f"clinic:{clinic}",
                                                      AUDIT_PURPOSE, request.url.path)])
    logger.info("engagement thresholds of clinic %s changed by %s (%d overrides)", clinic,
                user.id, len(overrides))
    where = f"?clinic={clinic}&saved=1" if user.role == "admin" else "?saved=1"
    return RedirectResponse(f"/staff/engagement{where}", status_code=303)
