"""A live Hearth stack for replaying what Nightscout apps send: the real dashboard app
(its Nightscout API), the real Mosquitto, the real ingest service, SQLite stores, and,
for the safety tests, the real coach with its rules and dispatcher."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from coach.service import CoachService
from coach.settings import CoachSettings
from core.appdb.account_store import AccountStore
from core.appdb.directory import SqlDirectory
from core.metrics import Metric
from core.mqtt import MqttEndpoint
from core.provisioning import Provisioner
from core.readings import Reading
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from dashboard.nightscout_backend import ConfirmedPublisher, NightscoutBackend
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.factories import app_database, register, wait_until
from tests.support.mosquitto import MosquittoServer


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def xdrip_date(when: datetime, offset_hours: int = -5) -> str:
    """xDrip+'s ``dateString``: SimpleDateFormat ``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` in the
    phone's zone (``2026-12-07T12:00:00.000-0500``)."""
    local = when.astimezone(UTC) + timedelta(hours=offset_hours)
    sign = "-" if offset_hours < 0 else "+"
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + \
        f"{sign}{abs(offset_hours):02d}00"


@dataclass
class Stack:
    app: FastAPI
    engine: Engine
    store: SqliteTimeSeriesStore
    provisioner: Provisioner
    endpoint: MqttEndpoint
    broker_url: str
    secrets: dict[str, str] = field(default_factory=dict)  # device id -> API secret

    def client(self, **headers: str) -> TestClient:
        return TestClient(self.app, headers=headers)

    def uploader(self, device_id: str, patient_id: str = "ann") -> str:
        issued = self.provisioner.add(device_id=device_id, patient_id=patient_id, kind="cgm",
                                      role="nightscout")
        assert issued.secret
        self.secrets[device_id] = issued.secret
        return issued.secret

    def read(self, metric: Metric, patient_id: str = "ann") -> list[Reading]:
        now = datetime.now(UTC)
        return self.store.read(patient_id, metric, now - timedelta(days=30),
                               now + timedelta(days=1))

    def wait_for(self, metric: Metric, count: int, patient_id: str = "ann") -> list[Reading]:
        wait_until(lambda: len(self.read(metric, patient_id)) >= count, timeout=20,
                   message=f"{count} {metric} readings stored")
        return self.read(metric, patient_id)

    def coach(self) -> CoachService:
        coach = CoachService(endpoint=self.endpoint, store=self.store, engine=self.engine,
                             settings=CoachSettings(client_id="test-coach"))
        coach.start(scheduler=False)
        assert coach.wait_connected(10)
        return coach


@pytest.fixture
def stack(mosquitto: MosquittoServer, tmp_path: Path) -> Iterator[Stack]:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [], timezone="America/New_York")
    register(engine, "bob", [])
    store = SqliteTimeSeriesStore(tmp_path / "timeseries.db")
    endpoint = MqttEndpoint.parse(mosquitto.url)
    ingest = IngestService(endpoint=endpoint, store=store, registry=SqlDirectory(engine),
                           settings=IngestSettings(client_id="test-ingest"))
    ingest.start()
    assert ingest.wait_connected(10)
    publisher = ConfirmedPublisher(endpoint, client_id="test-dashboard")
    assert publisher.start()
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=AccountStore(engine))
    provisioner = Provisioner(engine)
    app.state.nightscout = NightscoutBackend(provisioner, publisher)  # hearth/nightscout.py
    try:
        yield Stack(app, engine, store, provisioner, endpoint, mosquitto.url)
    finally:
        publisher.stop()
        ingest.stop()
        store.close()
        engine.dispose()


def values(readings: list[Reading]) -> list[Any]:
    return [r.value for r in readings]


# The browser fixtures (tests/support/browser.py) for test_token_management.py's page test.
from tests.support.browser import chromium, served_demo  # noqa: E402

__all__ = ["chromium", "served_demo"]
