"""A low reading through the real stack reaches both people's open pages (issue #15 item 9).

Mosquitto, ingest, the coach (rules, dispatcher, escalation ladder) and the dashboard
under uvicorn share one SQLite time-series store and one application database, as in
`hearth up`. A CGM publishes 48 mg/dL; the patient's open Today page (Debian's
Chromium, no reload) shows the urgent alert with its advice and sounds the alarm, the
caregiver she shares alerts with sees it on their page, the patient presses OK and the
alert goes from both pages, and the ladder records her acknowledgement. Also: the
reading's age ticks on the page and turns stale. Screenshots at 1280 and 390 px under
the test's tmp directory. Waits are on conditions only, with generous timeouts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from care.alerts import steps
from coach.service import CoachService
from coach.settings import CoachSettings
from core import topics
from core.appdb.account_store import AccountStore
from core.appdb.coaching import CoachAlert
from core.appdb.directory import SqlDirectory
from core.contract import encode_message
from core.metrics import Metric
from core.mqtt import MqttEndpoint
from core.readings import Reading
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.accounts import PASSWORD, People, add_people
from tests.support.browser import sign_in
from tests.support.dashboard_server import serving
from tests.support.factories import publisher, register, wait_until
from tests.support.mosquitto import MosquittoServer

WAIT_MS = 60_000  # a loaded 2-core machine: generous, the figures are printed
# wait_for_function takes functions, not expression strings: Playwright evals a string in
# the page, which the Content-Security-Policy refuses (no 'unsafe-eval').


@dataclass
class Stack:
    engine: Engine
    store: SqliteTimeSeriesStore
    url: str
    broker: str
    people: People


@pytest.fixture
def stack(mosquitto: MosquittoServer, store: SqliteTimeSeriesStore,
          engine: Engine) -> Iterator[Stack]:
    register(engine, "p1", [("cgm-1", "cgm")], timezone="Europe/London", name="Ann Example")
    people = add_people(engine, "p1")  # the caregiver: readings, trends, alerts; urgent alerts
    ingest = IngestService(endpoint=MqttEndpoint.parse(mosquitto.url), store=store,
                           registry=SqlDirectory(engine),
                           settings=IngestSettings(client_id="test-ingest"))
    ingest.start()
    assert ingest.wait_connected(10)
    coach = CoachService(endpoint=MqttEndpoint.parse(mosquitto.url), store=store, engine=engine,
                         settings=CoachSettings(client_id="test-coach"))
    coach.start(scheduler=False)
    assert coach.wait_connected(10)
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=AccountStore(engine))
    app.state.engine = engine
    app.state.live_interval = 0.5
    try:
        with serving(app) as url:
            yield Stack(engine, store, url, mosquitto.url, people)
    finally:
        coach.stop()
        ingest.stop()


def glucose(seq: int, value: float, at: datetime) -> bytes:
    return encode_message(device_id="cgm-1", seq=seq,
                          readings=[{"metric": "glucose", "value": value, "unit": "mg/dL",
                                     "source": "cgm", "time": at}])


def shot(page: Any, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_a_low_reading_reaches_the_patient_and_caregiver_pages_and_ok_stops_the_ladder(
        stack: Stack, chromium: Any, tmp_path: Path,
        record_property: Any) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with publisher(stack.broker) as cgm:
        cgm.publish(topics.up("cgm-1"), glucose(1, 110, now - timedelta(minutes=5)))
        wait_until(lambda: stack.store.count() == 1, timeout=30, message="first reading stored")

    patient = sign_in(chromium, stack.url, stack.people.patient, PASSWORD, width=1280)
    caregiver = sign_in(chromium, stack.url, stack.people.caregiver, PASSWORD, width=390)
    try:
        assert patient.url.endswith("/patients/p1/today")  # each lands on their work
        assert caregiver.url.endswith("/shared")
        assert patient.inner_text("#glucose-value") == "110"
        assert "range-in_range" in (patient.get_attribute("#glucose-now", "class") or "")
        assert patient.locator("[data-safety-alert]").count() == 0
        patient.evaluate("window.__same_page = true")
        caregiver.evaluate("window.__same_page = true")
        patient.wait_for_function("() => document.documentElement.dataset.alarm === 'off'",
                                  timeout=WAIT_MS)

        with publisher(stack.broker) as cgm:
            sent = time.monotonic()
            cgm.publish(topics.up("cgm-1"), glucose(2, 48, datetime.now(UTC)))
        alert = patient.locator("[data-safety-alert]")
        alert.wait_for(timeout=WAIT_MS)
        on_patient = time.monotonic() - sent
        caregiver.locator("[data-safety-alert]").wait_for(timeout=WAIT_MS)
        on_caregiver = time.monotonic() - sent
        record_property("urgent_low_to_patient_page_s", round(on_patient, 2))
        record_property("urgent_low_to_caregiver_page_s", round(on_caregiver, 2))

        text = alert.inner_text()
        assert "Very low glucose" in text and "15 g of fast-acting sugar" in text
        assert "Ann Example" in caregiver.locator("[data-safety-alert]").inner_text()
        assert patient.evaluate("window.__same_page") is True  # no reload
        assert caregiver.evaluate("window.__same_page") is True
        # the new value, live and coloured very low
        patient.wait_for_function(
            "() => document.getElementById('glucose-value').textContent === '48'",
            timeout=WAIT_MS)
        patient.wait_for_function(
            "() => document.getElementById('glucose-now').classList.contains('range-very_low')",
            timeout=WAIT_MS)
        # the alarm sounds, and repeats (a browser that refuses sound offers a button)
        patient.wait_for_function(
            "() => ['playing', 'blocked'].includes(document.documentElement.dataset.alarm)",
            timeout=WAIT_MS)
        if patient.evaluate("document.documentElement.dataset.alarm") == "blocked":
            patient.click("#alarm-unmute")
        patient.wait_for_function("() => Number(document.documentElement.dataset.alarmBeeps) >= 2",
                                  timeout=WAIT_MS)
        assert patient.evaluate("document.documentElement.dataset.alarmVolume") == "normal"
        shot(patient, tmp_path / "screenshots", "patient-today-alert-1280px")
        shot(caregiver, tmp_path / "screenshots", "caregiver-alert-390px")
        patient.set_viewport_size({"width": 390, "height": 844})
        shot(patient, tmp_path / "screenshots", "patient-today-alert-390px")

        alert.get_by_role("button", name="OK").click()
        patient.locator("[data-safety-alert]").wait_for(state="detached", timeout=WAIT_MS)
        patient.wait_for_function("() => document.documentElement.dataset.alarm === 'off'",
                                  timeout=WAIT_MS)
        beeps = patient.evaluate("Number(document.documentElement.dataset.alarmBeeps)")
        caregiver.locator("[data-safety-alert]").wait_for(state="detached", timeout=WAIT_MS)
        assert patient.evaluate("Number(document.documentElement.dataset.alarmBeeps)") == beeps
        assert patient.evaluate("window.__same_page") is True

        with Session(stack.engine) as session:
            (row,) = session.query(CoachAlert).filter_by(patient_id="p1").all()
            assert row.kind == "escalation" and row.state == "acknowledged"
            assert row.acknowledged_by == stack.people.patient
            done = [(s.role, s.action, s.by_user) for s in steps(session, row.id)]
        assert done[0][:2] == ("patient", "notified")
        assert done[-1] == ("patient", "acknowledged", stack.people.patient)
    finally:
        patient.context.close()
        caregiver.context.close()


def test_the_age_of_the_reading_ticks_and_turns_stale_without_a_reload(
        stack: Stack, chromium: Any, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    # 14 min 50 s old at sign-in: "measured 14 min ago" in green, then stale within seconds
    stack.store.write([Reading("p1", "cgm-1", Metric.GLUCOSE, 190.0,
                               now - timedelta(minutes=14, seconds=50), "cgm", 190.0, "mg/dL")])
    page = sign_in(chromium, stack.url, stack.people.patient, PASSWORD, width=390)
    try:
        age = page.locator("#glucose-age")
        assert "range-high" in (page.get_attribute("#glucose-now", "class") or "")
        assert page.inner_text("#glucose-range") == "High"
        page.wait_for_function(
            "() => document.getElementById('glucose-age').dataset.state === 'warn'",
            timeout=WAIT_MS)
        assert "measured 15 min ago – not current" in age.inner_text()
        assert "age-warn" in (age.get_attribute("class") or "")
        shot(page, tmp_path / "screenshots", "patient-today-stale-390px")
    finally:
        page.context.close()
