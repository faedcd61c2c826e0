"""The patient view: today, trends, settings (pages and their JSON twins)."""

from __future__ import annotations

import functools
from datetime import UTC, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import numpy as np
from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from analytics import cgm
from dashboard.security import (
    CurrentUser,
    PatientAccess,
    User,
    now_of,
    patient_access,
    require_role,
)
from dashboard.views import alerts, devicestatus, figures, glance, safety
from dashboard.views.common import (
    engine_of,
    home_of,
    prefs_of,
    render,
    script_json,
    store_of,
)
from dashboard.views.models import Preferences, Today, Trends
from dashboard.views.records import Prefs, save_prefs

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["patient view"])

NudgeAccess = Annotated[PatientAccess, Depends(patient_access("nudge feedback", scope="nudges",
                                                              self_only=True))]
TodayAccess = Annotated[PatientAccess, Depends(patient_access("today", scope="readings"))]
TrendsAccess = Annotated[PatientAccess, Depends(patient_access("trends", scope="trends"))]
Days = Annotated[int, Query(description="length of the period: 14, 30 or 90 days")]


def build_today(request: Request, access: PatientAccess) -> Today:
    prefs = prefs_of(request, access.user)
    return figures.today(store_of(request), access.patient, now=now_of(request),
                         units=prefs.glucose_units, tz=prefs.zone_for(access.patient.timezone),
                         weight_units=prefs.weight_units)


def build_trends(request: Request, access: PatientAccess, days: int) -> Trends:
    if days not in figures.TREND_DAYS:
        raise HTTPException(422, "days must be 14, 30 or 90")
    prefs = prefs_of(request, access.user)
    return figures.cached_trends(store_of(request), access.patient, days=days,
                                 now=now_of(request), units=prefs.glucose_units,
                                 tz=prefs.zone_for(access.patient.timezone),
                                 weight_units=prefs.weight_units)


@pages.get("/home", dependencies=[])
def home(user: CurrentUser) -> RedirectResponse:
    """Each role's start page."""
    return RedirectResponse(home_of(user), status_code=303)


