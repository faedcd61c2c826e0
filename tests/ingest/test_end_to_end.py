"""Simulator → real Mosquitto → ingest → SQLite → dashboard API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from core.appdb.account_store import AccountStore
from core.appdb.directory import SqlDirectory
from core.contract import encode_message
from core.metrics import CATALOGUE, Metric, normalise_unit
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from devices.publisher import SimulatorPublisher
from devices.simulator import HouseholdSimulator
from ingest.service import IngestService
from tests.support.accounts import add_people, sign_in
from tests.support.factories import publisher, register, register_household, subscribed, wait_until
from tests.support.mosquitto import MosquittoServer


def test_simulated_household_arrives_unchanged_through_the_api(
    mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, app_engine, ingest: IngestService
) -> None:
    profiles = register_household(app_engine)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=1)
    simulator = HouseholdSimulator(profiles, seed=7)
    expected = simulator.readings(start, end)
    with publisher(mosquitto.url) as paced:
        SimulatorPublisher(simulator, paced).publish(expected, batch_size=100)
    wait_until(lambda: store.count() == len(expected), timeout=30, message="all readings stored")

    people = add_people(app_engine, profiles[0].id, clinic_patients=[p.id for p in profiles])
    api = TestClient(create_app(store=store, directory=SqlDirectory(app_engine),
                                accounts=AccountStore(app_engine)))
    sign_in(api, people.nurse)
    patient_of = {d.id: p.id for p in profiles for d in p.devices}
    checked = 0
    for profile in profiles:
        for metric in {r.metric for r in expected if patient_of[r.device_id] == profile.id}:
            response = api.get(f"/api/patients/{profile.id}/readings",
                               params={"metric": metric, "start": start.isoformat(),
                                       "end": end.isoformat()})
            assert response.status_code == 200, response.text
            got = {(r["device_id"], r["time"]): r for r in response.json()["readings"]}
            want = [r for r in expected
                    if r.metric == metric and patient_of[r.device_id] == profile.id]
            assert len(got) == len(want)
            for r in want:
                row = got[(r.device_id, r.measured_at.isoformat().replace("+00:00", "Z"))]
                spec = CATALOGUE[Metric(metric)]
                unit = normalise_unit(r.unit)
                assert row["value"] == pytest.approx(spec.to_canonical(r.value, unit), abs=1e-6)
                assert row["original_value"] == r.value and row["original_unit"] == unit
                checked += 1
    assert checked == len(expected) > 500
    assert ingest.stats.readings_rejected == 0


def _bad_inputs(now: datetime) -> list[tuple[str, bytes, str]]:
    """(device, payload, expected error code) for each kind of bad input."""
    ok_time = (now - timedelta(minutes=1)).isoformat()

    def one(**entry: object) -> bytes:
        return encode_message(device_id="cuff", seq=9, readings=[{"time": ok_time, **entry}])

    return [
        ("cuff", b"{not json", "not_json"),
        ("cuff", one(metric="systolic", value="high", unit="mmHg"), "invalid_reading"),
        ("cuff", one(metric="blood_sugar", value=5, unit="mmol/L"), "unknown_metric"),
        ("stranger", encode_message(device_id="stranger", seq=1, readings=[
            {"time": ok_time, "metric": "systolic", "value": 120, "unit": "mmHg"}]),
         "unknown_device"),
        ("cuff", one(metric="systolic", value=900, unit="mmHg"), "out_of_range"),
        ("cuff", one(metric="systolic", value=120, unit="kg"), "unit_mismatch"),
        ("cuff", encode_message(device_id="cuff", seq=10, readings=[
            {"time": (now + timedelta(minutes=30)).isoformat(), "metric": "systolic",
             "value": 120, "unit": "mmHg"}]), "future_time"),
        ("cuff", json.dumps({"schema": 1, "device_id": "cuff", "seq": 11,
                             "readings": [{"metric": "systolic", "value": 120, "unit": "mmHg",
                                           "time": ok_time, "context": "x" * 50}] * 5000}
                            ).encode(), "too_large"),
    ]


def test_each_kind_of_bad_input_is_dead_lettered_and_valid_readings_still_flow(
    mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, app_engine, ingest: IngestService
) -> None:
    register(app_engine, "pat", [("cuff", "bp_cuff")])
    now = datetime.now(UTC)
    bad = _bad_inputs(now)
    with subscribed(mosquitto.url, "hearth/v1/dead/+") as letters, publisher(mosquitto.url) as pub:
        for i, (device, payload, _code) in enumerate(bad):
            pub.publish(f"hearth/v1/up/{device}", payload)
            good = encode_message(device_id="cuff", seq=100 + i, readings=[
                {"time": (now - timedelta(minutes=30, seconds=i)).isoformat(),
                 "metric": "systolic", "value": 120 + i, "unit": "mmHg"}])
            pub.publish("hearth/v1/up/cuff", good)
        wait_until(lambda: len(letters) == len(bad), timeout=20, message="all dead letters")
    codes = [letter["errors"][0]["code"] for letter in letters.json()]
    assert codes == [code for _d, _p, code in bad]
    for letter, (_device, payload, _code) in zip(letters.json(), bad, strict=True):
        assert letter["reason"]  # a sentence a person can act on
        if letter["payload_encoding"] == "utf-8":
            assert letter["payload"].encode() == payload
    wait_until(lambda: store.count() == len(bad), timeout=10, message="valid readings stored")
    values = [r.value for r in store.read("pat", Metric.SYSTOLIC, now - timedelta(hours=1), now)]
    assert sorted(values) == [120.0 + i for i in range(len(bad))]


def test_acks_and_stored_events_follow_the_commit(
    mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, app_engine, ingest: IngestService
) -> None:
    register(app_engine, "pat", [("cuff", "bp_cuff")])
    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    with subscribed(mosquitto.url, "hearth/v1/ack/cuff") as acks, \
            subscribed(mosquitto.url, "hearth/v1/stored/#") as events, \
            publisher(mosquitto.url) as pub:
        for seq in (41, 42):
            pub.publish("hearth/v1/up/cuff", encode_message(device_id="cuff", seq=seq, readings=[
                {"time": at, "metric": "systolic", "value": 100 + seq, "unit": "mmHg"}]))
        wait_until(lambda: sum(len(a["seqs"]) for a in acks.json()) >= 2, timeout=10,
                   message="acks")
    assert sorted(s for a in acks.json() for s in a["seqs"]) == [41, 42]
    assert store.count() == 1  # the same device, metric and time: the second changed nothing
    # One stored event for each batch's patients (docs/CONTRACT.md), none per patient.
    assert [topic for topic, _ in events.messages] == ["hearth/v1/stored"] * len(events)
    assert all(e == {"schema": 1, "patients": {"pat": ["systolic"]}} for e in events.json())


class _FlakyRegistry:
    """Fails its first lookups, as a database that is briefly unreachable would."""

    def __init__(self, inner, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def binding(self, device_id: str):
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("registry unreachable")
        return self.inner.binding(device_id)


def test_a_failed_batch_is_redelivered_not_lost(
    mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, app_engine
) -> None:
    from core.mqtt import MqttEndpoint
    from ingest.settings import IngestSettings

    register(app_engine, "pat", [("cuff", "bp_cuff")])
    service = IngestService(endpoint=MqttEndpoint.parse(mosquitto.url), store=store,
                            registry=_FlakyRegistry(SqlDirectory(app_engine), failures=2),
                            settings=IngestSettings(client_id="flaky-ingest"))
    service.start()
    try:
        assert service.wait_connected(10)
        at = datetime.now(UTC) - timedelta(minutes=5)
        with publisher(mosquitto.url) as pub:
            for i in range(5):
                pub.publish("hearth/v1/up/cuff", encode_message(device_id="cuff", seq=i, readings=[
                    {"time": (at + timedelta(seconds=i)).isoformat(), "metric": "systolic",
                     "value": 120 + i, "unit": "mmHg"}]))
        wait_until(lambda: store.count() == 5, timeout=30, message="redelivered and stored")
    finally:
        service.stop()
