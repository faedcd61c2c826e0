"""The home display (issue 20): a kitchen tablet or an old phone on a stand, for homes
without a smartphone habit (docs/DASHBOARD.md, "Home display").

- ``/display/`` is the page: large type, the current state in one word and a colour (the
  word always; colour never alone), the newest reading and its age, today's one message,
  an OK button on an open safety alert, and an optional voice read-out. The page itself
  holds no personal data (it is public and the service worker caches it); what it shows
  comes from ``/display/state`` and the live ``/display/stream`` (server-sent events),
  which only a paired display may read, and the page keeps the last state on the device
  so that it still shows the last values, and their age, while offline.
- Pairing: the patient makes a one-time code on ``/patients/{id}/displays``; the device
  types it on the page (``POST /display/pair``) and gets a device cookie with two powers:
  read this patient's display, acknowledge this patient's safety alerts
  (core/appdb/displays.py; dashboard/security.py ``display_device``). The patient sees her
  displays and unpairs one at once.

The state word comes from the consensus glucose ranges (analytics/cgm.py range_index;
docs/CLINICAL.md: level 1 and 2 hypo- and hyperglycaemia): no threshold is written
here. A patient without glucose readings sees "Alert" while a safety alert is open and
"No alerts" otherwise, with the newest value of her main vital.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from analytics.cgm import range_index
from care import safety_alerts
from core import i18n
from core.appdb import displays
from core.appdb.audit_log import AuditEntry
from core.appdb.directory import PatientDirectory, PatientInfo
from core.i18n import N_
from core.metrics import Metric, spec
from dashboard import throttle
from dashboard.csrf import set_login_cookie
from dashboard.live import STREAM_HEADERS, interval_of, stream
from dashboard.security import (
    DISPLAY_COOKIE,
    PatientAccess,
    accounts_of,
    cookie_secure,
    display_device,
    now_of,
    patient_access,
    public,
    settings_of,
)
from dashboard.templating import templates
from dashboard.views import glance
from dashboard.views import glucose as g
from dashboard.views.common import engine_of, render
from dashboard.views.records import Prefs, load_prefs
from dashboard.views.safety import open_alerts

STATIC = Path(__file__).resolve().parent.parent / "static"
DEVICE_COOKIE_DAYS = 400  # browsers cap a cookie's life at about 400 days
MESSAGE_HOURS = 24  # "today's message": the newest message to the patient this recent
DEVICE_PATH = "/display/"  # the device's cookies go only with its own requests
PAIR_THROTTLE = "display-pair"  # the sign-in throttle's name for pairing attempts

pages = APIRouter(include_in_schema=False)
DisplayDevice = Annotated[displays.Display, Depends(display_device)]
OwnDisplays = Annotated[PatientAccess, Depends(patient_access("home displays", self_only=True))]

# The words and tones of the five consensus glucose ranges, in analytics/cgm.py's
# range_index order (<54, 54-69, 70-180, 181-250, >250 mg/dL; docs/CLINICAL.md). A tone
# names a colour in hearth.css and is always shown with its word.
_RANGE_WORDS = ((N_("Very low"), "urgent"), (N_("Low"), "low"), (N_("In range"), "ok"),
                (N_("High"), "high"), (N_("Very high"), "urgent"))
_VITAL_LABELS = {Metric.WEIGHT: N_("Weight"), Metric.SPO2: N_("Oxygen"),
                 Metric.SYSTOLIC: N_("Blood pressure (top number)")}
N_("Glucose")
N_("Alert")
N_("No alerts")
N_("No recent reading")


def glucose_word(mg_dl: float) -> tuple[str, str]:
    """(word, tone) of one glucose value, by its consensus range."""
    word, tone = _RANGE_WORDS[int(range_index(np.array([mg_dl]))[0])]
    return word, tone


# -- the state a display shows ------------------------------------------------------------

def patient_prefs(request: Request, patient_id: str) -> Prefs:
    """The patient's own preferences (units, language): a display shows what she chose."""
    user_id = accounts_of(request).users.of_patient(patient_id)
    return load_prefs(engine_of(request), user_id) if user_id else Prefs()


