"""Hearth on a 3-node RabbitMQ cluster (docs/DEPLOY.md, "A clustered broker"): readings
through gateways and devices publishing themselves, while broker nodes are SIGKILLed.

What runs, all real processes on loopback: 3 RabbitMQ 3.10 nodes with the MQTT plugin
and quorum queues (tests/support/rabbitmq_cluster.py), InfluxDB, ``hearth ingest`` and
``hearth coach --no-scheduler`` (MQTT 3.1.1, persistent sessions, each given every
node's address in ``HEARTH_MQTT_URL``), ``hearth gateway`` × G replaying their homes'
records and direct devices (the fault suite's sources, bench/chaos_sources.py), which
fail over to the next node as the services do.

The failover run: the stream starts; node 0 (where ingest, the coach and some sources
are connected) is SIGKILLed and an urgent low (45 mg/dL, docs/CLINICAL.md: below the
54 mg/dL level-2 threshold) is published at once; node 0 is started again and, once it
accepts logins, node 1 (where the services went) is SIGKILLed and a second urgent low
published. When every source has its readings confirmed by ingest, every point in
InfluxDB is compared with what the sources sent (the fault suite's accounting,
bench/chaos_check.py): lost, duplicated, wrong patient. Figures: the urgent lows'
publish → home display latency during each failover, the recovery of the direct
devices' path (fault → first confirmation of a message sent after it), and the time to
confirm everything.

The throughput run (``--throughput N``): N readings in 20-reading messages published
as fast as the broker takes them while ingest drains, through the cluster and through
one Mosquitto (the same protocol and the same InfluxDB), alternating, in the same run.

Usage: python -m bench.cluster [--quick] [--throughput 100000]. Writes
bench/results/cluster.json unless --out says otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.chaos import Event
from bench.chaos_check import PathTally, recovery, tally
from bench.chaos_sources import (
    DirectDevice,
    DirectFleet,
    Key,
    direct_devices,
    key,
    simulated_patients,
)
from bench.chaos_stack import (
    Child,
    GatewayChild,
    build_homes,
    expected_readings,
    hearth_child,
    influx_points,
    stored_count,
)
from core import topics
from core.contract import encode_message
from core.mqtt import MQTT_V311, MqttEndpoint, PacedPublisher, connect, fail_over, new_client
from core.provisioning import Provisioner, hash_password_pbkdf2
from tests.support.factories import app_database, register
from tests.support.influxdb import InfluxServer
from tests.support.rabbitmq_cluster import RabbitCluster

log = logging.getLogger("bench.cluster")
RESULTS = Path(__file__).resolve().parent / "results"
URGENT_MG_DL = 45  # below the 54 mg/dL urgent-low threshold (docs/CLINICAL.md)
SERVICES = ("hearth-ingest", "hearth-coach", "hearth-bench")


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Plan:
    readings: int = 6_000  # through the gateways
    devices: int = 8
    gateways: int = 2
    direct: int = 3  # patients whose CGM, cuff and pedometer publish themselves
    source_hours: float = 8.0
    direct_batch: int = 2
    stream_s: float = 30.0
    first_kill_s: float = 6.0
    resend_after_s: float = 3.0
    drain_timeout_s: float = 240.0
    urgent_wait_s: float = 60.0

    @classmethod
    def quick(cls) -> Plan:
        """The test's size: a minute and a half on a loaded 2-core machine."""
        return cls(readings=1_600, devices=4, gateways=2, direct=2, source_hours=4.0,
                   stream_s=28.0, first_kill_s=3.0, drain_timeout_s=150.0)


@dataclass
class Report:
    plan: dict[str, Any]
    started_at: str
    load_start: list[float]
    load_end: list[float] = field(default_factory=list)
    cluster_start_s: float = 0.0
    events: list[Event] = field(default_factory=list)
    urgent: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, PathTally] = field(default_factory=dict)
    failing_devices: list[str] = field(default_factory=list)
    recovery: list[dict[str, Any]] = field(default_factory=list)
    settled_s: float = 0.0
    timed_out: bool = False
    node_restart_s: float = 0.0
    resends: dict[str, int] = field(default_factory=dict)
    reconnects: dict[str, int] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)  # quorum queue -> replicas


# -- the sources' and observers' MQTT connections, failing over like the services -------


