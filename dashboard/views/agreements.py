"""A say over the service (issue 21; care/agreements.py, care/ratings.py).

- ``/patients/{id}/service``: the clinic's agreement (with any limit written with her),
  the patient's breaches ("your message waited 3 days; the agreement is 2"), her formal
  requests with their answers and deadlines, and one-tap ratings of her recent
  interactions. Hers to act on (``self_only``); her coach and nurse read it through the
  single check, audited; her coach records the limits they agreed together.
- ``/clinic/service``: the clinic's queue for its nurses (the clinic lead's work):
  breaches not yet seen, requests to answer in writing, comments to moderate, and the
  agreement they publish. Each patient shown is authorised by dashboard/security.py
  (``visible_patient_ids``) and the read audited.
- ``/clinics`` and ``/clinics/{id}``: every clinic's anonymised page, for everyone
  signed in to Hearth (not admin accounts): its agreement, how often each standard was
  met per month, rating counts (small counts withheld), approved comments and the
  clinic's published answers. Reading approved comments is audited under their authors.

The agreement is measured on each view of the patient's page and the queue (for what
they show), and every hour by the coach's scheduler for every clinic. The database is
reached through care/service_store.py only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from care import agreements, ratings
from care import service_store as store
from dashboard.security import (
    PatientAccess,
    User,
    audit_reads,
    audit_shared,
    now_of,
    patient_access,
    require_patient,
    require_role,
    visible_patient_ids,
)
from dashboard.views.common import engine_of, render, templates

pages = APIRouter(include_in_schema=False)
READERS = ("patient", "coach", "nurse")
ReadAccess = Annotated[PatientAccess, Depends(patient_access("service agreement"))]
OwnAccess = Annotated[PatientAccess, Depends(patient_access("own service agreement",
                                                            self_only=True))]
Nurse = Annotated[User, Depends(require_role("nurse"))]
Member = Annotated[User, Depends(require_role("patient", "caregiver", "coach", "nurse"))]
Text = Annotated[str, Form(max_length=2000)]


# -- the patient's page --------------------------------------------------------------------

@pages.get("/patients/{patient_id}/service", response_class=HTMLResponse,
           dependencies=[Depends(require_role(*READERS))])
def service_page(request: Request, access: ReadAccess) -> HTMLResponse:
    return _page(request, access)


def _page(request: Request, access: PatientAccess, error: str | None = None,
          status_code: int = 200) -> HTMLResponse:
    pid = access.patient.id
    page = store.patient_service(engine_of(request), pid, now_of(request))
    clinic = {"id": page.clinic_id, "name": page.clinic_name} if page.clinic_id else None
    return render(request, access.user, "views/patient_service.html", {
        "patient": access.patient, "own": access.user.patient_id == pid, "clinic": clinic,
        "error": error, "promises": page.promises, "personal": page.personal,
        "clinic_limits": page.clinic_limits, "standards": agreements.STANDARDS,
        "breaches": page.breaches, "requests": page.requests, "rateable": page.rateable,
        "asks": agreements.ASKS, "kinds": ratings.KINDS,
        "rating_labels": ratings.RATING_LABELS}, status_code=status_code)


@pages.post("/patients/{patient_id}/service/requests", response_class=HTMLResponse)
def raise_request(request: Request, access: OwnAccess, ask: Annotated[str, Form()],
                  text: Text, publish: Annotated[str, Form()] = "",
                  breach: Annotated[str, Form()] = "") -> Any:
    try:
        store.raise_request(engine_of(request), access.patient.id, ask=ask, text=text,
                            publish=publish == "yes",
                            measure_id=int(breach) if breach.isdigit() else None,
                            now=now_of(request))
    except agreements.AgreementError as refused:
        return _page(request, access, error=str(refused), status_code=422)
    except LookupError as missing:
        raise HTTPException(404, str(missing)) from missing
    return RedirectResponse(f"/patients/{access.patient.id}/service#my-requests",
                            status_code=303)


@pages.post("/patients/{patient_id}/service/ratings", response_class=HTMLResponse)
def rate(request: Request, access: OwnAccess, kind: Annotated[str, Form()],
         ref: Annotated[str, Form(max_length=128)], rating: Annotated[str, Form()],
         comment: Text = "", publish: Annotated[str, Form()] = "",
         back: Annotated[str, Form(max_length=20)] = "") -> Any:
    try:
        store.rate(engine_of(request), access.patient.id, kind=kind, ref=ref, rating=rating,
                   comment=comment, publish=publish == "yes", now=now_of(request))
    except ratings.RatingError as refused:
        return _page(request, access, error=str(refused), status_code=422)
    except LookupError as missing:
        raise HTTPException(404, str(missing)) from missing
    if back == "goals":  # rated under the coach's message in the thread
        return RedirectResponse(f"/patients/{access.patient.id}/goals#message-{ref}",
                                status_code=303)
    return RedirectResponse(f"/patients/{access.patient.id}/service#rate", status_code=303)


def reply_ratings(request: Request, viewer: Any, patient_id: str) -> dict[str, str | None]:
    """For the message thread (patient_goals.html): her coach's replies she may rate (the
    last 30 days) with her rating, for the patient herself only (nobody else rates)."""
    if not isinstance(viewer, User) or viewer.patient_id != patient_id:
        return {}
    return store.reply_ratings(engine_of(request), patient_id, now_of(request))


templates.env.globals["reply_ratings"] = reply_ratings


@pages.post("/patients/{patient_id}/service/agreement")
async def agree_with_patient(request: Request, access: ReadAccess) -> RedirectResponse:
    """Her coach records the limits they agreed together, in place of the clinic's for
    her (a blank field goes back to the clinic's)."""
    form = await request.form()
    try:
        values = {s.key: int(v) if (v := str(form.get(s.key, "")).strip()) else None
                  for s in agreements.STANDARDS}
        store.set_personal(engine_of(request), access.patient.id, values,
                           by=access.user.id, now=now_of(request))
    except (ValueError, agreements.AgreementError) as refused:
        raise HTTPException(422, str(refused)) from refused
    return RedirectResponse(f"/patients/{access.patient.id}/service#agreement",
                            status_code=303)


# -- the clinic's queue ----------------------------------------------------------------------

def _clinic(user: User) -> str:
    if not user.clinic_id:
        raise HTTPException(403, "this page is for the staff of a clinic")
    return user.clinic_id


@pages.get("/clinic/service", response_class=HTMLResponse)
def clinic_queue(request: Request, user: Nurse) -> HTMLResponse:
    clinic_id = _clinic(user)
    visible = visible_patient_ids(request, user)
    queue = store.clinic_queue(engine_of(request), clinic_id, now_of(request))
    breaches = [b for b in queue.breaches if b.patient_id in visible]
    requests = [r for r in queue.requests if r.patient_id in visible]
    comments = [c for c in queue.comments if c.patient_id in visible]
    audit_reads(request, user, [*(b.patient_id for b in breaches),
                                *(r.patient_id for r in requests),
                                *(c.patient_id for c in comments)], "service agreement queue")
    names = {p.id: p.display_name for p in request.app.state.directory.patients()
             if p.id in visible}
    return render(request, user, "views/nurse_service.html", {
        "breaches": breaches, "requests": requests, "comments": comments, "names": names,
        "limits": queue.limits, "standards": agreements.STANDARDS, "asks": agreements.ASKS,
        "kinds": ratings.KINDS, "rating_labels": ratings.RATING_LABELS})


def _subject(request: Request, user: User, patient_id: str | None, purpose: str) -> None:
    """The item's patient must be one this nurse may see (the single check, audited)."""
    if patient_id is None:
        raise HTTPException(404, "no such item in your clinic")
    require_patient(request, patient_id, user, purpose)


@pages.post("/clinic/service/breaches/{measure_id}/seen")
def breach_seen(request: Request, user: Nurse, measure_id: int) -> RedirectResponse:
    clinic_id, engine = _clinic(user), engine_of(request)
    _subject(request, user, store.breach_patient(engine, measure_id), "service breach")
    try:
        store.mark_seen(engine, measure_id, clinic_id, by=user.id, now=now_of(request))
    except LookupError as missing:
        raise HTTPException(404, str(missing)) from missing
    return RedirectResponse("/clinic/service#breaches", status_code=303)


@pages.post("/clinic/service/requests/{request_id}/answer")
def answer(request: Request, user: Nurse, request_id: str,
           response: Text) -> RedirectResponse:
    clinic_id, engine = _clinic(user), engine_of(request)
    _subject(request, user, store.request_patient(engine, request_id), "formal request")
    try:
        store.answer_request(engine, request_id, clinic_id, by=user.id, response=response,
                             now=now_of(request))
    except agreements.AgreementError as refused:
        raise HTTPException(422, str(refused)) from refused
    except LookupError as missing:
        raise HTTPException(404, str(missing)) from missing
    return RedirectResponse("/clinic/service#requests", status_code=303)


@pages.post("/clinic/service/ratings/{rating_id}/moderate")
def moderate(request: Request, user: Nurse, rating_id: int,
             decision: Annotated[str, Form()], response: Text = "") -> RedirectResponse:
    clinic_id, engine = _clinic(user), engine_of(request)
    _subject(request, user, store.rating_patient(engine, rating_id), "rating comment")
    try:
        store.moderate(engine, rating_id, clinic_id, publish=decision == "publish",
                       response=response, now=now_of(request))
    except LookupError as missing:
        raise HTTPException(404, str(missing)) from missing
    return RedirectResponse("/clinic/service#comments", status_code=303)


@pages.post("/clinic/service/agreement")
async def publish_agreement(request: Request, user: Nurse) -> RedirectResponse:
    clinic_id = _clinic(user)
    form = await request.form()
    try:
        values = {s.key: int(v) for s in agreements.STANDARDS
                  if (v := str(form.get(s.key, "")).strip())}
        store.publish_agreement(engine_of(request), clinic_id, values, by=user.id,
                                now=now_of(request))
    except (ValueError, agreements.AgreementError) as refused:
        raise HTTPException(422, str(refused)) from refused
    return RedirectResponse("/clinic/service#agreement", status_code=303)


# -- every clinic's anonymised page -------------------------------------------------------------

@pages.get("/clinics", response_class=HTMLResponse)
def clinics(request: Request, user: Member) -> HTMLResponse:
    return render(request, user, "views/clinics.html",
                  {"clinics": store.clinics(engine_of(request))})


@pages.get("/clinics/{clinic_id}", response_class=HTMLResponse)
def clinic_page(request: Request, user: Member, clinic_id: str) -> HTMLResponse:
    page = store.clinic_page(engine_of(request), clinic_id, now_of(request))
    if page is None:
        raise HTTPException(404, "no such clinic")
    audit_shared(request, user, [(pid, "") for pid in page.authors], "clinic page comments")
    return render(request, user, "views/clinic_page.html", {
        "clinic": {"id": clinic_id, "name": page.name}, "report": page.report,
        "standards": agreements.STANDARDS, "rating_labels": ratings.RATING_LABELS,
        "min_count": ratings.MIN_COUNT})
