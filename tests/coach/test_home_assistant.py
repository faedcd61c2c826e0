"""Home Assistant discovery against the real Mosquitto: retained configs read back by a
fresh client (as Home Assistant would on start), states updated after readings go
through real ingest, nudges as events, availability online/offline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coach.home_assistant import (
    HomeAssistantBridge,
    HomeAssistantOptions,
    discovery_configs,
    event_payload,
    node_id,
    state_topic,
)
from core import topics
from core.appdb.directory import PatientInfo, SqlDirectory
from core.contract import encode_message
from core.mqtt import MqttEndpoint
from core.timeseries.sqlite import SqliteTimeSeriesStore
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.factories import app_database, publisher, register, wait_until
from tests.support.mosquitto import MosquittoServer
from tests.support.mqtt_session import MqttSession, sessions

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
ANN = PatientInfo("ann", "Ann", "Europe/London")


def latest_json(session: MqttSession, topic: str) -> dict | None:
    found = session.received(topic)
    return json.loads(found[-1]) if found else None


@pytest.fixture
def home(mosquitto: MosquittoServer, tmp_path: Path) -> Iterator[tuple[HomeAssistantBridge, str]]:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [("ann-cgm", "cgm"), ("ann-cuff", "bp_cuff"), ("ann-scale", "scale")],
             name="Ann")
    register(engine, "bob", [("bob-cgm", "cgm")], name="Bob")
    store = SqliteTimeSeriesStore(tmp_path / "timeseries.db")
    endpoint = MqttEndpoint.parse(mosquitto.url)
    ingest = IngestService(endpoint=endpoint, store=store, registry=SqlDirectory(engine),
                           settings=IngestSettings(client_id="test-ingest"))
    ingest.start()
    assert ingest.wait_connected(10)
    bridge = HomeAssistantBridge(endpoint=endpoint, store=store, directory=SqlDirectory(engine))
    assert bridge.start()
    try:
        yield bridge, mosquitto.url
    finally:
        bridge.stop()
        ingest.stop()
        store.close()


def test_discovery_configs_are_retained_and_states_follow_ingest(
        home: tuple[HomeAssistantBridge, str], mosquitto: MosquittoServer) -> None:
    bridge, url = home
    node = node_id("ann")
    with sessions(mosquitto.port) as login:
        ha = login("home-assistant-test", None)  # arrives after the bridge: retained only
        ha.subscribe("homeassistant/#")
        ha.subscribe("hearth/ha/#")
        config_topics = {f"homeassistant/{c}/{node}/{o}/config" for c, o in (
            ("sensor", "glucose"), ("sensor", "systolic"), ("sensor", "diastolic"),
            ("sensor", "weight"), ("event", "nudge"))}
        assert ha.wait(lambda: config_topics <= ha.topics())
        assert ha.wait(lambda: len([t for t in ha.topics() if t.endswith("/config")]) == 10)
        with ha.event:
            assert all(retain for t, _, retain in ha.messages if t.endswith("/config"))
        glucose = latest_json(ha, f"homeassistant/sensor/{node}/glucose/config")
        assert glucose is not None
        assert glucose["unit_of_measurement"] == "mg/dL"
        assert glucose["state_class"] == "measurement"
        assert glucose["device_class"] == "blood_glucose_concentration"
        assert glucose["state_topic"] == glucose["json_attributes_topic"] == state_topic(
            "ann", "glucose", bridge.options)
        assert glucose["availability"] == [{"topic": "hearth/ha/status"}]
        assert glucose["device"]["identifiers"] == [node]
        weight = latest_json(ha, f"homeassistant/sensor/{node}/weight/config")
        assert weight and (weight["device_class"], weight["unit_of_measurement"]) == ("weight", "kg")
        nudge = latest_json(ha, f"homeassistant/event/{node}/nudge/config")
        assert nudge and "nudge" in nudge["event_types"] and "alert" in nudge["event_types"]
        assert ha.wait(lambda: ha.received("hearth/ha/status") == [b"online"])
        assert ha.received(state_topic("ann", "glucose", bridge.options)) == []  # no data yet

        with publisher(url) as pub:
            base = {"metric": "glucose", "unit": "mg/dL", "source": "cgm", "time": NOW}
            pub.publish(topics.up("ann-cgm"), encode_message(
                device_id="ann-cgm", seq=1, base=base,
                readings=[{"value": 100}, {"value": 112, "offset_s": 300}]))
            pub.publish(topics.up("ann-cuff"), encode_message(device_id="ann-cuff", seq=1, readings=[
                {"metric": "systolic", "value": 128, "unit": "mmHg", "time": NOW},
                {"metric": "diastolic", "value": 82, "unit": "mmHg", "time": NOW}]))
            pub.publish(topics.up("ann-scale"), encode_message(device_id="ann-scale", seq=1, readings=[
                {"metric": "weight", "value": 180.0, "unit": "[lb_av]", "time": NOW}]))

        glucose_topic = state_topic("ann", "glucose", bridge.options)
        wait_until(lambda: (latest_json(ha, glucose_topic) or {}).get("value") == 112,
                   timeout=15, message="glucose state")
        state = latest_json(ha, glucose_topic)
        assert state == {"value": 112, "direction": "SingleUp", "trend_arrow": "↑",  # 2.4/min
                         "source": "cgm",
                         "measured_at": (NOW + timedelta(minutes=5)).isoformat().replace(
                             "+00:00", "Z")}
        bp_topic = state_topic("ann", "blood_pressure", bridge.options)
        wait_until(lambda: latest_json(ha, bp_topic) is not None, timeout=10, message="bp state")
        assert latest_json(ha, bp_topic) == {"systolic": 128, "diastolic": 82,
                                             "measured_at": NOW.isoformat().replace("+00:00", "Z")}
        weight_topic = state_topic("ann", "weight", bridge.options)
        wait_until(lambda: latest_json(ha, weight_topic) is not None, timeout=10, message="weight")
        assert latest_json(ha, weight_topic)["value"] == 81.6  # 180 lb in kg, canonical unit
        assert ha.received(state_topic("bob", "glucose", bridge.options)) == []

    # A newcomer (Home Assistant restarting) gets the current states from the retained copies.
    with sessions(mosquitto.port) as login:
        later = login("home-assistant-restart", None)
        later.subscribe("hearth/ha/#")
        assert later.wait(lambda: bool(later.received(glucose_topic)))
        assert json.loads(later.received(glucose_topic)[-1])["value"] == 112


def test_nudges_become_events_and_availability_goes_offline(
        home: tuple[HomeAssistantBridge, str], mosquitto: MosquittoServer) -> None:
    bridge, url = home
    nudge_topic = state_topic("ann", "nudge", bridge.options)
    with sessions(mosquitto.port) as login:
        ha = login("home-assistant-test", None)
        ha.subscribe("hearth/ha/#")
        assert ha.wait(lambda: ha.received("hearth/ha/status") == [b"online"])
        coach = login("coach-test", None)
        nudge = {"schema": 1, "kind": "nudge", "title": "A short walk?", "body": "After lunch",
                 "why": "steps below your goal", "priority": "normal", "ref": "n-1",
                 "sent_at": NOW.isoformat()}
        coach.publish(topics.down("ann"), json.dumps(nudge).encode())
        coach.publish(topics.down("ann"), b"not json")
        assert ha.wait(lambda: bool(ha.received(nudge_topic)))
        event = json.loads(ha.received(nudge_topic)[0])
        assert event == {"event_type": "nudge", "title": "A short walk?", "body": "After lunch",
                         "why": "steps below your goal", "priority": "normal", "ref": "n-1",
                         "sent_at": NOW.isoformat()}
        with ha.event:
            assert not [r for t, _, r in ha.messages if t == nudge_topic and r]  # not retained
        bridge.stop()
        assert ha.wait(lambda: ha.received("hearth/ha/status")[-1] == b"offline")


def test_builders() -> None:
    options = HomeAssistantOptions(discovery_prefix="ha", glucose_device_class=None)
    configs = dict(discovery_configs(PatientInfo("a/b+c#", "A", "UTC"), options))
    node = node_id("a/b+c#")
    assert node.startswith("hearth_a_b_c__") and "/" not in node and "+" not in node
    assert node != node_id("a_b_c_")  # sanitised ids stay distinct
    assert "device_class" not in configs[f"ha/sensor/{node}/glucose/config"]
    assert event_payload(b'{"kind": "unknown"}') is None
    assert event_payload(b'{"kind": "alert", "title": "t", "extra": 1}') == {
        "event_type": "alert", "title": "t"}
