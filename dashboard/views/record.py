"""The joint record of achievements as a page the patient owns (issue 21; care/record.py):
``/patients/{id}/joint-record``, its PDF and FHIR exports, and the patient's "share with
my care team"; plus the check-in's outcome ratings and WHO-5 (the self-assessment form,
dashboard/views/selfcare.py, calls ``checkin_parse`` and ``checkin_save``).

Who reads: the single check of dashboard/security.py, audited (``patient_access``): the
patient; her coach and nurse; a caregiver by the patient's "goals" share (page) or
"export" share (files), who sees the readings part only with the "readings" share and
never her outcomes or WHO-5 scores. Only the patient shares it and answers a check-in.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from care import outcomes, record, wellbeing
from care.record_fhir import bundle
from care.record_pdf import pdf_bytes
from care.record_store import RecordStore
from dashboard.fhir_export import EXPORTED_METRICS
from dashboard.security import (
    PatientAccess,
    User,
    accounts_of,
    may_see,
    now_of,
    patient_access,
    shared_reader,
)
from dashboard.views.common import engine_of, render, store_of, templates

pages = APIRouter(include_in_schema=False)
PageAccess = Annotated[PatientAccess, Depends(patient_access("joint record", scope="goals"))]
ExportAccess = Annotated[PatientAccess, Depends(patient_access("joint record export",
                                                               scope="export"))]
OwnAccess = Annotated[PatientAccess, Depends(patient_access("share own joint record",
                                                            scope="goals", self_only=True))]


def _build(request: Request, access: PatientAccess) -> record.JointRecord:
    user, pid = access.user, access.patient.id
    now = now_of(request)
    private = user.role != "caregiver"  # outcomes and WHO-5 are no caregiver's scope
    readings = None
    if user.patient_id == pid or may_see(accounts_of(request), user, pid, "readings"):
        start = now - timedelta(days=record.SUMMARY_DAYS)
        store = store_of(request)
        readings = [r for m in EXPORTED_METRICS for r in store.read(pid, m, start, now)]
    return RecordStore(engine_of(request)).record(
        patient_id=pid, name=access.patient.display_name, reader=shared_reader(request, user),
        private=private, readings=readings, now=now)


@pages.get("/patients/{patient_id}/joint-record", response_class=HTMLResponse)
def joint_record(request: Request, access: PageAccess) -> HTMLResponse:
    built = _build(request, access)
    return render(request, access.user, "views/patient_joint_record.html", {
        "patient": access.patient, "record": built,
        "own": access.user.patient_id == access.patient.id,
        "shared": request.query_params.get("shared") == "1",
        "who5_source": wellbeing.SOURCE, "who5_copyright": wellbeing.COPYRIGHT})


@pages.get("/patients/{patient_id}/joint-record.pdf", response_class=Response)
def joint_record_pdf(request: Request, access: ExportAccess) -> Response:
    body = pdf_bytes(_build(request, access))
    name = f"joint-record-{access.patient.id}-{now_of(request):%Y%m%d}.pdf"
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


@pages.get("/patients/{patient_id}/joint-record.fhir.json", response_class=Response)
def joint_record_fhir(request: Request, access: ExportAccess) -> Response:
    found = bundle(_build(request, access), access.patient)
    name = f"joint-record-{access.patient.id}-{now_of(request):%Y%m%d}.fhir.json"
    return Response(json.dumps(found), media_type="application/fhir+json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


@pages.post("/patients/{patient_id}/joint-record/share")
def share(request: Request, access: OwnAccess) -> RedirectResponse:
    pid = access.patient.id
    RecordStore(engine_of(request)).share(
        patient_id=pid, author_id=access.user.id, author_name=access.user.display_name,
        link=f"/patients/{pid}/joint-record", now=now_of(request))
    return RedirectResponse(f"/patients/{pid}/joint-record?shared=1", status_code=303)


# -- the check-in: outcome ratings and the WHO-5 ---------------------------------------------

CheckinExtras = tuple[dict[str, int], tuple[int, ...] | None]


def checkin_parse(form: Any) -> CheckinExtras:
    """The check-in form's outcome ratings and WHO-5 answers (ValueError when refused:
    the self-assessment shows it like its own errors). Ratings of outcomes that are not
    hers or no longer active are ignored when saved."""
    fields = {str(k): str(v) for k, v in form.items()}
    ids = [k[len(outcomes.CHECKIN_FIELD):] for k in fields
           if k.startswith(outcomes.CHECKIN_FIELD)]
    return outcomes.parse_checkin(fields, ids), wellbeing.parse(fields)


def checkin_save(request: Request, access: PatientAccess, extras: CheckinExtras) -> None:
    """Save them (after the self-assessment itself) and leave what was saved for the
    result card (``checkin_saved``)."""
    scores, items = extras
    rated, who5 = RecordStore(engine_of(request)).save_checkin(
        access.patient.id, scores, items, by=access.user.id, now=now_of(request))
    request.state.checkin_saved = {"rated": rated, "who5": who5}


def checkin_saved(request: Request) -> dict[str, Any] | None:
    found: dict[str, Any] | None = getattr(request.state, "checkin_saved", None)
    return found


def patient_wellbeing(request: Request, viewer: Any, patient_id: str) -> wellbeing.Who5 | None:
    """For the templates (Today, the coach's patient page): her latest WHO-5, for the
    patient herself or a coach or nurse who may see her (the page has already authorised
    and audited the read; this checks again, like patient_outcomes)."""
    if not isinstance(viewer, User) or viewer.role not in ("patient", "coach", "nurse"):
        return None
    if viewer.patient_id != patient_id and (
            viewer.role == "patient"
            or not may_see(accounts_of(request), viewer, patient_id, "readings")):
        return None
    return RecordStore(engine_of(request)).latest_wellbeing(patient_id)


def caseload_wellbeing(request: Request, viewer: Any,
                       patient_ids: list[str]) -> dict[str, wellbeing.Who5]:
    """For the coach's caseload (coach_home.html): each listed patient's latest WHO-5, for a
    coach or nurse, only of the patients they may see (the page audits its caseload read)."""
    if not isinstance(viewer, User) or viewer.role not in ("coach", "nurse"):
        return {}
    accounts = accounts_of(request)
    allowed = [pid for pid in patient_ids if may_see(accounts, viewer, pid, "readings")]
    return RecordStore(engine_of(request)).latest_wellbeing_of(allowed)


templates.env.globals.update(
    checkin_saved=checkin_saved, patient_wellbeing=patient_wellbeing, who5=wellbeing,
    caseload_wellbeing=caseload_wellbeing)
