"""Fixtures for the gateway's integration tests: a real Mosquitto, a real ingest, SQLite stores."""

from __future__ import annotations

import getpass
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from core import topics
from core.appdb.directory import SqlDirectory
from core.mqtt import MqttEndpoint, connect, new_client
from core.timeseries.sqlite import SqliteTimeSeriesStore
from gateway.forwarder import Forwarder
from gateway.normaliser import Normaliser
from gateway.outbox import Outbox
from gateway.readers import Reader
from gateway.service import Gateway
from gateway.settings import GatewaySettings
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.factories import Collector, app_database


@pytest.fixture
def app_engine(tmp_path: Path) -> Any:
    return app_database(tmp_path / "hearth.db")


@pytest.fixture
def start_ingest(
    store: SqliteTimeSeriesStore, app_engine: Any
) -> Iterator[Callable[..., IngestService]]:
    """Start an in-process ingest (persistent session ``test-ingest``) on a broker URL."""
    running: list[IngestService] = []

    def start(url: str, *, wait: bool = True) -> IngestService:
        service = IngestService(
            endpoint=MqttEndpoint.parse(url),
            store=store,
            registry=SqlDirectory(app_engine),
            settings=IngestSettings(client_id="test-ingest"),
        )
        service.start()
        if wait:
            assert service.wait_connected(15), "ingest did not connect"
        running.append(service)
        return service

    yield start
    for service in running:
        service.stop()


def broker_config(extra: str = "") -> str:
    """Run the broker as the test's user (it writes files in the test's private directory)."""
    return f"user {getpass.getuser()}\n{extra}"


def gateway_settings(tmp_path: Path, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "gateway_id": "test-gateway",
        "outbox_path": tmp_path / "outbox.db",
        "resend_after_s": 3.0,
        "reconnect_max_s": 1,
        **overrides,
    }
    return GatewaySettings(**values)


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., Gateway]]:
    """An in-process gateway: the given reader, a real outbox, a real MQTT forwarder."""
    running: list[Gateway] = []

    def start(url: str, reader: Reader, settings: GatewaySettings) -> Gateway:
        outbox = Outbox(settings.outbox_path, max_readings=settings.max_outbox_readings)
        gateway = Gateway(
            reader=reader,
            outbox=outbox,
            forwarder=Forwarder(endpoint=MqttEndpoint.parse(url), outbox=outbox,
                                settings=settings),
            normaliser=Normaliser(),
            warn_fraction=settings.warn_fraction,
        )
        gateway.start()
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        if not gateway.stop_event.is_set():
            gateway.stop()


@contextmanager
def persistent_collector(url: str, topic: str, client_id: str) -> Iterator[Collector]:
    """A subscriber with a persistent session: it survives broker restarts and misses nothing."""
    collector = Collector()
    ready = threading.Event()
    client = new_client(client_id)

    def on_connect(c: Any, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        c.subscribe(topic, qos=1)

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        with collector.lock:
            collector.messages.append((msg.topic, bytes(msg.payload)))
            collector.times.append(time.perf_counter())

    client.on_connect = on_connect
    client.on_subscribe = lambda *_a: ready.set()
    client.on_message = on_message
    connect(client, MqttEndpoint.parse(url), clean_start=False, session_expiry_s=3600)
    client.reconnect_delay_set(min_delay=1, max_delay=1)
    client.loop_start()
    assert ready.wait(10), "subscription not confirmed"
    try:
        yield collector
    finally:
        client.disconnect()
        client.loop_stop()


def up_messages(collector: Collector) -> list[dict[str, Any]]:
    return [m for m in collector.json() if "readings" in m]


UP_ALL = topics.UP_ALL
