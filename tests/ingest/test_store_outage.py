"""Ingest against an InfluxDB that goes down: a clear error, nothing acknowledged that
was not stored, and it carries on by itself when the store returns.

Real Mosquitto, real InfluxDB (tests/support/), and for the crash case the real
`hearth ingest` command in a child process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.appdb.directory import SqlDirectory
from core.mqtt import MqttEndpoint
from core.timeseries.influxdb import InfluxTimeSeriesStore
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.factories import app_database, publisher, register, wait_until
from tests.support.influxdb import InfluxServer, influxdb_factory  # noqa: F401 - fixture
from tests.support.ingest_processes import IngestProcess, glucose_stream
from tests.support.mosquitto import MosquittoServer

# midnight 30 days ago: within ingest's backfill limit whenever the test runs
START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)
DEVICES = 4
READINGS_PER_MESSAGE = 10


@pytest.fixture
def influx(influxdb_factory: type[InfluxServer]) -> InfluxServer:  # noqa: F811
    server = influxdb_factory()
    server.start()
    server.create_database("hearth")
    return server


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "p-outage", [(f"cgm-{d}", "cgm") for d in range(DEVICES)])
    engine.dispose()
    return f"sqlite:///{tmp_path / 'hearth.db'}"


@pytest.fixture
def counter(influx: InfluxServer) -> Iterator[Callable[[], int]]:
    """How many readings InfluxDB holds (asked with a store of its own)."""
    store = InfluxTimeSeriesStore.from_url(influx.url("hearth"))
    yield store.count
    store.close()


def stream(messages_per_device: int, *, first_seq: int = 0) -> list[tuple[str, bytes]]:
    messages = list(
        glucose_stream(
            devices=DEVICES,
            messages_per_device=first_seq + messages_per_device,
            readings_per_message=READINGS_PER_MESSAGE,
            start=START,
        )
    )
    return messages[first_seq * DEVICES :]


def publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    with publisher(url) as paced:
        for topic, payload in messages:
            paced.publish(topic, payload, timeout=30)


def test_ingest_holds_its_batch_while_influxdb_is_down_and_resumes_by_itself(
    mosquitto: MosquittoServer,
    influx: InfluxServer,
    database_url: str,
    counter: Callable[[], int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = IngestService(
        endpoint=MqttEndpoint.parse(mosquitto.url),
        store=InfluxTimeSeriesStore.from_url(influx.url("hearth", retries="1", backoff_cap="0.05")),
        registry=SqlDirectory(app_database(Path(database_url.removeprefix("sqlite:///")))),
        settings=IngestSettings(client_id="ingest-outage", session_expiry_s=600),
    )
    service.start()
    try:
        assert service.wait_connected(10)
        publish(mosquitto.url, stream(25))
        # stored and done with: InfluxDB shows a batch's points before ingest has finished
        # that batch (counted, acknowledged), and a stop in between fails the batch
        wait_until(lambda: counter() == 1000 and service.stats.readings_stored == 1000,
                   timeout=60, message="first 1000 readings stored")

        influx.stop()
        with caplog.at_level(logging.INFO):
            publish(mosquitto.url, stream(25, first_seq=25))
            wait_until(lambda: service.stats.store_failures > 0, timeout=60,
                       message="ingest noticing the store is down")
            assert service.stats.readings_stored == 1000
            influx.start()
            wait_until(lambda: service.stats.readings_stored == 2000, timeout=120,
                       message="ingest storing the held readings by itself")
        assert counter() == 2000
        assert "store unavailable, holding" in caplog.text
        assert "InfluxDB at" in caplog.text and "is unavailable" in caplog.text
        assert "store recovered" in caplog.text
    finally:
        service.stop()


def test_a_crash_while_influxdb_is_down_loses_nothing(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx: InfluxServer,
    database_url: str,
    counter: Callable[[], int],
) -> None:
    env = {
        "HEARTH_MQTT_URL": mosquitto.url,
        "HEARTH_TIMESERIES_URL": influx.url("hearth", retries="1", backoff_cap="0.05"),
        "HEARTH_DATABASE_URL": database_url,
        "HEARTH_INGEST_SESSION_EXPIRY_S": "600",
    }
    first = IngestProcess(tmp_path, client_id="ingest-crash", env=env).start()
    try:
        wait_until(first.subscribed, timeout=60, message="ingest subscribed")
        publish(mosquitto.url, stream(25))
        wait_until(lambda: counter() == 1000, timeout=60, message="first 1000 readings stored")

        influx.stop()
        publish(mosquitto.url, stream(50, first_seq=25))
        wait_until(lambda: "store unavailable, holding" in first.log(), timeout=60,
                   message="ingest reporting the outage")
        first.kill()  # everything it held was unacknowledged: the broker keeps it
    finally:
        first.kill()

    influx.start()
    second = IngestProcess(tmp_path, client_id="ingest-crash", env=env).start()
    try:
        wait_until(lambda: counter() == 3000, timeout=120,
                   message="every reading stored after the restart")
    finally:
        second.stop()
    assert counter() == 3000
