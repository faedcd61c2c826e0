"""The coach view (alert queue, caseload, patient detail with plan editor and messages)
and the alert actions shared with the nurse view."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from care import plans as coach_plans
from care import selfassessment as sa
from care.goals import GOAL_KINDS, Behaviour, GoalKind
from care.plan_store import NotFound, PlanStore
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
    unread = PlanStore(engine_of(request)).unread_for_coach([p.id for p in patients])
    caseload = care.by_need(caseload, unread)  # a queue: who needs the coach now first
    audit_reads(request, user, [p.id for p in patients], "caseload")
    from dashboard.views.outreach import outreach_bucket

    return render(request, user, "views/coach_home.html", {
        "outreach": outreach_bucket(request, user),
        "alerts": alerts, "caseload": caseload, "unread": unread,
        "snooze_choices": q.SNOOZE_CHOICES, "back": "/coach"})


@pages.get("/nurse/alerts", response_class=HTMLResponse)
def nurse_alerts(
    request: Request, user: Annotated[User, Depends(require_role("nurse"))]
) -> HTMLResponse:
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


# -- patient detail: check-in, plan editor, joint record and message thread ----------------

GOAL_ROWS_BLANK = 2  # empty rows under the suggestions, for goals of the coach's own
CHOICES = ("", "A", "B")  # option groups: goals offered as a choice the patient picks from
GoalAction = Literal["pause", "resume", "retire"]


def _detail_context(request: Request, access: PatientAccess, *,
                    mark_read: bool = False) -> dict[str, object]:
    pid = access.patient.id
    now = now_of(request)
    detail = PlanStore(engine_of(request)).coach_detail(store_of(request), pid, now,
                                                        mark_read=mark_read)
    history, messages = detail.history, detail.messages
    return {
        "patient": access.patient, "plan": detail.plan, "draft": detail.draft,
        "latest": detail.latest, "chart": checkin_chart(history),
        "checkins": len(history), "messages": messages,
        "record": detail.record,
        "unread": sum(1 for m in messages if m.unread),
        "alerts": alert_queue(request, access.user, patient_id=pid),
        "snooze_choices": q.SNOOZE_CHOICES, "back": f"/coach/patients/{pid}",
        "behaviours": list(Behaviour), "goal_kinds": GOAL_KINDS, "choices": CHOICES,
        "blank_rows": GOAL_ROWS_BLANK, "error": None,
        "evaluated": request.query_params.get("evaluated"),
    }


@pages.get("/coach/patients/{patient_id}", response_class=HTMLResponse,
           dependencies=[Depends(require_role("coach"))])
def patient_detail(request: Request, access: DetailAccess) -> HTMLResponse:
    # the coach has now seen the patient's messages: they are read (shown as new once)
    context = _detail_context(request, access, mark_read=True)
    return render(request, access.user, "views/coach_patient.html", context)


def _detail_error(request: Request, access: PatientAccess, error: str) -> HTMLResponse:
    context = _detail_context(request, access)
    context["error"] = error
    return render(request, access.user, "views/coach_patient.html", context, status_code=422)


def _back(access: PatientAccess, anchor: str = "plan") -> RedirectResponse:
    return RedirectResponse(f"/coach/patients/{access.patient.id}#{anchor}", status_code=303)


@pages.post("/coach/patients/{patient_id}/messages", dependencies=[Depends(require_role("coach"))])
def coach_message(request: Request, access: DetailAccess,
                  body: Annotated[str, Form(min_length=1, max_length=2000)]) -> RedirectResponse:
    if not body.strip():
        raise HTTPException(422, "write a message first")
    care.send(engine_of(request), patient_id=access.patient.id, author_id=access.user.id,
              author_name=access.user.display_name, author_role="coach",
              recipient_key=access.patient.id, body=body, now=now_of(request))
    return _back(access, "messages")


def _number(raw: object, name: str, *, whole: bool = False) -> float | None:
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise coach_plans.PlanError(f"{name}: {text!r} is not a number") from exc
    if whole and value != int(value):
        raise coach_plans.PlanError(f"{name}: a whole number, not {text}")
    return value


def _draft_of(form: object, prefix: str) -> coach_plans.GoalDraft:
    """One goal row of the coach's form (``{prefix}-kind``, ``-target`` and so on)."""
    get = form.get  # type: ignore[attr-defined]
    try:
        kind = GoalKind(str(get(f"{prefix}-kind") or ""))
    except ValueError as exc:
        raise coach_plans.PlanError("choose what the goal measures") from exc
    days = _number(get(f"{prefix}-days"), "days", whole=True)
    behaviour_raw = str(get(f"{prefix}-behaviour") or "")
    choice = str(get(f"{prefix}-choice") or "")
    if choice not in CHOICES:
        raise coach_plans.PlanError(f"unknown choice {choice!r}")
    return coach_plans.GoalDraft(
        kind=kind, target=_number(get(f"{prefix}-target"), "target"),
        days_required=int(days) if days is not None else None,
        behaviour=Behaviour(behaviour_raw) if behaviour_raw else None,
        patient_part=str(get(f"{prefix}-patient_part") or "").strip()[:500] or None,
        professional_part=str(get(f"{prefix}-professional_part") or "").strip()[:500] or None,
        what=str(get(f"{prefix}-what") or "").strip()[:300], option_group=choice or None)


