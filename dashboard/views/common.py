"""What every view shares: templates, navigation, the viewer's preferences, collaborators.

Access is never decided here: each route declares ``dashboard.security``'s
``patient_access`` / ``require_role`` / ``current_user`` dependency.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from core import i18n
from core.i18n import N_
from core.timeseries import TimeSeriesStore
from dashboard.security import User, now_of
from dashboard.templating import make_templates, page_language
from dashboard.views import glance
from dashboard.views import glucose as g
from dashboard.views.records import Prefs, load_prefs

TEMPLATES = Path(__file__).parent.parent / "templates"
templates = make_templates(TEMPLATES)


def _units_label(text: str, units: str) -> str:
    """'Time below 70 mg/dL' in mmol/L reads 'Time below 3.9 mmol/L' (Battelino 2019 Fig. 1)."""
    if units != g.MMOL_L:
        return text
    for mg, mmol in (("70-180", "3.9-10.0"), ("180", "10.0"), ("250", "13.9"), ("70", "3.9"),
                     ("54", "3.0")):
        text = text.replace(f"{mg} mg/dL", f"{mmol} mmol/L")
    return text


def _glucose_text(value: float | None, units: str) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if units == g.MMOL_L else f"{value:.0f}"


templates.env.filters["units_label"] = _units_label
templates.env.filters["glucose_text"] = _glucose_text


def store_of(request: Request) -> TimeSeriesStore:
    store: TimeSeriesStore = request.app.state.store
    return store


def engine_of(request: Request) -> Engine:
    """The application database (create_app sets it: the account repositories' own)."""
    engine: Engine = request.app.state.engine
    return engine


def prefs_of(request: Request, user: User) -> Prefs:
    """The viewer's preferences, read once per request."""
    cached: Prefs | None = getattr(request.state, "view_prefs", None)
    if cached is None:
        cached = load_prefs(engine_of(request), user.id)
        request.state.view_prefs = cached
    return cached


def home_of(user: User) -> str:
    if user.role == "patient" and user.patient_id:
        return f"/patients/{user.patient_id}/today"
    return {"coach": "/coach", "nurse": "/nurse", "caregiver": "/shared",
            "admin": "/audit"}.get(user.role, "/")


def nav_for(user: User, current: str) -> list[dict[str, Any]]:
    if user.role == "patient" and user.patient_id:
        base = f"/patients/{user.patient_id}"
        items = [(N_("Today"), f"{base}/today"), (N_("Inbox"), "/alerts"),
                 (N_("Trends"), f"{base}/trends"), (N_("Goals"), f"{base}/goals"),
                 (N_("Check-in"), f"{base}/self-assessment"),
                 (N_("Group"), f"{base}/group"), (N_("Sharing"), f"{base}/sharing"),
                 (N_("Who looked at my data"), "/my-data/audit"), (N_("Settings"), "/settings")]
    elif user.role == "coach":
        items = [(N_("Alerts and caseload"), "/coach"), (N_("Needs outreach"), "/outreach"),
                 (N_("Groups"), "/care/groups"),
                 (N_("Settings"), "/settings")]
    elif user.role == "nurse":
        items = [(N_("Triage"), "/nurse"), (N_("Alerts"), "/nurse/alerts"),
                 (N_("Add a patient"), "/staff/patients/new"), (N_("Needs outreach"), "/outreach"),
                 (N_("Settings"), "/settings")]
    elif user.role == "caregiver":
        items = [(N_("People I care for"), "/shared"), (N_("How they are"), "/caring"),
                 (N_("Settings"), "/settings")]
    elif user.role == "admin":
        items = [(N_("Audit log"), "/audit"), (N_("Settings"), "/settings")]
    else:
        items = []
    if user.role in ("patient", "caregiver", "coach", "nurse"):  # peers: views/stories.py
        items.insert(len(items) - 1, (N_("Stories"), "/stories"))
    if user.role == "coach":
        items.insert(len(items) - 1, (N_("Stories to review"), "/coach/stories"))
    if user.role == "patient" and user.patient_id:  # views/agreements.py
        items.insert(len(items) - 1, (N_("My service"), f"/patients/{user.patient_id}/service"))
    if user.role == "nurse":
        items.insert(len(items) - 1, (N_("Service agreement"), "/clinic/service"))
    if user.role in ("nurse", "admin"):  # views/engagement_settings.py
        items.insert(len(items) - 1, (N_("Engagement thresholds"), "/staff/engagement"))
    if user.role == "caregiver":  # views/caregiver_questions.py
        items.insert(len(items) - 1, (N_("Questions to peers"), "/caring/questions"))
    return [{"label": label, "href": href, "current": href == current} for label, href in items]


MINUTES_PER_HOUR, HOURS_SHOWN_UNTIL = 60, 48 * 60  # minutes, then hours, then days


def age_words(now: datetime, at: datetime, lang: str) -> str:
    """A reading's age in the viewer's language (the words of glucose.py ``age_text``, and
    of the page scripts: static/views/words.js, which ticks it on)."""
    minutes = int((now - at).total_seconds() // 60)
    if minutes < 1:
        return i18n.gettext(lang, "just now")
    if minutes < MINUTES_PER_HOUR:
        return i18n.gettext(lang, "%(n)s min ago") % {"n": minutes}
    if minutes < HOURS_SHOWN_UNTIL:
        return i18n.gettext(lang, "%(n)s h ago") % {"n": minutes // 60}
    return i18n.gettext(lang, "%(n)s days ago") % {"n": minutes // 1440}


def render(request: Request, user: User, name: str, context: dict[str, Any], *,
           status_code: int = 200) -> HTMLResponse:
    prefs = context.get("prefs") or prefs_of(request, user)
    tz = ZoneInfo(context.get("tz") or prefs.timezone or "UTC")
    now = now_of(request)

    # dates in the viewer's locale (the language saved in settings, else the browser's)
    locale = glance.viewer_locale(request.headers.get("accept-language"), saved=prefs.locale)

    def local(at: datetime, fmt: str = "%d %b, %H:%M") -> str:
        return glance.local_text(at, tz.key, locale, fmt)

    full = {"viewer": user, "nav": nav_for(user, request.url.path), "logout_url": "/logout",
            "units": prefs.glucose_units, "prefs": prefs, "now": now, "local": local,
            "age_text": lambda at: age_words(now, at, page_language(request)), **context}
    response = templates.TemplateResponse(request, name, full, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"  # health data: never from a shared cache
    return response


def script_json(data: Any) -> str:
    """JSON safe to place inside <script type="application/json">."""
    text = data if isinstance(data, str) else json.dumps(data, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
