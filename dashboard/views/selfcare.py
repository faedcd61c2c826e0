"""The patient's own pages beside today and trends: goals and the joint record, the
self-assessment, the peer-group feed, and sharing settings.

Everything is done through the care programme's stores (care/plan_store.py and
care/group_store.py, over care.plans, care.selfassessment, care.groups) and the account
store; these routes only check who may do it.
Reading is open to whoever may see the patient's goals (the care team, a caregiver
with the "goals" share); writing is the patient's own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from care import groups as peer
from care import plans as coach_plans
from care import selfassessment as sa
from care.group_store import PeerGroupStore
from care.plan_store import NotFound, PlanStore
from core.appdb.accounts import SHARE_SCOPES
from dashboard.nightscout_tokens import NightscoutTokens
from dashboard.security import PatientAccess, now_of, patient_access
from dashboard.views import care
from dashboard.views import record as record_views
from dashboard.views.common import engine_of, render, store_of

pages = APIRouter(include_in_schema=False)
GoalsAccess = Annotated[PatientAccess, Depends(patient_access("goals", scope="goals"))]
# What the patient alone decides or answers (security.patient_access self_only).
OwnAccess = Annotated[PatientAccess, Depends(patient_access("own settings", scope="goals",
                                                            self_only=True))]


def own(access: PatientAccess) -> PatientAccess:
    if access.user.patient_id != access.patient.id:
        raise HTTPException(403, "only the patient changes this")
    return access


def back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# -- goals, plan and the joint record ------------------------------------------------------

@pages.get("/patients/{patient_id}/goals", response_class=HTMLResponse)
def goals_page(request: Request, access: GoalsAccess) -> HTMLResponse:
    """The plan and its goals (each with its rule and what changed, and why), options to
    pick, the joint record and the thread with the coach (new messages marked once)."""
    is_own = access.user.patient_id == access.patient.id
    pid = access.patient.id
    # the thread between the patient and her coach is theirs and the care team's: a
    # caregiver who shares her goals does not read it (issue: private messages)
    private = access.user.role == "caregiver"
    goals = PlanStore(engine_of(request)).patient_goals(
        store_of(request), pid, now_of(request),
        thread_for=None if private else ("patient" if is_own else "coach"), mark_read=is_own)
    messages = goals.messages
    return render(request, access.user, "views/patient_goals.html", {
        "patient": access.patient, "plan": goals.plan, "own": is_own, "record": goals.record,
        "messages": messages, "unread": sum(1 for m in messages if m.unread and is_own),
        "private": private})


@pages.post("/patients/{patient_id}/plan/{plan_id}/pick")
def patient_pick(request: Request, access: OwnAccess, plan_id: str,
                 goal_id: Annotated[str, Form(max_length=64)]) -> RedirectResponse:
    """The patient picks one of the goals the coach offered as a choice."""
    own(access)
    try:
        PlanStore(engine_of(request)).pick_option(access.patient.id, plan_id, goal_id,
                                                  by=access.user.id, now=now_of(request))
    except NotFound as exc:
        raise HTTPException(404, "no such option in your plan") from exc
    except coach_plans.PlanError as exc:
        raise HTTPException(422, str(exc)) from exc
    return back(f"/patients/{access.patient.id}/goals")


@pages.post("/patients/{patient_id}/goals/{goal_id}/report")
async def self_report(request: Request, access: OwnAccess, goal_id: str) -> RedirectResponse:
    """The patient ticks off the days of a finished week of a goal of her own words."""
    own(access)
    form = await request.form()
    try:
        period = int(str(form.get("period_index") or ""))
        days = {date.fromisoformat(str(d)) for d in form.getlist("day")}
    except ValueError as exc:
        raise HTTPException(422, "the week and its days are dates") from exc

    def save() -> None:
        try:
            PlanStore(engine_of(request)).record_self_report(
                access.patient.id, goal_id, days_done=days, period_index=period,
                now=now_of(request))
        except NotFound as exc:
            raise HTTPException(404, "no such goal") from exc
        except coach_plans.PlanError as exc:
            raise HTTPException(422, str(exc)) from exc

    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(save)
    return back(f"/patients/{access.patient.id}/goals#goal-{goal_id}")


RECORD_KINDS = {"goal_met": "Goal met", "agreed": "Plan agreed", "check_in": "Check-in",
                "note": "Added by hand", "personal_best": "Personal best"}


@pages.get("/patients/{patient_id}/record", response_class=HTMLResponse)
def record_page(request: Request, access: GoalsAccess) -> HTMLResponse:
    """The joint record on its own, laid out for printing (the browser's Print)."""
    record = PlanStore(engine_of(request)).record(access.patient.id)
    return render(request, access.user, "views/patient_record.html", {
        "patient": access.patient, "record": record, "kinds": RECORD_KINDS})


@pages.get("/patients/{patient_id}/record.csv")
def record_csv(request: Request, access: GoalsAccess) -> Response:
    """The joint record as a CSV file (one row an entry, both sides' confirmations)."""
    record = PlanStore(engine_of(request)).record(access.patient.id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date", "kind", "title", "detail", "patient_confirmed", "coach_confirmed",
                     "patient_note", "coach_note"])
    for a in record:
        writer.writerow([a["achieved_at"], RECORD_KINDS.get(a["kind"], a["kind"]),
                         _cell(a["title"]), _cell(a["detail"]), "yes" if a["patient_confirmed"]
                         else "no", "yes" if a["coach_confirmed"] else "no",
                         _cell(a["patient_note"]), _cell(a["coach_note"])])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="joint-record.csv"',
        "Cache-Control": "no-store"})


