"""The fault suite (`make chaos`): a stream of readings through real processes while
things break, then a count and a checksum per device.

gateway (`hearth gateway` × G, each replaying its home's device records) → Mosquitto
(persistence on, autosave every 30 s as in deploy/) → `hearth ingest` × 2 (shared
subscription, fixed client ids, a supervisor restarts a dead one) → InfluxDB.

While the stream runs, at seeded random moments: SIGKILL of an ingest replica
(5 times), a clean Mosquitto restart and a SIGKILL of Mosquitto, InfluxDB
stopped for 30 s, SIGKILL of a gateway (twice; it is restarted on the records its
devices still hold). Afterwards every device's readings are read back from
InfluxDB and compared with what its payloads decode to: the count, the missing
and the extra readings, and a checksum of (measured time, value).

Side by side, on the same broker and the same faults (it is SIGKILLed with ingest
and restarted by the same supervisor), the off-the-shelf bridge mqtt2influxdb
1.5.2 (PyPI, installed into a throw-away virtualenv) stores what it makes of the
same messages in its own database: it subscribes at QoS 0, writes one point per
message (the message's first reading) and stamps it with the whole second it
arrived in.

Usage (repository root): python -m bench.chaos [--readings 100000 --devices 200
--gateways 10 --seed 7] [--quick] [--no-bridge]. Writes bench/results/chaos.json
and chaos.md unless --out says otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.chaos_stack import (
    Bridge,
    Child,
    GatewayChild,
    build_homes,
    checksum,
    epoch_us,
    expected_readings,
    hearth_child,
    influx_rows,
    stored_count,
)
from tests.support.factories import app_database, register
from tests.support.influxdb import InfluxServer
from tests.support.mosquitto import MosquittoServer

log = logging.getLogger("bench.chaos")
RESULTS = Path(__file__).resolve().parent / "results"


def _say(text: str) -> None:
    """One line of the benchmark's output (sys.stdout is looked up now: the runner may tee it)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Plan:
    readings: int = 100_000
    devices: int = 200
    gateways: int = 10
    ingest_replicas: int = 2
    stream_s: float = 180.0  # how long the devices take to hand over their records
    ingest_kills: int = 5
    gateway_kills: int = 2
    broker_restarts: int = 1  # clean (SIGTERM, the broker saves its state)
    broker_kills: int = 1  # SIGKILL: whatever the broker had not saved is gone
    influx_outage_s: float = 30.0
    seed: int = 7
    bridge: bool = True
    drain_timeout_s: float = 600.0
    resend_after_s: float = 5.0

    @classmethod
    def quick(cls) -> Plan:
        """The CI size: about a minute."""
        return cls(readings=10_000, devices=20, gateways=4, stream_s=30.0, ingest_kills=2,
                   gateway_kills=1, influx_outage_s=5.0, bridge=False, drain_timeout_s=120.0,
                   resend_after_s=3.0)


@dataclass
class Event:
    at_s: float
    kind: str
    target: str = ""
    detail: str = ""


@dataclass
class Tally:
    expected: int = 0
    stored_rows: int = 0
    lost: int = 0
    duplicated: int = 0
    devices_with_wrong_checksum: int = 0
    devices: int = 0


@dataclass
class Report:
    plan: dict[str, Any]
    started_at: str
    events: list[Event] = field(default_factory=list)
    hearth: Tally = field(default_factory=Tally)
    bridge: Tally | None = None
    stream_s: float = 0.0
    settled_s: float = 0.0
    timed_out: bool = False
    samples: list[dict[str, Any]] = field(default_factory=list)
    hearth_restarts: dict[str, int] = field(default_factory=dict)
    gateway_resends: int = 0  # messages the gateways sent again for want of ingest's ack


def schedule(plan: Plan) -> list[tuple[float, str]]:
    """Seeded fault times: the run's window cut into one slot per fault, the faults
    shuffled over the slots, each at a random point of the first 80% of its slot."""
    rng = random.Random(plan.seed)
    kinds = (["ingest_kill"] * plan.ingest_kills + ["gateway_kill"] * plan.gateway_kills
             + ["broker_restart"] * plan.broker_restarts + ["broker_kill"] * plan.broker_kills
             + (["influx_stop"] if plan.influx_outage_s > 0 else []))
    rng.shuffle(kinds)
    begin, end = 0.05 * plan.stream_s, 0.9 * plan.stream_s
    slot = (end - begin) / max(1, len(kinds))
    return [(round(begin + i * slot + rng.uniform(0, 0.8 * slot), 1), kind)
            for i, kind in enumerate(kinds)]


