"""Clinic staff add a patient (issue 18): the page that does what ``hearth admin
add-patient`` does, so a clinic starts without the simulator or a terminal.

Who: a nurse (clinic staff), for her own clinic. The new patient is registered at the
nurse's clinic, so she sees them on her triage board at once (``may_see``: a nurse sees
the patients of her clinic); an admin keeps to accounts and devices, never health data
(docs/DESIGN.md §4), and a patient's conditions and targets are health data. The care
team offered are the teams of her clinic. The form is CSRF-protected like every form
(dashboard/csrf.py), declared in ``STATE_CHANGES`` and written to the audit log
("add a patient"). All or nothing: every check runs before the first write.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from analytics.targets import SILENT_AFTER_H
from care.grouping import CONDITION_WORDS
from core.appdb.audit_log import AuditEntry
from core.appdb.directory import PatientInfo
from core.appdb.enrolment import Enrolment
from dashboard.security import User, accounts_of, now_of, require_role
from dashboard.views.common import engine_of, render

logger = logging.getLogger(__name__)

pages = APIRouter(include_in_schema=False)
Staff = Annotated[User, Depends(require_role("nurse"))]

# The same rules as `hearth admin add-patient` (hearth/commands/admin.py)
PATIENT_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # one MQTT topic level
# The kinds of device a patient wears or uses at home: those whose silence the triage
# board watches (analytics/targets.py SILENT_AFTER_H), in the order of that table.
DEVICE_KINDS = tuple(SILENT_AFTER_H)
DEVICE_ROWS = 4  # device rows on the form (a patient rarely has more at the start)
AUDIT_PURPOSE = "add a patient"


@dataclass(slots=True)
class NewPatient:
    """What the form sent, kept to show it again beside the errors."""

    patient_id: str = ""
    name: str = ""
    timezone: str = "Europe/London"
    conditions: list[str] = field(default_factory=list)
    birth_year: str = ""
    team_id: str = ""
    devices: list[tuple[str, str]] = field(default_factory=list)


def check(form: NewPatient, *, teams: dict[str, str], this_year: int) -> dict[str, str]:
    """Field -> what is wrong with it, in words (empty: the patient may be created)."""
    errors: dict[str, str] = {}
    if not PATIENT_ID.fullmatch(form.patient_id):
        errors["patient_id"] = ("1 to 64 lower-case letters, digits, '.', '_' or '-', "
                                "starting with a letter or digit")
    if not form.name.strip() or len(form.name.strip()) > 200:
        errors["name"] = "a name of 1 to 200 characters"
    try:
        ZoneInfo(form.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = "a time zone such as Europe/London"
    if unknown := [c for c in form.conditions if c not in CONDITION_WORDS]:
        errors["conditions"] = f"unknown condition {', '.join(unknown)}"
    if form.birth_year and not (form.birth_year.isdigit()
                                and this_year - 120 <= int(form.birth_year) <= this_year):
        errors["birth_year"] = f"a year between {this_year - 120} and {this_year}"
    if form.team_id and form.team_id not in teams:
        errors["team_id"] = "a care team of your clinic"
    ids = [d for d, _ in form.devices]
    bad = [d for d, k in form.devices if not DEVICE_ID.fullmatch(d) or k not in DEVICE_KINDS]
    if bad:
        errors["devices"] = f"{', '.join(bad)}: a device id (letters, digits, . _ -) and a kind"
    elif len(set(ids)) != len(ids):
        errors["devices"] = "a device is listed twice"
    return errors


def _page(request: Request, user: User, form: NewPatient, teams: dict[str, str],
          errors: dict[str, str], *, status_code: int = 200) -> HTMLResponse:
    rows = form.devices + [("", "")] * max(0, DEVICE_ROWS - len(form.devices))
    return render(request, user, "views/staff_add_patient.html", {
        "form": form, "errors": errors, "teams": teams, "device_rows": rows,
        "device_kinds": DEVICE_KINDS, "conditions": CONDITION_WORDS,
        "zones": _zones()}, status_code=status_code)


def _zones() -> tuple[str, ...]:
    from dashboard.views.patient import _zones as zones

    return zones()


@pages.get("/staff/patients/new", response_class=HTMLResponse)
def add_patient_page(request: Request, user: Staff) -> HTMLResponse:
    """The form to add a patient to the nurse's clinic."""
    teams = Enrolment(engine_of(request)).clinic_teams(user.clinic_id)
    return _page(request, user, NewPatient(), teams, {})


@pages.post("/staff/patients", response_class=HTMLResponse)
def add_patient(request: Request, user: Staff,
                patient_id: Annotated[str, Form(max_length=64)],
                name: Annotated[str, Form(max_length=200)],
                timezone: Annotated[str, Form(max_length=64)],
                conditions: Annotated[list[str] | None, Form()] = None,
                birth_year: Annotated[str, Form(max_length=4)] = "",
                team_id: Annotated[str, Form(max_length=64)] = "",
                device_id: Annotated[list[str] | None, Form()] = None,
                device_kind: Annotated[list[str] | None, Form()] = None) -> Response:
    """Create the patient (registered at the nurse's clinic, in the chosen care team, with
    their devices bound), then open their review page."""
    pairs = [(d.strip(), k) for d, k in zip(device_id or [], device_kind or [], strict=False)
             if d.strip()]
    form = NewPatient(patient_id.strip(), name, timezone, list(conditions or []),
                      birth_year.strip(), team_id, pairs)
    if user.clinic_id is None:
        return _page(request, user, form, {}, {"clinic": "your account has no clinic"},
                     status_code=422)
    now = now_of(request)
    enrolment = Enrolment(engine_of(request))
    teams = enrolment.clinic_teams(user.clinic_id)
    errors = check(form, teams=teams, this_year=now.year) or enrolment.conflicts(
        form.patient_id, [d for d, _ in form.devices])
    if errors:
        return _page(request, user, form, teams, errors, status_code=422)
    enrolment.add_patient(PatientInfo(form.patient_id, form.name.strip(), form.timezone,
                                      tuple(dict.fromkeys(form.conditions)), {}),
                          birth_year=int(form.birth_year) if form.birth_year else None,
                          clinic_id=user.clinic_id, team_id=form.team_id or None,
                          devices=form.devices)
    accounts_of(request).audit_log.record([AuditEntry(now, user.id, user.role, form.patient_id,
                                           AUDIT_PURPOSE, request.url.path)])
    logger.info("patient %s added by %s", form.patient_id, user.id)
    return RedirectResponse(f"/nurse/patients/{form.patient_id}?added=1", status_code=303)