def _cell(text: str) -> str:
    """A spreadsheet never runs a cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@pages.post("/patients/{patient_id}/plan/{plan_id}/agree")
def patient_agree(request: Request, access: OwnAccess, plan_id: str) -> RedirectResponse:
    own(access)
    try:
        PlanStore(engine_of(request)).agree(access.patient.id, plan_id, role="patient",
                                            now=now_of(request))
    except NotFound as exc:
        raise HTTPException(404, "no such plan") from exc
    except coach_plans.PlanError as exc:
        raise HTTPException(422, str(exc)) from exc
    return back(f"/patients/{access.patient.id}/goals")


@pages.post("/patients/{patient_id}/achievements")
def add_achievement(request: Request, access: OwnAccess,
                    title: Annotated[str, Form(min_length=1, max_length=200)],
                    detail: Annotated[str, Form(max_length=1000)] = "") -> RedirectResponse:
    own(access)
    PlanStore(engine_of(request)).add_achievement(access.patient.id, title=title,
                                                  by=access.user.id, role="patient",
                                                  now=now_of(request), detail=detail)
    return back(f"/patients/{access.patient.id}/goals#record")


@pages.post("/patients/{patient_id}/achievements/{achievement_id}/confirm")
def confirm_achievement(request: Request, access: OwnAccess, achievement_id: str,
                        note: Annotated[str, Form(max_length=1000)] = "") -> RedirectResponse:
    own(access)
    try:
        PlanStore(engine_of(request)).confirm_achievement(access.patient.id, achievement_id,
                                                          role="patient", now=now_of(request),
                                                          note=note)
    except NotFound as exc:
        raise HTTPException(404, "no such entry") from exc
    return back(f"/patients/{access.patient.id}/goals#record")


@pages.post("/patients/{patient_id}/messages")
def patient_message(request: Request, access: OwnAccess,
                    body: Annotated[str, Form(min_length=1, max_length=2000)]) -> RedirectResponse:
    own(access)
    coach_id = PlanStore(engine_of(request)).coach_of(access.patient.id) or "care_team"
    care.send(engine_of(request), patient_id=access.patient.id, author_id=access.user.id,
              author_name=access.user.display_name, author_role="patient",
              recipient_key=coach_id, body=body, now=now_of(request))
    return back(f"/patients/{access.patient.id}/goals#messages")


# -- self-assessment -----------------------------------------------------------------------

@pages.get("/patients/{patient_id}/self-assessment", response_class=HTMLResponse)
def assessment_page(request: Request, access: OwnAccess) -> HTMLResponse:
    own(access)
    latest = PlanStore(engine_of(request)).latest_assessment(access.patient.id)
    return render(request, access.user, "views/patient_assessment.html", {
        "patient": access.patient, "deck": sa.deck(), "result": None, "error": None,
        "latest": latest, "answers": _prefill(latest)})


def _prefill(latest: sa.AssessmentDetail | None) -> dict[str, int | None]:
    """The form's values from the last check-in: the patient sees and changes her answers."""
    if latest is None:
        return {}
    out: dict[str, int | None] = {}
    for behaviour, answer in latest.answers.items():
        for key, value in answer.items():
            out[f"{key}-{behaviour}"] = value
    if latest.dds2 is not None:
        out["dds2-overwhelmed"], out["dds2-failing"] = latest.dds2.overwhelmed, latest.dds2.failing
    return out


