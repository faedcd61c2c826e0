"""Shared fixtures: real servers on free loopback ports (tests/support/), an empty store and
an empty application database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.support.factories import app_database

pytest_plugins = [  # the fixtures of real servers, shared by every test that names them
    "tests.support.influxdb",
    "tests.support.mosquitto",
    "tests.support.postgres",
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTimeSeriesStore]:
    """An empty embedded time-series store in the test's directory."""
    s = SqliteTimeSeriesStore(tmp_path / "timeseries.db")
    yield s
    s.close()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    """An empty, migrated application database in the test's directory."""
    return app_database(tmp_path / "hearth.db")
