"""Fixtures shared by the coach's tests: an empty application database and time-series store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.support.factories import app_database


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return app_database(tmp_path / "hearth.db")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTimeSeriesStore]:
    s = SqliteTimeSeriesStore(tmp_path / "timeseries.db")
    yield s
    s.close()
