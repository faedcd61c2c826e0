"""Outcomes that matter to me (issue 21; care/outcomes.py): the patient names her own
outcomes, rates them 0-10 and retires them on ``/patients/{id}/outcomes``; she sees them
with their latest rating and trend on her Today page, and her coach sees them on the
patient's page in the caseload (``patient_outcomes`` in the templates).

Only the patient herself writes (``self_only``; STATE_CHANGES in dashboard/security.py).
Her coach and nurse read the list through the same single check, audited
(``patient_access``); a caregiver does not (it is not one of the scopes she shares).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from care import outcomes
from care.outcome_store import OutcomeStore
from core.appdb.outcomes import TEXT_MAX
from dashboard.security import (
    PatientAccess,
    User,
    accounts_of,
    may_see,
    now_of,
    patient_access,
    require_role,
)
from dashboard.views.common import engine_of, render, templates

READERS = ("patient", "coach", "nurse")

pages = APIRouter(include_in_schema=False)
ReadAccess = Annotated[PatientAccess, Depends(patient_access("outcomes that matter to them"))]
OwnAccess = Annotated[PatientAccess, Depends(patient_access("own outcomes", self_only=True))]


def _page(request: Request, access: PatientAccess, error: str | None = None,
          status_code: int = 200) -> HTMLResponse:
    listed = OutcomeStore(engine_of(request)).active(access.patient.id)
    own = access.user.patient_id == access.patient.id
    return render(request, access.user, "views/patient_outcomes.html", {
        "patient": access.patient, "outcomes": listed, "own": own, "error": error,
        "max_active": outcomes.MAX_ACTIVE, "text_max": TEXT_MAX,
        "scores": range(outcomes.SCORE_MIN, outcomes.SCORE_MAX + 1)},
        status_code=status_code)


def _back(access: PatientAccess, back: str) -> RedirectResponse:
    """Back to the outcomes page, or to her Today page when she rated it there."""
    today = f"/patients/{access.patient.id}/today"
    target = today if back == today else f"/patients/{access.patient.id}/outcomes"
    return RedirectResponse(target, status_code=303)


@pages.get("/patients/{patient_id}/outcomes", response_class=HTMLResponse,
           dependencies=[Depends(require_role(*READERS))])
def outcomes_page(request: Request, access: ReadAccess) -> HTMLResponse:
    return _page(request, access)


@pages.post("/patients/{patient_id}/outcomes", response_class=HTMLResponse)
def add(request: Request, access: OwnAccess,
        text: Annotated[str, Form(max_length=1000)] = "") -> Any:
    try:
        OutcomeStore(engine_of(request)).add(access.patient.id, text, access.user.id,
                                             now_of(request))
    except outcomes.OutcomeError as refused:
        return _page(request, access, error=str(refused), status_code=422)
    return _back(access, "")


@pages.post("/patients/{patient_id}/outcomes/{outcome_id}/rate")
def rate(request: Request, access: OwnAccess, outcome_id: str,
         score: Annotated[int, Form(ge=outcomes.SCORE_MIN, le=outcomes.SCORE_MAX)],
         back: Annotated[str, Form(max_length=200)] = "") -> RedirectResponse:
    try:
        OutcomeStore(engine_of(request)).rate(access.patient.id, outcome_id, score,
                                              now_of(request))
    except LookupError as missing:
        raise HTTPException(404, "no such outcome on your list") from missing
    return _back(access, back)


@pages.post("/patients/{patient_id}/outcomes/{outcome_id}/retire")
def retire(request: Request, access: OwnAccess, outcome_id: str) -> RedirectResponse:
    try:
        OutcomeStore(engine_of(request)).retire(access.patient.id, outcome_id, now_of(request))
    except LookupError as missing:
        raise HTTPException(404, "no such outcome on your list") from missing
    return _back(access, "")


def patient_outcomes(request: Request, viewer: Any, patient_id: str) -> list[outcomes.Outcome]:
    """For the templates (patient_today.html, coach_patient.html): the patient's active
    outcomes, for the patient herself or a coach or nurse who may see her. The page that
    calls it has already authorised and audited the viewer's read of this patient; this
    checks again so that a template can never show them to anyone else."""
    if not isinstance(viewer, User) or viewer.role not in READERS:
        return []
    if viewer.patient_id != patient_id and (
            viewer.role == "patient"
            or not may_see(accounts_of(request), viewer, patient_id, "readings")):
        return []
    return OutcomeStore(engine_of(request)).active(patient_id)


templates.env.globals["patient_outcomes"] = patient_outcomes
