"""Horizontal ingest: several `hearth ingest` processes on one shared subscription.

Real Mosquitto (tests/support/mosquitto.py), real InfluxDB, real processes.

The recovery rule this tests (docs/DEPLOY.md, "Scaling ingest"): replica *n* always connects with
the client id ``hearth-ingest-n`` and a persistent session, and a supervisor
(docker-compose ``restart: unless-stopped``) brings a dead replica back. While
it is away Mosquitto 2.0 keeps routing its share of the shared subscription to
its session (upstream issue 2662), so that share waits in the broker; when the
replica returns under the same id, it is delivered and stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.timeseries.influxdb import InfluxTimeSeriesStore
from tests.support.factories import app_database, publisher, register, wait_until
from tests.support.influxdb import InfluxServer, influxdb_server  # noqa: F401 - fixture
from tests.support.ingest_processes import IngestProcess, glucose_stream
from tests.support.mosquitto import MosquittoServer

# midnight 30 days ago: within ingest's backfill limit whenever the test runs
START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)
DEVICES = 50
MESSAGES_PER_DEVICE = 100
READINGS_PER_MESSAGE = 10
TOTAL = DEVICES * MESSAGES_PER_DEVICE * READINGS_PER_MESSAGE  # 50,000

pytestmark = pytest.mark.slow


@pytest.fixture
def influx_url(influxdb_server: InfluxServer) -> str:  # noqa: F811
    return influxdb_server.url(influxdb_server.create_database())


@pytest.fixture
def count(influx_url: str) -> Iterator[Callable[[], int]]:
    store = InfluxTimeSeriesStore.from_url(influx_url)
    yield store.count
    store.close()


@pytest.fixture
def replica(
    tmp_path: Path, mosquitto: MosquittoServer, influx_url: str
) -> Iterator[Callable[[int], IngestProcess]]:
    """Start replica n of ingest (client id hearth-ingest-n, shared group "hearth")."""
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "p-scale", [(f"cgm-{d}", "cgm") for d in range(DEVICES)])
    engine.dispose()
    env = {
        "HEARTH_MQTT_URL": mosquitto.url,
        "HEARTH_TIMESERIES_URL": influx_url,
        "HEARTH_DATABASE_URL": f"sqlite:///{tmp_path / 'hearth.db'}",
        "HEARTH_INGEST_SHARED_GROUP": "hearth",
        "HEARTH_INGEST_SESSION_EXPIRY_S": "3600",
    }
    started: list[IngestProcess] = []

    def start(n: int) -> IngestProcess:
        process = IngestProcess(tmp_path, client_id=f"hearth-ingest-{n}", env=env).start()
        started.append(process)
        wait_until(process.subscribed, timeout=60, message=f"replica {n} subscribed")
        return process

    yield start
    for process in started:
        process.kill()


def publish_stream(url: str) -> threading.Thread:
    messages = list(
        glucose_stream(
            devices=DEVICES,
            messages_per_device=MESSAGES_PER_DEVICE,
            readings_per_message=READINGS_PER_MESSAGE,
            start=START,
        )
    )

    def run() -> None:
        with publisher(url, window=500) as paced:
            for topic, payload in messages:
                paced.publish(topic, payload, timeout=60)

    thread = threading.Thread(target=run, name="publisher")
    thread.start()
    return thread


def settled(count: Callable[[], int], *, quiet_s: float = 3.0, timeout: float = 120) -> int:
    """The count once it has stopped changing for quiet_s (what the live replicas could store)."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return now
    raise AssertionError(f"the count kept changing for {timeout:.0f}s")


def test_three_replicas_store_a_50000_reading_stream_exactly_once(
    mosquitto: MosquittoServer,
    replica: Callable[[int], IngestProcess],
    count: Callable[[], int],
) -> None:
    replicas = [replica(n) for n in (1, 2, 3)]

    publish_stream(mosquitto.url).join(timeout=300)

    wait_until(lambda: count() == TOTAL, timeout=180, interval=0.5,
               message="all 50,000 readings stored")
    assert settled(count) == TOTAL  # and nothing more arrives
    assert all(r.alive for r in replicas)


def test_sigkill_of_a_replica_mid_stream_loses_nothing_once_it_returns(
    mosquitto: MosquittoServer,
    replica: Callable[[int], IngestProcess],
    count: Callable[[], int],
    request: pytest.FixtureRequest,
) -> None:
    first, second = replica(1), replica(2)
    publishing = publish_stream(mosquitto.url)
    wait_until(lambda: count() >= TOTAL // 4, timeout=120, interval=0.1,
               message="a quarter of the stream stored")

    second.kill()  # mid-stream: its unacknowledged messages and its share stay with the broker
    publishing.join(timeout=300)
    assert not publishing.is_alive()
    stored_without_it = settled(count)
    # Mosquitto 2.0.11 keeps routing the dead member's share to its session
    # (issue 2662): recorded, not asserted, so a broker that redistributes passes too.
    request.node.user_properties.append(("stranded", TOTAL - stored_without_it))
    assert first.alive

    replica(2)  # the supervisor's restart: same client id, same session
    wait_until(lambda: count() == TOTAL, timeout=180, interval=0.5,
               message="every reading stored after replica 2 returned")
    assert settled(count) == TOTAL
