"""Helpers for the plans, self-assessment and peer-group tests: a migrated app database,
a real SQLite time-series store, and hand-built or simulated readings written to it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core import topics
from core.appdb.directory import PatientInfo, upsert_patient
from core.appdb.engine import create_schema, make_engine
from core.contract import decode_message
from core.metrics import Metric
from core.readings import Reading
from core.timeseries.sqlite import SqliteTimeSeriesStore
from devices.profiles import PatientProfile
from devices.publisher import encode_batches
from devices.simulator import HouseholdSimulator
from tests.support.factories import app_database

UNITS = {Metric.STEPS: "{steps}", Metric.SYSTOLIC: "mm[Hg]", Metric.DIASTOLIC: "mm[Hg]",
         Metric.GLUCOSE: "mg/dL", Metric.WEIGHT: "kg", Metric.MEDICATION_TAKEN: "{dose}"}


def databases(tmp_path: Path) -> tuple[Engine, SqliteTimeSeriesStore]:
    return app_database(tmp_path / "hearth.db"), SqliteTimeSeriesStore(tmp_path / "ts.db")


AppStore = tuple[Engine, SqliteTimeSeriesStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def app_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AppStore]:
    """The application database on SQLite and on PostgreSQL (a private cluster, a fresh
    database per test: tests/support/postgres.py), with a SQLite time-series store."""
    if request.param == "sqlite":
        engine, store = databases(tmp_path)
    else:
        engine = make_engine(request.getfixturevalue("postgres_url"))
        create_schema(engine)
        store = SqliteTimeSeriesStore(tmp_path / "ts.db")
    yield engine, store
    store.close()
    engine.dispose()


def add_patient(engine: Engine, patient_id: str, *, tz: str = "UTC", name: str | None = None,
                conditions: tuple[str, ...] = (), birth_year: int | None = None) -> None:
    with Session(engine) as session:
        upsert_patient(session, PatientInfo(patient_id, name or patient_id.title(), tz, conditions),
                       birth_year=birth_year)
        session.commit()


def reading(patient_id: str, metric: Metric, value: float, at: datetime, *,
            device: str = "dev", source: str = "test", context: str | None = None) -> Reading:
    return Reading(patient_id, f"{patient_id}-{device}", metric, float(value), at, source,
                   float(value), UNITS[metric], context)


def daily_steps(patient_id: str, start: datetime, totals: Iterable[float]) -> list[Reading]:
    """Each day's total as three reports (morning, afternoon, evening) starting at ``start``."""
    out = []
    for day, total in enumerate(totals):
        base = start + timedelta(days=day)
        parts = (0.3 * total, 0.5 * total, total - 0.8 * total)
        for hour, part in zip((9, 14, 19), parts, strict=True):
            out.append(reading(patient_id, Metric.STEPS, round(part), base + timedelta(hours=hour),
                               device="steps", source="pedometer"))
    return out


def simulated(profiles: list[PatientProfile], start: datetime, end: datetime,
              *, seed: int = 5) -> list[Reading]:
    """The simulator's readings, through the wire contract as a device would send them."""
    owner = {d.id: p.id for p in profiles for d in p.devices}
    sims = HouseholdSimulator(profiles, seed=seed).readings(start, end)
    out: list[Reading] = []
    for topic, payload in encode_batches(sims, batch_size=500, seqs={}):
        device_id = topics.last_level(topic, "up")
        assert device_id is not None
        decoded = decode_message(payload, topic_device_id=device_id, now=end + timedelta(days=1))
        assert not decoded.rejections
        out += [m.bind(owner[device_id]) for m in decoded.measurements]
    return out
