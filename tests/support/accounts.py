"""Accounts for dashboard tests: a clinic with its patients and one account per role,
and signing a TestClient (or httpx client) in through the real login form."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine

from core.appdb.account_store import AccountStore

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class People:
    """Login names by role, all with PASSWORD."""

    patient: str = "pat"
    caregiver: str = "cara"
    coach: str = "cole"
    nurse: str = "nora"
    admin: str = "adam"


def add_people(engine: Engine, patient_id: str, *, clinic_patients: Sequence[str] = (),
               scopes: Sequence[str] = ("readings", "trends", "alerts")) -> People:
    """One account per role around ``patient_id``: the patient's own, a caregiver it
    shares ``scopes`` with, and a coach and nurse whose team and clinic hold it and
    ``clinic_patients``."""
    people = People()
    store = AccountStore(engine)
    store.clinics.add("clinic", "Test clinic")
    store.care_teams.add("team", "Test team", clinic_id="clinic")
    store.users.add(people.patient, role="patient", display_name="Pat", password=PASSWORD,
                   patient_id=patient_id)
    store.users.add(people.caregiver, role="caregiver", display_name="Cara", password=PASSWORD)
    store.users.add(people.coach, role="coach", display_name="Cole", password=PASSWORD,
                   clinic_id="clinic")
    store.users.add(people.nurse, role="nurse", display_name="Nora", password=PASSWORD,
                   clinic_id="clinic")
    store.users.add(people.admin, role="admin", display_name="Adam", password=PASSWORD)
    store.care_teams.add_member("team", people.coach)
    for pid in dict.fromkeys([patient_id, *clinic_patients]):
        store.clinics.register(pid, "clinic")
        store.care_teams.assign("team", pid)
    store.sharing.share(patient_id, people.caregiver, scopes, urgent_alerts=True)
    return people


def csrf_from(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no csrf_token field in the page"
    return found.group(1)


def sign_in(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    """Sign in through the login form, as a browser would; returns the POST's response."""
    page = client.get("/login")
    return client.post("/login", data={"username": name, "password": password,
                                       "csrf_token": csrf_from(page.text)},
                       follow_redirects=False)


def session_csrf(client: httpx.Client) -> str:
    """The signed-in session's CSRF token (from /api/me)."""
    token: str = client.get("/api/me").json()["csrf_token"]
    return token
