"""Ingest's batch stored events (``hearth/v1/stored``, issue 22) on the coach's real-time
path, against a real Mosquitto and the coach's own client with manual acks: each patient
of a batch is evaluated as from an event of its own, and the one MQTT message is
acknowledged only when every one of its patients is done, so a coach that fails one of
them (or dies) gets the whole event again from the broker, and the others are evaluated
again, which the dispatcher's cool-downs and delivery keys make harmless."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from care.messages import Outbound
from coach.realtime import RealtimePath
from coach.settings import CoachSettings
from core import topics
from core.mqtt import MqttEndpoint
from core.stored_events import batch_messages, read_batch
from tests.support.factories import publisher, wait_until
from tests.support.mosquitto import MosquittoServer, mosquitto  # noqa: F401 - fixture


class Calls:
    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.calls: list[tuple[str, set[str]]] = []
        self.lock = threading.Lock()

    def evaluate(self, patient: str, _now: datetime, metrics: set[str]) -> list[Outbound]:
        with self.lock:
            self.calls.append((patient, set(metrics)))
        if patient in self.failing:
            raise RuntimeError("the store went away for a moment")
        return []

    def patients(self) -> list[str]:
        with self.lock:
            return [p for p, _ in self.calls]


def deliver(_message: Outbound) -> Future[Any]:
    done: Future[Any] = Future()
    done.set_result(None)
    return done


def _path(mosquitto: MosquittoServer, calls: Calls) -> RealtimePath:  # noqa: F811
    settings = CoachSettings(client_id="batch-coach", coalesce_s=0.0)
    path = RealtimePath(endpoint=MqttEndpoint.parse(mosquitto.url), settings=settings,
                        evaluate=calls.evaluate, deliver=deliver,
                        triage=lambda _batch, _now: set())
    path.start()
    assert path.wait_connected(10)
    return path


def test_a_batch_event_is_acknowledged_only_when_all_its_patients_are_done(
    mosquitto: MosquittoServer,  # noqa: F811
) -> None:
    first = Calls(failing={"b-2"})
    path = _path(mosquitto, first)
    try:
        with publisher(mosquitto.url) as paced:
            (topic_a, event_a), = batch_messages({"a-1": ["glucose"], "a-2": ["spo2", "glucose"],
                                                 "a-3": ["systolic"]})
            (topic_b, event_b), = batch_messages({"b-1": ["glucose"], "b-2": ["glucose"]})
            assert topic_a == topic_b == "hearth/v1/stored"
            paced.publish(topic_a, event_a)
            paced.publish(topic_b, event_b)
            wait_until(lambda: len(first.calls) == 5, timeout=20,
                       message="every patient of both events evaluated")
            # A per-patient event after them: once it is evaluated, the acknowledgements
            # of the events before it were handed to paho before its own.
            paced.publish(topics.stored("marker"), json.dumps(
                {"schema": 1, "patient_id": "marker", "metrics": ["glucose"]}).encode())
            wait_until(lambda: "marker" in first.patients(), timeout=20, message="marker")
    finally:
        path.stop()
    assert dict(first.calls)["a-2"] == {"spo2", "glucose"}
    assert path.stats.events == 6 and path.stats.failures == 1

    # The same session again: the event whose patient failed comes back whole; the one
    # whose patients were all evaluated was acknowledged and does not.
    again = Calls(failing=set())
    path = _path(mosquitto, again)
    try:
        wait_until(lambda: sorted(again.patients()) == ["b-1", "b-2"], timeout=30,
                   message="the unacknowledged batch event redelivered")
        with publisher(mosquitto.url) as paced:
            paced.publish(topics.stored("marker-2"), json.dumps(
                {"schema": 1, "patient_id": "marker-2", "metrics": ["glucose"]}).encode())
        wait_until(lambda: "marker-2" in again.patients(), timeout=20, message="marker-2")
    finally:
        path.stop()
    assert sorted(again.patients()) == ["b-1", "b-2", "marker-2"]


def test_batch_events_split_at_the_limit_and_read_back() -> None:
    touched = {f"p{n}": ["glucose", "glucose", "spo2"] for n in range(2_500)}
    messages = list(batch_messages(touched))
    assert [len(read_batch(p) or {}) for _t, p in messages] == [1_000, 1_000, 500]
    merged = {k: v for _t, p in messages for k, v in (read_batch(p) or {}).items()}
    assert merged == {p: {"glucose", "spo2"} for p in touched}
    assert read_batch(b'{"schema":1,"patient_id":"x","metrics":[]}') is None
    assert read_batch(b'{"schema":1,"patients":{"a/b":["glucose"]}}') is None
    assert read_batch(b"not json") is None