def _device_connect(device: DirectDevice, ports: list[int]) -> None:
    """DirectDevice.connect, given every node: a device with a list of brokers."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device.device_id,
                         protocol=mqtt.MQTTv311, clean_session=False)
    client.username_pw_set(device.device_id, device.secret)
    client.reconnect_delay_set(1, 2)
    client.max_inflight_messages_set(50)
    ack_topic = topics.ack(device.device_id)
    client.on_connect = lambda c, *_a: c.subscribe(ack_topic, qos=1)
    client.on_message = device._on_ack  # noqa: SLF001 - the fault suite's own handler

    def connect_to(host: str, port: int) -> None:
        client.connect_async(host, port, keepalive=30)

    connect_to("127.0.0.1", ports[0])
    fail_over(client, tuple(("127.0.0.1", p) for p in ports), connect_to)
    client.loop_start()
    device.client = client


class ClusterFleet(DirectFleet):
    """The fault suite's direct devices, each connected with every node's address."""

    def __init__(self, devices: list[DirectDevice], *, cluster: RabbitCluster,
                 stream_s: float, resend_after_s: float) -> None:
        super().__init__(devices, port=cluster.nodes[0].mqtt_port, stream_s=stream_s,
                         resend_after_s=resend_after_s)
        self.cluster = cluster

    def start(self) -> None:
        for n, device in enumerate(self.devices):
            _device_connect(device, self.cluster.ports(first=n % len(self.cluster.nodes)))
        self.t0 = time.monotonic()
        self.thread.start()


class Display:
    """Every home display's messages (hearth/v1/down/+): the first per patient, timed."""

    def __init__(self, url: str) -> None:
        self.lock = threading.Lock()
        self.first: dict[str, float] = {}
        self.subscribed = threading.Event()
        client = new_client("hearth-bench-display", protocol=MQTT_V311, clean_session=False)
        client.on_connect = lambda c, *_a: c.subscribe(topics.DOWN_ALL, qos=1)
        client.on_subscribe = lambda *_a: self.subscribed.set()
        client.on_message = self._on_message
        connect(client, MqttEndpoint.parse(url))
        client.loop_start()
        self.client = client

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        at = time.monotonic()
        patient = topics.last_level(msg.topic, "down")
        if patient is not None:
            with self.lock:
                self.first.setdefault(patient, at)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Urgent:
    """Publishes one urgent low for a patient's CGM and remembers what must be stored."""

    def __init__(self, url: str) -> None:
        self.client = new_client("hearth-bench-urgent", protocol=MQTT_V311, clean_session=False)
        self.paced = PacedPublisher(self.client, window=10)
        connect(self.client, MqttEndpoint.parse(url))
        self.client.loop_start()
        self.sent: dict[str, tuple[float, Key]] = {}  # patient -> (monotonic, key)

    def publish(self, patient: str) -> None:
        when = datetime.now(UTC).replace(microsecond=0)
        payload = encode_message(device_id=f"{patient}-cgm", seq=1, readings=[
            {"metric": "glucose", "value": URGENT_MG_DL, "unit": "mg/dL", "source": "cgm",
             "time": when}])
        self.sent[patient] = (time.monotonic(), key("glucose", when, URGENT_MG_DL))
        self.paced.publish(topics.up(f"{patient}-cgm"), payload, timeout=60)

    def close(self) -> None:
        self.paced.wait_idle(10)
        self.client.disconnect()
        self.client.loop_stop()


# -- the failover run -----------------------------------------------------------------------