@pages.get("/patients/{patient_id}/today", response_class=HTMLResponse)
def today_page(request: Request, access: TodayAccess) -> HTMLResponse:
    today = build_today(request, access)
    nudges = None
    if _own(access) or access.user.role != "caregiver" or "nudges" in _scopes(request, access):
        midnight = now_of(request).astimezone(ZoneInfo(today.timezone)).replace(
            hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        nudges = alerts.todays_nudges(engine_of(request), access.patient.id, since=midnight)
    user = access.user
    show_safety = access.patient.id in safety.safety_patients(request, user)
    items = safety.shown_alerts(request, user, access.patient.id) if show_safety else []
    back = f"/patients/{access.patient.id}/today"
    return render(request, user, "views/patient_today.html", {
        "patient": access.patient, "today": today, "own": _own(access),
        "tz": today.timezone, "nudges": nudges, **_glance(request, access, today),
        "mgdl_now": _mgdl(today), "show_safety": show_safety,
        "glucose_range": glucose_range(_mgdl(today)), "bands": BANDS, "range_labels": RANGE_LABELS,
        "stale": stale_state(today), "stale_minutes": STALE_MINUTES,
        "device": devicestatus.latest(store_of(request), access.patient.id, now_of(request)),
        **safety.fragment_context(request, user, items, back, quiet=True)})


# How far back the Today page lists what changed in the person's goals: one period of a
# weekly goal, so that a step up or an easier week is still there on the days after it.
GOAL_NEWS_DAYS = 7


def _glance(request: Request, access: PatientAccess, today: Today) -> dict[str, object]:
    """Today at a glance: the chart, the change since the last reading, the vitals with
    their targets (dashboard/views/glance.py) and, for the patient herself, the coach's
    unread messages and what changed in her goals."""
    store, patient, now = store_of(request), access.patient, now_of(request)
    locale = glance.viewer_locale(request.headers.get("accept-language"),
                                  saved=prefs_of(request, access.user).locale)
    prefs = prefs_of(request, access.user)
    units = prefs.glucose_units
    change = (glance.glucose_change(store, patient.id, today.glucose.time, units)
              if today.glucose is not None else None)
    chart = glance.chart(store, patient, today, now=now, units=units, tz=today.timezone,
                         locale=locale, weight_units=prefs.weight_units)
    unread, news = 0, []
    if _own(access):
        from care.plan_store import PlanStore

        plans = PlanStore(engine_of(request))
        unread = plans.unread_for_patient(patient.id)
        news = plans.goal_news(patient.id, since=now - timedelta(days=GOAL_NEWS_DAYS))
    return {"locale_tag": glance.locale_tag(locale), "change": change,
            "finger_stick": glance.newest_is_finger_stick(store, patient.id, today),
            "has_diabetes": any("diabetes" in c for c in patient.conditions),
            "change_text": glance.change_text(change, units),
            "glucose_when": (glance.day_time(today.glucose.time, today.timezone, locale)
                             if today.glucose is not None else ""),
            "vitals": glance.vitals(store, patient, today, now=now, tz=today.timezone,
                                    locale=locale, weight_units=prefs.weight_units),
            "chart": chart, "chart_json": script_json(chart) if chart else "",
            "unread": unread,
            "goal_news": [{**n, "when": glance.day(n["at"], today.timezone, locale)}
                          for n in news]}


# Glucose ranges of the consensus (Battelino 2019; docs/CLINICAL.md "Glucose"), from the one
# source in analytics/cgm.py; the page colours the current value by them (and today.js
# recolours it live from the same numbers, given in data- attributes).
RANGE_NAMES = ("very_low", "low", "in_range", "high", "very_high")
RANGE_LABELS = {"very_low": "Very low", "low": "Low", "in_range": "In range", "high": "High",
                "very_high": "Very high"}
BANDS = {"very_low": cgm.VERY_LOW_BELOW, "low": cgm.LOW_BELOW, "high": cgm.HIGH_ABOVE,
         "very_high": cgm.VERY_HIGH_ABOVE}
# How old a CGM reading may be before the page warns, and urgently (Nightscout's
# ALARM_TIMEAGO_WARN_MINS 15 and ALARM_TIMEAGO_URGENT_MINS 30; docs/CLINICAL.md "Glucose").
STALE_MINUTES = {"warn": 15, "urgent": 30}


def glucose_range(mg_dl: str) -> str:
    """The consensus range of a value in mg/dL ("" for none)."""
    if not mg_dl:
        return ""
    return RANGE_NAMES[int(cgm.range_index(np.array([float(mg_dl)]))[0])]


def stale_state(today: Today) -> str:
    """"fresh", "warn" (15 min and more) or "urgent" (30 and more), as Nightscout."""
    if today.glucose is None:
        return ""
    if today.glucose.age_minutes >= STALE_MINUTES["urgent"]:
        return "urgent"
    return "warn" if today.glucose.age_minutes >= STALE_MINUTES["warn"] else "fresh"


def _scopes(request: Request, access: PatientAccess) -> set[str]:
    shares = request.app.state.accounts.sharing.with_caregiver(access.user.id)
    return {scope for s in shares if s.patient_id == access.patient.id for scope in s.scopes}


@pages.post("/patients/{patient_id}/nudges/{nudge_id}/feedback")
def nudge_feedback(
        request: Request, access: NudgeAccess, nudge_id: str,
        feedback: Annotated[Literal["not_useful", "useful"], Form()]) -> RedirectResponse:
    """The patient answers a nudge ("not useful" lowers that kind of nudge for them)."""
    if not _own(access):
        raise HTTPException(403, "only the patient answers their messages")
    engine = engine_of(request)
    if alerts.nudge_patient(engine, nudge_id) != access.patient.id:
        raise HTTPException(404, "no such message")
    alerts.nudge_feedback(engine, nudge_id, useful=feedback == "useful", by_user=access.user.id,
                          now=now_of(request))
    return RedirectResponse(f"/patients/{access.patient.id}/today#nudges", status_code=303)


def _mgdl(today: Today) -> str:
    from core.metrics import GLUCOSE_MGDL_PER_MMOLL

    if today.glucose is None:
        return ""
    value = today.glucose.value
    return f"{value * GLUCOSE_MGDL_PER_MMOLL if today.glucose.units == 'mmol/L' else value:.0f}"


def _own(access: PatientAccess) -> bool:
    return access.user.patient_id == access.patient.id


@pages.get("/patients/{patient_id}/trends", response_class=HTMLResponse)
def trends_page(request: Request, access: TrendsAccess, days: Days = 14) -> HTMLResponse:
    trends = build_trends(request, access, days)
    locale = glance.viewer_locale(request.headers.get("accept-language"),
                                  saved=prefs_of(request, access.user).locale)
    extras = glance.trends_extras(
        store_of(request), access.patient, start=trends.start, end=trends.end,
        tz=trends.timezone, locale=locale,
        day_isos=[d.date for d in trends.glucose.days] if trends.glucose else [],
        weight_units=trends.weight_units)
    return render(request, access.user, "views/patient_trends.html", {
        "patient": access.patient, "trends": trends, "own": _own(access),
        "tz": trends.timezone, "periods": figures.TREND_DAYS, "extras": extras,
        "trends_json": script_json(trends.model_dump_json()),
        "extras_json": script_json(extras)})


@api.get("/patients/{patient_id}/today", response_model=Today)
def today_api(request: Request, access: TodayAccess) -> Today:
    """Current glucose with trend arrow and freshness; latest BP, weight, SpO2 and steps."""
    return build_today(request, access)


@api.get("/patients/{patient_id}/today/glance", response_model=glance.Glance)
def today_glance_api(request: Request, access: TodayAccess) -> glance.Glance:
    """Today at a glance: the chart (glucose over 24 hours with the target band, meals and
    insulin; or the main vital with its target lines), the change since the reading
    before, each vital with its target; for the patient herself her coach's unread
    messages and goal news. Dates in the locale of Accept-Language."""
    today = build_today(request, access)
    return glance.as_model(access.patient.id, _glance(request, access, today), own=_own(access))


@api.get("/patients/{patient_id}/trends", response_model=Trends)
def trends_api(request: Request, access: TrendsAccess, days: Days = 14) -> Trends:
    """AGP percentiles, time in ranges, targets, daily overlays, BP, weight and steps."""
    return build_trends(request, access, days)


# -- preferences ------------------------------------------------------------------------

def settings_context(request: Request, user: User, *, error: str | None = None,
                     saved: str | None = None) -> dict[str, object]:
    """The settings page's context; a patient also gets her alarm sound."""
    alarm = (safety.load_alarm(engine_of(request), user.patient_id)
             if user.role == "patient" and user.patient_id else None)
    return {"saved": saved, "error": error, "zones": _zones(), "alarm": alarm}


@pages.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: CurrentUser) -> HTMLResponse:
    return render(request, user, "views/settings.html",
                  settings_context(request, user, saved=request.query_params.get("saved")))