@pages.post("/patients/{patient_id}/self-assessment", response_class=HTMLResponse)
async def assessment_post(request: Request, access: OwnAccess) -> HTMLResponse:
    own(access)
    form = await request.form()
    try:
        answers = [sa.CardAnswer(behaviour=c.behaviour, rating=_int(form, f"rating-{c.behaviour}"),
                                 confidence=_int(form, f"confidence-{c.behaviour}"),
                                 importance=_optional_int(form, f"importance-{c.behaviour}"))
                   for c in sa.CARDS]
        dds2 = None
        if form.get("dds2-overwhelmed") and form.get("dds2-failing"):
            dds2 = (_int(form, "dds2-overwhelmed"), _int(form, "dds2-failing"))
        extras = record_views.checkin_parse(form)  # outcome ratings and WHO-5 (issue 21)
    except (sa.AssessmentError, ValueError) as exc:
        return render(request, access.user, "views/patient_assessment.html", {
            "patient": access.patient, "deck": sa.deck(), "result": None, "error": str(exc),
            "latest": None, "answers": {k: _optional_int(form, k) for k in _FIELDS
                                        if _is_int(form.get(k))}},
            status_code=422)
    from starlette.concurrency import run_in_threadpool

    result = await run_in_threadpool(_record, request, access, answers, dds2)
    await run_in_threadpool(record_views.checkin_save, request, access, extras)
    latest = await run_in_threadpool(_latest, request, access.patient.id)
    return render(request, access.user, "views/patient_assessment.html", {
        "patient": access.patient, "deck": sa.deck(), "result": result, "error": None,
        "latest": latest, "answers": _prefill(latest)})


_FIELDS = [f"{k}-{c.behaviour}" for c in sa.CARDS for k in ("rating", "confidence", "importance")
           ] + ["dds2-overwhelmed", "dds2-failing"]


def _latest(request: Request, patient_id: str) -> sa.AssessmentDetail | None:
    return PlanStore(engine_of(request)).latest_assessment(patient_id)


def _is_int(raw: object) -> bool:
    return isinstance(raw, str) and raw.strip().lstrip("-").isdigit()


def _optional_int(form: object, key: str) -> int | None:
    raw = form.get(key)  # type: ignore[attr-defined]
    if raw in (None, ""):
        return None
    if not _is_int(raw):
        raise sa.AssessmentError(f"{key.split('-', 1)[0]}: a whole number, please")
    return int(str(raw))


def _int(form: object, key: str) -> int:
    raw = form.get(key)  # type: ignore[attr-defined]
    if raw in (None, ""):
        card = key.split("-", 1)[1].replace("_", " ")
        raise sa.AssessmentError(f"please answer every card ({card})")
    if not _is_int(raw):
        raise sa.AssessmentError(f"{key.split('-', 1)[0]}: a whole number, please")
    return int(str(raw))


