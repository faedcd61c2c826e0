"""Outreach, advocates and care partners (issue 20): the "needs outreach" bucket (the
nurse's triage, the top of the coach's page, and its own page), recording a contact,
naming an advocate, the advocate's view of everything the team does for a patient, and
the caregiver's page of the people they care for.

Access: every read of a patient goes through dashboard/security.py (``patient_access``
audits it; the lists audit the patients they show); every POST is in STATE_CHANGES.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from care.outreach_store import OutreachStore
from core.appdb.outreach import METHODS, OUTCOMES
from dashboard.security import (
    PatientAccess,
    audit_reads,
    now_of,
    patient_access,
    require_role,
    visible_patients,
)
from dashboard.security import User as Viewer
from dashboard.views.common import engine_of, render

pages = APIRouter(include_in_schema=False)

CARE_TEAM_ONLY = [Depends(require_role("coach", "nurse"))]
CareTeam = Annotated[Viewer, Depends(require_role("coach", "nurse"))]
Caregiver = Annotated[Viewer, Depends(require_role("caregiver"))]
OutreachAccess = Annotated[PatientAccess, Depends(patient_access("outreach", scope="alerts"))]
TeamAccess = Annotated[PatientAccess, Depends(patient_access("team activity", scope="alerts"))]


def _risk(request: Request, viewer: Viewer) -> dict[str, int]:
    """Each visible patient's triage level (0-3, dashboard/views/triage.py): the board the
    nurse's triage already keeps (no new reads of the store when it is fresh)."""
    from dashboard.views.nurse import boards_of

    directory = request.app.state.directory
    ids = {p.id for p in visible_patients(request, viewer)}

    def load(wanted: frozenset[str]) -> list[Any]:
        return [p for p in directory.patients() if p.id in wanted]

    board = boards_of(request).board(ids, load)
    return {r.patient.id: r.level for r in board.select()}


def outreach_bucket(request: Request, viewer: Viewer) -> list[dict[str, Any]]:
    """The "needs outreach" bucket for this viewer's patients, most needed first (clinical
    risk x disengagement); audited as read."""
    patients = {p.id: p for p in visible_patients(request, viewer)}
    # the triage board only when someone needs outreach (a coach's page would otherwise
    # build a board of its own for nothing)
    items = OutreachStore(engine_of(request)).needs_outreach(
        list(patients), now=now_of(request), risk=lambda: _risk(request, viewer))
    audit_reads(request, viewer, [i.patient_id for i in items], "outreach list")
    return [{"item": i, "patient": patients[i.patient_id]} for i in items]


@pages.get("/outreach", response_class=HTMLResponse)
def outreach_list(request: Request, user: CareTeam) -> HTMLResponse:
    return render(request, user, "views/outreach_list.html",
                  {"bucket": outreach_bucket(request, user)})


def _patient_context(request: Request, access: PatientAccess) -> dict[str, Any]:
    pid = access.patient.id
    return {"patient": access.patient, **OutreachStore(engine_of(request)).patient(pid),
            "methods": METHODS, "outcomes": OUTCOMES, "error": None}


@pages.get("/patients/{patient_id}/outreach", response_class=HTMLResponse,
           dependencies=CARE_TEAM_ONLY)
def outreach_page(request: Request, access: OutreachAccess) -> HTMLResponse:
    return render(request, access.user, "views/outreach_patient.html",
                  _patient_context(request, access))


@pages.post("/patients/{patient_id}/outreach", dependencies=CARE_TEAM_ONLY)
def outreach_record(
    request: Request, access: OutreachAccess,
    contacted: Annotated[str, Form(max_length=200)],
    method: Annotated[str, Form(max_length=32)],
    outcome: Annotated[str, Form(max_length=32)],
    note: Annotated[str, Form(max_length=4000)] = "",
    next_step: Annotated[str, Form(max_length=1000)] = "",
    next_due: Annotated[str, Form(max_length=10)] = "",
) -> Any:
    """Record a contact (who contacted whom, how, the outcome, the next step and its date)."""
    try:
        due = date.fromisoformat(next_due) if next_due else None
        OutreachStore(engine_of(request)).record_contact(
            patient_id=access.patient.id, by_user=access.user.id,
            by_name=access.user.display_name, by_role=access.user.role,
            contacted=contacted, method=method, outcome=outcome, note=note,
            next_step=next_step, next_due=due, now=now_of(request),
            tz=access.patient.timezone)
    except ValueError as error:
        context = _patient_context(request, access)
        context["error"] = str(error)
        return render(request, access.user, "views/outreach_patient.html", context,
                      status_code=422)
    return RedirectResponse(f"/patients/{access.patient.id}/outreach?recorded=1",
                            status_code=303)


@pages.post("/patients/{patient_id}/advocate", dependencies=CARE_TEAM_ONLY)
def advocate_name(request: Request, access: OutreachAccess,
                  advocate_id: Annotated[str, Form(max_length=128)],
                  reason: Annotated[str, Form(max_length=1000)] = "") -> Any:
    """Name the patient's advocate (a coach of their team or a caregiver they share with)."""
    try:
        OutreachStore(engine_of(request)).name_advocate(
            access.patient.id, advocate_id, reason=reason, by=access.user.id,
            now=now_of(request))
    except ValueError as error:
        context = _patient_context(request, access)
        context["error"] = str(error)
        return render(request, access.user, "views/outreach_patient.html", context,
                      status_code=422)
    return RedirectResponse(f"/patients/{access.patient.id}/outreach#advocate", status_code=303)


@pages.get("/patients/{patient_id}/team", response_class=HTMLResponse)
def team_page(request: Request, access: TeamAccess) -> HTMLResponse:
    """Everything the patient's team is doing: what an advocate (and the team) reads."""
    pid = access.patient.id
    # the coach-patient thread is private to them: others see that it exists
    private = access.user.role not in ("coach",) and access.user.patient_id != pid
    activity, advocate, latest = OutreachStore(engine_of(request)).team(
        pid, now_of(request), messages=not private)
    return render(request, access.user, "views/team_activity.html", {
        "patient": access.patient, "activity": activity, "advocate": advocate,
        "engagement": latest})


@pages.get("/caring", response_class=HTMLResponse)
def caring(request: Request, user: Caregiver) -> HTMLResponse:
    """The people this caregiver cares for, each with their state: open urgent alerts,
    engagement, and whether the caregiver receives their safety alerts."""
    people = visible_patients(request, user)
    ids = [p.id for p in people]
    cared = OutreachStore(engine_of(request)).cared_for(user.id, ids)
    audit_reads(request, user, ids, "people I care for")
    rows = [{"patient": p, "engagement": cared.engagement.get(p.id),
             "urgent": p.id in cared.urgent, "alerts": cared.alerts.get(p.id, []),
             "advocate": p.id in cared.advocate_for, "told": cared.told.get(p.id, [])}
            for p in people]
    return render(request, user, "views/caring.html", {"rows": rows})



@pages.post("/caring/messages/{message_id}/seen")
def caring_seen(request: Request, user: Caregiver, message_id: int) -> RedirectResponse:
    """The caregiver's own OK on a safety message sent to them (the heart-failure gain,
    which has no ladder): recorded as the time they saw it."""
    if not OutreachStore(engine_of(request)).mark_seen(message_id, user.id, now_of(request)):
        raise HTTPException(404, "no such message for you")
    return RedirectResponse("/caring", status_code=303)
