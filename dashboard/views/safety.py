"""Safety alerts where the patient and her caregiver look (docs/DASHBOARD.md, "Safety
alerts"): the Today page and the inbox show each open safety alert with its advice and
an OK button, live; the caregiver the patient shares alerts with sees and acknowledges
them on the page of the people they care for.

A safety alert is a coach_alerts row of kind "escalation" (coach/escalation.py opens
them with their ladder patient -> caregiver -> coach -> nurse) in state open or
snoozed; the reads and the acknowledgement are care/safety_alerts.py's. Acknowledging
goes through care/alerts.py with the acknowledger's role ("patient" or "caregiver"), so
the coach's escalation timer sees the ladder stopped.

Who sees whose: the patient her own; a caregiver the people whose share with them has
the ``alerts`` scope (core/appdb/accounts.py CaregiverShare; ``urgent_alerts`` puts
them on the ladder as well); nobody else here (coaches and nurses have their queues).
Every read by a caregiver is audited.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import Engine

from care.safety_alerts import (
    OPEN_STATES,
    SAFETY_KIND,
    URGENT_LOW_GROUP,
    InboxItem,
    SafetyAlert,
    inbox,
    open_alerts,
    version,
)
from care.safety_alerts import acknowledge as acknowledge_alert
from core.appdb.alarms import alarm_choice, save_alarm_choice
from dashboard.security import (
    PatientAccess,
    User,
    accounts_of,
    audit_reads,
    now_of,
    patient_access,
    require_role,
)
from dashboard.views.common import engine_of, render

INBOX_DAYS = 14
# What display.py, live.py and the tests take from here (care/safety_alerts.py's).
__all__ = ["OPEN_STATES", "SAFETY_KIND", "URGENT_LOW_GROUP", "InboxItem", "SafetyAlert", "inbox",
           "open_alerts", "version"]
Sound = Literal["normal", "quieter", "silent"]

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["safety alerts"])

PatientOrCaregiver = Annotated[User, Depends(require_role("patient", "caregiver"))]
PatientUser = Annotated[User, Depends(require_role("patient"))]
AckAccess = Annotated[PatientAccess, Depends(patient_access("safety alert", scope="alerts"))]


class SafetyAlertOut(BaseModel):
    id: str
    patient_id: str
    patient_name: str
    title: str
    advice: str
    why: str
    state: str
    created_at: datetime
    urgent_low: bool


class AlarmSound(BaseModel):
    urgent_low: Literal["normal", "quieter"] = "normal"
    other_urgent: Sound = "normal"


class AlarmChoice(BaseModel):
    """What a client asks for (checked by core/appdb/alarms.py validate, with its reason)."""

    urgent_low: str = "normal"
    other_urgent: str = "normal"


def safety_patients(request: Request, user: User) -> dict[str, str]:
    """Whose safety alerts this user sees here: id -> display name."""
    if user.role == "patient" and user.patient_id:
        ids = {user.patient_id}
    elif user.role == "caregiver":
        ids = {s.patient_id for s in accounts_of(request).sharing.with_caregiver(user.id)
               if "alerts" in s.scopes}
    else:
        return {}
    directory = request.app.state.directory
    found = (directory.patient(pid) for pid in sorted(ids))  # a few people, not the clinic
    return {p.id: p.display_name for p in found if p is not None}


def shown_alerts(request: Request, user: User, patient_id: str | None = None,
                 purpose: str = "safety alerts") -> list[SafetyAlert]:
    """The viewer's safety alerts (of one patient when asked), audited for caregivers."""
    names = safety_patients(request, user)
    if patient_id is not None:
        names = {k: v for k, v in names.items() if k == patient_id}
    items = open_alerts(engine_of(request), names)
    audit_reads(request, user, [i.patient_id for i in items], purpose)
    if user.role == "caregiver":  # OK only on the ladder: opted in to urgent alerts
        accounts = accounts_of(request)
        on_ladder = {pid for pid in names
                     if user.id in accounts.sharing.urgent_alert_caregivers(pid)}
        items = [replace(i, may_ack=i.patient_id in on_ladder) for i in items]
    return items


# -- the alarm sound --------------------------------------------------------------------

def load_alarm(engine: Engine, patient_id: str) -> AlarmSound:
    chosen = alarm_choice(engine, patient_id)
    if chosen is None:
        return AlarmSound()
    return AlarmSound(urgent_low=chosen[0], other_urgent=chosen[1])  # type: ignore[arg-type]


def save_alarm(engine: Engine, patient_id: str, urgent_low: str, other_urgent: str, *,
               now: datetime) -> AlarmSound:
    """Store the patient's choice; ValueError (with the reason) for one not allowed."""
    save_alarm_choice(engine, patient_id, urgent_low, other_urgent, now=now)
    return AlarmSound(urgent_low=urgent_low, other_urgent=other_urgent)  # type: ignore[arg-type]


def alarm_volume(request: Request, user: User, items: list[SafetyAlert]) -> str:
    """What the page sounds: "none" without an open alert; for a patient her own choice
    (an urgent low never silent); a caregiver hears it at normal volume."""
    sounding = [i for i in items if i.sounding]
    if not sounding:
        return "none"
    if user.role != "patient" or not user.patient_id:
        return "normal"
    sound = load_alarm(engine_of(request), user.patient_id)
    if any(i.urgent_low for i in sounding):
        return sound.urgent_low
    return sound.other_urgent


