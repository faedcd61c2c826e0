"""Home Assistant MQTT discovery for the home display: a sensor for each reading a
patient's own devices take (glucose with its trend, blood pressure, weight, SpO2,
heart rate, body temperature) and an event entity for nudges.

Home Assistant's MQTT discovery (https://www.home-assistant.io/integrations/mqtt/,
"MQTT Discovery"): a retained JSON config on
``<discovery_prefix>/<component>/<node_id>/<object_id>/config`` creates an entity;
an empty retained payload removes it. Sensors
(https://www.home-assistant.io/integrations/sensor.mqtt/) read ``state_topic``
through ``value_template``, with ``unit_of_measurement``, ``device_class``,
``state_class: measurement`` and ``json_attributes_topic`` (every key of a JSON
payload becomes an attribute: here the trend arrow and direction, the time
measured). The entity id is suggested with ``default_entity_id``
(``sensor.<slug>``), not the deprecated ``object_id``: Home Assistant 2025.10
deprecated ``object_id`` in discovery payloads and its repair notice says it
stops working in Home Assistant Core 2026.4 (docs/INTEROP.md). Event entities
(https://www.home-assistant.io/integrations/event.mqtt/) need ``event_types``
and receive ``{"event_type": ..., ...}`` on their state topic; the other keys
become event attributes. ``availability`` points at the bridge's own retained
online/offline topic (its MQTT last will says offline).

Only the sensors a patient's active devices report are published; the configs of
the others are removed (an empty retained config), so a patient without a scale
has no weight entity. Each sensor sets ``expire_after`` (the entity becomes
unavailable when no newer value arrives in time) from its device kind's rhythm:
a CGM's glucose after ``CGM_FRESH`` (15 minutes: three missed 5-minute readings,
the gap beyond which analytics/arrows.py draws no trend either), every other
sensor after ``SILENT_AFTER_H`` of its device kind (analytics/targets.py, the
point at which Hearth itself calls the device quiet; docs/CLINICAL.md). The
same freshness bounds the retained state: it is published with an MQTT 5
message expiry of what is left of it, so the broker drops it when it runs out
and a Home Assistant starting later never receives an old glucose as current;
a value already past it is not published at all.

The builders are pure; ``HomeAssistantBridge`` publishes them: the configs and
current states (retained) at start, new states whenever ingest announces stored
readings on ``hearth/v1/stored/{patient}`` or in a batch event on ``hearth/v1/stored``
(core/stored_events.py; values read back from the store, never
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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from analytics.arrows import ARROWS, MAX_GAP, direction
from analytics.targets import SILENT_AFTER_H
from care.messages import KINDS
from core import topics
from core.appdb.directory import DeviceBinding, PatientInfo
from core.metrics import Metric
from core.mqtt import MQTT_V5, MqttEndpoint, configure, new_client
from core.readings import Reading
from core.stored_events import read_batch
from core.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)

# A CGM reports every 5 minutes; after three missed readings its last value is no
# longer the current glucose (the trend arrow's own limit; docs/CLINICAL.md).
CGM_FRESH = MAX_GAP


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One Home Assistant sensor: what it shows, from which device kinds."""

    key: str  # the discovery object id and, with the node, the entity id
    name: str
    state: str  # the state topic's last level (systolic and diastolic share one)
    template: str
    unit: str
    device_class: str | None
    metrics: tuple[Metric, ...]  # the newest of these is the value
    kinds: frozenset[str]  # device kinds that report it


SENSORS: tuple[SensorSpec, ...] = (
    SensorSpec("glucose", "Glucose", "glucose", "{{ value_json.value }}", "mg/dL",
               "blood_glucose_concentration", (Metric.GLUCOSE,),
               frozenset({"cgm", "glucose_meter"})),
    SensorSpec("systolic", "Blood pressure systolic", "blood_pressure",
               "{{ value_json.systolic }}", "mmHg", None, (Metric.SYSTOLIC,),
               frozenset({"bp_cuff"})),
    SensorSpec("diastolic", "Blood pressure diastolic", "blood_pressure",
               "{{ value_json.diastolic }}", "mmHg", None, (Metric.DIASTOLIC,),
               frozenset({"bp_cuff"})),
    SensorSpec("weight", "Weight", "weight", "{{ value_json.value }}", "kg", "weight",
               (Metric.WEIGHT,), frozenset({"scale"})),
    # Home Assistant has no device class for SpO2 or heart rate: unit and name say it.
    SensorSpec("spo2", "Oxygen saturation", "spo2", "{{ value_json.value }}", "%", None,
               (Metric.SPO2,), frozenset({"pulse_oximeter"})),
    SensorSpec("heart_rate", "Heart rate", "heart_rate", "{{ value_json.value }}", "bpm", None,
               (Metric.HEART_RATE, Metric.PULSE), frozenset({"pulse_oximeter", "bp_cuff"})),
    SensorSpec("temperature", "Body temperature", "temperature", "{{ value_json.value }}", "°C",
               "temperature", (Metric.BODY_TEMPERATURE,), frozenset({"thermometer"})),
)
SHOWN = tuple(dict.fromkeys(m for spec in SENSORS for m in spec.metrics))


