"""A registered household with a full simulated month in a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core import topics
from core.appdb.directory import SqlDirectory
from core.contract import decode_message
from core.readings import Reading
from core.timeseries.sqlite import SqliteTimeSeriesStore
from devices.profiles import PatientProfile
from devices.publisher import encode_batches
from devices.simulator import HouseholdSimulator
from tests.support.factories import app_database, register_household

MONTH_START = datetime(2026, 3, 1, tzinfo=UTC)
MONTH_END = MONTH_START + timedelta(days=31)


@dataclass
class Household:
    engine: Engine
    directory: SqlDirectory
    store: SqliteTimeSeriesStore
    profiles: list[PatientProfile]
    readings: list[Reading]
    root: Path

    def env(self) -> dict[str, str]:
        """Settings for a `hearth` subprocess working on this household."""
        return {
            "HEARTH_DATA_DIR": str(self.root),
            "HEARTH_TIMESERIES_URL": f"sqlite:///{self.root / 'timeseries.db'}",
            "HEARTH_DATABASE_URL": f"sqlite:///{self.root / 'hearth.db'}",
        }


def simulated_readings(profiles: list[PatientProfile], start: datetime, end: datetime,
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


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Household]:
    root = tmp_path_factory.mktemp("household")
    engine = app_database(root / "hearth.db")
    profiles = register_household(engine)
    store = SqliteTimeSeriesStore(root / "timeseries.db")
    readings = simulated_readings(profiles, MONTH_START, MONTH_END)
    store.write(readings)
    yield Household(engine, SqlDirectory(engine), store, profiles, readings, root)
    store.close()
