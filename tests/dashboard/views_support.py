"""Data and clients for the view tests: one clinic, one account per role, a week of readings."""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.appdb.account_store import AccountStore
from core.appdb.directory import PatientInfo, SqlDirectory, upsert_patient
from core.appdb.engine import make_engine
from core.metrics import Metric
from core.readings import Reading
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from tests.support.accounts import People, add_people, sign_in
from tests.support.factories import app_database

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def glucose_day_pattern(i: int) -> float:
    """A plain daily pattern: 100 at night, up to 220 after meals (5-minute steps)."""
    minute = (i * 5) % 1440
    return 100.0 + (120.0 if 480 <= minute < 600 or 780 <= minute < 840 else 0.0)


def r(pid: str, device: str, metric: Metric, value: float, at: datetime, source: str,
      unit: str) -> Reading:
    return Reading(pid, device, metric, value, at, source, value, unit)


def fill(store: SqliteTimeSeriesStore, pid: str, *, days: int, end: datetime,
         glucose=glucose_day_pattern) -> None:
    start = end - timedelta(days=days)
    n = days * 288
    store.write([r(pid, f"{pid}-cgm", Metric.GLUCOSE, float(glucose(i)),
                   start + i * timedelta(minutes=5), "cgm", "mg/dL") for i in range(n)])
    daily = []
    for d in range(days):
        morning = start + timedelta(days=d, hours=7)
        daily += [r(pid, f"{pid}-cuff", Metric.SYSTOLIC, 128.0 + d % 3, morning, "bp_cuff",
                    "mm[Hg]"),
                  r(pid, f"{pid}-cuff", Metric.DIASTOLIC, 82.0, morning, "bp_cuff", "mm[Hg]"),
                  r(pid, f"{pid}-scale", Metric.WEIGHT, 80.0 + d * 0.05, morning, "scale", "kg"),
                  r(pid, f"{pid}-ox", Metric.SPO2, 97.0, morning, "pulse_oximeter", "%"),
                  r(pid, f"{pid}-steps", Metric.STEPS, 5000.0 + 100 * d,
                    morning + timedelta(hours=10), "step_counter", "{steps}")]
    store.write(daily)


@dataclass
class World:
    app: FastAPI
    engine: Engine
    store: SqliteTimeSeriesStore
    accounts: AccountStore
    people: People
    clock: Clock

    signed_in: dict[str, TestClient] = field(default_factory=dict)

    def client(self, role: str | None = None) -> TestClient:
        """A client signed in as the role's account (one per role and world: a sign-in
        costs an Argon2 hash), or a new anonymous one."""
        if role is None:
            return TestClient(self.app)
        if role not in self.signed_in:
            client = TestClient(self.app)
            response = sign_in(client, getattr(self.people, role))
            assert response.status_code == 303, response.text
            self.signed_in[role] = client
        return self.signed_in[role]


def add_patient(engine: Engine, pid: str, name: str, *, tz: str = "Europe/London",
                targets: dict | None = None) -> None:
    with Session(engine) as session:
        upsert_patient(session, PatientInfo(pid, name, tz, ("type_1_diabetes",), targets or {}))
        session.commit()


_TEMPLATE: dict[str, Path] = {}


def accounts_template() -> Path:
    """A migrated application database holding ``add_people(engine, "p1")``'s clinic,
    care team, share and five accounts. Made once per test run: the migrations and the
    five Argon2 hashes cost seconds, and each world or module copies the file instead."""
    if "path" not in _TEMPLATE:
        root = Path(tempfile.mkdtemp(prefix="hearth-accounts-"))
        atexit.register(shutil.rmtree, root, True)
        engine = app_database(root / "template.db")
        add_patient(engine, "p1", "p1")
        add_people(engine, "p1")
        engine.dispose()
        _TEMPLATE["path"] = root / "template.db"
    return _TEMPLATE["path"]


def database_with_people(path: Path) -> tuple[Engine, People]:
    """A fresh application database at ``path`` with the accounts of ``add_people(engine,
    "p1")`` (the patient ``p1`` is a placeholder: upsert it with its name and targets).
    Add more clinic patients with ``join_clinic``."""
    src, dst = sqlite3.connect(accounts_template()), sqlite3.connect(path)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return make_engine(f"sqlite:///{path}"), People()


def join_clinic(engine: Engine, patient_ids: list[str]) -> None:
    """What ``add_people(..., clinic_patients=...)`` does for them: the clinic and the team."""
    accounts = AccountStore(engine)
    accounts.clinics.register_many(patient_ids, "clinic")
    accounts.care_teams.assign_many("team", patient_ids)


def build_world(tmp_path: Path, *, extra_patients: int = 0) -> Iterator[World]:
    engine, people = database_with_people(tmp_path / "app.db")
    store = SqliteTimeSeriesStore(tmp_path / "ts.db")
    add_patient(engine, "p1", "Pat Example", targets={"older_adult": True})
    fill(store, "p1", days=14, end=NOW)
    others = [f"q{i:03d}" for i in range(extra_patients)]
    for pid in others:
        add_patient(engine, pid, f"Other {pid}")
    join_clinic(engine, others)
    clock = Clock()
    accounts = AccountStore(engine)
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=accounts, clock=clock)
    app.state.engine = engine
    app.state.live_interval = 0.1
    yield World(app, engine, store, accounts, people, clock)
    store.close()
    engine.dispose()
