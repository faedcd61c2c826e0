"""The coach view (alert queue, caseload, patient detail with plan editor and messages)
and the alert actions shared with the nurse view."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from care import plans as coach_plans
from care.goals import GOAL_KINDS, Behaviour, GoalKind
from core.appdb.plans import Goal, Plan
from dashboard.security import (
    PatientAccess,
    User,
    audit_reads,
    now_of,
    patient_access,
    require_role,
    visible_patients,
)
from dashboard.views import alerts as q
from dashboard.views import care
from dashboard.views.common import engine_of, render, store_of

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["coach view"])

Coach = Annotated[User, Depends(require_role("coach"))]
CareTeam = Annotated[User, Depends(require_role("coach", "nurse"))]
AlertAccess = Annotated[PatientAccess, Depends(patient_access("alert", scope="alerts"))]
DetailAccess = Annotated[PatientAccess, Depends(patient_access("coach detail", scope="goals"))]
Action = Literal["acknowledge", "snooze", "resolve"]


class AlertOut(BaseModel):
    id: str
    patient_id: str
    patient_name: str
    kind: str
    priority: str
    title: str
    why: str
    state: str
    created_at: str
    age: str
    acknowledged_by: str | None
    next_step_at: str | None
    next_role: str | None
    ladder: list[str]
    steps: list[dict[str, str | int | None]]


def _out(i: q.AlertItem) -> AlertOut:
    return AlertOut(
        id=i.id, patient_id=i.patient_id, patient_name=i.patient_name, kind=i.kind,
        priority=i.priority, title=i.title, why=i.why, state=i.state,
        created_at=i.created_at.isoformat(), age=i.age, acknowledged_by=i.acknowledged_by,
        next_step_at=i.next_step_at.isoformat() if i.next_step_at else None,
        next_role=i.next_role, ladder=list(i.ladder),
        steps=[{"step": s.step, "role": s.role, "action": s.action, "by_user": s.by_user,
                "at": s.at.isoformat()} for s in i.steps])


def alert_queue(request: Request, user: User, *, kinds: tuple[str, ...] | None = None,
                patient_id: str | None = None, include_closed: bool = False) -> list[q.AlertItem]:
    patients = visible_patients(request, user)
    names = {p.id: p.display_name for p in patients}
    ids = [patient_id] if patient_id else list(names)
    return q.queue(engine_of(request), ids, names, now=now_of(request), kinds=kinds,
                   include_closed=include_closed)


def audited(request: Request, user: User, items: list[q.AlertItem],
            purpose: str = "alert queue") -> list[q.AlertItem]:
    """The queue as shown, with one audit row for each patient whose alert it shows."""
    audit_reads(request, user, [i.patient_id for i in items], purpose)
    return items


def _nurse_kinds(user: User) -> tuple[str, ...] | None:
    return q.CLINICAL_KINDS if user.role == "nurse" else None


@pages.get("/coach", response_class=HTMLResponse)
def coach_home(request: Request, user: Coach) -> HTMLResponse:
    patients = visible_patients(request, user)
    alerts = audited(request, user, alert_queue(request, user))
    caseload = care.caseload(engine_of(request), patients)
    audit_reads(request, user, [p.id for p in patients], "caseload")
    return render(request, user, "views/coach_home.html", {
        "alerts": alerts, "caseload": caseload,
        "snooze_choices": q.SNOOZE_CHOICES, "back": "/coach"})


@pages.get("/nurse/alerts", response_class=HTMLResponse)
def nurse_alerts(request: Request, user: Annotated[User, Depends(require_role("nurse"))]) -> HTMLResponse:
    return render(request, user, "views/nurse_alerts.html", {
        "alerts": audited(request, user, alert_queue(request, user, kinds=q.CLINICAL_KINDS)),
        "snooze_choices": q.SNOOZE_CHOICES, "back": "/nurse/alerts"})


@pages.get("/alerts/fragment", response_class=HTMLResponse)
def alerts_fragment(request: Request, user: CareTeam) -> HTMLResponse:
    """The alert list alone, for the live refresh of the coach and nurse pages."""
    back = "/coach" if user.role == "coach" else "/nurse/alerts"
    return render(request, user, "views/_alerts.html", {
        "alerts": audited(request, user, alert_queue(request, user, kinds=_nurse_kinds(user))),
        "snooze_choices": q.SNOOZE_CHOICES, "back": back})


@api.get("/alerts", response_model=list[AlertOut])
def alerts_api(request: Request, user: CareTeam) -> list[AlertOut]:
    """Open and snoozed alerts of the caller's patients, most urgent and oldest first."""
    return [_out(i) for i in audited(request, user,
                                     alert_queue(request, user, kinds=_nurse_kinds(user)))]