def display_state(request: Request, display: displays.Display) -> dict[str, Any]:
    """Everything the page shows, in the patient's language and units (JSON)."""
    directory: PatientDirectory = request.app.state.directory
    patient = directory.patient(display.patient_id)
    if patient is None:
        raise HTTPException(404, "this display's patient is no longer in Hearth")
    prefs = patient_prefs(request, patient.id)
    lang = i18n.choose(prefs.locale)
    now = now_of(request)
    engine = engine_of(request)
    alerts = open_alerts(engine, {patient.id: patient.display_name})
    state: dict[str, Any] = {
        "patient": patient.display_name.split(" ")[0], "lang": lang,
        "dir": i18n.direction(lang), "now": now.isoformat(),
        "alerts": [{"id": a.id, "title": i18n.localise(a.title, lang),
                    "advice": i18n.localise(a.body, lang), "urgent_low": a.urgent_low,
                    "snoozed": a.state == "snoozed", "at": a.created_at.isoformat()}
                   for a in alerts],
        "reading": _reading(request, patient, prefs, lang, now),
        "message": _message(engine, patient.id, lang, now),
    }
    word, tone = _state_word(state["reading"], bool(alerts), lang)
    state["word"], state["tone"] = word, tone
    return state


def _reading(request: Request, patient: PatientInfo, prefs: Prefs, lang: str,
             now: datetime) -> dict[str, Any] | None:
    store = request.app.state.store
    latest = store.latest(patient.id, [Metric.GLUCOSE])
    glucose = latest.get(Metric.GLUCOSE)
    if glucose is not None:
        fresh = now - glucose.measured_at <= g.FRESH_FOR
        word, tone = glucose_word(glucose.value)
        return {"metric": "glucose", "label": i18n.gettext(lang, "Glucose"),
                "value": g.fmt(glucose.value, prefs.glucose_units),
                "units": prefs.glucose_units, "at": glucose.measured_at.isoformat(),
                "fresh": fresh, "word": i18n.gettext(lang, word), "tone": tone}
    vital = glance.main_vital(patient)
    if vital is None or vital is Metric.GLUCOSE:
        return None
    reading = store.latest(patient.id, [vital]).get(vital)
    if reading is None:
        return None
    return {"metric": str(vital), "label": i18n.gettext(lang, _VITAL_LABELS[vital]),
            "value": f"{reading.value:g}", "units": spec(vital).display_unit,
            "at": reading.measured_at.isoformat(),
            "fresh": now - reading.measured_at <= timedelta(days=1), "word": None,
            "tone": None}


def _state_word(reading: dict[str, Any] | None, alert_open: bool,
                lang: str) -> tuple[str, str]:
    if reading is not None and reading["word"] is not None:
        if not reading["fresh"]:
            return i18n.gettext(lang, "No recent reading"), "stale"
        return reading["word"], reading["tone"]
    if alert_open:
        return i18n.gettext(lang, "Alert"), "urgent"
    return i18n.gettext(lang, "No alerts"), "ok"


def _message(engine: Any, patient_id: str, lang: str, now: datetime) -> dict[str, Any] | None:
    row = safety_alerts.newest_message(engine, patient_id,
                                       since=now - timedelta(hours=MESSAGE_HOURS))
    if row is None:
        return None
    return {"title": i18n.localise(row.title, lang), "body": i18n.localise(row.body, lang),
            "at": row.at.isoformat()}


def _version(request: Request, display: displays.Display) -> Any:
    """What changes when the display should redraw."""
    state = display_state(request, display)
    state.pop("now")
    return state


# -- the device's routes ------------------------------------------------------------------------

@pages.get("/display/", response_class=HTMLResponse, dependencies=[Depends(public)])
def page(request: Request) -> HTMLResponse:
    """The display's page (no personal data: it is cached on the device for offline use).
    In the patient's language when the device is paired."""
    token = request.cookies.get(DISPLAY_COOKIE)
    if token:
        paired = displays.HomeDisplays(engine_of(request)).by_token(token, now_of(request))
        if paired is not None:
            request.state.view_prefs = patient_prefs(request, paired.patient_id)
    response = templates.TemplateResponse(request, "views/display.html", {})
    set_login_cookie(request, response, path=DEVICE_PATH)  # double-submit CSRF cookie
    response.headers["Cache-Control"] = "no-cache"
    return response


@pages.get("/display/sw.js", dependencies=[Depends(public)])
def service_worker() -> FileResponse:
    """The service worker (scope /display/): the page and its files from the cache when
    the network is away; never the state (the page keeps that itself)."""
    return FileResponse(STATIC / "display-sw.js", media_type="text/javascript",
                        headers={"Cache-Control": "no-cache"})


@pages.get("/display/manifest.webmanifest", dependencies=[Depends(public)])
def manifest() -> FileResponse:
    return FileResponse(STATIC / "display.webmanifest", media_type="application/manifest+json")


@pages.get("/display/state")
def state(request: Request, display: DisplayDevice) -> JSONResponse:
    """The paired display's state (JSON), with a fresh CSRF token for its OK button."""
    from dashboard.csrf import csrf_token

    body = display_state(request, display)
    body["csrf"] = csrf_token(request)
    response = JSONResponse(body, headers={"Cache-Control": "no-store"})
    set_login_cookie(request, response, path=DEVICE_PATH)
    return response


