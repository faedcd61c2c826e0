"""Nightscout tokens on the patient's Sharing page: a read-only token for a follower app
(a caregiver's Nightscout follower, a watch face, xDrip+ in follower mode), shown once,
listed, revoked. Revoking takes effect at the next request (dashboard/nightscout.py checks
the token at every use, and JWTs name the token, dashboard/nightscout_tokens.py).

The patient alone makes and revokes her tokens (``OwnAccess``, STATE_CHANGES in
dashboard/security.py); each issue and revocation is in the audit log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from core.appdb.audit_log import AuditEntry
from dashboard.nightscout_tokens import NightscoutTokens, TokenInfo
from dashboard.security import now_of
from dashboard.views.common import engine_of, render
from dashboard.views.selfcare import OwnAccess, back, own

pages = APIRouter(include_in_schema=False)


def tokens_of(request: Request, patient_id: str) -> list[TokenInfo]:
    """The patient's follower tokens, newest first (for the Sharing page)."""
    return sorted(NightscoutTokens(engine_of(request)).of_patient(patient_id),
                  key=lambda t: t.created_at, reverse=True)


def _audit(request: Request, access: Any, what: str) -> None:
    request.app.state.accounts.audit_log.record([AuditEntry(
        now_of(request), access.user.id, access.user.role, access.patient.id, what,
        request.url.path)])


@pages.post("/patients/{patient_id}/nightscout-tokens", response_class=HTMLResponse)
async def create_token(request: Request, access: OwnAccess) -> HTMLResponse:
    """Make a read-only token and show it this once (never in a URL, never stored)."""
    own(access)
    form = await request.form()
    holder = str(form.get("holder", "")).strip()
    tokens = NightscoutTokens(engine_of(request))
    try:
        issued = await run_in_threadpool(lambda: tokens.issue(
            access.patient.id, holder, created_by=access.user.id, now=now_of(request)))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    await run_in_threadpool(_audit, request, access,
                            f"Nightscout token issued: {issued.info.id} (readable)")
    return render(request, access.user, "views/patient_nightscout_token.html", {
        "patient": access.patient, "issued": issued,
        "site": str(request.base_url).rstrip("/")})


@pages.post("/patients/{patient_id}/nightscout-tokens/{token_id}/revoke")
async def revoke_token(request: Request, access: OwnAccess, token_id: str) -> RedirectResponse:
    own(access)
    tokens = NightscoutTokens(engine_of(request))
    done = await run_in_threadpool(lambda: tokens.revoke(access.patient.id, token_id,
                                                         now=now_of(request)))
    if not done:
        raise HTTPException(404, "you have no such active token")
    await run_in_threadpool(_audit, request, access, f"Nightscout token revoked: {token_id}")
    return back(f"/patients/{access.patient.id}/sharing?revoked=1#nightscout")
