"""The real-time path's lanes: triage by the newest values, an urgent lane that never
waits behind routine work, a bounded number of unacknowledged routine events.

The MQTT side is real (Mosquitto, the coach's own client with manual acks); the
store reads are real (SQLite and InfluxDB ``newest_values``). Where a test needs
routine work to be stuck, its evaluation function waits on an event that the test
sets only after the urgent patient was evaluated: if the urgent lane waited
behind routine work, the test would time out, not pass.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from care.messages import Outbound
from coach.policy import save_preferences
from coach.realtime import RealtimePath
from coach.realtime_eval import RealtimeEvaluator
from coach.settings import CoachSettings
from core import topics
from core.metrics import Metric
from core.mqtt import MqttEndpoint
from core.timeseries.influxdb import InfluxTimeSeriesStore
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.support.factories import app_database, publisher, reading, register, wait_until
from tests.support.influxdb import InfluxServer, influxdb_server, influxdb_url  # noqa: F401
from tests.support.mosquitto import MosquittoServer, mosquitto  # noqa: F401 - fixture

NOW = datetime.now(UTC).replace(microsecond=0)


def glucose(patient: str, value: float, minutes_ago: float) -> Any:
    return reading(patient_id=patient, device_id=f"{patient}-cgm", metric=Metric.GLUCOSE,
                   value=value, unit="mg/dL", source="cgm",
                   at=NOW - timedelta(minutes=minutes_ago))


def cuff(patient: str, systolic: float, diastolic: float) -> list[Any]:
    return [reading(patient_id=patient, device_id=f"{patient}-cuff", metric=m, value=v,
                    unit="mm[Hg]", source="device", at=NOW - timedelta(minutes=1))
            for m, v in ((Metric.SYSTOLIC, systolic), (Metric.DIASTOLIC, diastolic))]


def history() -> list[Any]:
    return [
        glucose("low", 120, 20), glucose("low", 48, 2),  # newest very low: urgent
        glucose("fine", 45, 20), glucose("fine", 110, 2),  # was low, newest fine
        glucose("stale", 45, 40),  # very low, but older than the rule's 15 minutes
        glucose("tuned", 58, 1),  # 58: urgent only for its own threshold of 60
        *cuff("crisis", 185, 95), *cuff("calm", 130, 85),
    ]


@pytest.fixture(params=["sqlite", "influxdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        s: Any = SqliteTimeSeriesStore(tmp_path / "ts.db")
    else:
        server: InfluxServer = request.getfixturevalue("influxdb_server")
        database = f"triage{abs(hash(tmp_path)) % 10**8}"
        server.create_database(database)
        s = InfluxTimeSeriesStore.from_url(server.url(database))
    s.write(history())
    yield s
    s.close()


def test_newest_values_reads_many_patients_at_once(store: Any) -> None:
    found = store.newest_values(["low", "fine", "stale", "nobody", "crisis"],
                                [Metric.GLUCOSE, Metric.SYSTOLIC], NOW - timedelta(minutes=30))
    assert {k: v for k, (_, v) in found.items()} == {
        ("low", Metric.GLUCOSE): 48.0, ("fine", Metric.GLUCOSE): 110.0,
        ("crisis", Metric.SYSTOLIC): 185.0}
    t_us, _ = found[("low", Metric.GLUCOSE)]
    assert t_us == int((NOW - timedelta(minutes=2)).timestamp() * 1_000_000)
    # A big batch (a backlog after a restart) in requests of bounded size.
    many = [f"someone-with-a-long-patient-id-{i:05d}" for i in range(2500)] + ["low"]
    assert store.newest_values(many, [Metric.GLUCOSE, Metric.SYSTOLIC, Metric.DIASTOLIC],
                               NOW - timedelta(minutes=30)).keys() == {("low", Metric.GLUCOSE)}


def test_triage_sends_only_urgent_readings_to_the_urgent_lane(store: Any,
                                                               tmp_path: Path) -> None:
    engine = app_database(tmp_path / "hearth.db")
    for pid in ("low", "fine", "stale", "tuned", "crisis", "calm"):
        register(engine, pid, [])
    with Session(engine) as session:  # the documented way to tune a rule
        save_preferences(session, "tuned", now=NOW,
                         rule_tuning={"urgent_low": {"threshold": 60}})
        session.commit()
    evaluator = RealtimeEvaluator(store=store, engine=engine)
    batch = {p: {"glucose"} for p in ("low", "fine", "stale", "tuned", "unknown")}
    batch |= {"crisis": {"systolic", "diastolic"}, "calm": {"systolic", "diastolic"}}

    assert evaluator.triage(batch, NOW) == {"low", "tuned", "crisis"}
    assert evaluator.triage({"low": {"steps"}}, NOW) == set()  # no glucose event: no read
    assert evaluator.wakes({"glucose"}) and not evaluator.wakes({"steps", "motion"})


# -- the lanes, on a real broker ------------------------------------------------------------


class Lanes:
    """Evaluation functions for RealtimePath: routine work stuck until ``release``."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.urgent_seen = threading.Event()
        self.routine_started = 0
        self.calls: list[tuple[str, frozenset[str]]] = []
        self.lock = threading.Lock()

    def triage(self, batch: Any, _now: datetime) -> set[str]:
        return {p for p in batch if p.startswith("urgent")}

    def evaluate(self, patient: str, _now: datetime, metrics: set[str]) -> list[Outbound]:
        with self.lock:
            self.calls.append((patient, frozenset(metrics)))
        if patient.startswith("urgent"):
            self.urgent_seen.set()
        else:
            with self.lock:
                self.routine_started += 1
            assert self.release.wait(30)
        return []