def _record(request: Request, access: PatientAccess, answers: list[sa.CardAnswer],
            dds2: tuple[int, int] | None) -> sa.AssessmentResult:
    # The dashboard delivers nothing itself: the distress follow-up goes into the care
    # team's alert queue, where the coach sees it with its why (care/plan_store.py).
    return PlanStore(engine_of(request)).record_assessment(
        access.patient.id, answers, dds2, by=access.user.id, now=now_of(request))


# -- peer group ------------------------------------------------------------------------------

@pages.get("/patients/{patient_id}/group", response_class=HTMLResponse)
def group_page(request: Request, access: OwnAccess) -> HTMLResponse:
    own(access)
    pid = access.patient.id
    groups = PeerGroupStore(engine_of(request)).member_groups(pid)
    return render(request, access.user, "views/patient_group.html",
                  {"patient": access.patient, "groups": groups, "scopes": peer.SCOPES})


@pages.post("/patients/{patient_id}/group/{group_id}/posts")
def group_post(request: Request, access: OwnAccess, group_id: str,
               body: Annotated[str, Form(min_length=1, max_length=1000)]) -> RedirectResponse:
    own(access)
    _peer(lambda: PeerGroupStore(engine_of(request)).post(group_id, access.patient.id, body,
                                                         now=now_of(request)))
    return back(f"/patients/{access.patient.id}/group")


@pages.post("/patients/{patient_id}/group/{group_id}/consent")
async def group_consent(request: Request, access: OwnAccess, group_id: str) -> RedirectResponse:
    own(access)
    form = await request.form()
    wanted = {scope: form.get(scope) == "on" for scope in peer.SCOPES}
    from starlette.concurrency import run_in_threadpool

    def save() -> None:
        PeerGroupStore(engine_of(request)).set_consents(group_id, access.patient.id, wanted,
                                                        now=now_of(request))

    await run_in_threadpool(_peer, save)
    return back(f"/patients/{access.patient.id}/group")


def _peer(action: Callable[[], None]) -> None:
    try:
        action()
    except peer.GroupError as exc:
        raise HTTPException(403 if "only" in str(exc) else 422, str(exc)) from exc


# -- sharing with caregivers -------------------------------------------------------------------

@pages.get("/patients/{patient_id}/sharing", response_class=HTMLResponse)
def sharing_page(request: Request, access: OwnAccess) -> HTMLResponse:
    own(access)
    accounts = request.app.state.accounts
    shares = accounts.sharing.of_patient(access.patient.id)
    names = {s.caregiver_id: (accounts.users.get(s.caregiver_id).display_name
                              if accounts.users.get(s.caregiver_id) else s.caregiver_id)
             for s in shares}
    # follower apps' Nightscout tokens (dashboard/nightscout_sharing.py makes and revokes)
    ns_tokens = sorted(NightscoutTokens(engine_of(request)).of_patient(access.patient.id),
                       key=lambda t: t.created_at, reverse=True)
    return render(request, access.user, "views/patient_sharing.html", {
        "patient": access.patient, "shares": shares, "names": names, "scopes": SHARE_SCOPES,
        "ns_tokens": ns_tokens})


@pages.post("/patients/{patient_id}/sharing/{caregiver_id}")
async def sharing_post(request: Request, access: OwnAccess, caregiver_id: str) -> RedirectResponse:
    own(access)
    form = await request.form()
    accounts = request.app.state.accounts
    if caregiver_id not in {s.caregiver_id for s in accounts.sharing.of_patient(access.patient.id)}:
        raise HTTPException(404, "you do not share with this person")  # no new shares here
    scopes = [s for s in SHARE_SCOPES if form.get(f"scope-{s}") == "on"]
    urgent = form.get("urgent_alerts") == "on"
    from starlette.concurrency import run_in_threadpool

    # nothing ticked keeps the caregiver listed here, seeing nothing
    await run_in_threadpool(lambda: accounts.sharing.share(access.patient.id, caregiver_id, scopes,
                                                   urgent_alerts=urgent))
    return back(f"/patients/{access.patient.id}/sharing?saved=1")
