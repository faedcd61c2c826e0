"""Today shows what the uploader's Nightscout device status said last (issue 17): the
phone's battery, the pump's reservoir and battery, insulin and carbs on board, a loop's
failure in words; nothing once the status is over an hour old."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from core.appdb.account_store import AccountStore
from core.appdb.directory import SqlDirectory
from core.metrics import Metric
from core.readings import Reading
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from dashboard.nightscout_treatments import devicestatus_reading
from tests.support.accounts import PASSWORD, add_people, sign_in
from tests.support.dashboard_server import serving
from tests.support.factories import register

# A Loop device status as Loop uploads it (LoopKit NightscoutServiceKit
# StoredDosingDecision+NightscoutUploadable / DeviceStatus: uploader, pump, loop).
LOOP_STATUS: dict[str, Any] = {
    "device": "loop://iPhone", "uploader": {"battery": 54, "name": "iPhone"},
    "pump": {"reservoir": 112.5, "battery": {"percent": 80}, "suspended": False},
    "loop": {"name": "Loop", "version": "3.4", "iob": {"iob": 1.25}, "cob": {"cob": 20},
             "failureReason": "Pump communication error"},
}


def stored(store: SqliteTimeSeriesStore, doc: dict[str, Any], at: datetime) -> None:
    entry = devicestatus_reading({**doc, "created_at": at.isoformat()}, now=at)
    store.write([Reading("p1", "ns-uploader", Metric.DEVICE_BATTERY, entry["value"], at,
                         entry["source"], entry["value"], "%", entry["context"],
                         tuple(entry["status"]))])


@pytest.fixture
def site(store: SqliteTimeSeriesStore, engine: Engine) -> Iterator[tuple[str, str]]:
    register(engine, "p1", [("ns-uploader", "cgm")], name="Ann Example")
    people = add_people(engine, "p1")
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=AccountStore(engine))
    app.state.engine = engine
    with serving(app) as url:
        yield url, people.patient


def today_text(url: str, name: str) -> str:
    with httpx.Client(base_url=url, timeout=30) as client:
        assert sign_in(client, name, PASSWORD).status_code == 303
        page = client.get("/patients/p1/today")
        assert page.status_code == 200
        return page.text


def test_the_newest_device_status_is_on_today_in_words(
        site: tuple[str, str], store: SqliteTimeSeriesStore) -> None:
    url, patient = site
    stored(store, LOOP_STATUS, datetime.now(UTC) - timedelta(minutes=3))
    text = today_text(url, patient)
    line = text[text.index('id="device-status"'):]
    line = line[:line.index("</p>")]
    for shown in ("Phone battery 54%", "Pump battery 80 %", "Insulin left in the pump 112.5 U",
                  "Insulin on board 1.25 U", "Carbs on board 20 g",
                  "Pump communication error"):
        assert shown in line, shown
    assert "suspended" not in line


def test_a_pump_only_status_and_a_suspended_pump(site: tuple[str, str],
                                                   store: SqliteTimeSeriesStore) -> None:
    url, patient = site
    stored(store, {"pump": {"battery": {"percent": 35}, "suspended": True}},
           datetime.now(UTC) - timedelta(minutes=1))
    text = today_text(url, patient)
    assert "Pump battery 35%" in text and "Pump stopped (suspended)" in text
    assert "Phone battery" not in text


def test_an_old_status_is_not_shown_as_now(site: tuple[str, str],
                                           store: SqliteTimeSeriesStore) -> None:
    url, patient = site
    stored(store, LOOP_STATUS, datetime.now(UTC) - timedelta(hours=2))
    assert 'id="device-status"' not in today_text(url, patient)
