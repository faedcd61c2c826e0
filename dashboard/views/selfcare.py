"""The patient's own pages beside today and trends: goals and the joint record, the
self-assessment, the peer-group feed, and sharing settings.

Everything is done through the coach modules (care.plans, care.selfassessment,
care.groups) and the account store; these routes only check who may do it.
Reading is open to whoever may see the patient's goals (the care team, a caregiver
with the "goals" share); writing is the patient's own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from care import groups as peer
from care import plans as coach_plans
from care import selfassessment as sa
from core.appdb.accounts import SHARE_SCOPES
from core.appdb.coaching import CoachAlert, new_id
from core.appdb.plans import Achievement, Plan
from dashboard.security import PatientAccess, now_of, patient_access
from dashboard.views import care
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
    engine = engine_of(request)
    with Session(engine) as session:
        plan = coach_plans.plan_view(session, store_of(request), access.patient.id, now_of(request))
    return render(request, access.user, "views/patient_goals.html", {
        "patient": access.patient, "plan": plan, "own": access.user.patient_id == access.patient.id,
        "messages": care.thread(engine, access.patient.id)})


@pages.post("/patients/{patient_id}/plan/{plan_id}/agree")
def patient_agree(request: Request, access: OwnAccess, plan_id: str) -> RedirectResponse:
    own(access)
    with Session(engine_of(request)) as session:
        plan = session.get(Plan, plan_id)
        if plan is None or plan.patient_id != access.patient.id:
            raise HTTPException(404, "no such plan")
        try:
            coach_plans.agree_plan(session, plan_id, role="patient", now=now_of(request))
        except coach_plans.PlanError as exc:
            raise HTTPException(422, str(exc)) from exc
        session.commit()
    return back(f"/patients/{access.patient.id}/goals")


@pages.post("/patients/{patient_id}/achievements")
def add_achievement(request: Request, access: OwnAccess,
                    title: Annotated[str, Form(min_length=1, max_length=200)],
                    detail: Annotated[str, Form(max_length=1000)] = "") -> RedirectResponse:
    own(access)
    with Session(engine_of(request)) as session:
        coach_plans.record_achievement(session, patient_id=access.patient.id, title=title,
                                       by=access.user.id, role="patient", now=now_of(request),
                                       detail=detail)
        session.commit()
    return back(f"/patients/{access.patient.id}/goals#record")


@pages.post("/patients/{patient_id}/achievements/{achievement_id}/confirm")
def confirm_achievement(request: Request, access: OwnAccess, achievement_id: str,
                        note: Annotated[str, Form(max_length=1000)] = "") -> RedirectResponse:
    own(access)
    with Session(engine_of(request)) as session:
        entry = session.get(Achievement, achievement_id)
        if entry is None or entry.patient_id != access.patient.id:
            raise HTTPException(404, "no such entry")
        coach_plans.confirm_achievement(session, achievement_id, role="patient",
                                        now=now_of(request), note=note)
        session.commit()
    return back(f"/patients/{access.patient.id}/goals#record")


@pages.post("/patients/{patient_id}/messages")
def patient_message(request: Request, access: OwnAccess,
                    body: Annotated[str, Form(min_length=1, max_length=2000)]) -> RedirectResponse:
    own(access)
    with Session(engine_of(request)) as session:
        plan = coach_plans.current_plan(session, access.patient.id)
        coach_id = plan.coach_id if plan and plan.coach_id else "care_team"
    care.send(engine_of(request), patient_id=access.patient.id, author_id=access.user.id,
              author_name=access.user.display_name, author_role="patient",
              recipient_key=coach_id, body=body, now=now_of(request))
    return back(f"/patients/{access.patient.id}/goals#messages")


# -- self-assessment -----------------------------------------------------------------------

@pages.get("/patients/{patient_id}/self-assessment", response_class=HTMLResponse)
def assessment_page(request: Request, access: OwnAccess) -> HTMLResponse:
    own(access)
    return render(request, access.user, "views/patient_assessment.html", {
        "patient": access.patient, "deck": sa.deck(), "result": None, "error": None})


@pages.post("/patients/{patient_id}/self-assessment", response_class=HTMLResponse)
async def assessment_post(request: Request, access: OwnAccess) -> HTMLResponse:
    own(access)
    form = await request.form()
    try:
        answers = [sa.CardAnswer(behaviour=c.behaviour, rating=_int(form, f"rating-{c.behaviour}"),
                                 confidence=_int(form, f"confidence-{c.behaviour}"))
                   for c in sa.CARDS]
        dds2 = None
        if form.get("dds2-overwhelmed") and form.get("dds2-failing"):
            dds2 = (_int(form, "dds2-overwhelmed"), _int(form, "dds2-failing"))
    except (sa.AssessmentError, ValueError) as exc:
        return render(request, access.user, "views/patient_assessment.html", {
            "patient": access.patient, "deck": sa.deck(), "result": None, "error": str(exc)},
            status_code=422)
    from starlette.concurrency import run_in_threadpool

    result = await run_in_threadpool(_record, request, access, answers, dds2)
    return render(request, access.user, "views/patient_assessment.html", {
        "patient": access.patient, "deck": sa.deck(), "result": result, "error": None})


def _int(form: object, key: str) -> int:
    raw = form.get(key)  # type: ignore[attr-defined]
    if raw in (None, ""):
        raise sa.AssessmentError(f"please answer every card ({key.split('-', 1)[1].replace('_', ' ')})")
    return int(str(raw))


def _record(request: Request, access: PatientAccess, answers: list[sa.CardAnswer],
            dds2: tuple[int, int] | None) -> sa.AssessmentResult:
    now = now_of(request)
    with Session(engine_of(request)) as session:
        result = sa.record_self_assessment(session, patient_id=access.patient.id, answers=answers,
                                           dds2=dds2, by=access.user.id, now=now)
        if result.follow_up is not None:
            # The dashboard delivers nothing itself: the distress follow-up goes into the
            # care team's alert queue, where the coach sees it with its why.
            f = result.follow_up
            session.add(CoachAlert(id=new_id(), patient_id=access.patient.id, flag_type=f.flag_type,
                                   group="self_assessment", kind="alert", audience="coach",
                                   priority=str(f.priority), title=f.title, body=f.body, why=f.why,
                                   evidence=dict(f.evidence), state="open", created_at=now,
                                   ladder=[]))
        session.commit()
        return result


# -- peer group ------------------------------------------------------------------------------

@pages.get("/patients/{patient_id}/group", response_class=HTMLResponse)
def group_page(request: Request, access: OwnAccess) -> HTMLResponse:
    own(access)
    pid = access.patient.id
    with Session(engine_of(request)) as session:
        groups = [{"group": g, "feed": peer.group_feed(session, g.id, pid),
                   "consents": peer.consents(session, g.id, pid),
                   "members": len(peer.members(session, g.id))}
                  for g in peer.groups_of(session, pid)]
    return render(request, access.user, "views/patient_group.html",
                  {"patient": access.patient, "groups": groups, "scopes": peer.SCOPES})


@pages.post("/patients/{patient_id}/group/{group_id}/posts")
def group_post(request: Request, access: OwnAccess, group_id: str,
               body: Annotated[str, Form(min_length=1, max_length=1000)]) -> RedirectResponse:
    own(access)
    _peer(request, lambda s: peer.post(s, group_id, access.patient.id, body, now=now_of(request)))
    return back(f"/patients/{access.patient.id}/group")


@pages.post("/patients/{patient_id}/group/{group_id}/consent")
async def group_consent(request: Request, access: OwnAccess, group_id: str) -> RedirectResponse:
    own(access)
    form = await request.form()
    wanted = {scope: form.get(scope) == "on" for scope in peer.SCOPES}
    from starlette.concurrency import run_in_threadpool

    def save(session: Session) -> None:
        current = peer.consents(session, group_id, access.patient.id)
        for scope, granted in wanted.items():
            if current.get(scope) != granted:
                peer.set_consent(session, group_id, access.patient.id, scope=scope,
                                 granted=granted, now=now_of(request))

    await run_in_threadpool(_peer, request, save)
    return back(f"/patients/{access.patient.id}/group")


def _peer(request: Request, action: object) -> None:
    with Session(engine_of(request)) as session:
        try:
            action(session)  # type: ignore[operator]
        except peer.GroupError as exc:
            raise HTTPException(403 if "only" in str(exc) else 422, str(exc)) from exc
        session.commit()


# -- sharing with caregivers -------------------------------------------------------------------

@pages.get("/patients/{patient_id}/sharing", response_class=HTMLResponse)
def sharing_page(request: Request, access: OwnAccess) -> HTMLResponse:
    own(access)
    accounts = request.app.state.accounts
    shares = accounts.shares_of(access.patient.id)
    names = {s.caregiver_id: (accounts.account(s.caregiver_id).display_name
                              if accounts.account(s.caregiver_id) else s.caregiver_id)
             for s in shares}
    return render(request, access.user, "views/patient_sharing.html", {
        "patient": access.patient, "shares": shares, "names": names, "scopes": SHARE_SCOPES})


@pages.post("/patients/{patient_id}/sharing/{caregiver_id}")
async def sharing_post(request: Request, access: OwnAccess, caregiver_id: str) -> RedirectResponse:
    own(access)
    form = await request.form()
    accounts = request.app.state.accounts
    if caregiver_id not in {s.caregiver_id for s in accounts.shares_of(access.patient.id)}:
        raise HTTPException(404, "you do not share with this person")  # no new shares here
    scopes = [s for s in SHARE_SCOPES if form.get(f"scope-{s}") == "on"]
    urgent = form.get("urgent_alerts") == "on"
    from starlette.concurrency import run_in_threadpool

    # nothing ticked keeps the caregiver listed here, seeing nothing
    await run_in_threadpool(lambda: accounts.share(access.patient.id, caregiver_id, scopes,
                                                   urgent_alerts=urgent))
    return back(f"/patients/{access.patient.id}/sharing?saved=1")
