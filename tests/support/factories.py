"""Factories shared by the tests: readings, registered households, MQTT helpers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.appdb.directory import PatientInfo, SqlDirectory, bind_devices, upsert_patient
from core.appdb.engine import create_schema, make_engine
from core.metrics import Metric
from core.mqtt import MqttEndpoint, PacedPublisher, connect, new_client
from core.readings import Reading
from devices.profiles import PatientProfile, load_profiles

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def reading(
    *,
    patient_id: str = "p1",
    device_id: str = "d1",
    metric: Metric = Metric.GLUCOSE,
    value: float = 100.0,
    at: datetime = T0,
    source: str = "cgm",
    unit: str = "mg/dL",
) -> Reading:
    return Reading(patient_id, device_id, metric, value, at, source, value, unit)


def cgm_series(n: int, *, patient_id: str = "p1", device_id: str = "d1",
               start: datetime = T0, step: timedelta = timedelta(minutes=5)) -> list[Reading]:
    return [
        reading(patient_id=patient_id, device_id=device_id, value=80.0 + (i % 150),
                at=start + i * step)
        for i in range(n)
    ]


def app_database(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    return engine


def register(engine: Engine, patient_id: str, devices: list[tuple[str, str]],
             *, timezone: str = "UTC", name: str | None = None) -> None:
    with Session(engine) as session:
        upsert_patient(session, PatientInfo(patient_id, name or patient_id, timezone))
        session.flush()
        bind_devices(session, patient_id, devices)
        session.commit()


def register_household(engine: Engine) -> list[PatientProfile]:
    profiles = load_profiles()
    for p in profiles:
        register(engine, p.id, [(d.id, d.kind) for d in p.devices], timezone=p.timezone,
                 name=p.name)
    return profiles


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05,
               message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout:.0f}s")


@dataclass
class Collector:
    """Messages received on a subscription, for assertions."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # time.perf_counter() at arrival
    lock: threading.Lock = field(default_factory=threading.Lock)

    def json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(p) for _, p in self.messages]

    def __len__(self) -> int:
        with self.lock:
            return len(self.messages)


@contextmanager
def subscribed(url: str, topic: str) -> Iterator[Collector]:
    collector = Collector()
    ready = threading.Event()
    client = new_client(f"test-sub-{time.monotonic_ns()}")

    def on_connect(c: Any, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        c.subscribe(topic, qos=1)

    def on_subscribe(*_args: Any) -> None:
        ready.set()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        with collector.lock:
            collector.messages.append((msg.topic, bytes(msg.payload)))
            collector.times.append(time.perf_counter())

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    connect(client, MqttEndpoint.parse(url))
    client.loop_start()
    assert ready.wait(10), "subscription not confirmed"
    try:
        yield collector
    finally:
        client.disconnect()
        client.loop_stop()


@contextmanager
def publisher(url: str, *, window: int = 200) -> Iterator[PacedPublisher]:
    client = new_client(f"test-pub-{time.monotonic_ns()}")
    paced = PacedPublisher(client, window=window)
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    connect(client, MqttEndpoint.parse(url))
    client.loop_start()
    assert connected.wait(10), "publisher could not connect"
    try:
        yield paced
        assert paced.wait_idle(60), "broker did not acknowledge every message"
    finally:
        client.disconnect()
        client.loop_stop()


def directory(engine: Engine) -> SqlDirectory:
    return SqlDirectory(engine)
