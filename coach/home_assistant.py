"""Home Assistant MQTT discovery for the home display: each patient's latest glucose with its
trend, last blood pressure, last weight, and an event entity for nudges.

Home Assistant's MQTT discovery (https://www.home-assistant.io/integrations/mqtt/,
"MQTT Discovery"): a retained JSON config on
``<discovery_prefix>/<component>/<node_id>/<object_id>/config`` creates an entity;
an empty retained payload removes it. Sensors
(https://www.home-assistant.io/integrations/sensor.mqtt/) read ``state_topic``
through ``value_template``, with ``unit_of_measurement``, ``device_class``,
``state_class: measurement`` and ``json_attributes_topic`` (every key of a JSON
payload becomes an attribute: here the trend arrow and direction, the time
measured). Event entities (https://www.home-assistant.io/integrations/event.mqtt/)
need ``event_types`` and receive ``{"event_type": ..., ...}`` on their state
topic; the other keys become event attributes. ``availability`` points at the
bridge's own retained online/offline topic (its MQTT last will says offline).

The builders are pure; ``HomeAssistantBridge`` publishes them: the configs and
current states (retained) at start, new states whenever ingest announces stored
readings on ``hearth/v1/stored/{patient}`` (values read back from the store, never
from the event, which carries none), and each nudge from
``hearth/v1/down/{patient}`` as an event (not retained: events are moments).
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from analytics.arrows import ARROWS, MAX_GAP, direction
from care.messages import KINDS
from core import topics
from core.appdb.directory import PatientDirectory, PatientInfo
from core.metrics import Metric
from core.mqtt import MQTT_V5, MqttEndpoint, configure, new_client
from core.readings import Reading
from core.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)

SHOWN = (Metric.GLUCOSE, Metric.SYSTOLIC, Metric.DIASTOLIC, Metric.WEIGHT)


@dataclass(frozen=True, slots=True)
class HomeAssistantOptions:
    discovery_prefix: str = "homeassistant"
    state_prefix: str = "hearth/ha"
    # Home Assistant 2024.8 added this sensor device class (mg/dL or mmol/L); set None
    # for an older installation, which refuses a config with an unknown device class.
    glucose_device_class: str | None = "blood_glucose_concentration"

    @property
    def availability_topic(self) -> str:
        return f"{self.state_prefix}/status"


def node_id(patient_id: str) -> str:
    """A discovery id (letters, digits, _ and - only) that stays unique per patient."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", patient_id)[:40]
    digest = hashlib.sha256(patient_id.encode()).hexdigest()[:8]
    return f"hearth_{safe}_{digest}"


def state_topic(patient_id: str, entity: str, options: HomeAssistantOptions) -> str:
    return f"{options.state_prefix}/{node_id(patient_id)}/{entity}"


def _sensor(patient: PatientInfo, object_id: str, name: str, state: str, template: str,
            unit: str, device_class: str | None, options: HomeAssistantOptions
            ) -> tuple[str, dict[str, Any]]:
    node = node_id(patient.id)
    config: dict[str, Any] = {
        "name": name, "unique_id": f"{node}_{object_id}", "object_id": f"{node}_{object_id}",
        "state_topic": state_topic(patient.id, state, options), "value_template": template,
        "json_attributes_topic": state_topic(patient.id, state, options),
        "unit_of_measurement": unit, "state_class": "measurement",
    }
    if device_class:
        config["device_class"] = device_class
    return f"{options.discovery_prefix}/sensor/{node}/{object_id}/config", config