class Run:
    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan, self.workdir = plan, workdir
        now = datetime.now(UTC)
        self.homes = build_homes(readings=plan.readings, devices=plan.devices,
                                 gateways=plan.gateways, now=now)
        self.direct = direct_devices(simulated_patients(plan.direct), hours=plan.source_hours,
                                     seed=7, end=now, batch_size=plan.direct_batch)
        self.urgent_patients = ["urgent-0", "urgent-1"]
        self.report = Report(plan=asdict(plan), started_at=now.isoformat(),
                             load_start=list(os.getloadavg()))
        users = {name: secrets.token_hex(12) for name in SERVICES}
        users |= {h.gateway_id: secrets.token_hex(12) for h in self.homes}
        users |= {d.device_id: secrets.token_hex(12) for d in self.direct}
        for device in self.direct:
            device.secret = users[device.device_id]
        self.cluster = RabbitCluster(workdir / "rabbitmq", users=users)
        self.influx = InfluxServer(workdir / "influxdb")
        self.children: list[Child] = []
        self.gateways: list[GatewayChild] = []
        self.fleet: ClusterFleet | None = None
        self.display: Display | None = None
        self.urgent: Urgent | None = None
        self.t0 = 0.0
        self.cluster_up = 0.0
        self._failed: list[BaseException] = []

    def setup(self) -> None:
        began = time.monotonic()
        servers = [threading.Thread(target=self._start_influx, daemon=True),
                   threading.Thread(target=self._start_cluster, daemon=True)]
        for thread in servers:
            thread.start()
        self._provision()
        for thread in servers:
            thread.join()
        if self._failed:
            raise self._failed[0]
        self.report.cluster_start_s = round(self.cluster_up - began, 1)
        log.info("3 RabbitMQ nodes and InfluxDB up in %.1fs", self.report.cluster_start_s)
        self._start_services()

    def _start_cluster(self) -> None:
        try:
            self.cluster.start()
            self.cluster_up = time.monotonic()
        except BaseException as exc:  # noqa: BLE001 - raised again by setup()
            self._failed.append(exc)

    def _provision(self) -> None:
        engine = app_database(self.workdir / "hearth.db")
        provisioner = Provisioner(engine, hasher=hash_password_pbkdf2)  # as the fault suite
        for home in self.homes:
            register(engine, home.patient_id, [])
            provisioner.add(device_id=home.gateway_id, patient_id=home.patient_id,
                            kind="gateway", role="gateway")
            for device_id, kind in home.devices:
                provisioner.add(device_id=device_id, patient_id=home.patient_id, kind=kind,
                                via=home.gateway_id)
        for device in self.direct:
            register(engine, device.patient_id, [])
            provisioner.add(device_id=device.device_id, patient_id=device.patient_id,
                            kind=device.kind)
        for patient in self.urgent_patients:
            register(engine, patient, [(f"{patient}-cgm", "cgm")])
        engine.dispose()

    def _start_services(self) -> None:
        env = {"HEARTH_TIMESERIES_URL": self.influx.url("hearth"),
               "HEARTH_DATABASE_URL": f"sqlite:///{self.workdir / 'hearth.db'}",
               "HEARTH_INGEST_PROTOCOL": "3.1.1", "HEARTH_COACH_PROTOCOL": "3.1.1"}
        ingest = hearth_child("hearth-ingest", "ingest", workdir=self.workdir, env={
            **env, "HEARTH_MQTT_URL": self.cluster.url("hearth-ingest", first=0),
            "HEARTH_INGEST_CLIENT_ID": "hearth-ingest-1"})
        coach = hearth_child("hearth-coach", "coach", workdir=self.workdir, env={
            **env, "HEARTH_MQTT_URL": self.cluster.url("hearth-coach", first=0),
            "HEARTH_COACH_REPORT_S": "5"})
        coach.argv.append("--no-scheduler")
        self.children = [ingest, coach]
        for child in self.children:
            child.start()
        self.display = Display(self.cluster.url("hearth-bench", first=2))
        self.urgent = Urgent(self.cluster.url("hearth-bench", first=2))
        per_gateway = len(self.homes[0].lines)
        burst = 10
        pause = self.plan.stream_s / max(1, per_gateway / burst)
        self.gateways = [GatewayChild(home, workdir=self.workdir, env={
            "HEARTH_MQTT_URL": self.cluster.url(home.gateway_id, first=g % 3),
            "HEARTH_GATEWAY_PROTOCOL": "3.1.1",
            "HEARTH_GATEWAY_RESEND_AFTER_S": str(self.plan.resend_after_s),
            "HEARTH_GATEWAY_RESEND_MAX_S": str(4 * self.plan.resend_after_s),
            "HEARTH_GATEWAY_RECONNECT_MAX_S": "2"}, burst=burst, pause_s=round(pause, 4))
            for g, home in enumerate(self.homes)]
        self.fleet = ClusterFleet(self.direct, cluster=self.cluster,
                                  stream_s=self.plan.stream_s,
                                  resend_after_s=self.plan.resend_after_s)
        self._wait("ingest and the coach subscribed", 300, lambda: all(
            "subscribed to" in c.log() for c in self.children))
        self._wait("the display subscribed", 60, self.display.subscribed.is_set)
        # The sessions' queues: quorum queues with a replica on every node.
        self.report.queues = self.cluster.queue_members(via=2)
        log.info("quorum queues (replicas): %s", self.report.queues)

    def _start_influx(self) -> None:
        try:
            self.influx.start(timeout=120)
            self.influx.create_database("hearth")
        except BaseException as exc:  # noqa: BLE001 - raised again by setup()
            self._failed.append(exc)

    def _wait(self, what: str, timeout: float, condition: Any) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not after {timeout:.0f}s ({self.workdir})")
            time.sleep(0.1)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def note(self, kind: str, target: str = "", detail: str = "") -> None:
        event = Event(round(self.now(), 1), kind, target, detail)
        self.report.events.append(event)
        log.info("t=%6.1fs %-14s %s %s", event.at_s, kind, target, detail)

    def kill_and_alert(self, node: int, patient: str) -> None:
        assert self.urgent is not None
        self.cluster.kill(node)
        self.note("broker_kill", f"node-{node}", "SIGKILL")
        self.urgent.publish(patient)
        self.note("urgent_low", patient, f"{URGENT_MG_DL} mg/dL published")

    def run(self) -> None:
        assert self.fleet is not None and self.display is not None
        for gateway in self.gateways:
            gateway.start()
        self._wait("the gateways read", 300, lambda: all(g.state()[0] > 0
                                                          for g in self.gateways))
        self.t0 = time.monotonic()
        self.fleet.start()
        self.note("stream_start", detail=f"{len(self.gateways)} gateways, "
                  f"{len(self.direct)} direct devices")
        self._wait("the first kill's moment", self.plan.first_kill_s + 5,
                   lambda: self.now() >= self.plan.first_kill_s)
        self.kill_and_alert(0, self.urgent_patients[0])
        self._wait("the first urgent low on the display", self.plan.urgent_wait_s,
                   lambda: self.urgent_patients[0] in self.display.first)
        began = time.monotonic()
        self.cluster.restart(0)
        self.report.node_restart_s = round(time.monotonic() - began, 1)
        self.note("node_back", "node-0", f"accepts logins after {self.report.node_restart_s}s")
        self.kill_and_alert(1, self.urgent_patients[1])
        self._wait("the second urgent low on the display", self.plan.urgent_wait_s,
                   lambda: self.urgent_patients[1] in self.display.first)
        deadline = self.plan.stream_s + self.plan.drain_timeout_s
        while not self.settled():
            if self.now() > deadline:
                self.report.timed_out = True
                self.note("timeout", detail="not every reading confirmed")
                return
            time.sleep(0.2)
        self.report.settled_s = round(self.now(), 1)
        self.note("settled", detail="every source's readings confirmed by ingest")

    def settled(self) -> bool:
        assert self.fleet is not None
        return (all(g.finished() for g in self.gateways) and self.fleet.taken()
                and self.fleet.finished())

    def verify(self) -> None:
        assert self.fleet is not None and self.display is not None and self.urgent is not None
        for patient, (sent_at, _key) in self.urgent.sent.items():
            shown = self.display.first.get(patient)
            self.report.urgent.append({
                "patient": patient,
                "latency_ms": None if shown is None else round(1000 * (shown - sent_at)),
            })
        expected = {
            "gateway": {d: (h.patient_id, keys) for h in self.homes
                        for d, keys in expected_readings([h]).items()},
            "direct": {d.device_id: (d.patient_id, d.expected) for d in self.direct},
            "urgent": {f"{p}-cgm": (p, [k]) for p, (_at, k) in self.urgent.sent.items()},
        }
        # Wait for the store to hold what the sources were confirmed (the last acks may
        # race the count by a moment), then read every point back.
        want = sum(len(keys) for devices in expected.values() for _p, keys in devices.values())
        deadline = time.monotonic() + 60
        while (stored_count(self.influx.base_url, "hearth") or 0) < want:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        points = influx_points(self.influx.base_url, "hearth")
        paths, failing, _ = tally(expected, points, hostile=("nobody", "nobody", []))
        paths.pop("hostile (its own readings)", None)
        self.report.paths, self.report.failing_devices = paths, failing
        self.report.recovery = recovery(self.report.events,
                                        {"direct": self.fleet.confirmations()}, self.t0)
        self.report.resends = {
            "gateway messages": sum(g.log().count("re-sent unconfirmed message")
                                    for g in self.gateways),
            "direct messages": sum(d.resends for d in self.direct)}
        self.report.reconnects = {c.name: c.log().count("subscribed to") - 1
                                  for c in self.children}

    def close(self) -> None:
        for closer in (self.fleet, self.display, self.urgent):
            if closer is not None:
                try:
                    closer.close()
                except Exception:  # noqa: BLE001 - closing what is left, keep going
                    log.exception("closing %s", type(closer).__name__)
        for child in [*self.gateways, *self.children]:
            if child.alive and child.process is not None:
                child.process.terminate()
        for child in [*self.gateways, *self.children]:
            child.stop()
        self.cluster.close()
        self.influx.kill()
        self.report.load_end = list(os.getloadavg())


