"""Shared fixtures: real servers on free loopback ports (tests/support/), an empty store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.timeseries.sqlite import SqliteTimeSeriesStore

pytest_plugins = [
    "tests.support.mosquitto",
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTimeSeriesStore]:
    """An empty embedded time-series store in the test's directory."""
    s = SqliteTimeSeriesStore(tmp_path / "timeseries.db")
    yield s
    s.close()