@pages.get("/display/stream")
async def live(request: Request, display: DisplayDevice) -> Any:
    """Server-sent events: ``state`` whenever what the display shows changes."""
    from fastapi.responses import StreamingResponse

    last: list[Any] = [await run_in_threadpool(_version, request, display)]

    def poll(now: datetime) -> list[tuple[str, dict[str, Any]]]:
        current = _version(request, display)
        if current == last[0]:
            return []
        last[0] = current
        return [("state", {**current, "now": now.isoformat()})]

    body = stream(poll, interval=interval_of(request), is_disconnected=request.is_disconnected,
                  clock=lambda: now_of(request))
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)


@pages.post("/display/pair", dependencies=[Depends(public)])
def pair(request: Request, code: Annotated[str, Form(max_length=40)],
         name: Annotated[str, Form(max_length=200)] = "") -> Any:
    """Pair this device with the patient whose one-time code it typed."""
    address = request.client.host if request.client else "unknown"
    accounts = accounts_of(request)
    now = now_of(request)
    decision = throttle.decide(accounts.sign_ins, settings_of(request), PAIR_THROTTLE,
                               address, now)
    if decision.refuse_for > 0:
        raise HTTPException(429, "too many tries: wait a moment, then type the code again",
                            headers={"Retry-After": str(int(decision.refuse_for) + 1)})
    made = displays.HomeDisplays(engine_of(request)).pair(code, name, now)
    if made is None:
        accounts.sign_ins.record(PAIR_THROTTLE, address, at=now, succeeded=False)
        raise HTTPException(400, "that code is not right, was used already or is older than "
                                 "10 minutes: make a new one on the Home display page")
    display, token = made
    accounts.audit_log.record([AuditEntry(now, f"display:{display.id}", "display",
                                          display.patient_id, "pair a home display",
                                          request.url.path)])
    response = RedirectResponse("/display/", status_code=303)
    response.set_cookie(DISPLAY_COOKIE, token, max_age=DEVICE_COOKIE_DAYS * 86_400,
                        httponly=True, samesite="strict", secure=cookie_secure(request),
                        path=DEVICE_PATH)
    return response


@pages.post("/display/alerts/{alert_id}/ok")
def acknowledge(request: Request, alert_id: str, display: DisplayDevice) -> JSONResponse:
    """OK on the display: the patient has seen the safety alert (its ladder stops)."""
    now = now_of(request)
    done = safety_alerts.acknowledge(engine_of(request), display.patient_id, alert_id,
                                     by_user=f"display:{display.id}", role="patient", now=now,
                                     note="acknowledged on a home display")
    if done is None:
        raise HTTPException(404, "no such alert on this display")
    accounts_of(request).audit_log.record([AuditEntry(
        now, f"display:{display.id}", "display", display.patient_id,
        "acknowledge a safety alert on a home display", request.url.path)])
    return JSONResponse({"acknowledged": done})


# -- the patient's page: codes and paired displays ---------------------------------------------

@pages.get("/patients/{patient_id}/displays", response_class=HTMLResponse)
def own_displays(request: Request, access: OwnDisplays, code: str | None = None) -> HTMLResponse:
    paired = displays.HomeDisplays(engine_of(request)).of_patient(access.patient.id)
    return render(request, access.user, "views/patient_displays.html", {
        "patient": access.patient, "displays": paired, "code": code,
        "code_minutes": int(displays.CODE_TTL.total_seconds() // 60)})


@pages.post("/patients/{patient_id}/displays/code", response_class=HTMLResponse)
def make_code(request: Request, access: OwnDisplays) -> HTMLResponse:
    """A one-time pairing code, shown once on the page it returns."""
    code = displays.HomeDisplays(engine_of(request)).new_code(access.patient.id, access.user.id,
                                                          now_of(request))
    shown = f"{code[:4]}-{code[4:]}"
    return own_displays(request, access, code=shown)


@pages.post("/patients/{patient_id}/displays/{display_id}/revoke")
def unpair(request: Request, display_id: str, access: OwnDisplays) -> RedirectResponse:
    now = now_of(request)
    done = displays.HomeDisplays(engine_of(request)).revoke(access.patient.id, display_id, now)
    if not done:
        raise HTTPException(404, "no such display")
    accounts_of(request).audit_log.record([AuditEntry(
        now, access.user.id, access.user.role, access.patient.id, "unpair a home display",
        request.url.path)])
    return RedirectResponse(f"/patients/{access.patient.id}/displays", status_code=303)