@pages.post("/patients/{patient_id}/alerts/{alert_id}/{action}")
def alert_action(request: Request, access: AlertAccess, alert_id: str, action: Action,
                 note: Annotated[str, Form(max_length=4000)] = "",
                 snooze: Annotated[Literal["30m", "2h", "1d"], Form()] = "30m",
                 back: Annotated[str, Form()] = "") -> RedirectResponse:
    """Acknowledge (anyone who may see the alert), snooze or resolve (care team only)."""
    user = access.user
    engine = engine_of(request)
    if q.alert_patient(engine, alert_id) != access.patient.id:
        raise HTTPException(404, "no such alert for this patient")
    if action != "acknowledge" and user.role not in ("coach", "nurse"):
        raise HTTPException(403, "only the care team snoozes or resolves alerts")
    if action == "resolve" and not note.strip():
        raise HTTPException(422, "resolving an alert needs a note")
    q.act(engine, alert_id, action, by_user=user.id, role=user.role, now=now_of(request),
          note=note, snooze=snooze)
    target = back if back.startswith("/") and not back.startswith("//") else "/home"
    return RedirectResponse(target, status_code=303)


# -- patient detail: plan editor and message thread ---------------------------------------

@pages.get("/coach/patients/{patient_id}", response_class=HTMLResponse,
           dependencies=[Depends(require_role("coach"))])
def patient_detail(request: Request, access: DetailAccess) -> HTMLResponse:
    engine = engine_of(request)
    with Session(engine) as session:
        plan = coach_plans.plan_view(session, store_of(request), access.patient.id, now_of(request))
    return render(request, access.user, "views/coach_patient.html", {
        "patient": access.patient, "plan": plan, "messages": care.thread(engine, access.patient.id),
        "alerts": alert_queue(request, access.user, patient_id=access.patient.id),
        "snooze_choices": q.SNOOZE_CHOICES, "back": f"/coach/patients/{access.patient.id}",
        "behaviours": list(Behaviour), "goal_kinds": GOAL_KINDS, "error": None})


@pages.post("/coach/patients/{patient_id}/messages", dependencies=[Depends(require_role("coach"))])
def coach_message(request: Request, access: DetailAccess,
                  body: Annotated[str, Form(min_length=1, max_length=2000)]) -> RedirectResponse:
    care.send(engine_of(request), patient_id=access.patient.id, author_id=access.user.id,
              author_name=access.user.display_name, author_role="coach",
              recipient_key=access.patient.id, body=body, now=now_of(request))
    return RedirectResponse(f"/coach/patients/{access.patient.id}#messages", status_code=303)


@pages.post("/coach/patients/{patient_id}/plan", dependencies=[Depends(require_role("coach"))])
def draft_plan(request: Request, access: DetailAccess,
               focus: Annotated[Behaviour, Form()], kind: Annotated[GoalKind, Form()],
               target: Annotated[float | None, Form()] = None,
               patient_part: Annotated[str, Form(max_length=500)] = "",
               professional_part: Annotated[str, Form(max_length=500)] = "",
               what: Annotated[str, Form(max_length=300)] = "") -> RedirectResponse:
    """Propose a plan with its first goal (the patient agrees on their goals page)."""
    draft = coach_plans.GoalDraft(kind=kind, target=target, patient_part=patient_part or None,
                                  professional_part=professional_part or None, what=what)
    with Session(engine_of(request)) as session:
        try:
            coach_plans.create_plan(session, store_of(request), patient_id=access.patient.id,
                                    coach_id=access.user.id, focus=focus, goals=[draft],
                                    now=now_of(request))
        except (coach_plans.PlanError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from exc
        session.commit()
    return RedirectResponse(f"/coach/patients/{access.patient.id}#plan", status_code=303)


@pages.post("/coach/patients/{patient_id}/plan/{plan_id}/agree",
            dependencies=[Depends(require_role("coach"))])
def coach_agree(request: Request, access: DetailAccess, plan_id: str) -> RedirectResponse:
    _agree(request, access, plan_id, "coach")
    return RedirectResponse(f"/coach/patients/{access.patient.id}#plan", status_code=303)


@pages.post("/coach/patients/{patient_id}/goals/{goal_id}",
            dependencies=[Depends(require_role("coach"))])
def edit_goal(request: Request, access: DetailAccess, goal_id: str,
              target: Annotated[float, Form()]) -> RedirectResponse:
    with Session(engine_of(request)) as session:
        goal = session.get(Goal, goal_id)
        if goal is None or goal.patient_id != access.patient.id:
            raise HTTPException(404, "no such goal for this patient")
        try:
            coach_plans.update_goal(session, goal_id, now=now_of(request), target=target)
        except coach_plans.PlanError as exc:
            raise HTTPException(422, str(exc)) from exc
        session.commit()
    return RedirectResponse(f"/coach/patients/{access.patient.id}#plan", status_code=303)


def _agree(request: Request, access: PatientAccess, plan_id: str, role: str) -> None:
    with Session(engine_of(request)) as session:
        plan = session.get(Plan, plan_id)
        if plan is None or plan.patient_id != access.patient.id:
            raise HTTPException(404, "no such plan for this patient")
        try:
            coach_plans.agree_plan(session, plan_id, role=role, now=now_of(request))  # type: ignore[arg-type]
        except coach_plans.PlanError as exc:
            raise HTTPException(422, str(exc)) from exc
        session.commit()
