"""The home display's pairing and powers (dashboard/views/display.py, core/appdb/displays.py):
a one-time code made by the patient pairs a device; the device reads that one patient's
display and acknowledges her safety alerts, nothing else; codes expire, work once and are
throttled; the patient unpairs a device at once; every step is audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.appdb import displays
from core.appdb.account_store import AccountStore
from core.appdb.accounts import AuditEvent
from core.appdb.coaching import CoachAlert, new_id
from core.appdb.directory import SqlDirectory
from core.metrics import Metric
from core.readings import Reading
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from dashboard.views.display import glucose_word
from tests.support.accounts import PASSWORD, People, add_people, csrf_from, sign_in
from tests.support.dashboard_server import serving
from tests.support.factories import register


@dataclass
class Site:
    engine: Engine
    store: SqliteTimeSeriesStore
    url: str
    people: People


@pytest.fixture
def site(store: SqliteTimeSeriesStore, engine: Engine) -> Iterator[Site]:
    register(engine, "p1", [("cgm-1", "cgm")], timezone="Europe/London", name="Ann Example")
    register(engine, "p2", [("cgm-2", "cgm")], name="Bob Other")
    people = add_people(engine, "p1", clinic_patients=["p2"])
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=AccountStore(engine))
    app.state.engine = engine
    with serving(app) as url:
        yield Site(engine, store, url, people)


@contextmanager
def patient_client(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        assert sign_in(client, site.people.patient, PASSWORD).status_code == 303
        yield client


def make_code(client: httpx.Client, patient_id: str = "p1") -> str:
    page = client.get(f"/patients/{patient_id}/displays")
    assert page.status_code == 200
    made = client.post(f"/patients/{patient_id}/displays/code",
                       data={"csrf_token": csrf_from(page.text)})
    assert made.status_code == 200
    found = re.search(r'data-code="([A-Z0-9-]+)"', made.text)
    assert found, "the code is shown on the page"
    return found.group(1)


@contextmanager
def pair(site: Site, code: str, name: str = "Kitchen") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=30) as device:
        shell = device.get("/display/")
        assert shell.status_code == 200
        answer = device.post("/display/pair", data={"code": code, "name": name,
                                                     "csrf_token": csrf_from(shell.text)})
        assert answer.status_code == 303, answer.text
        yield device


def open_alert(engine: Engine, patient_id: str, kind: str = "escalation") -> str:
    alert_id = new_id()
    with Session(engine) as session:
        session.add(CoachAlert(id=alert_id, patient_id=patient_id, kind=kind, audience="coach",
                               priority="urgent", flag_type="urgent_low", group="hypo",
                               title="Very low glucose",
                               body="Take 15 g of fast-acting sugar now.", why="45 mg/dL",
                               state="open", created_at=datetime.now(UTC)))
        session.commit()
    return alert_id


def test_the_state_word_follows_the_consensus_ranges() -> None:
    assert [glucose_word(v)[0] for v in (40, 53.9, 54, 69, 70, 180, 180.5, 250, 251)] == [
        "Very low", "Very low", "Low", "Low", "In range", "In range", "High", "High",
        "Very high"]


def test_a_code_pairs_one_device_once_and_the_device_sees_only_its_patient(site: Site) -> None:
    with patient_client(site) as patient:
        code = make_code(patient)
        site.store.write([Reading("p1", "cgm-1", Metric.GLUCOSE, 62.0,
                                  datetime.now(UTC) - timedelta(minutes=2), "cgm", 62.0,
                                  "mg/dL")])
        with pair(site, code) as device:
            state = device.get("/display/state").json()
            assert state["word"] == "Low" and state["tone"] == "low"
            assert state["reading"]["value"] == "62" and state["patient"] == "Ann"
            # the same code again: refused, whoever types it
            shell = httpx.get(f"{site.url}/display/")
            again = httpx.post(f"{site.url}/display/pair", cookies=shell.cookies,
                               data={"code": code, "csrf_token": csrf_from(shell.text)})
            assert again.status_code == 400
            # the device has no account powers: no patient page, no other patient
            assert device.get("/patients/p1/today", follow_redirects=False).status_code in (
                303, 401)
            assert device.get("/patients/p2/today", follow_redirects=False).status_code in (
                303, 401)
            assert device.get("/api/patients/p1/readings?metric=glucose").status_code == 401
            # the patient sees it on her page and unpairs it: at once
            page = patient.get("/patients/p1/displays")
            assert "Kitchen" in page.text
            display_id = re.search(r'data-display-id="([a-f0-9]+)"', page.text).group(1)  # type: ignore[union-attr]
            assert patient.post(f"/patients/p1/displays/{display_id}/revoke",
                                data={"csrf_token": csrf_from(page.text)}).status_code == 303
            assert device.get("/display/state").status_code == 401
    with Session(site.engine) as session:
        purposes = set(session.scalars(select(AuditEvent.purpose)
                                       .where(AuditEvent.patient_id == "p1")))
    assert {"pair a home display", "unpair a home display"} <= purposes


def test_an_account_session_is_not_a_display(site: Site) -> None:
    with patient_client(site) as patient:
        assert patient.get("/display/state").status_code == 403
        assert patient.get("/display/stream").status_code == 403


def test_a_code_expires_and_guessing_is_throttled(site: Site) -> None:
    with Session(site.engine) as session:
        old = displays.new_code(session, "p1", "someone", datetime.now(UTC) - timedelta(minutes=11))
        session.commit()
    device = httpx.Client(base_url=site.url, timeout=30)
    shell = device.get("/display/")
    token = csrf_from(shell.text)
    assert device.post("/display/pair", data={"code": old, "csrf_token": token}).status_code == 400
    statuses = [device.post("/display/pair", data={"code": "ABCD-EFGH", "csrf_token": token})
                .status_code for _ in range(12)]
    assert 429 in statuses and statuses[0] == 400
    assert device.get("/display/state").status_code == 401
    device.close()


def test_ok_on_the_display_acknowledges_only_its_own_patients_safety_alerts(site: Site) -> None:
    mine, theirs = open_alert(site.engine, "p1"), open_alert(site.engine, "p2")
    coach_only = open_alert(site.engine, "p1", kind="alert")
    with patient_client(site) as patient, pair(site, make_code(patient)) as device:
        state = device.get("/display/state").json()
        assert [a["id"] for a in state["alerts"]] == [mine]
        assert state["alerts"][0]["advice"].startswith("Take 15 g")
        headers = {"X-CSRF-Token": state["csrf"]}
        assert device.post(f"/display/alerts/{theirs}/ok", headers=headers).status_code == 404
        assert device.post(f"/display/alerts/{coach_only}/ok", headers=headers).status_code == 404
        assert device.post(f"/display/alerts/{mine}/ok").status_code == 403  # no CSRF token
        done = device.post(f"/display/alerts/{mine}/ok", headers=headers)
        assert done.status_code == 200 and done.json() == {"acknowledged": True}
    with Session(site.engine) as session:
        states = {a.id: (a.state, a.acknowledged_by) for a in session.scalars(select(CoachAlert))}
    assert states[mine][0] == "acknowledged" and str(states[mine][1]).startswith("display:")
    assert states[theirs][0] == "open" and states[coach_only][0] == "open"