class DeviceDirectory(Protocol):
    """The patients and their devices (core.appdb.directory.SqlDirectory)."""

    def patients(self) -> list[PatientInfo]: ...

    def devices_of(self, patient_id: str) -> list[DeviceBinding]: ...


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


def entity_slug(patient_id: str, key: str) -> str:
    """The object part of an entity id: lower-case letters, digits and _ only, unique."""
    safe = re.sub(r"[^a-z0-9]+", "_", patient_id.lower()).strip("_")[:40]
    digest = hashlib.sha256(patient_id.encode()).hexdigest()[:8]
    return "_".join(p for p in ("hearth", safe, digest, key) if p)


def state_topic(patient_id: str, entity: str, options: HomeAssistantOptions) -> str:
    return f"{options.state_prefix}/{node_id(patient_id)}/{entity}"


def sensors_for(kinds: Iterable[str]) -> list[SensorSpec]:
    """The sensors the given device kinds report, in display order."""
    present = set(kinds)
    return [spec for spec in SENSORS if spec.kinds & present]


def freshness(spec: SensorSpec, kinds: Iterable[str]) -> timedelta:
    """How long a value of this sensor counts as current, from its devices' rhythm.

    A CGM's glucose: ``CGM_FRESH``; otherwise the shortest ``SILENT_AFTER_H`` of the
    patient's device kinds that report it (docs/CLINICAL.md).
    """
    provided = spec.kinds & set(kinds)
    if not provided:
        raise ValueError(f"no device of the patient reports {spec.key}")
    if spec.key == "glucose" and "cgm" in provided:
        return CGM_FRESH
    return timedelta(hours=min(SILENT_AFTER_H[kind] for kind in provided))


