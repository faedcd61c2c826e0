from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.appdb.directory import SqlDirectory
from core.mqtt import MqttEndpoint
from core.timeseries.sqlite import SqliteTimeSeriesStore
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.factories import app_database
from tests.support.mosquitto import MosquittoServer


@pytest.fixture
def app_engine(tmp_path: Path):
    return app_database(tmp_path / "hearth.db")


@pytest.fixture
def ingest(mosquitto: MosquittoServer, store: SqliteTimeSeriesStore,
           app_engine) -> Iterator[IngestService]:
    service = IngestService(
        endpoint=MqttEndpoint.parse(mosquitto.url),
        store=store,
        registry=SqlDirectory(app_engine),
        settings=IngestSettings(client_id="test-ingest"),
    )
    service.start()
    assert service.wait_connected(10)
    yield service
    service.stop()