@pages.post("/settings", response_class=HTMLResponse)
def save_settings(request: Request, user: CurrentUser,
                  glucose_units: Annotated[str, Form()],
                  timezone: Annotated[str, Form()] = "",
                  locale: Annotated[str, Form()] = "",
                  weight_units: Annotated[str, Form()] = "") -> Response:
    try:
        _save(request, user, Preferences(
            glucose_units=glucose_units, timezone=timezone or None,  # type: ignore[arg-type]
            locale=locale or None,
            weight_units=weight_units or prefs_of(request, user).weight_units))  # type: ignore[arg-type]
    except (ValueError, HTTPException) as exc:
        return render(request, user, "views/settings.html",
                      settings_context(request, user, error=str(getattr(exc, "detail", exc))),
                      status_code=422)
    return RedirectResponse("/settings?saved=1", status_code=303)


@api.get("/me/preferences", response_model=Preferences)
def get_preferences(request: Request, user: CurrentUser) -> Preferences:
    """The signed-in user's glucose units and time zone."""
    p = prefs_of(request, user)
    return Preferences(glucose_units=p.glucose_units, timezone=p.timezone,  # type: ignore[arg-type]
                       locale=p.locale, weight_units=p.weight_units)  # type: ignore[arg-type]


@api.put("/me/preferences", response_model=Preferences)
def put_preferences(request: Request, user: CurrentUser, body: Preferences) -> Preferences:
    """Change the signed-in user's glucose units and time zone (kept per user)."""
    _save(request, user, body)
    return body


def _save(request: Request, user: User, body: Preferences) -> None:
    try:
        save_prefs(engine_of(request), user.id,
                   Prefs(body.glucose_units, body.timezone, body.locale, body.weight_units),
                   now=now_of(request))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@functools.cache
def _zones() -> tuple[str, ...]:
    """The time zones offered in settings: read from the tz database once a process
    (available_timezones() walks it on disk, 8.6 ms, which was most of the page)."""
    from zoneinfo import available_timezones

    return tuple(sorted(z for z in available_timezones()
                        if "/" in z and not z.startswith(("Etc/", "SystemV/"))))


@pages.get("/shared", response_class=HTMLResponse)
def shared_with_me(request: Request,
                   user: Annotated[User, Depends(require_role("caregiver"))]) -> HTMLResponse:
    """A caregiver's start page: the people they care for, with the open safety alerts of
    those who share alerts with them (acknowledged here as the ladder's caregiver step)."""
    from dashboard.security import audit_reads, visible_patients

    patients = visible_patients(request, user)
    audit_reads(request, user, [p.id for p in patients], "patient list")
    shares = {s.patient_id: s for s in request.app.state.accounts.sharing.with_caregiver(user.id)}
    items = safety.shown_alerts(request, user)
    return render(request, user, "views/caregiver_home.html", {
        "patients": patients, "shares": shares, "show_safety": True,
        **safety.fragment_context(request, user, items, "/shared")})
