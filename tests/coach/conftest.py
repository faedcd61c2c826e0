"""The coach tests' empty application database (the empty store is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.factories import app_database


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return app_database(tmp_path / "hearth.db")
