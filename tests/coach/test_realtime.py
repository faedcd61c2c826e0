"""The real-time path end to end: device -> Mosquitto -> ingest -> store -> stored event ->
coach (context, rules, dispatcher) -> home display on hearth/v1/down/{patient}.

Everything is real: the broker, ingest, the SQLite stores, the coaching rules and
the dispatcher. Time is the wall clock because the readings are "now".
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from coach.service import CoachService
from coach.settings import CoachSettings
from core import topics
from core.appdb.delivery import Delivery, InboxMessage
from core.appdb.directory import SqlDirectory
from core.contract import encode_message
from core.mqtt import MqttEndpoint
from core.timeseries.sqlite import SqliteTimeSeriesStore
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.factories import publisher, register, subscribed, wait_until
from tests.support.mosquitto import MosquittoServer, mosquitto  # noqa: F401 - fixture


@pytest.fixture
def ingest(mosquitto: MosquittoServer, store: SqliteTimeSeriesStore,  # noqa: F811
           engine: Engine) -> Iterator[IngestService]:
    service = IngestService(endpoint=MqttEndpoint.parse(mosquitto.url), store=store,
                            registry=SqlDirectory(engine),
                            settings=IngestSettings(client_id="test-ingest"))
    service.start()
    assert service.wait_connected(10)
    yield service
    service.stop()


def start_coach(mosquitto: MosquittoServer, store: SqliteTimeSeriesStore,  # noqa: F811
                engine: Engine, client_id: str = "test-coach") -> CoachService:
    coach = CoachService(endpoint=MqttEndpoint.parse(mosquitto.url), store=store,
                         engine=engine, settings=CoachSettings(client_id=client_id))
    coach.start(scheduler=False)
    assert coach.wait_connected(10)
    return coach


def glucose(device: str, seq: int, value: float, at: datetime) -> bytes:
    return encode_message(device_id=device, seq=seq,
                          readings=[{"metric": "glucose", "value": value, "unit": "mg/dL",
                                     "source": "cgm", "time": at}])


def test_an_urgent_low_reaches_the_home_display_within_seconds(
    mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, engine: Engine,  # noqa: F811
    ingest: IngestService,
) -> None:
    register(engine, "p1", [("cgm-1", "cgm")], timezone="Europe/London")
    register(engine, "p2", [("cgm-2", "cgm")])
    coach = start_coach(mosquitto, store, engine)
    try:
        with subscribed(mosquitto.url, topics.DOWN_ALL) as display, \
                publisher(mosquitto.url) as paced:
            now = datetime.now(UTC).replace(microsecond=0)
            paced.publish(topics.up("cgm-2"), glucose("cgm-2", 1, 120, now))  # in range
            sent = time.perf_counter()
            paced.publish(topics.up("cgm-1"), glucose("cgm-1", 1, 48, now))  # urgent low
            wait_until(lambda: len(display) >= 1, timeout=10, message="home display message")
            latency = display.times[0] - sent
            time.sleep(1.0)  # anything else that would come, comes now
            received = display.json()
            (topic, _), *_ = display.messages
    finally:
        coach.stop()

    assert latency < 5.0  # the figure itself is measured by bench/coach.py
    assert topic == topics.down("p1")
    assert len(received) == 1, "one message for one urgent low; nothing for the in-range one"
    message = received[0]
    assert (message["schema"], message["kind"], message["priority"]) == (1, "escalation",
                                                                          "urgent")
    assert "48" in message["body"] and message["why"]
    with Session(engine) as session:
        rows = session.scalars(select(Delivery).where(Delivery.patient_id == "p1")).all()
        assert {(r.channel, r.status) for r in rows} >= {("home_display", "sent"),
                                                        ("inbox", "sent")}
        assert not session.scalars(select(InboxMessage).where(
            InboxMessage.patient_id == "p2")).all()


def test_events_that_arrive_while_the_coach_is_down_are_evaluated_when_it_returns(
    mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, engine: Engine,  # noqa: F811
    ingest: IngestService,
) -> None:
    register(engine, "p1", [("cgm-1", "cgm")])
    coach = start_coach(mosquitto, store, engine)  # makes the persistent session
    coach.stop()

    now = datetime.now(UTC).replace(microsecond=0)
    with publisher(mosquitto.url) as paced:
        for i in range(3):  # a burst: one evaluation, one message
            paced.publish(topics.up("cgm-1"),
                          glucose("cgm-1", i + 1, 47 + i, now - timedelta(minutes=2 - i)))
    wait_until(lambda: store.count() == 3, timeout=10, message="readings stored")

    with subscribed(mosquitto.url, topics.DOWN_ALL) as display:
        coach = start_coach(mosquitto, store, engine)
        try:
            wait_until(lambda: len(display) >= 1, timeout=10, message="message after restart")
            time.sleep(1.0)
        finally:
            coach.stop()
        received = display.json()
    assert len(received) == 1 and received[0]["priority"] == "urgent"
    assert coach.realtime.stats.evaluations <= 2  # the burst was coalesced


def test_a_malformed_stored_event_is_dropped_and_does_not_stop_the_path(
    mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, engine: Engine,  # noqa: F811
    ingest: IngestService,
) -> None:
    register(engine, "p1", [("cgm-1", "cgm")])
    coach = start_coach(mosquitto, store, engine)
    try:
        with subscribed(mosquitto.url, topics.DOWN_ALL) as display, \
                publisher(mosquitto.url) as paced:
            paced.publish(topics.stored("p1"), b"not json")
            now = datetime.now(UTC).replace(microsecond=0)
            paced.publish(topics.up("cgm-1"), glucose("cgm-1", 1, 45, now))
            wait_until(lambda: len(display) >= 1, timeout=10, message="home display message")
            assert json.loads(display.messages[0][1])["priority"] == "urgent"
    finally:
        coach.stop()
