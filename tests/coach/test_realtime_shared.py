"""Several coach processes on the shared subscription $share/hearth-coach/hearth/v1/stored/+.

Real Mosquitto, real ingest, two real coach services (each its own MQTT client and
session, as two `hearth coach` processes would be) on one application database and
store: every stored event is handled by exactly one of them, and each urgent low
reaches the home display exactly once. And the broker's ACL as Hearth renders it
(core/provisioning.py) lets the coach's login read the shared subscription.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from coach.service import CoachService
from coach.settings import CoachSettings
from core import topics
from core.appdb.directory import SqlDirectory
from core.contract import encode_message
from core.mqtt import MqttEndpoint
from core.provisioning import Provisioner, ServiceAccount, hash_password_pbkdf2, render
from core.timeseries.sqlite import SqliteTimeSeriesStore
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.factories import app_database, publisher, register, subscribed, wait_until
from tests.support.mosquitto import MosquittoServer, mosquitto  # noqa: F401 - fixture


def glucose(device: str, seq: int, value: float) -> bytes:
    # One minute apart by seq (the same device, metric and time would be one reading).
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3 - seq)
    return encode_message(device_id=device, seq=seq, readings=[
        {"metric": "glucose", "value": value, "unit": "mg/dL", "source": "cgm", "time": at}])


def coach_service(url: str, store: SqliteTimeSeriesStore, engine: Engine,
                  client_id: str) -> CoachService:
    coach = CoachService(endpoint=MqttEndpoint.parse(url), store=store, engine=engine,
                         settings=CoachSettings(client_id=client_id))
    coach.start(scheduler=False)
    assert coach.wait_connected(10)
    return coach


def test_two_coaches_split_the_events_and_an_urgent_low_is_said_once(
    mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, engine: Engine,  # noqa: F811
) -> None:
    patients = 12
    for i in range(patients):
        register(engine, f"p{i}", [(f"cgm-{i}", "cgm")])
    ingest = IngestService(endpoint=MqttEndpoint.parse(mosquitto.url), store=store,
                           registry=SqlDirectory(engine),
                           settings=IngestSettings(client_id="test-ingest"))
    ingest.start()
    assert ingest.wait_connected(10)
    coaches = [coach_service(mosquitto.url, store, engine, f"test-coach-{n}") for n in (1, 2)]
    assert {c.realtime.subscription for c in coaches} == {
        "$share/hearth-coach/hearth/v1/stored/+"}
    urgent = {f"p{i}" for i in range(0, patients, 3)}  # p0, p3, p6, p9
    try:
        with subscribed(mosquitto.url, topics.DOWN_ALL) as display, \
                subscribed(mosquitto.url, f"{topics.STORED_BATCH}/#") as events, \
                publisher(mosquitto.url) as paced:
            for seq in (1, 2, 3):  # three rounds a patient: events for every one of them
                for i in range(patients):
                    value = 45 if f"p{i}" in urgent and seq == 3 else 120
                    paced.publish(topics.up(f"cgm-{i}"), glucose(f"cgm-{i}", seq, value))
                time.sleep(0.4)
            wait_until(lambda: len(display) >= len(urgent), timeout=20,
                       message="a message for every urgent low")
            wait_until(lambda: sum(c.realtime.stats.events for c in coaches)
                       >= _patient_events(events.json()),
                       timeout=10, message="every stored event handled")
            time.sleep(1.5)  # anything that would come twice, comes now
            said = [topics.last_level(t, "down") for t, _ in display.messages]
            stored_events = _patient_events(events.json())
    finally:
        for coach in coaches:
            coach.stop()
        ingest.stop()

    handled = [c.realtime.stats.events for c in coaches]
    assert sum(handled) == stored_events, (handled, stored_events)  # each event once
    assert all(n > 0 for n in handled), handled  # and both coaches had a share
    assert sorted(said) == sorted(urgent)  # one message per urgent low, nothing else
    assert all(c.realtime.stats.failures == 0 for c in coaches)


def test_the_rendered_acl_lets_the_coach_read_its_shared_subscription(
    tmp_path: Path, store: SqliteTimeSeriesStore,
) -> None:
    engine = app_database(tmp_path / "acl.db")
    register(engine, "p1", [])
    provisioner = Provisioner(engine, hasher=hash_password_pbkdf2)
    issued = provisioner.add(device_id="p1-cgm", patient_id="p1", kind="cgm")
    render(provisioner, tmp_path / "auth", services=[
        ServiceAccount("hearth-ingest", hash_password_pbkdf2("ingest-pw")),
        ServiceAccount("hearth-coach", hash_password_pbkdf2("coach-pw"))])
    broker = MosquittoServer(tmp_path / "broker", password_file=tmp_path / "auth" / "passwd",
                             acl_file=tmp_path / "auth" / "acl")
    broker.start()
    ingest = IngestService(
        endpoint=MqttEndpoint.parse(f"mqtt://hearth-ingest:ingest-pw@127.0.0.1:{broker.port}"),
        store=store, registry=SqlDirectory(engine),
        settings=IngestSettings(client_id="hearth-ingest"))
    coach = None
    try:
        ingest.start()
        assert ingest.wait_connected(10)
        coach = coach_service(f"mqtt://hearth-coach:coach-pw@127.0.0.1:{broker.port}",
                              store, engine, "hearth-coach")
        device = f"mqtt://p1-cgm:{issued.secret}@127.0.0.1:{broker.port}"
        with publisher(device) as paced:
            paced.publish(topics.up("p1-cgm"), glucose("p1-cgm", 1, 120))
        wait_until(lambda: coach.realtime.stats.events >= 1, timeout=10,
                   message="the stored event reached the coach through $share")
    finally:
        if coach is not None:
            coach.stop()
        ingest.stop()
        broker.kill()
    assert coach.realtime.subscription.startswith("$share/hearth-coach/")


def _patient_events(events: list[dict[str, Any]]) -> int:
    """Events a patient: one per per-patient event (the lane's urgent ones), one per
    patient of a batch event (hearth/v1/stored, docs/CONTRACT.md)."""
    return sum(len(e["patients"]) if "patients" in e else 1 for e in events)
