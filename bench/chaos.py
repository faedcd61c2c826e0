"""The fault suite (`make chaos`): readings through every entry path of real processes
while things break and a hostile device attacks, then a count and a checksum per device.

Entry paths, all on the shipped broker (deploy/mosquitto: its entrypoint, ACL, two
listeners, limits, autosave every 30 s), logged in with provisioned credentials:

- home gateways (`hearth gateway` × G, each replaying its home's device records);
- devices publishing MQTT themselves (copies of the simulator's "ann": CGM, cuff,
  pedometer; bench/chaos_sources.py), each keeping a message until ingest's ack;
- Nightscout uploaders posting the simulator's CGM readings to the dashboard's API
  (the dashboard process of bench/chaos_dashboard.py, with its on-disk upload outbox);

→ `hearth ingest` × 2 (shared subscription, a supervisor restarts a dead one) →
InfluxDB; `hearth dead-letters keep` keeps what ingest refuses.

At seeded moments while the stream runs: SIGKILL of an ingest replica (a hostile
device tries to take over the client ids of the services and of honest sources while
the first one is down), a clean Mosquitto restart and a Mosquitto SIGKILL, InfluxDB
stopped (SIGTERM) for a while and SIGKILLed, a gateway SIGKILLed, the dashboard
SIGKILLed, and the hostile device's oversized messages (memory of ingest and the broker
sampled meanwhile), flood, malformed payloads and spoofing (bench/chaos_hostile.py).

Afterwards every point in InfluxDB is read back and compared, per device, with what
each honest source sent, taken from the source's own values (never Hearth's decoder):
lost, stored but never sent, duplicated, stored under the wrong patient, and a checksum
of (metric, time, value). The exit status is the number of devices whose count or
checksum is wrong (honest devices; the hostile device if anything of it is stored that
it did not send; any other device with points), at most 100; 101 if that is 0 but the
run timed out; 0 only when every honest reading is stored exactly once.

Usage (repository root): python -m bench.chaos [--quick] [--readings 100000 --devices
200 --gateways 10 --direct 20 --uploaders 10 --seed 7]. Writes bench/results/chaos.json
and chaos.md unless --out says otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.chaos_check import PathTally, markdown, recovery, tally
from bench.chaos_hostile import DEVICE_ID, PATIENT_ID, HostileDevice
from bench.chaos_sources import (
    DirectFleet,
    UploaderFleet,
    direct_devices,
    simulated_patients,
    uploaders,
)
from bench.chaos_stack import (
    Child,
    GatewayChild,
    build_homes,
    expected_readings,
    hearth_child,
    influx_points,
    rss_mb,
    stored_count,
)
from core.provisioning import Provisioner, hash_password_pbkdf2
from tests.deploy.shipped_broker import SERVICE_PASSWORDS, ShippedBroker
from tests.support.factories import app_database, register
from tests.support.influxdb import InfluxServer
from tests.support.ports import free_port, wait_for_port

log = logging.getLogger("bench.chaos")
RESULTS = Path(__file__).resolve().parent / "results"
HOSTILE = ("hostile_oversized", "hostile_flood", "hostile_malformed", "hostile_spoof")


def _say(text: str) -> None:
    """One line of the benchmark's output (sys.stdout is looked up now: the runner may tee it)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Plan:
    readings: int = 100_000  # through the gateways
    devices: int = 200
    gateways: int = 10
    direct: int = 20  # patients whose devices publish themselves (3 devices each)
    uploaders: int = 10  # Nightscout uploaders, one patient each
    source_hours: float = 48.0  # simulated history each direct device and uploader sends
    direct_batch: int = 12  # readings a direct device's message (an hour of CGM)
    per_upload: int = 24  # entries a Nightscout upload (two hours of CGM)
    ingest_replicas: int = 2
    stream_s: float = 180.0  # how long the sources take to hand over their readings
    ingest_kills: int = 5
    gateway_kills: int = 2
    dashboard_kills: int = 2
    broker_restarts: int = 1  # clean (SIGTERM, the broker saves its state)
    broker_kills: int = 1  # SIGKILL: whatever the broker had not saved is gone
    influx_outage_s: float = 30.0  # SIGTERM, down this long
    influx_kill_down_s: float = 10.0  # SIGKILL, down this long (0: no SIGKILL)
    hostile: bool = True
    oversized_mb: float = 50.0
    oversized_count: int = 10
    flood_s: float = 10.0
    seed: int = 7
    drain_timeout_s: float = 600.0
    resend_after_s: float = 5.0  # gateways, direct devices and the upload outbox

    @classmethod
    def quick(cls) -> Plan:
        """The CI size: under a minute on an idle machine."""
        return cls(readings=2_000, devices=8, gateways=2, direct=3, uploaders=2,
                   source_hours=4.0, direct_batch=2, per_upload=4, stream_s=20.0,
                   ingest_kills=1, gateway_kills=1, dashboard_kills=1, influx_outage_s=3.0,
                   influx_kill_down_s=2.0, oversized_mb=4.0, oversized_count=3, flood_s=2.0,
                   drain_timeout_s=150.0, resend_after_s=2.0)