def discovery_configs(patient: PatientInfo, options: HomeAssistantOptions | None = None
                      ) -> list[tuple[str, dict[str, Any]]]:
    """(topic, config) of every entity of one patient, ready to publish retained."""
    o = options or HomeAssistantOptions()
    configs = [
        _sensor(patient, "glucose", "Glucose", "glucose", "{{ value_json.value }}", "mg/dL",
                o.glucose_device_class, o),
        _sensor(patient, "systolic", "Blood pressure systolic", "blood_pressure",
                "{{ value_json.systolic }}", "mmHg", None, o),
        _sensor(patient, "diastolic", "Blood pressure diastolic", "blood_pressure",
                "{{ value_json.diastolic }}", "mmHg", None, o),
        _sensor(patient, "weight", "Weight", "weight", "{{ value_json.value }}", "kg",
                "weight", o),
    ]
    node = node_id(patient.id)
    configs.append((f"{o.discovery_prefix}/event/{node}/nudge/config", {
        "name": "Nudge", "unique_id": f"{node}_nudge", "object_id": f"{node}_nudge",
        "state_topic": state_topic(patient.id, "nudge", o), "event_types": list(KINDS),
    }))
    device = {"identifiers": [node], "name": f"Hearth {patient.display_name}",
              "manufacturer": "Hearth", "model": "Home display"}
    for _topic, config in configs:
        config.update({
            "device": device, "origin": {"name": "Hearth"},
            "availability": [{"topic": o.availability_topic}],
            "payload_available": "online", "payload_not_available": "offline",
        })
    return configs


def _iso(reading: Reading) -> str:
    return reading.measured_at.isoformat().replace("+00:00", "Z")