class Run:
    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan, self.workdir = plan, workdir
        self.rng = random.Random(plan.seed + 1)
        self.broker = MosquittoServer(workdir / "mosquitto", extra_config="autosave_interval 30\n")
        self.influx = InfluxServer(workdir / "influxdb")
        self.homes = build_homes(readings=plan.readings, devices=plan.devices,
                                 gateways=plan.gateways, now=datetime.now(UTC))
        self.expected = expected_readings(self.homes)
        self.report = Report(plan=asdict(plan), started_at=datetime.now(UTC).isoformat())
        self.t0 = 0.0
        self.restarts: list[tuple[float, Child]] = []  # (when, what) for the supervisor
        self.influx_back_at: float | None = None
        self.ingest: list[Child] = []
        self.gateways: list[GatewayChild] = []
        self.bridge: Bridge | None = None

    # -- set-up ------------------------------------------------------------------------

    def setup(self) -> None:
        self.broker.start()
        self.influx.start()
        self.influx.create_database("hearth")
        engine = app_database(self.workdir / "hearth.db")
        for home in self.homes:
            register(engine, home.patient_id, home.devices)
        engine.dispose()
        env = {"HEARTH_MQTT_URL": self.broker.url,
               "HEARTH_TIMESERIES_URL": self.influx.url("hearth"),
               "HEARTH_DATABASE_URL": f"sqlite:///{self.workdir / 'hearth.db'}",
               "HEARTH_INGEST_SHARED_GROUP": "hearth"}
        for n in range(1, self.plan.ingest_replicas + 1):
            child = hearth_child(f"hearth-ingest-{n}", "ingest", workdir=self.workdir,
                                 env={**env, "HEARTH_INGEST_CLIENT_ID": f"hearth-ingest-{n}"})
            child.start()
            self.ingest.append(child)
        deadline = time.monotonic() + 90
        while not all("subscribed to" in c.log() for c in self.ingest):
            if time.monotonic() > deadline:
                raise RuntimeError("ingest did not subscribe")
            time.sleep(0.2)
        if self.plan.bridge:
            self.bridge = Bridge(self.workdir, mqtt_port=self.broker.port,
                                 influx_port=self.influx.http_port, database="bridge")
            self.bridge.install()
            self.bridge.start()
            time.sleep(3)  # its QoS 0 subscription must be in place before the stream
        per_gateway = len(self.homes[0].lines)
        burst = 10
        pause = self.plan.stream_s / max(1, per_gateway / burst)
        gw_env = {"HEARTH_MQTT_URL": self.broker.url,
                  "HEARTH_GATEWAY_RESEND_AFTER_S": str(self.plan.resend_after_s),
                  "HEARTH_GATEWAY_RESEND_MAX_S": str(4 * self.plan.resend_after_s),
                  "HEARTH_GATEWAY_RECONNECT_MAX_S": "2"}
        self.gateways = [GatewayChild(home, workdir=self.workdir, env=gw_env, burst=burst,
                                      pause_s=round(pause, 4)) for home in self.homes]

    # -- the run -----------------------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self.t0

    def note(self, kind: str, target: str = "", detail: str = "") -> None:
        event = Event(round(self.now(), 1), kind, target, detail)
        self.report.events.append(event)
        log.info("t=%6.1fs %-15s %s %s", event.at_s, kind, target, detail)

    def run(self) -> None:
        self.t0 = time.monotonic()
        for gateway in self.gateways:
            gateway.start()
        deadline = time.monotonic() + 120
        while not all(g.state()[0] > 0 for g in self.gateways):  # the processes are up
            if time.monotonic() > deadline:
                raise RuntimeError("the gateways did not start reading")
            time.sleep(0.2)
        self.t0 = time.monotonic()  # fault times count from here
        self.note("stream_start", detail=f"{len(self.gateways)} gateways reading")
        faults = schedule(self.plan)
        next_sample = 0.0
        while True:
            while faults and faults[0][0] <= self.now():
                self.inject(faults.pop(0)[1])
            self.supervise()
            if self.now() >= next_sample:
                self.sample()
                next_sample = self.now() + 5
            if not faults and not self.restarts and self.influx_back_at is None:
                if not self.report.stream_s and all(g.state()[0] >= len(g.home.lines)
                                                    for g in self.gateways):
                    self.report.stream_s = round(self.now(), 1)
                    self.note("stream_taken", detail="every record is in an outbox")
                if all(g.finished() for g in self.gateways):
                    self.report.settled_s = round(self.now(), 1)
                    self.note("settled", detail="every outbox empty: all confirmed by ingest")
                    break
            if self.now() > self.plan.stream_s + self.plan.drain_timeout_s:
                self.report.timed_out = True
                self.note("timeout", detail="outboxes not empty")
                break
            time.sleep(0.2)
        time.sleep(2 if self.bridge else 0)  # the bridge has nothing to wait for: QoS 0

    def inject(self, kind: str) -> None:
        if kind == "ingest_kill":
            victim = self.rng.choice(self.ingest)
            victim.kill()
            if self.bridge:
                self.bridge.kill()
            delay = round(self.rng.uniform(1, 4), 1)
            self.note(kind, victim.name, f"SIGKILL pid; restarted after {delay}s"
                      + (" (bridge killed too)" if self.bridge else ""))
            self.restarts.append((self.now() + delay, victim))
        elif kind == "gateway_kill":
            victim = self.rng.choice(self.gateways)
            taken, held = victim.state()
            victim.kill()
            self.note(kind, victim.name, f"SIGKILL with {held} readings in its outbox, "
                      f"{taken}/{len(victim.home.lines)} taken; restarted after 2s")
            self.restarts.append((self.now() + 2, victim))
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

    def supervise(self) -> None:
        if self.influx_back_at is not None and self.now() >= self.influx_back_at:
            self.influx.start()
            self.influx_back_at = None
            self.note("influx_start", "influxd")
        due = [(at, c) for at, c in self.restarts if at <= self.now()]
        for item in due:
            self.restarts.remove(item)
            item[1].start()
            self.note("restart", item[1].name)
        if self.bridge and not self.bridge.alive and not any(c is self.bridge
                                                             for _, c in self.restarts):
            # it exits when a write fails (InfluxDB away) or after a kill: restart it
            # after a second, as systemd's Restart=always would
            self.restarts.append((self.now() + 1, self.bridge))

    def sample(self) -> None:
        states = [g.state() for g in self.gateways]
        sample = {"t_s": round(self.now(), 1),
                  "taken": sum(s[0] for s in states),
                  "outbox": sum(max(0, s[1]) for s in states),
                  "stored": None if self.influx_back_at else stored_count(self.influx.base_url,
                                                                          "hearth")}
        self.report.samples.append(sample)
        log.info("t=%6.1fs taken %d, in outboxes %d, stored %s", sample["t_s"], sample["taken"],
                 sample["outbox"], sample["stored"])

    # -- verification ------------------------------------------------------------------

    def verify(self) -> None:
        self.report.hearth = self.tally(self.hearth_rows())
        if self.bridge:
            self.report.bridge = self.tally(self.bridge_rows())
        self.report.hearth_restarts = {c.name: c.starts for c in [*self.ingest, *self.gateways]}
        self.report.gateway_resends = sum(g.log().count("re-sent unconfirmed message")
                                          for g in self.gateways)

    def hearth_rows(self) -> dict[str, list[tuple[int, float]]]:
        rows: dict[str, list[tuple[int, float]]] = {}
        for r in influx_rows(self.influx.base_url, "hearth",
                             'SELECT "value", "device" FROM /.*/'):
            at, value = int(r[0]), float(r[1])  # type: ignore[arg-type]
            rows.setdefault(str(r[2]), []).append((at, value))
        return rows

    def bridge_rows(self) -> dict[str, list[tuple[int, float]]]:
        """What the bridge kept of each reading: the measured time it carried as a field."""
        rows: dict[str, list[tuple[int, float]]] = {}
        for r in influx_rows(self.influx.base_url, "bridge",
                             'SELECT "value", "measured", "device" FROM "reading"'):
            at, value = epoch_us(str(r[2])), float(r[1])  # type: ignore[arg-type]
            rows.setdefault(str(r[3]), []).append((at, value))
        return rows

    def tally(self, stored: dict[str, list[tuple[int, float]]]) -> Tally:
        tally = Tally(devices=len(self.expected))
        for device, want in self.expected.items():
            got = stored.get(device, [])
            want_set, got_set = set(want), set(got)
            tally.expected += len(want)
            tally.stored_rows += len(got)
            tally.lost += len(want_set - got_set)
            tally.duplicated += len(got) - len(got_set & want_set)
            if len(got) != len(want) or checksum(got) != checksum(want):
                tally.devices_with_wrong_checksum += 1
        tally.stored_rows += sum(len(v) for k, v in stored.items() if k not in self.expected)
        tally.duplicated += sum(len(v) for k, v in stored.items() if k not in self.expected)
        return tally

    def close(self) -> None:
        for child in [*self.gateways, *self.ingest, *([self.bridge] if self.bridge else [])]:
            child.stop()
        self.broker.kill()
        self.influx.kill()