@pages.post("/coach/patients/{patient_id}/plan", response_class=HTMLResponse,
            dependencies=[Depends(require_role("coach"))])
async def draft_plan(request: Request, access: DetailAccess) -> Response:
    """Propose a plan of the goals ticked on the form (the patient picks among options and
    agrees on their goals page). A start other than the check-in's needs a reason."""
    form = await request.form()
    try:
        focus = Behaviour(str(form.get("focus") or ""))
        rows = sorted({k.split("-")[1] for k in form if k.startswith("goal-")
                       and k.endswith("-include") and form.get(k) == "on"}, key=_row_order)
        drafts = [_draft_of(form, f"goal-{i}") for i in rows]
    except (coach_plans.PlanError, ValueError) as exc:
        return await run_in_threadpool(_detail_error, request, access, str(exc))
    assessment_id = str(form.get("assessment_id") or "") or None
    focus_reason = str(form.get("focus_reason") or "")[:1000]
    note = str(form.get("note") or "")[:1000]

    def save() -> str | None:
        try:
            PlanStore(engine_of(request)).create_plan(
                store_of(request), patient_id=access.patient.id, coach_id=access.user.id,
                focus=focus, goals=drafts, now=now_of(request), assessment_id=assessment_id,
                note=note, focus_reason=focus_reason)
        except (coach_plans.PlanError, ValueError) as exc:
            return str(exc)
        return None

    error = await run_in_threadpool(save)
    if error is not None:
        return await run_in_threadpool(_detail_error, request, access, error)
    return _back(access)