def state_payloads(patient_id: str, latest: dict[Metric, Reading], previous_glucose: Reading | None,
                   options: HomeAssistantOptions | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) of the states to publish retained, for the metrics there are."""
    o = options or HomeAssistantOptions()
    out: list[tuple[str, dict[str, Any]]] = []
    glucose = latest.get(Metric.GLUCOSE)
    if glucose is not None:
        trend = "NONE"
        if glucose.source == "cgm" and previous_glucose is not None:
            trend = direction((previous_glucose.measured_at, previous_glucose.value),
                              (glucose.measured_at, glucose.value), max_gap=MAX_GAP)
        out.append((state_topic(patient_id, "glucose", o), {
            "value": round(glucose.value), "direction": trend, "trend_arrow": ARROWS[trend],
            "source": glucose.source, "measured_at": _iso(glucose)}))
    systolic, diastolic = latest.get(Metric.SYSTOLIC), latest.get(Metric.DIASTOLIC)
    if systolic is not None and diastolic is not None:
        out.append((state_topic(patient_id, "blood_pressure", o), {
            "systolic": round(systolic.value), "diastolic": round(diastolic.value),
            "measured_at": _iso(max(systolic, diastolic, key=lambda r: r.measured_at))}))
    weight = latest.get(Metric.WEIGHT)
    if weight is not None:
        out.append((state_topic(patient_id, "weight", o), {
            "value": round(weight.value, 1), "measured_at": _iso(weight)}))
    return out


def event_payload(down_payload: bytes) -> dict[str, Any] | None:
    """A nudge from ``hearth/v1/down/{patient}`` as an event entity payload (None if unusable)."""
    try:
        message = json.loads(down_payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(message, dict) or message.get("kind") not in KINDS:
        return None
    keep = ("title", "body", "why", "priority", "ref", "sent_at")
    return {"event_type": message["kind"], **{k: message[k] for k in keep if k in message}}


# --- the publisher ------------------------------------------------------------------

class HomeAssistantBridge:
    """Publishes discovery, states and nudge events for every patient in the directory."""

    def __init__(self, *, endpoint: MqttEndpoint, store: TimeSeriesStore,
                 directory: PatientDirectory, options: HomeAssistantOptions | None = None,
                 client_id: str = "hearth-home-assistant", protocol: str = MQTT_V5) -> None:
        self._endpoint, self._store, self._directory = endpoint, store, directory
        self.options = options or HomeAssistantOptions()
        self._client = new_client(client_id, protocol=protocol)
        self._work: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="home-assistant", daemon=True)
        self._ready = threading.Event()
        self._stopped = False
        self.published_states = 0
        self.published_events = 0

    def start(self, timeout: float = 10.0) -> bool:
        c = self._client
        c.will_set(self.options.availability_topic, b"offline", qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_message = lambda _c, _u, msg: self._work.put((msg.topic, bytes(msg.payload)))
        configure(c, self._endpoint)
        c.connect_async(self._endpoint.host, self._endpoint.port, keepalive=30)
        self._worker.start()
        c.loop_start()
        return self._ready.wait(timeout)

    def stop(self) -> None:
        """Say offline (retained), then disconnect; a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        info = self._client.publish(self.options.availability_topic, b"offline", qos=1,
                                    retain=True)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            try:
                info.wait_for_publish(timeout=5)
            except (RuntimeError, ValueError):
                log.warning("home assistant: could not say offline (the last will will)")
        self._work.put(None)
        self._worker.join(timeout=10)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe([(topics.STORED_ALL, 1), (topics.DOWN_ALL, 1)])
        self._work.put(("connected", b""))

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            batch: list[tuple[str, bytes] | None] = [item]
            while len(batch) < 10_000:  # coalesce a burst (a backfill) into one refresh each
                try:
                    batch.append(self._work.get_nowait())
                except queue.Empty:
                    break
            stopping = None in batch
            stale: dict[str, None] = {}
            for work in (w for w in batch if w is not None):
                try:
                    self._handle(*work, stale=stale)
                except Exception:  # one bad message must not stop the bridge
                    log.exception("home assistant: handling a message failed")
            for patient_id in stale:
                try:
                    self.publish_states(patient_id)
                except Exception:
                    log.exception("home assistant: refreshing states failed")
            if stopping:
                return

    def _handle(self, topic: str, payload: bytes, *, stale: dict[str, None]) -> None:
        if topic == "connected":
            self.publish_all()
            self._ready.set()
            return
        if (patient_id := topics.last_level(topic, "stored")) is not None:
            if set(_metrics(payload)) & {m.value for m in SHOWN}:
                stale[patient_id] = None
        elif (patient_id := topics.last_level(topic, "down")) is not None:
            event = event_payload(payload)
            if event is not None:
                self._publish(state_topic(patient_id, "nudge", self.options), event, retain=False)
                self.published_events += 1

    def publish_all(self, patients: Iterable[PatientInfo] | None = None) -> None:
        """Availability, every patient's discovery configs and current states."""
        self._client.publish(self.options.availability_topic, b"online", qos=1, retain=True)
        sent = []
        for patient in patients if patients is not None else self._directory.patients():
            for config_topic, config in discovery_configs(patient, self.options):
                sent.append(self._publish(config_topic, config, retain=True))
            self.publish_states(patient.id)
        # Ready only once the broker holds the configs: a client arriving after start()
        # then finds them retained (and QoS 1 re-sends them if the connection drops).
        for info in sent:
            try:
                info.wait_for_publish(timeout=5)
            except (RuntimeError, ValueError):
                log.warning("home assistant: a discovery config is not confirmed yet")
                break
        log.info("home assistant: discovery published")

    def publish_states(self, patient_id: str) -> None:
        latest = self._store.latest(patient_id, SHOWN)
        previous = None
        glucose = latest.get(Metric.GLUCOSE)
        if glucose is not None:
            before = self._store.read(patient_id, Metric.GLUCOSE,
                                      glucose.measured_at - MAX_GAP, glucose.measured_at)
            same_device = [r for r in before if r.device_id == glucose.device_id]
            previous = same_device[-1] if same_device else None
        for topic, payload in state_payloads(patient_id, latest, previous, self.options):
            self._publish(topic, payload, retain=True)
            self.published_states += 1

    def _publish(self, topic: str, payload: dict[str, Any], *, retain: bool
                 ) -> mqtt.MQTTMessageInfo:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return self._client.publish(topic, body, qos=1, retain=retain)


def _metrics(payload: bytes) -> list[str]:
    try:
        metrics = json.loads(payload).get("metrics", [])
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return []
    return [m for m in metrics if isinstance(m, str)] if isinstance(metrics, list) else []