def markdown(report: Report) -> str:
    plan = report.plan
    lines = [
        "# Fault suite",
        "",
        f"{plan['readings']:,} readings from {plan['devices']} simulated devices through "
        f"{plan['gateways']} `hearth gateway` processes → Mosquitto → "
        f"{plan['ingest_replicas']} `hearth ingest` replicas → InfluxDB, seed {plan['seed']}; "
        f"run at {report.started_at[:19]}Z. Every record taken into an outbox at "
        f"{report.stream_s:.0f} s, everything confirmed at {report.settled_s:.0f} s"
        + (" (TIMED OUT)" if report.timed_out else "") + f". The gateways sent "
        f"{report.gateway_resends:,} messages again for want of ingest's confirmation.",
        "",
        "| t (s) | injected | target | detail |",
        "|---:|---|---|---|",
        *[f"| {e.at_s:.1f} | {e.kind} | {e.target} | {e.detail} |" for e in report.events],
        "",
        "| system | readings sent | rows stored | lost | duplicated | devices with a wrong "
        "count or checksum |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows = [("Hearth (gateway outbox + end-to-end ack, ingest)", report.hearth)]
    if report.bridge is not None:
        rows.append((f"mqtt2influxdb {plan.get('bridge_version', '1.5.2')} (QoS 0, one point "
                     "a message, whole-second time stamps)", report.bridge))
    for name, t in rows:
        lines.append(f"| {name} | {t.expected:,} | {t.stored_rows:,} | {t.lost:,} | "
                     f"{t.duplicated:,} | {t.devices_with_wrong_checksum} of {t.devices} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the CI size (10,000 readings)")
    parser.add_argument("--readings", type=int)
    parser.add_argument("--devices", type=int)
    parser.add_argument("--gateways", type=int)
    parser.add_argument("--stream-s", type=float)
    parser.add_argument("--influx-outage-s", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-bridge", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "chaos",
                        help="writes OUT.json and OUT.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    plan = Plan.quick() if args.quick else Plan()
    for name in ("readings", "devices", "gateways", "stream_s", "influx_outage_s", "seed"):
        if getattr(args, name) is not None:
            setattr(plan, name, getattr(args, name))
    if args.no_bridge:
        plan.bridge = False
    report = run_suite(plan)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(asdict(report), indent=1) + "\n")
    text = markdown(report)
    args.out.with_suffix(".md").write_text(text)
    _say(text)
    ok = report.hearth.lost == 0 and report.hearth.duplicated == 0 and not report.timed_out
    return 0 if ok else 1


def run_suite(plan: Plan, workdir: Path | None = None) -> Report:
    with tempfile.TemporaryDirectory(prefix="hearth-chaos-") as tmp:
        run = Run(plan, workdir or Path(tmp))
        try:
            run.setup()
            run.run()
            run.verify()
        finally:
            run.close()
        return run.report


if __name__ == "__main__":
    sys.exit(main())