@dataclass
class Event:
    at_s: float
    kind: str
    target: str = ""
    detail: str = ""


@dataclass
class Report:
    plan: dict[str, Any]
    started_at: str
    events: list[Event] = field(default_factory=list)
    paths: dict[str, PathTally] = field(default_factory=dict)
    hostile: dict[str, Any] = field(default_factory=dict)
    recovery: list[dict[str, Any]] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    stream_s: float = 0.0
    settled_s: float = 0.0
    timed_out: bool = False
    samples: list[dict[str, Any]] = field(default_factory=list)
    restarts: dict[str, int] = field(default_factory=dict)
    resends: dict[str, int] = field(default_factory=dict)
    failing_devices: list[str] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        if self.failing_devices:
            return min(100, len(self.failing_devices))
        return 101 if self.timed_out else 0


def schedule(plan: Plan) -> list[tuple[float, str]]:
    """Seeded fault times: the run's window cut into one slot per fault, the faults
    shuffled over the slots, each at a random point of the first 80% of its slot."""
    rng = random.Random(plan.seed)
    kinds = (["ingest_kill"] * plan.ingest_kills + ["gateway_kill"] * plan.gateway_kills
             + ["dashboard_kill"] * plan.dashboard_kills
             + ["broker_restart"] * plan.broker_restarts + ["broker_kill"] * plan.broker_kills
             + (["influx_stop"] if plan.influx_outage_s > 0 else [])
             + (["influx_kill"] if plan.influx_kill_down_s > 0 else [])
             + (list(HOSTILE) if plan.hostile else []))
    rng.shuffle(kinds)
    begin, end = 0.05 * plan.stream_s, 0.9 * plan.stream_s
    slot = (end - begin) / max(1, len(kinds))
    return [(round(begin + i * slot + rng.uniform(0, 0.8 * slot), 1), kind)
            for i, kind in enumerate(kinds)]