def _row_order(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (10_000, key)


@pages.post("/coach/patients/{patient_id}/plan/{plan_id}/agree",
            dependencies=[Depends(require_role("coach"))])
def coach_agree(request: Request, access: DetailAccess, plan_id: str) -> RedirectResponse:
    _agree(request, access, plan_id, "coach")
    return _back(access)


@pages.post("/coach/patients/{patient_id}/plan/{plan_id}/goals",
            dependencies=[Depends(require_role("coach"))])
async def add_goal(request: Request, access: DetailAccess, plan_id: str) -> RedirectResponse:
    """Another goal for the current plan (from today, when the plan is agreed)."""
    form = await request.form()

    def save() -> None:
        PlanStore(engine_of(request)).add_goal(
            store_of(request), access.patient.id, plan_id, lambda: _draft_of(form, "new"),
            by=access.user.id, role="coach", now=now_of(request),
            reason=str(form.get("reason") or "")[:1000])

    await run_in_threadpool(_change, save, "no such plan for this patient")
    return _back(access)


@pages.post("/coach/patients/{patient_id}/goals/{goal_id}",
            dependencies=[Depends(require_role("coach"))])
def edit_goal(request: Request, access: DetailAccess, goal_id: str,
              target: Annotated[float | None, Form()] = None,
              days_required: Annotated[int | None, Form(ge=1, le=31)] = None,
              patient_part: Annotated[str, Form(max_length=500)] = "",
              professional_part: Annotated[str, Form(max_length=500)] = "",
              reason: Annotated[str, Form(max_length=1000)] = "") -> RedirectResponse:
    """Change a goal's target, days or who does what; the reason goes into its history."""
    def save() -> None:
        PlanStore(engine_of(request)).update_goal(
            access.patient.id, goal_id, now=now_of(request), target=target,
            days_required=days_required, patient_part=patient_part.strip() or None,
            professional_part=professional_part.strip() or None, by=access.user.id,
            role="coach", reason=reason)

    _change(save, NO_GOAL)
    return _back(access, f"goal-{goal_id}")


@pages.post("/coach/patients/{patient_id}/goals/{goal_id}/{action}",
            dependencies=[Depends(require_role("coach"))])
def goal_action(request: Request, access: DetailAccess, goal_id: str, action: GoalAction,
                reason: Annotated[str, Form(max_length=1000)] = "") -> RedirectResponse:
    """Pause, resume or retire a goal (with an optional reason, kept in its history)."""
    def save() -> None:
        PlanStore(engine_of(request)).goal_action(access.patient.id, goal_id, action,
                                                  by=access.user.id, role="coach",
                                                  now=now_of(request), reason=reason)

    _change(save, NO_GOAL)
    return _back(access, f"goal-{goal_id}")


@pages.post("/coach/patients/{patient_id}/evaluate", dependencies=[Depends(require_role("coach"))])
def evaluate_now(request: Request, access: DetailAccess) -> RedirectResponse:
    """Run the weekly evaluation for this patient now: every finished week of every active
    goal is measured and stepped, exactly as the scheduled job does (idempotent)."""
    events = PlanStore(engine_of(request)).evaluate(store_of(request), access.patient.id,
                                                    now_of(request))
    return RedirectResponse(f"/coach/patients/{access.patient.id}?evaluated={len(events)}#plan",
                            status_code=303)


@pages.post("/coach/patients/{patient_id}/achievements",
            dependencies=[Depends(require_role("coach"))])
def coach_add_achievement(request: Request, access: DetailAccess,
                          title: Annotated[str, Form(min_length=1, max_length=200)],
                          detail: Annotated[str, Form(max_length=1000)] = "") -> RedirectResponse:
    if not title.strip():
        raise HTTPException(422, "say what was achieved")
    PlanStore(engine_of(request)).add_achievement(access.patient.id, title=title.strip(),
                                                  by=access.user.id, role="coach",
                                                  now=now_of(request), detail=detail.strip())
    return _back(access, "record")


@pages.post("/coach/patients/{patient_id}/achievements/{achievement_id}/confirm",
            dependencies=[Depends(require_role("coach"))])
def coach_confirm_achievement(request: Request, access: DetailAccess, achievement_id: str,
                              note: Annotated[str, Form(max_length=1000)] = "") -> RedirectResponse:
    """The coach's one click on an entry of the joint record."""
    try:
        PlanStore(engine_of(request)).confirm_achievement(
            access.patient.id, achievement_id, role="coach", now=now_of(request),
            note=note.strip())
    except NotFound as exc:
        raise HTTPException(404, "no such entry for this patient") from exc
    return _back(access, "record")


NO_GOAL = "no such goal for this patient"


def _change(action: Callable[[], None], missing: str) -> None:
    """A change of the plan: ``missing`` (404) when it is not this patient's, the rules'
    refusal as 422 with its reason."""
    try:
        action()
    except NotFound as exc:
        raise HTTPException(404, missing) from exc
    except (coach_plans.PlanError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from exc


def _agree(request: Request, access: PatientAccess, plan_id: str, role: str) -> None:
    try:
        PlanStore(engine_of(request)).agree(access.patient.id, plan_id, role=role,  # type: ignore[arg-type]
                                            now=now_of(request))
    except NotFound as exc:
        raise HTTPException(404, "no such plan for this patient") from exc
    except coach_plans.PlanError as exc:
        raise HTTPException(422, str(exc)) from exc


# -- the check-in history as a small chart (inline SVG: no script, no inline style) --------

CHART_W, CHART_H = 240, 60


def checkin_chart(history: Sequence[sa.AssessmentSummary], *,
                  last: int = 12) -> list[dict[str, object]]:
    """One sparkline per self-care area: confidence (0-10) over the last ``last`` check-ins,
    and the distress screen's mean (1-6) when answered. Points in SVG user units."""
    shown = list(history)[-last:]
    if not shown:
        return []
    step = CHART_W / max(1, len(shown) - 1)

    def line(values: list[float | None], low: float, high: float) -> str:
        return " ".join(f"{i * step:.1f},{CHART_H - (v - low) / (high - low) * CHART_H:.1f}"
                        for i, v in enumerate(values) if v is not None)

    out: list[dict[str, object]] = []
    for card in sa.CARDS:
        values: list[float | None] = [float(h.confidence[card.behaviour])
                                      if card.behaviour in h.confidence else None for h in shown]
        out.append({"title": card.title, "points": line(values, 0, 10), "scale": "0-10",
                    "values": [v for v in values if v is not None], "what": "confidence"})
    dds2 = [h.dds2_mean for h in shown]
    if any(v is not None for v in dds2):
        out.append({"title": "Distress (DDS2 mean)", "points": line(dds2, 1, 6), "scale": "1-6",
                    "values": [v for v in dds2 if v is not None], "what": "distress"})
    return out