def run_failover(plan: Plan, workdir: Path | None = None) -> Report:
    with tempfile.TemporaryDirectory(prefix="hearth-cluster-") as tmp:
        run = Run(plan, workdir or Path(tmp))
        began = time.monotonic()
        try:
            run.setup()
            log.info("set up in %.1fs", time.monotonic() - began)
            run.run()
            log.info("ran in %.1fs", time.monotonic() - began)
            run.verify()
            log.info("verified in %.1fs", time.monotonic() - began)
        finally:
            run.close()
            log.info("closed in %.1fs", time.monotonic() - began)
        return run.report


# -- throughput: the cluster against one Mosquitto --------------------------------------------


def _drain(url: str, influx: InfluxServer, database: str, workdir: Path, name: str,
           readings: int, per_message: int = 20) -> dict[str, Any]:
    """Ingest running; ``readings`` in ``per_message``-reading messages published as fast
    as the broker acknowledges them; readings/s from the first publish to the last stored."""
    influx.create_database(database)
    engine = app_database(workdir / f"{name}.db")
    devices = [f"{name}-cgm-{i}" for i in range(50)]
    for i, device in enumerate(devices):
        register(engine, f"{name}-p{i}", [(device, "cgm")])
    engine.dispose()
    ingest = hearth_child(f"ingest-{name}", "ingest", workdir=workdir, env={
        "HEARTH_MQTT_URL": url, "HEARTH_TIMESERIES_URL": influx.url(database),
        "HEARTH_DATABASE_URL": f"sqlite:///{workdir / f'{name}.db'}",
        "HEARTH_INGEST_PROTOCOL": "3.1.1", "HEARTH_INGEST_CLIENT_ID": "hearth-ingest"})
    ingest.start()
    try:
        deadline = time.monotonic() + 300  # a Python process starting on a loaded machine
        while "subscribed to" not in ingest.log():
            if time.monotonic() > deadline:
                raise TimeoutError(f"ingest did not subscribe to {name}")
            time.sleep(0.1)
        client = new_client(f"hearth-bench-load-{name}", protocol=MQTT_V311)
        paced = PacedPublisher(client, window=500)
        connect(client, MqttEndpoint.parse(url))
        client.loop_start()
        messages = readings // per_message
        # One reading a minute per device, ending now: past, and within every backfill limit.
        per_device = -(-messages // len(devices)) * per_message
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(
            minutes=per_device + 1)
        cpu0 = os.times()
        began = time.monotonic()
        for m in range(messages):
            device = devices[m % len(devices)]
            base = start + timedelta(minutes=per_message * (m // len(devices)))
            payload = encode_message(device_id=device, seq=m // len(devices) + 1, readings=[
                {"metric": "glucose", "value": 100 + (m + r) % 80, "unit": "mg/dL",
                 "source": "cgm", "time": base + timedelta(minutes=r)}
                for r in range(per_message)])
            paced.publish(topics.up(device), payload, timeout=120)
        published_s = time.monotonic() - began
        deadline = time.monotonic() + 600
        while (stored_count(influx.base_url, database) or 0) < messages * per_message:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        wall = time.monotonic() - began
        stored = stored_count(influx.base_url, database) or 0
        client.disconnect()
        client.loop_stop()
        cpu1 = os.times()
        return {"broker": name, "readings": messages * per_message, "stored": stored,
                "published_s": round(published_s, 2), "wall_s": round(wall, 2),
                "readings_per_s": round(stored / wall),
                "bench_cpu_s": round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 2),
                "load": [round(x, 2) for x in os.getloadavg()]}
    finally:
        ingest.stop()


def run_throughput(readings: int, rounds: int = 2) -> list[dict[str, Any]]:
    from tests.support.mosquitto import MosquittoServer

    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hearth-cluster-tp-") as tmp:
        workdir = Path(tmp)
        influx = InfluxServer(workdir / "influxdb")
        influx.start(timeout=120)
        cluster = RabbitCluster(workdir / "rabbitmq", users={
            "hearth-ingest": "ingest-pw", "hearth-bench-load": "load-pw"})
        mosquitto = MosquittoServer(workdir / "mosquitto")
        try:
            cluster.start()
            mosquitto.start()
            for r in range(rounds):
                for name, url in (("mosquitto", mosquitto.url),
                                  ("cluster", cluster.url("hearth-ingest"))):
                    figure = _drain(url, influx, f"{name}{r}", workdir, f"{name}{r}", readings)
                    figure["round"] = r
                    out.append(figure)
                    log.info("%s round %d: %s readings/s", name, r, figure["readings_per_s"])
        finally:
            cluster.close()
            mosquitto.kill()
            influx.kill()
    return out


# -- the report -------------------------------------------------------------------------------


def markdown(report: Report, throughput: list[dict[str, Any]]) -> str:
    lines = [f"Failover run at {report.started_at[:19]}Z (load average "
             f"{report.load_start[0]:.1f} at the start, {report.load_end[0]:.1f} at the end "
             f"if measured): 3 RabbitMQ 3.10.8 nodes up in {report.cluster_start_s:g} s; "
             f"every reading confirmed at {report.settled_s:g} s"
             + (" (TIMED OUT)" if report.timed_out else "") + ".", "",
             "| t (s) | event | target | detail |", "|---:|---|---|---|",
             *[f"| {e.at_s:.1f} | {e.kind} | {e.target} | {e.detail} |" for e in report.events],
             "", "| entry path | devices | readings sent | rows stored | lost | duplicated | "
             "wrong patient |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, t in report.paths.items():
        lines.append(f"| {name} | {t.devices} | {t.sent:,} | {t.stored_rows:,} | {t.lost} | "
                     f"{t.duplicated} | {t.wrong_patient} |")
    lines += ["", "Urgent low → home display during the failover: " + "; ".join(
        f"{u['patient']} {u['latency_ms']} ms" for u in report.urgent) + ".",
        "Direct devices' path back after each kill (first confirmation of a message sent "
        "after it) and the worst wait of a message sent in the 10 s after it: " + "; ".join(
            f"{r['fault']} {r.get('target', '')} back {r.get('direct_back_s')} s, worst "
            f"{r.get('direct_worst_s')} s" for r in report.recovery[1:]) + ".",
        f"Sent again for want of ingest's confirmation: {report.resends}. "
        f"Reconnections: {report.reconnects}. Quorum queues (replicas) before the "
        f"first kill: {report.queues}.", ""]
    if throughput:
        lines += ["| broker | round | readings | readings/s | wall (s) | load |",
                  "|---|---:|---:|---:|---:|---|"]
        for f in throughput:
            lines.append(f"| {f['broker']} | {f['round']} | {f['stored']:,} | "
                         f"{f['readings_per_s']:,} | {f['wall_s']} | "
                         f"{', '.join(str(x) for x in f['load'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the test's size")
    parser.add_argument("--throughput", type=int, default=0,
                        help="readings for the cluster-vs-Mosquitto drain (0: skip)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-failover", action="store_true",
                        help="the throughput comparison only")
    parser.add_argument("--out", type=Path, default=RESULTS / "cluster.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    plan = Plan.quick() if args.quick else Plan()
    report = run_failover(plan) if not args.no_failover else Report(
        plan=asdict(plan), started_at=datetime.now(UTC).isoformat(),
        load_start=list(os.getloadavg()))
    throughput = run_throughput(args.throughput, args.rounds) if args.throughput else []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"failover": asdict(report), "throughput": throughput},
                                   indent=1) + "\n")
    _say(markdown(report, throughput))
    bad = report.failing_devices or report.timed_out or any(
        u["latency_ms"] is None for u in report.urgent) or any(
        f["stored"] < f["readings"] for f in throughput)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