def discovery_configs(patient: PatientInfo, kinds: Iterable[str],
                      options: HomeAssistantOptions | None = None
                      ) -> list[tuple[str, dict[str, Any]]]:
    """(topic, config) of every entity of one patient, ready to publish retained.

    ``kinds``: the device kinds the patient has; only their sensors are included.
    """
    o = options or HomeAssistantOptions()
    kinds = set(kinds)
    node = node_id(patient.id)
    configs: list[tuple[str, dict[str, Any]]] = []
    for spec in sensors_for(kinds):
        topic = state_topic(patient.id, spec.state, o)
        config: dict[str, Any] = {
            "name": spec.name, "unique_id": f"{node}_{spec.key}",
            "default_entity_id": f"sensor.{entity_slug(patient.id, spec.key)}",
            "state_topic": topic, "value_template": spec.template,
            "json_attributes_topic": topic,
            "unit_of_measurement": spec.unit, "state_class": "measurement",
            "expire_after": int(freshness(spec, kinds).total_seconds()),
        }
        device_class = o.glucose_device_class if spec.key == "glucose" else spec.device_class
        if device_class:
            config["device_class"] = device_class
        configs.append((config_topic("sensor", patient.id, spec.key, o), config))
    configs.append((config_topic("event", patient.id, "nudge", o), {
        "name": "Nudge", "unique_id": f"{node}_nudge",
        "default_entity_id": f"event.{entity_slug(patient.id, 'nudge')}",
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


def config_topic(component: str, patient_id: str, key: str,
                 options: HomeAssistantOptions) -> str:
    return f"{options.discovery_prefix}/{component}/{node_id(patient_id)}/{key}/config"


def absent_config_topics(patient_id: str, kinds: Iterable[str],
                         options: HomeAssistantOptions | None = None) -> list[str]:
    """The config topics of the sensors the patient's devices do not report (to remove)."""
    o = options or HomeAssistantOptions()
    shown = {spec.key for spec in sensors_for(kinds)}
    return [config_topic("sensor", patient_id, spec.key, o)
            for spec in SENSORS if spec.key not in shown]


def _iso(reading: Reading) -> str:
    return reading.measured_at.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class State:
    """A retained state: its topic, payload and when it stops being current."""

    topic: str
    payload: dict[str, Any]
    fresh_until: datetime


def state_payloads(patient_id: str, latest: Mapping[Metric, Reading],
                   previous_glucose: Reading | None, kinds: Iterable[str],
                   options: HomeAssistantOptions | None = None) -> list[State]:
    """The states of the patient's sensors that have a reading (old ones included)."""
    o = options or HomeAssistantOptions()
    kinds = set(kinds)
    out: list[State] = []
    for spec in sensors_for(kinds):
        if spec.key == "diastolic":
            continue  # one blood-pressure state carries both
        fresh = freshness(spec, kinds)
        topic = state_topic(patient_id, spec.state, o)
        if spec.key == "systolic":
            systolic, diastolic = latest.get(Metric.SYSTOLIC), latest.get(Metric.DIASTOLIC)
            if systolic is None or diastolic is None:
                continue
            newest = max(systolic, diastolic, key=lambda r: r.measured_at)
            out.append(State(topic, {"systolic": round(systolic.value),
                                     "diastolic": round(diastolic.value),
                                     "measured_at": _iso(newest)},
                             newest.measured_at + fresh))
            continue
        readings = [latest[m] for m in spec.metrics if m in latest]
        if not readings:
            continue
        reading = max(readings, key=lambda r: r.measured_at)
        payload: dict[str, Any]
        if spec.key == "glucose":
            trend = "NONE"
            if reading.source == "cgm" and previous_glucose is not None:
                trend = direction((previous_glucose.measured_at, previous_glucose.value),
                                  (reading.measured_at, reading.value), max_gap=MAX_GAP)
            payload = {"value": round(reading.value), "direction": trend,
                       "trend_arrow": ARROWS[trend], "source": reading.source}
        elif spec.key in ("weight", "temperature"):
            payload = {"value": round(reading.value, 1)}
        else:
            payload = {"value": round(reading.value)}
        if spec.key == "heart_rate":
            payload["source"] = reading.source
        payload["measured_at"] = _iso(reading)
        out.append(State(topic, payload, reading.measured_at + fresh))
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
                 directory: DeviceDirectory, options: HomeAssistantOptions | None = None,
                 client_id: str = "hearth-home-assistant", protocol: str = MQTT_V5,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._endpoint, self._store, self._directory = endpoint, store, directory
        self.options = options or HomeAssistantOptions()
        self._client = new_client(client_id, protocol=protocol)
        self._v5 = protocol == MQTT_V5  # message expiry is an MQTT 5 property
        self._now = now
        self._work: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="home-assistant", daemon=True)
        self._ready = threading.Event()
        self._stopped = False
        self.published_states = 0
        self.published_events = 0
        self.withheld_states = 0  # values already past their freshness: never published

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
        client.subscribe([(topics.STORED_ALL, 1), (topics.STORED_BATCH, 1), (topics.DOWN_ALL, 1)])
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
        if topic == topics.STORED_BATCH:  # ingest's batch event (core/stored_events.py)
            shown = {m.value for m in SHOWN}
            for batch_patient, metrics in (read_batch(payload) or {}).items():
                if metrics & shown:
                    stale[batch_patient] = None
        elif (patient_id := topics.last_level(topic, "stored")) is not None:
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
            kinds = self._kinds(patient.id)
            for topic in absent_config_topics(patient.id, kinds, self.options):
                self._client.publish(topic, b"", qos=1, retain=True)  # removes the entity
            for topic, config in discovery_configs(patient, kinds, self.options):
                sent.append(self._publish(topic, config, retain=True))
            self.publish_states(patient.id, kinds)
        # Ready only once the broker holds the configs: a client arriving after start()
        # then finds them retained (and QoS 1 re-sends them if the connection drops).
        for info in sent:
            try:
                info.wait_for_publish(timeout=5)
            except (RuntimeError, ValueError):
                log.warning("home assistant: a discovery config is not confirmed yet")
                break
        log.info("home assistant: discovery published")

    def _kinds(self, patient_id: str) -> set[str]:
        return {d.kind for d in self._directory.devices_of(patient_id) if d.active}

    def publish_states(self, patient_id: str, kinds: set[str] | None = None) -> None:
        """The patient's current states, retained, each with what is left of its freshness."""
        kinds = self._kinds(patient_id) if kinds is None else kinds
        if not sensors_for(kinds):
            return
        latest = self._store.latest(patient_id, SHOWN)
        previous = None
        glucose = latest.get(Metric.GLUCOSE)
        if glucose is not None:
            before = self._store.read(patient_id, Metric.GLUCOSE,
                                      glucose.measured_at - MAX_GAP, glucose.measured_at)
            same_device = [r for r in before if r.device_id == glucose.device_id]
            previous = same_device[-1] if same_device else None
        now = self._now()
        for state in state_payloads(patient_id, latest, previous, kinds, self.options):
            left = (state.fresh_until - now).total_seconds()
            if left < 1:
                self.withheld_states += 1  # an old value must not show as current
                continue
            self._publish(state.topic, state.payload, retain=True, expires_in=int(left))
            self.published_states += 1

    def _publish(self, topic: str, payload: dict[str, Any], *, retain: bool,
                 expires_in: int | None = None) -> mqtt.MQTTMessageInfo:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        properties = None
        if expires_in is not None and self._v5:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.MessageExpiryInterval = expires_in
        return self._client.publish(topic, body, qos=1, retain=retain, properties=properties)


def _metrics(payload: bytes) -> list[str]:
    try:
        metrics = json.loads(payload).get("metrics", [])
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return []
    return [m for m in metrics if isinstance(m, str)] if isinstance(metrics, list) else []
