"""Home Assistant discovery against the real Mosquitto: retained configs read back by a
fresh client (as Home Assistant would on start), only the sensors of a patient's own
devices, states updated after readings go through real ingest, an old value never
retained as current (MQTT 5 message expiry), nudges as events, availability
online/offline."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from coach.home_assistant import (
    CGM_FRESH,
    HomeAssistantBridge,
    HomeAssistantOptions,
    discovery_configs,
    entity_slug,
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
    register(engine, "dev", [("dev-ox", "pulse_oximeter"), ("dev-thermo", "thermometer")],
             name="Dev")
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
    fresh_cgm = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=6)
    with sessions(mosquitto.port) as login:
        ha = login("home-assistant-test", None)  # arrives after the bridge: retained only
        ha.subscribe("homeassistant/#")
        ha.subscribe("hearth/ha/#")
        config_topics = {f"homeassistant/{c}/{node}/{o}/config" for c, o in (
            ("sensor", "glucose"), ("sensor", "systolic"), ("sensor", "diastolic"),
            ("sensor", "weight"), ("sensor", "heart_rate"), ("event", "nudge"))}
        assert ha.wait(lambda: config_topics <= ha.topics())
        # Ann 6 (her cuff's pulse is a heart rate), Bob 2 (glucose, nudges), Dev 4
        assert ha.wait(lambda: len([t for t in ha.topics() if t.endswith("/config")]) == 12)
        with ha.event:
            assert all(retain for t, _, retain in ha.messages if t.endswith("/config"))
        bob = node_id("bob")
        assert {t for t in ha.topics() if f"/{bob}/" in t} == {
            f"homeassistant/sensor/{bob}/glucose/config", f"homeassistant/event/{bob}/nudge/config"}
        glucose = latest_json(ha, f"homeassistant/sensor/{node}/glucose/config")
        assert glucose is not None
        assert glucose["unit_of_measurement"] == "mg/dL"
        assert glucose["state_class"] == "measurement"
        assert glucose["device_class"] == "blood_glucose_concentration"
        assert glucose["default_entity_id"] == f"sensor.{entity_slug('ann', 'glucose')}"
        assert "object_id" not in glucose  # deprecated; Home Assistant 2026.4 drops it
        assert glucose["expire_after"] == 15 * 60  # a CGM: three missed 5-minute readings
        assert glucose["state_topic"] == glucose["json_attributes_topic"] == state_topic(
            "ann", "glucose", bridge.options)
        assert glucose["availability"] == [{"topic": "hearth/ha/status"}]
        assert glucose["device"]["identifiers"] == [node]
        weight = latest_json(ha, f"homeassistant/sensor/{node}/weight/config")
        assert weight
        assert (weight["device_class"], weight["unit_of_measurement"]) == ("weight", "kg")
        assert weight["expire_after"] == 48 * 3600  # analytics/targets.py SILENT_AFTER_H scale
        nudge = latest_json(ha, f"homeassistant/event/{node}/nudge/config")
        assert nudge and "nudge" in nudge["event_types"] and "alert" in nudge["event_types"]
        assert nudge["default_entity_id"] == f"event.{entity_slug('ann', 'nudge')}"
        assert ha.wait(lambda: ha.received("hearth/ha/status") == [b"online"])
        assert ha.received(state_topic("ann", "glucose", bridge.options)) == []  # no data yet

        with publisher(url) as pub:
            base = {"metric": "glucose", "unit": "mg/dL", "source": "cgm", "time": fresh_cgm}
            pub.publish(topics.up("ann-cgm"), encode_message(
                device_id="ann-cgm", seq=1, base=base,
                readings=[{"value": 100}, {"value": 112, "offset_s": 300}]))
            pub.publish(topics.up("ann-cuff"), encode_message(
                device_id="ann-cuff", seq=1, readings=[
                    {"metric": "systolic", "value": 128, "unit": "mmHg", "time": NOW},
                {"metric": "diastolic", "value": 82, "unit": "mmHg", "time": NOW}]))
            pub.publish(topics.up("ann-scale"), encode_message(
                device_id="ann-scale", seq=1, readings=[
                {"metric": "weight", "value": 180.0, "unit": "[lb_av]", "time": NOW}]))

        glucose_topic = state_topic("ann", "glucose", bridge.options)
        wait_until(lambda: (latest_json(ha, glucose_topic) or {}).get("value") == 112,
                   timeout=15, message="glucose state")
        state = latest_json(ha, glucose_topic)
        assert state == {"value": 112, "direction": "SingleUp", "trend_arrow": "↑",  # 2.4/min
                         "source": "cgm",
                         "measured_at": (fresh_cgm + timedelta(minutes=5)).isoformat().replace(
                             "+00:00", "Z")}
        bp_topic = state_topic("ann", "blood_pressure", bridge.options)
        wait_until(lambda: latest_json(ha, bp_topic) is not None, timeout=10, message="bp state")
        assert latest_json(ha, bp_topic) == {"systolic": 128, "diastolic": 82,
                                             "measured_at": NOW.isoformat().replace("+00:00", "Z")}
        weight_topic = state_topic("ann", "weight", bridge.options)
        wait_until(lambda: latest_json(ha, weight_topic) is not None, timeout=10, message="weight")
        assert latest_json(ha, weight_topic)["value"] == 81.6  # 180 lb in kg, canonical unit
        pulse_topic = state_topic("ann", "heart_rate", bridge.options)
        assert ha.received(pulse_topic) == []  # her cuff sent no pulse
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
    configs = dict(discovery_configs(PatientInfo("a/b+c#", "A", "UTC"), {"glucose_meter"},
                                     options))
    node = node_id("a/b+c#")
    assert node.startswith("hearth_a_b_c__") and "/" not in node and "+" not in node
    assert node != node_id("a_b_c_")  # sanitised ids stay distinct
    glucose = configs[f"ha/sensor/{node}/glucose/config"]
    assert "device_class" not in glucose
    assert glucose["expire_after"] == 48 * 3600  # a meter: SILENT_AFTER_H glucose_meter
    entity = glucose["default_entity_id"]
    assert entity.startswith("sensor.hearth_a_b_c_") and entity.endswith("_glucose")
    assert re.fullmatch(r"sensor\.[a-z0-9_]+", entity)
    assert entity != f"sensor.{entity_slug('A_B_C', 'glucose')}"  # the digest keeps them apart
    assert set(configs) == {f"ha/sensor/{node}/glucose/config", f"ha/event/{node}/nudge/config"}
    both = dict(discovery_configs(PatientInfo("p", "P", "UTC"), {"glucose_meter", "cgm"}))
    assert both[f"homeassistant/sensor/{node_id('p')}/glucose/config"]["expire_after"] == (
        CGM_FRESH.total_seconds())
    assert event_payload(b'{"kind": "unknown"}') is None
    assert event_payload(b'{"kind": "alert", "title": "t", "extra": 1}') == {
        "event_type": "alert", "title": "t"}


def test_spo2_heart_rate_and_temperature_for_an_oximeter_and_a_thermometer(
        home: tuple[HomeAssistantBridge, str], mosquitto: MosquittoServer) -> None:
    bridge, url = home
    node = node_id("dev")
    with sessions(mosquitto.port) as login:
        ha = login("home-assistant-dev", None)
        ha.subscribe(f"homeassistant/+/{node}/+/config")
        ha.subscribe(f"hearth/ha/{node}/#")
        wanted = {f"homeassistant/sensor/{node}/{k}/config"
                  for k in ("spo2", "heart_rate", "temperature")}
        assert ha.wait(lambda: wanted <= ha.topics())
        assert not [t for t in ha.topics() if "/glucose/" in t or "/weight/" in t]
        spo2 = latest_json(ha, f"homeassistant/sensor/{node}/spo2/config")
        assert spo2 and (spo2["unit_of_measurement"], spo2["expire_after"]) == ("%", 36 * 3600)
        assert "device_class" not in spo2  # Home Assistant has none for SpO2
        heart = latest_json(ha, f"homeassistant/sensor/{node}/heart_rate/config")
        assert heart and (heart["unit_of_measurement"], heart["expire_after"]) == ("bpm", 36 * 3600)
        temp = latest_json(ha, f"homeassistant/sensor/{node}/temperature/config")
        assert temp and (temp["device_class"], temp["unit_of_measurement"],
                         temp["expire_after"]) == ("temperature", "°C", 72 * 3600)

        with publisher(url) as pub:
            pub.publish(topics.up("dev-ox"), encode_message(device_id="dev-ox", seq=1, readings=[
                {"metric": "spo2", "value": 94, "unit": "%", "time": NOW},
                {"metric": "heart_rate", "value": 71, "unit": "/min", "time": NOW,
                 "source": "pulse_oximeter"}]))
            pub.publish(topics.up("dev-thermo"), encode_message(device_id="dev-thermo", seq=1,
                        readings=[{"metric": "body_temperature", "value": 99.5, "unit": "[degF]",
                                   "time": NOW}]))
        at = NOW.isoformat().replace("+00:00", "Z")
        for entity, expected in (("spo2", {"value": 94, "measured_at": at}),
                                 ("heart_rate", {"value": 71, "source": "pulse_oximeter",
                                                 "measured_at": at}),
                                 ("temperature", {"value": 37.5, "measured_at": at})):
            topic = state_topic("dev", entity, bridge.options)
            wait_until(lambda t=topic: latest_json(ha, t) is not None, timeout=15, message=entity)
            assert latest_json(ha, topic) == expected


def test_an_old_glucose_is_never_retained_as_current(
        home: tuple[HomeAssistantBridge, str], mosquitto: MosquittoServer) -> None:
    bridge, url = home
    glucose_topic = state_topic("bob", "glucose", bridge.options)
    with sessions(mosquitto.port) as login:
        ha = login("home-assistant-expiry", None)
        expiry: dict[str, int | None] = {}

        def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
            with ha.event:
                expiry[msg.topic] = getattr(msg.properties, "MessageExpiryInterval", None)
                ha.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
                ha.event.notify_all()

        ha.client.on_message = on_message
        ha.subscribe(glucose_topic)
        stale = datetime.now(UTC).replace(microsecond=0) - CGM_FRESH - timedelta(minutes=5)
        with publisher(url) as pub:  # a reading 20 minutes old (a phone that was offline)
            pub.publish(topics.up("bob-cgm"), encode_message(device_id="bob-cgm", seq=1, readings=[
                {"metric": "glucose", "value": 64, "unit": "mg/dL", "source": "cgm",
                 "time": stale}]))
        wait_until(lambda: bridge.withheld_states >= 1, timeout=15, message="withheld")
        assert ha.received(glucose_topic) == []

        # A current reading: retained with what is left of its 15 minutes, then gone.
        age = CGM_FRESH - timedelta(seconds=30)
        recent = datetime.now(UTC) - age
        with publisher(url) as pub:
            pub.publish(topics.up("bob-cgm"), encode_message(device_id="bob-cgm", seq=2, readings=[
                {"metric": "glucose", "value": 71, "unit": "mg/dL", "source": "cgm",
                 "time": recent}]))
        assert ha.wait(lambda: bool(ha.received(glucose_topic)), timeout=15)
        assert json.loads(ha.received(glucose_topic)[-1])["value"] == 71
        left = expiry[glucose_topic]
        assert left is not None and 0 < left <= 30

        def retained_now() -> bool:
            later = login("home-assistant-later", None)
            later.subscribe(glucose_topic)  # a retained copy comes right after this SUBACK,
            later.subscribe("hearth/ha/status")  # so before the status retained here
            status_seen = later.wait(lambda: bool(later.received("hearth/ha/status")))
            found = bool(later.received(glucose_topic))
            later.client.disconnect()
            return status_seen and not found

        wait_until(retained_now, timeout=90, interval=1.0, message="the broker dropped it")