class Run:
    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan, self.workdir = plan, workdir
        self.rng = random.Random(plan.seed + 1)
        self.broker = ShippedBroker(workdir / "mosquitto")
        self.influx = InfluxServer(workdir / "influxdb")
        now = datetime.now(UTC)
        self.homes = build_homes(readings=plan.readings, devices=plan.devices,
                                 gateways=plan.gateways, now=now)
        profiles = simulated_patients(plan.direct + plan.uploaders)
        self.direct = direct_devices(profiles[:plan.direct], hours=plan.source_hours,
                                     seed=plan.seed, end=now,
                                     batch_size=plan.direct_batch)
        self.uploaders = uploaders(profiles[plan.direct:], hours=plan.source_hours,
                                   seed=plan.seed, end=now,
                                   per_upload=plan.per_upload)
        self.report = Report(plan=asdict(plan), started_at=now.isoformat())
        self.t0 = 0.0
        self.restarts: list[tuple[float, Any]] = []  # (when, what) for the supervisor
        self.influx_back_at: float | None = None
        self.ingest: list[Child] = []
        self.gateways: list[GatewayChild] = []
        self.keeper: Child | None = None
        self.dashboard: Child | None = None
        self.dashboard_port = free_port()
        self.dashboard_data = workdir / "dashboard-data"
        self.direct_fleet: DirectFleet | None = None
        self.upload_fleet: UploaderFleet | None = None
        self.hostile: HostileDevice | None = None
        self.attacks: list[threading.Thread] = []
        self.took_over = False

    # -- set-up ------------------------------------------------------------------------

    def provision(self) -> dict[str, str]:
        """Patients, devices and logins in the application database; the broker's files."""
        engine = app_database(self.workdir / "hearth.db")
        provisioner = Provisioner(engine, hasher=hash_password_pbkdf2)
        secrets: dict[str, str] = {}
        for home in self.homes:
            register(engine, home.patient_id, [])
            secrets[home.gateway_id] = provisioner.add(
                device_id=home.gateway_id, patient_id=home.patient_id, kind="gateway",
                role="gateway").secret or ""
            for device_id, kind in home.devices:
                provisioner.add(device_id=device_id, patient_id=home.patient_id, kind=kind,
                                via=home.gateway_id)
        for device in self.direct:
            register(engine, device.patient_id, [])
            device.secret = provisioner.add(device_id=device.device_id,
                                            patient_id=device.patient_id,
                                            kind=device.kind).secret or ""
        for up in self.uploaders:
            register(engine, up.patient_id, [])
            up.secret = provisioner.add(device_id=up.device_id, patient_id=up.patient_id,
                                        kind="cgm", role="nightscout").secret or ""
        register(engine, PATIENT_ID, [])
        secrets[DEVICE_ID] = provisioner.add(device_id=DEVICE_ID, patient_id=PATIENT_ID,
                                             kind="cgm").secret or ""
        self.broker.render_devices(engine)
        engine.dispose()
        return secrets

    def setup(self) -> None:
        began = time.monotonic()
        secrets = self.provision()
        log.info("provisioned in %.1fs", time.monotonic() - began)
        self.broker.start()
        self.influx.start()
        self.influx.create_database("hearth")
        ingest_url = self.broker.url("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"])
        env = {"HEARTH_MQTT_URL": ingest_url,
               "HEARTH_TIMESERIES_URL": self.influx.url("hearth"),
               "HEARTH_DATABASE_URL": f"sqlite:///{self.workdir / 'hearth.db'}",
               "HEARTH_INGEST_SHARED_GROUP": "hearth"}
        for n in range(1, self.plan.ingest_replicas + 1):
            child = hearth_child(f"hearth-ingest-{n}", "ingest", workdir=self.workdir,
                                 env={**env, "HEARTH_INGEST_CLIENT_ID": f"hearth-ingest-{n}"})
            child.start()
            self.ingest.append(child)
        self.keeper = hearth_child("hearth-dead-letters", "dead-letters", workdir=self.workdir,
                                   env=env)
        self.keeper.argv.append("keep")
        self.keeper.start()
        self.dashboard = hearth_child("dashboard", "dashboard", workdir=self.workdir, env={
            **env, "HEARTH_DATA_DIR": str(self.dashboard_data),
            "CHAOS_RESEND_AFTER_S": str(self.plan.resend_after_s),
            "HEARTH_MQTT_URL": self.broker.url("hearth-dashboard",
                                               SERVICE_PASSWORDS["hearth-dashboard"])})
        self.dashboard.argv[1:] = ["-m", "bench.chaos_dashboard", str(self.dashboard_port)]
        self.dashboard.start()
        per_gateway = len(self.homes[0].lines)
        burst = 10
        pause = self.plan.stream_s / max(1, per_gateway / burst)
        self.gateways = [GatewayChild(home, workdir=self.workdir, env={
            "HEARTH_MQTT_URL": self.broker.url(home.gateway_id, secrets[home.gateway_id],
                                               service=False),
            "HEARTH_GATEWAY_RESEND_AFTER_S": str(self.plan.resend_after_s),
            "HEARTH_GATEWAY_RESEND_MAX_S": str(4 * self.plan.resend_after_s),
            "HEARTH_GATEWAY_RECONNECT_MAX_S": "2"}, burst=burst, pause_s=round(pause, 4))
            for home in self.homes]
        deadline = time.monotonic() + 120
        while not all("subscribed to" in c.log() for c in self.ingest):
            if time.monotonic() > deadline:
                raise RuntimeError("ingest did not subscribe")
            time.sleep(0.2)
        log.info("ingest subscribed at %.1fs", time.monotonic() - began)
        wait_for_port(self.dashboard_port, timeout=120)
        log.info("dashboard serving at %.1fs", time.monotonic() - began)
        self.direct_fleet = DirectFleet(self.direct, port=self.broker.device_port,
                                        stream_s=self.plan.stream_s,
                                        resend_after_s=self.plan.resend_after_s)
        self.upload_fleet = UploaderFleet(self.uploaders,
                                          base_url=f"http://127.0.0.1:{self.dashboard_port}",
                                          stream_s=self.plan.stream_s)
        victims = {d.device_id: d.expected for d in self.direct[:3]}
        self.hostile = HostileDevice(
            device_port=self.broker.device_port, service_port=self.broker.service_port,
            password=secrets[DEVICE_ID], victims=victims,
            gateway_victim=self.homes[0].gateway_id, base_time=datetime.now(UTC),
            oversized_bytes=int(self.plan.oversized_mb * 1024 * 1024),
            oversized_count=self.plan.oversized_count, flood_s=self.plan.flood_s)

    # -- the run -----------------------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self.t0

    def note(self, kind: str, target: str = "", detail: str = "") -> None:
        event = Event(round(self.now(), 1), kind, target, detail)
        self.report.events.append(event)
        log.info("t=%6.1fs %-17s %s %s", event.at_s, kind, target, detail)

    def run(self) -> None:
        assert self.direct_fleet and self.upload_fleet
        for gateway in self.gateways:
            gateway.start()
        deadline = time.monotonic() + 120
        while not all(g.state()[0] > 0 for g in self.gateways):  # the processes are up
            if time.monotonic() > deadline:
                raise RuntimeError("the gateways did not start reading")
            time.sleep(0.2)
        self.t0 = time.monotonic()  # fault times count from here
        self.direct_fleet.start()
        self.upload_fleet.start()
        self.note("stream_start", detail=f"{len(self.gateways)} gateways reading, "
                  f"{len(self.direct)} direct devices and {len(self.uploaders)} uploaders "
                  "sending")
        faults = schedule(self.plan)
        next_sample = 0.0
        while True:
            while faults and faults[0][0] <= self.now():
                self.inject(faults.pop(0)[1])
            self.supervise()
            if self.now() >= next_sample:
                self.sample()
                next_sample = self.now() + 5
            quiet = (not faults and not self.restarts and self.influx_back_at is None
                     and not any(a.is_alive() for a in self.attacks))
            if quiet and not self.report.stream_s and self.taken():
                self.report.stream_s = round(self.now(), 1)
                self.note("stream_taken", detail="every reading handed over")
            if quiet and self.report.stream_s and self.settled():
                self.report.settled_s = round(self.now(), 1)
                self.note("settled", detail="every source's readings confirmed by ingest")
                break
            if self.now() > self.plan.stream_s + self.plan.drain_timeout_s:
                self.report.timed_out = True
                self.note("timeout", detail="not every reading confirmed")
                break
            time.sleep(0.2)

    def taken(self) -> bool:
        assert self.direct_fleet and self.upload_fleet
        return (all(g.state()[0] >= len(g.home.lines) for g in self.gateways)
                and self.direct_fleet.taken() and self.upload_fleet.taken())

    def settled(self) -> bool:
        assert self.direct_fleet
        return (all(g.finished() for g in self.gateways) and self.direct_fleet.finished()
                and self.upload_outbox() == 0)

    def upload_outbox(self) -> int:
        """Readings the dashboard's upload outboxes still hold (not confirmed by ingest)."""
        import sqlite3

        held = 0
        for path in self.dashboard_data.glob("nightscout-outbox-*.db"):
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                held += int(db.execute("SELECT count(*) FROM readings").fetchone()[0])
            except sqlite3.DatabaseError:
                return -1
            finally:
                db.close()
        return held

    def inject(self, kind: str) -> None:
        if kind == "ingest_kill":
            victim = self.rng.choice(self.ingest)
            victim.kill()
            delay = round(self.rng.uniform(1, 4), 1)
            self.note(kind, victim.name, f"SIGKILL; restarted after {delay}s")
            self.restarts.append((self.now() + delay, victim))
            if self.hostile and not self.took_over:  # the takeover, while it is down
                self.took_over = True
                self.attack("hostile_takeover", lambda: self.hostile.takeover(
                    [c.name for c in self.ingest] + ["hearth-dead-letters",
                                                     "hearth-dashboard-nightscout-0",
                                                     "hearth-coach"]))
        elif kind == "gateway_kill":
            victim = self.rng.choice(self.gateways)
            taken, held = victim.state()
            victim.kill()
            self.note(kind, victim.name, f"SIGKILL with {held} readings in its outbox, "
                      f"{taken}/{len(victim.home.lines)} taken; restarted after 2s")
            self.restarts.append((self.now() + 2, victim))
        elif kind == "dashboard_kill":
            assert self.dashboard is not None
            self.dashboard.kill()
            self.note(kind, "dashboard", f"SIGKILL with {self.upload_outbox()} readings in "
                      "its upload outbox; restarted after 2s")
            self.restarts.append((self.now() + 2, self.dashboard))
        elif kind == "broker_restart":
            self.broker.stop()
            self.broker.start()
            self.note(kind, "mosquitto", "SIGTERM (state saved), started again")
        elif kind == "broker_kill":
            self.broker.kill()
            time.sleep(2)
            self.broker.start()
            self.note(kind, "mosquitto", "SIGKILL (unsaved state lost), started after 2s")
        elif kind == "influx_stop":
            self.influx.stop()
            self.influx_back_at = self.now() + self.plan.influx_outage_s
            self.note(kind, "influxd", f"SIGTERM, down for {self.plan.influx_outage_s:.0f}s")
        elif kind == "influx_kill":
            self.influx.kill()
            self.influx_back_at = self.now() + self.plan.influx_kill_down_s
            self.note(kind, "influxd", f"SIGKILL, down for {self.plan.influx_kill_down_s:.0f}s")
        elif kind == "hostile_oversized":
            self.attack(kind, self.oversized_with_memory)
        else:
            assert self.hostile is not None
            self.attack(kind, getattr(self.hostile, kind.removeprefix("hostile_")))

    def attack(self, kind: str, action: Any) -> None:
        def run() -> None:
            started = self.now()
            try:
                answers = action()
                self.note(kind + "_done", DEVICE_ID,
                          f"{answers.attempts} tried, {answers.accepted} accepted, "
                          f"{answers.refused} refused, {answers.disconnected} disconnected "
                          f"in {self.now() - started:.1f}s")
            except Exception as exc:  # noqa: BLE001 - an attack that fails is a finding
                self.note(kind + "_failed", DEVICE_ID, f"{type(exc).__name__}: {exc}")
        self.note(kind, DEVICE_ID)
        thread = threading.Thread(target=run, name=kind, daemon=True)
        thread.start()
        self.attacks.append(thread)

    def oversized_with_memory(self) -> Any:
        """The attack, with ingest's and the broker's memory sampled every 0.2 s."""
        assert self.hostile is not None
        names = {c.name: c for c in self.ingest}
        pid_file = self.broker.workdir / "mosquitto.pid"

        def pids() -> dict[str, int | None]:
            broker = int(pid_file.read_text().strip()) if pid_file.exists() else None
            return {**{n: c.pid for n, c in names.items()}, "mosquitto": broker}

        before = {n: rss_mb(p) for n, p in pids().items()}
        peak: dict[str, float] = {}
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                for name, pid in pids().items():
                    mb = rss_mb(pid)
                    if mb is not None:
                        peak[name] = max(peak.get(name, 0.0), mb)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            answers = self.hostile.oversized()
            time.sleep(3)  # anything it set off shows in the next samples
        finally:
            done.set()
            sampler.join()
        self.report.memory = {"rss_mb_before": before, "rss_mb_peak": peak,
                              "rss_mb_after": {n: rss_mb(p) for n, p in pids().items()},
                              "message_mb": self.plan.oversized_mb,
                              "messages": self.plan.oversized_count}
        return answers

    def supervise(self) -> None:
        if self.influx_back_at is not None and self.now() >= self.influx_back_at:
            self.influx.start(timeout=120)
            self.influx_back_at = None
            self.note("influx_start", "influxd")
        due = [(at, c) for at, c in self.restarts if at <= self.now()]
        for item in due:
            self.restarts.remove(item)
            item[1].start()
            self.note("restart", item[1].name)

    def sample(self) -> None:
        states = [g.state() for g in self.gateways]
        sample = {"t_s": round(self.now(), 1),
                  "taken": sum(s[0] for s in states),
                  "outbox": sum(max(0, s[1]) for s in states),
                  "upload_outbox": self.upload_outbox(),
                  "stored": None if self.influx_back_at else stored_count(self.influx.base_url,
                                                                          "hearth")}
        self.report.samples.append(sample)
        log.info("t=%6.1fs gateway readings taken %d, in outboxes %d, upload outbox %d, "
                 "stored %s", sample["t_s"], sample["taken"], sample["outbox"],
                 sample["upload_outbox"], sample["stored"])

    # -- verification ------------------------------------------------------------------

    def verify(self) -> None:
        assert self.direct_fleet and self.upload_fleet and self.hostile
        for thread in self.attacks:
            thread.join(timeout=60)
        expected = {
            "gateway": {d: (h.patient_id, keys) for h in self.homes
                        for d, keys in expected_readings([h]).items()},
            "direct": {d.device_id: (d.patient_id, d.expected) for d in self.direct},
            "nightscout": {u.device_id: (u.patient_id, u.expected) for u in self.uploaders},
        }
        points = influx_points(self.influx.base_url, "hearth")
        self.report.paths, self.report.failing_devices, hostile_stored = tally(
            expected, points, hostile=(DEVICE_ID, PATIENT_ID, self.hostile.sent))
        self.report.hostile = {
            "attacks": {k: asdict(v) for k, v in self.hostile.answers.items()},
            "flood_readings_accepted_by_broker": len(self.hostile.sent),
            "stored_under_mallory": hostile_stored,
            "dead_letters_kept": self.dead_letters(),
        }
        confirmations = {"direct": self.direct_fleet.confirmations(),
                         "nightscout": self.upload_fleet.confirmations()}
        self.report.recovery = recovery(self.report.events, confirmations, self.t0)
        self.report.restarts = {c.name: c.starts for c in [*self.ingest, *self.gateways,
                                                          *([self.dashboard] if self.dashboard
                                                            else [])]}
        self.report.resends = {
            "gateway messages": sum(g.log().count("re-sent unconfirmed message")
                                    for g in self.gateways),
            "direct messages": sum(d.resends for d in self.direct),
            "upload outbox messages": self.dashboard.log().count("re-sent unconfirmed")
            if self.dashboard else 0,
            "uploads refused 503": sum(u.refused_503 for u in self.uploaders),
            "upload attempts failed (connection, timeout, other)":
                sum(u.failed_attempts for u in self.uploaders)}

    def dead_letters(self) -> dict[str, int]:
        """Kept letters per device and code, as `hearth dead-letters list` shows them."""
        from core.appdb.deadletters import DeadLetterStore
        from core.appdb.engine import make_engine

        engine = make_engine(f"sqlite:///{self.workdir / 'hearth.db'}")
        try:
            counts: dict[str, int] = {}
            for letter in DeadLetterStore(engine).list(limit=10_000):
                name = f"{letter.device_id}: {','.join(letter.codes)}"
                counts[name] = counts.get(name, 0) + letter.times
            return counts
        finally:
            engine.dispose()

    def close(self) -> None:
        for fleet in (self.direct_fleet, self.upload_fleet):
            if fleet is not None:
                fleet.close()
        children = [c for c in [*self.gateways, *self.ingest, self.keeper, self.dashboard]
                    if c is not None]
        for child in children:  # all at once: each may take seconds to flush
            if child.alive and child.process is not None:
                child.process.terminate()
        for child in children:
            child.stop()
        self.broker.kill()
        self.influx.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the CI size")
    for name in ("readings", "devices", "gateways", "direct", "uploaders", "seed"):
        parser.add_argument(f"--{name}", type=int)
    for name in ("stream-s", "influx-outage-s", "source-hours"):
        parser.add_argument(f"--{name}", type=float)
    parser.add_argument("--no-hostile", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "chaos",
                        help="writes OUT.json and OUT.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    plan = Plan.quick() if args.quick else Plan()
    for name in ("readings", "devices", "gateways", "direct", "uploaders", "seed", "stream_s",
                 "influx_outage_s", "source_hours"):
        if getattr(args, name) is not None:
            setattr(plan, name, getattr(args, name))
    plan.hostile = not args.no_hostile
    report = run_suite(plan)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(asdict(report), indent=1) + "\n")
    text = markdown(report)
    args.out.with_suffix(".md").write_text(text)
    _say(text)
    return report.exit_status


def run_suite(plan: Plan, workdir: Path | None = None) -> Report:
    with tempfile.TemporaryDirectory(prefix="hearth-chaos-") as tmp:
        run = Run(plan, workdir or Path(tmp))
        try:
            run.setup()
            run.run()
            began = time.monotonic()
            run.verify()
            log.info("verified in %.1fs", time.monotonic() - began)
        finally:
            began = time.monotonic()
            run.close()
            log.info("closed in %.1fs", time.monotonic() - began)
        return run.report


if __name__ == "__main__":
    sys.exit(main())