def fragment_context(request: Request, user: User, items: list[SafetyAlert],
                     back: str, *, quiet: bool = False) -> dict[str, object]:
    """``quiet``: say nothing when there is no alert (Today), else "No open safety alerts"."""
    return {"safety": items, "alarm": alarm_volume(request, user, items), "back": back,
            "own": user.role == "patient", "quiet": quiet}


# -- routes -----------------------------------------------------------------------------

def _back(value: str, default: str) -> str:
    return value if value.startswith("/") and not value.startswith("//") else default


@pages.get("/alerts/safety", response_class=HTMLResponse)
def safety_fragment(request: Request, user: PatientOrCaregiver, patient_id: str = "",
                    back: str = "", quiet: bool = False) -> HTMLResponse:
    """The open safety alerts alone, for the live refresh of Today, the inbox and the
    caregiver's page."""
    items = shown_alerts(request, user, patient_id or None)
    return render(request, user, "views/_safety_alerts.html",
                  fragment_context(request, user, items, _back(back, "/alerts"), quiet=quiet))


@api.get("/me/safety-alerts", response_model=list[SafetyAlertOut])
def safety_alerts_api(request: Request, user: PatientOrCaregiver) -> list[SafetyAlertOut]:
    """Open safety alerts: the patient's own, or those of the people who share alerts
    with this caregiver; oldest first."""
    return [SafetyAlertOut(id=i.id, patient_id=i.patient_id, patient_name=i.patient_name,
                           title=i.title, advice=i.body, why=i.why, state=i.state,
                           created_at=i.created_at, urgent_low=i.urgent_low)
            for i in shown_alerts(request, user)]


@pages.post("/patients/{patient_id}/safety-alerts/{alert_id}/acknowledge",
            dependencies=[Depends(require_role("patient", "caregiver"))])
def acknowledge(request: Request, access: AckAccess, alert_id: str,
                back: Annotated[str, Form()] = "") -> Response:
    """OK: the patient (or the caregiver the alert is shared with) has seen it; the ladder
    stops (care/alerts.py, recorded with their role). JSON for scripts, a redirect for
    forms."""
    done = acknowledge_alert(engine_of(request), access.patient.id, alert_id,
                             by_user=access.user.id, role=access.user.role, now=now_of(request))
    if done is None:
        raise HTTPException(404, "no such safety alert for this person")
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"id": alert_id, "acknowledged": done,
                             "state": "acknowledged" if done else "closed"})
    return RedirectResponse(_back(back, "/alerts"), status_code=303)


# -- the inbox --------------------------------------------------------------------------

@pages.get("/alerts", response_class=HTMLResponse)
def inbox_page(request: Request, user: Annotated[User, Depends(
        require_role("patient", "caregiver", "coach", "nurse"))]) -> Response:
    """The patient's inbox: open safety alerts with OK, then everything sent to her in
    the last 14 days. Other roles go to their own alert pages."""
    if user.role == "patient" and user.patient_id:
        items = shown_alerts(request, user)
        now = now_of(request)
        return render(request, user, "views/patient_inbox.html", {
            **fragment_context(request, user, items, "/alerts"),
            "messages": inbox(engine_of(request), user.patient_id,
                              since=now - timedelta(days=INBOX_DAYS)),
            "days": INBOX_DAYS, "patient_id": user.patient_id})
    where = {"caregiver": "/shared", "coach": "/coach"}.get(user.role, "/nurse/alerts")
    return RedirectResponse(where, status_code=303)


# -- the alarm setting (on the settings page, and its JSON twin) ----------------------------

@api.get("/me/alarm", response_model=AlarmSound)
def get_alarm(request: Request, user: PatientUser) -> AlarmSound:
    """The patient's alarm sound for urgent alerts on the pages."""
    assert user.patient_id is not None
    return load_alarm(engine_of(request), user.patient_id)


@api.put("/me/alarm", response_model=AlarmSound,
         responses={422: {"description": "an urgent low cannot be silent"}})
def put_alarm(request: Request, user: PatientUser, body: AlarmChoice) -> AlarmSound:
    """Change it: an urgent low may be quieter, never silent (422 with the reason)."""
    assert user.patient_id is not None
    try:
        return save_alarm(engine_of(request), user.patient_id, body.urgent_low,
                          body.other_urgent, now=now_of(request))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@pages.post("/settings/alarm", response_class=HTMLResponse)
def save_alarm_form(request: Request, user: PatientUser,
                    urgent_low: Annotated[str, Form()],
                    other_urgent: Annotated[str, Form()] = "normal") -> Response:
    assert user.patient_id is not None
    try:
        save_alarm(engine_of(request), user.patient_id, urgent_low, other_urgent,
                   now=now_of(request))
    except ValueError as exc:
        from dashboard.views.patient import settings_context

        return render(request, user, "views/settings.html",
                      settings_context(request, user, error=str(exc)), status_code=422)
    return RedirectResponse("/settings?saved=1#alarm", status_code=303)
