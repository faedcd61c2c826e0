"""The application database: Alembic migrations and the registry, on SQLite and PostgreSQL.

PostgreSQL is a private cluster started by tests/support/postgres.py (a fresh
database per test); SQLite is a temporary file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.appdb import migrations
from core.appdb.directory import PatientInfo, SqlDirectory, bind_devices, upsert_patient
from core.appdb.engine import make_engine
from core.appdb.models import Device, Patient
from core.appdb.tables import metadata

MODEL_TABLES = set(metadata.tables)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hearth.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(database_url)
    yield made
    made.dispose()


def head() -> str:
    engine = make_engine("sqlite://")
    heads = ScriptDirectory.from_config(migrations.config(engine)).get_heads()
    engine.dispose()
    assert len(heads) == 1, f"migrations branch: heads {heads}; merge them"
    return heads[0]


def test_there_is_one_line_of_migrations() -> None:
    assert head()


def test_migrations_build_exactly_the_models(database_url: str, engine: Engine) -> None:
    assert migrations.upgrade(database_url) == head()

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == [], "models and migrations differ: add a revision"
    assert set(inspect(engine).get_table_names()) == MODEL_TABLES | {"alembic_version"}


def test_every_migration_goes_down_and_up_again(database_url: str, engine: Engine) -> None:
    migrations.upgrade(database_url)

    assert migrations.downgrade(database_url, "base") is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

    assert migrations.upgrade(database_url) == head()
    assert MODEL_TABLES <= set(inspect(engine).get_table_names())


def test_the_registry_on_a_migrated_database(database_url: str, engine: Engine) -> None:
    migrations.upgrade(database_url)
    info = PatientInfo("zoë o'brien", "Zoë O'Brien", "Europe/Dublin", ("type1_diabetes",),
                       {"glucose_low": 70, "tir_percent": 50.5})
    with Session(engine) as session:
        upsert_patient(session, info, birth_year=1950)
        session.flush()
        bind_devices(session, info.id, [("cgm 1", "cgm"), ("cuff-1", "bp_cuff")])
        session.commit()

    directory = SqlDirectory(engine)
    assert directory.patient(info.id) == info
    binding = directory.binding("cgm 1")
    assert binding is not None and (binding.patient_id, binding.kind, binding.active) == (
        info.id, "cgm", True)
    assert directory.binding("nobody's") is None
    with Session(engine) as session:
        device = session.get(Device, "cuff-1")
        assert device is not None
        registered = device.registered_at
    # Aware timestamps survive (SQLite hands them back naive, in UTC).
    as_utc = registered if registered.tzinfo else registered.replace(tzinfo=UTC)
    assert abs(as_utc - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_device_cannot_be_bound_to_a_patient_who_does_not_exist(
    database_url: str, engine: Engine
) -> None:
    migrations.upgrade(database_url)
    with Session(engine) as session, pytest.raises(IntegrityError):
        bind_devices(session, "ghost", [("cgm-9", "cgm")])
        session.commit()


def test_a_database_made_without_migrations_is_adopted(database_url: str, engine: Engine) -> None:
    """Early versions made their tables with create_all; `hearth migrate` takes them over."""
    metadata.create_all(engine, tables=[Patient.__table__, Device.__table__])
    with Session(engine) as session:
        upsert_patient(session, PatientInfo("p1", "P One", "UTC"))
        session.commit()

    assert migrations.upgrade(database_url) == head()
    assert SqlDirectory(engine).patient("p1") is not None