def deliver(_m: Outbound) -> Future[Any]:
    done: Future[Any] = Future()
    done.set_result([])
    return done


def event(metrics: list[str]) -> bytes:
    return json.dumps({"schema": 1, "patient_id": "x", "metrics": metrics}).encode()


def test_an_urgent_event_does_not_wait_behind_stuck_routine_work(
    mosquitto: MosquittoServer,  # noqa: F811
) -> None:
    lanes = Lanes()
    settings = CoachSettings(client_id="lanes-coach", realtime_workers=2, max_unacked=5,
                             coalesce_s=0.05)
    path = RealtimePath(endpoint=MqttEndpoint.parse(mosquitto.url), settings=settings,
                        evaluate=lanes.evaluate, deliver=deliver, triage=lanes.triage,
                        wakes=lambda m: "steps" not in m)
    path.start()
    try:
        assert path.wait_connected(10)
        with publisher(mosquitto.url) as paced:
            for i in range(20):  # routine: both workers get stuck, 18 patients queue
                paced.publish(topics.stored(f"routine-{i}"), event(["glucose"]))
            wait_until(lambda: lanes.routine_started == 2, timeout=10,
                       message="both routine workers busy")
            for _ in range(3):  # the same queued patient again: merged into its entry
                paced.publish(topics.stored("routine-19"), event(["spo2"]))
            paced.publish(topics.stored("walker"), event(["steps"]))  # wakes nothing
            paced.publish(topics.stored("urgent-1"), event(["glucose"]))
            assert lanes.urgent_seen.wait(10), "the urgent event waited behind routine work"
            wait_until(lambda: path.stats.early_acks >= 1, timeout=10,
                       message="oldest routine events acknowledged early")
        lanes.release.set()
        wait_until(lambda: path.stats.evaluations == 21, timeout=20,
                   message="every patient evaluated once")
    finally:
        lanes.release.set()
        path.stop()

    patients = [p for p, _ in lanes.calls]
    assert sorted(patients) == sorted([f"routine-{i}" for i in range(20)] + ["urgent-1"])
    assert dict(lanes.calls)["routine-19"] == {"glucose", "spo2"}  # coalesced
    assert "walker" not in patients
    assert path.stats.urgent_evaluations == 1 and path.stats.failures == 0
    # 23 routine events (20 + 3), 2 of them taken by the stuck workers, at most 5 held
    # unacknowledged in the queue: the others were acknowledged early.
    assert path.stats.early_acks >= 23 - 2 - 5


def test_a_failed_urgent_evaluation_is_tried_again_without_a_new_reading(
    mosquitto: MosquittoServer,  # noqa: F811
) -> None:
    calls: list[str] = []

    def flaky(patient: str, _now: datetime, _metrics: set[str]) -> list[Outbound]:
        calls.append(patient)
        if len(calls) == 1:
            raise RuntimeError("the store went away for a moment")
        return []

    path = RealtimePath(endpoint=MqttEndpoint.parse(mosquitto.url),
                        settings=CoachSettings(client_id="retry-coach"), evaluate=flaky,
                        deliver=deliver, triage=lambda batch, _now: set(batch))
    path.start()
    try:
        assert path.wait_connected(10)
        with publisher(mosquitto.url) as paced:
            paced.publish(topics.stored("urgent-1"), event(["glucose"]))
        wait_until(lambda: path.stats.evaluations == 1, timeout=10,
                   message="the urgent patient evaluated again after the failure")
    finally:
        path.stop()
    assert calls == ["urgent-1", "urgent-1"]
    assert path.stats.failures == 1 and path.stats.urgent_evaluations == 1


def test_an_event_of_ingests_priority_lane_skips_a_stuck_triage(
    mosquitto: MosquittoServer,  # noqa: F811
) -> None:
    """``"urgent": true`` (ingest/priority.py): the urgent lane at once, no triage read."""
    lanes = Lanes()
    triage_stuck = threading.Event()

    def slow_triage(batch: Any, now: datetime) -> set[str]:
        triage_stuck.set()
        assert lanes.release.wait(30)  # a store read that takes its time
        return lanes.triage(batch, now)

    settings = CoachSettings(client_id="priority-coach", triage_workers=1)
    path = RealtimePath(endpoint=MqttEndpoint.parse(mosquitto.url), settings=settings,
                        evaluate=lanes.evaluate, deliver=deliver, triage=slow_triage)
    path.start()
    try:
        assert path.wait_connected(10)
        with publisher(mosquitto.url) as paced:
            paced.publish(topics.stored("routine-1"), event(["glucose"]))
            assert triage_stuck.wait(10)
            paced.publish(topics.stored("urgent-1"), json.dumps(
                {"schema": 1, "patient_id": "urgent-1", "metrics": ["glucose"],
                 "urgent": True}).encode())
            assert lanes.urgent_seen.wait(10), "the priority event waited for triage"
        lanes.release.set()
        wait_until(lambda: path.stats.evaluations == 2, timeout=20,
                   message="both patients evaluated")
    finally:
        lanes.release.set()
        path.stop()
    assert path.stats.priority_events == 1 and path.stats.urgent_evaluations == 1
    assert [p for p, _ in lanes.calls] == ["urgent-1", "routine-1"]
