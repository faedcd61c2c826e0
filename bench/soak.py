"""Load and soak (`make soak`): many patients at accelerated time through the whole
stack, then a burst of gateways coming back after an outage.

Soak: N simulated patients, each with a CGM that reads every 5 minutes of
simulated time, run at ``--accel`` times real time (60: a reading every 5 s per
patient) for ``--minutes`` of wall time, plus a few real `hearth gateway`
processes with live simulated meters and scales, through Mosquitto → `hearth
ingest` (2 replicas, shared subscription) → InfluxDB → `hearth coach` (the real-time
path). The CGM readings are stamped with the wall clock (the coach's real-time
rules look at the newest 15 minutes). Every ``--alert-every-s`` seconds one patient
not yet alerted goes into an urgent low (45 mg/dL for a simulated hour); the
latency is from that reading's publish to the first `hearth/v1/down/{patient}`
message for that patient.

Every 5 s it samples the RSS of every process (/proc), Mosquitto's $SYS figures
(messages held in its store, bytes, dropped publishes), the gateways' outbox
depth, and readings published but not yet stored. At the end: each device's
count in the store against what was published (loss), and the slope of each
process's RSS over the second half of the run (growth).

Burst: ``--burst-gateways`` gateways that were offline for an hour all connect at
once and replay their hour (a CGM reading a minute, in one batch message as the
gateway sends a backlog, persistent session, acknowledgement topic subscribed
first, re-sent if not confirmed within 30 s, as gateway/forwarder.py does). These
are MQTT clients (in worker processes of up to 200) doing on the wire what a gateway
does, not 500 `hearth gateway` processes (each is a Python process of ~70 MB; this
machine has two cores). Reported: time until everything is stored and until every gateway has
its confirmation.

Usage: python -m bench.soak [--patients 2000 --accel 60 --minutes 10 --burst-gateways 500]
[--quick]. Writes bench/results/soak.json and soak.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from bench.chaos_stack import Child, hearth_child
from core import topics
from core.contract import encode_message
from core.mqtt import MqttEndpoint, PacedPublisher, connect, new_client
from tests.support.factories import app_database, register
from tests.support.influxdb import InfluxServer
from tests.support.mosquitto import MosquittoServer

log = logging.getLogger("bench.soak")
# The background's glucose swings slowly in WALL-CLOCK time: readings are stamped with
# the wall clock, so at 60x a swing meant as hours of simulated time (r / 24) would fall
# 17 mg/dL a minute by their stamps, a fast fall (>3 mg/dL/min, docs/CLINICAL.md) for
# half the patients at any moment. With r / WAVE the steepest rate is 35 * 12 / WAVE
# = 0.9 mg/dL per wall minute (a round is 5 s): in range, steady, nothing to say.
WAVE = 480
RESULTS = Path(__file__).resolve().parent / "results"
SYS_KEYS = ("store/messages/count", "store/messages/bytes", "publish/messages/dropped",
            "clients/connected")


def _say(text: str) -> None:
    """One line of the benchmark's output (sys.stdout is looked up now: the runner may tee it)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class SoakPlan:
    patients: int = 2000
    accel: float = 60.0
    minutes: float = 10.0
    alert_every_s: float = 3.0
    gateways: int = 4
    gateway_devices: int = 4
    burst_gateways: int = 500
    burst_readings: int = 60  # an hour of a CGM that reads every minute
    sample_s: float = 5.0
    seed: int = 11

    @classmethod
    def quick(cls) -> SoakPlan:
        return cls(patients=100, minutes=1.5, alert_every_s=2.0, gateways=1, burst_gateways=50)


@dataclass
class SoakReport:
    plan: dict[str, Any]
    started_at: str
    samples: list[dict[str, Any]] = field(default_factory=list)
    published: int = 0
    gateway_readings: int = 0
    stored: int = 0
    lost: int = 0
    extra: int = 0
    alerts_sent: int = 0
    alerts_received: int = 0
    alert_latency_ms: dict[str, float] = field(default_factory=dict)
    # each urgent low's latency in ms, in the order they were sent (None: never arrived)
    alert_latencies_ms: list[float | None] = field(default_factory=list)
    rss_mb: dict[str, dict[str, float]] = field(default_factory=dict)
    sys_peak: dict[str, float] = field(default_factory=dict)
    burst: dict[str, Any] = field(default_factory=dict)
    load_average: list[float] = field(default_factory=list)


def rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope in units per minute."""
    if len(points) < 3:
        return 0.0
    n = len(points)
    mt, mv = sum(t for t, _ in points) / n, sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return 60 * sum((t - mt) * (v - mv) for t, v in points) / den if den else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


class Soak:
    def __init__(self, plan: SoakPlan, workdir: Path) -> None:
        self.plan, self.workdir = plan, workdir
        self.broker = MosquittoServer(workdir / "mosquitto")
        self.influx = InfluxServer(workdir / "influxdb")
        self.report = SoakReport(plan=asdict(plan), started_at=datetime.now(UTC).isoformat())
        self.children: list[Child] = []
        self.gateways: list[Child] = []
        self.published: dict[str, int] = {}
        self.sys: dict[str, float] = {}
        self.alert_sent: dict[str, float] = {}
        self.alert_seen: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.t0 = 0.0
        self.watcher: mqtt.Client | None = None

    # -- set-up ------------------------------------------------------------------------

    def setup(self) -> None:
        self.broker.start()
        self.influx.start()
        self.influx.create_database("hearth")
        engine = app_database(self.workdir / "hearth.db")
        for i in range(self.plan.patients):
            register(engine, f"s{i:05d}", [(f"soak-cgm-{i}", "cgm")])
        for g in range(self.plan.gateways):
            register(engine, f"g{g:03d}", [(f"gw{g}-{kind}-{d}", kind) for d, kind in
                                           enumerate(self.gateway_kinds())])
        for k in range(self.plan.burst_gateways):
            register(engine, f"b{k:04d}", [(f"burst-cgm-{k}", "cgm")])
        engine.dispose()
        env = {"HEARTH_MQTT_URL": self.broker.url,
               "HEARTH_TIMESERIES_URL": self.influx.url("hearth"),
               "HEARTH_DATABASE_URL": f"sqlite:///{self.workdir / 'hearth.db'}"}
        for n in (1, 2):
            self.children.append(hearth_child(
                f"hearth-ingest-{n}", "ingest", workdir=self.workdir,
                env={**env, "HEARTH_INGEST_CLIENT_ID": f"hearth-ingest-{n}",
                     "HEARTH_INGEST_SHARED_GROUP": "hearth"}))
        coach = hearth_child("hearth-coach", "coach", workdir=self.workdir,
                             env={**env, "HEARTH_COACH_CLIENT_ID": "hearth-coach"})
        coach.argv.append("--no-scheduler")
        self.children.append(coach)
        interval = 15 * 60 / self.plan.accel  # a reading every 15 simulated minutes
        for g in range(self.plan.gateways):
            self.gateways.append(hearth_child(f"gw-{g}", "gateway", workdir=self.workdir, env={
                **env, "HEARTH_GATEWAY_GATEWAY_ID": f"gw-{g}",
                "HEARTH_GATEWAY_OUTBOX_PATH": str(self.workdir / f"gw-{g}.db"),
                "HEARTH_GATEWAY_READER_OPTIONS":
                    f"devices={self.plan.gateway_devices},kinds=meter+scale,prefix=gw{g},"
                    f"interval_s={interval:g},seed={g}"}))
        for child in [*self.children, *self.gateways]:
            child.start()
        self.watch()
        # Both ingests and the coach subscribed: the coach's first session exists only from
        # then, so an urgent low stored before it would never reach it (a fixed 3 s was not
        # enough at load 30). Gateways keep what they read in their outboxes meanwhile.
        deadline = time.monotonic() + 120
        while not all("subscribed to" in c.log() for c in self.children):
            if time.monotonic() > deadline:
                raise RuntimeError("ingest or the coach did not subscribe")
            time.sleep(0.2)

    def gateway_kinds(self) -> list[str]:
        return [("meter", "scale")[d % 2] for d in range(self.plan.gateway_devices)]

    def watch(self) -> None:
        """$SYS figures and the home-display messages, on one client."""
        client = new_client(f"soak-watch-{os.getpid()}")

        def on_connect(c: mqtt.Client, *_: Any) -> None:
            c.subscribe([("$SYS/broker/#", SubscribeOptions(qos=0)),
                         (topics.DOWN_ALL, SubscribeOptions(qos=1))])

        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            if msg.topic.startswith("$SYS/broker/"):
                key = msg.topic.removeprefix("$SYS/broker/")
                if key in SYS_KEYS:
                    try:
                        self.sys[key] = float(msg.payload)
                    except ValueError:
                        pass
                return
            at = time.perf_counter()
            patient = topics.last_level(msg.topic, "down")
            # The urgent message only: a routine nudge to the same patient (a predicted low
            # from the sine wave before the dive) is not the alarm being timed.
            if b'"priority":"urgent"' not in msg.payload:
                return
            with self.lock:
                if patient in self.alert_sent and patient not in self.alert_seen:
                    self.alert_seen[patient] = at

        client.on_connect, client.on_message = on_connect, on_message
        connect(client, MqttEndpoint.parse(self.broker.url))
        client.loop_start()
        self.watcher = client

    # -- the soak ----------------------------------------------------------------------

    def publish_loop(self) -> None:
        """Every patient's CGM every 300/accel seconds, spread evenly over the period."""
        client = new_client(f"soak-devices-{os.getpid()}")
        paced = PacedPublisher(client, window=500)
        connect(client, MqttEndpoint.parse(self.broker.url))
        client.loop_start()
        rng = random.Random(self.plan.seed)
        order = list(range(self.plan.patients))
        rng.shuffle(order)
        low_until: dict[int, float] = {}
        period = 300 / self.plan.accel
        step = period / self.plan.patients
        next_alert = self.plan.alert_every_s
        due = time.monotonic()
        r = 0
        try:
            while not self.stop.is_set():
                for i in range(self.plan.patients):
                    due += step
                    delay = due - time.monotonic()
                    if delay > 0 and self.stop.wait(delay):
                        return
                    now_s = time.monotonic() - self.t0
                    alert = False
                    if order and now_s >= next_alert and i == order[-1]:
                        order.pop()
                        low_until[i] = now_s + 3600 / self.plan.accel
                        next_alert += self.plan.alert_every_s
                        alert = True
                    low = low_until.get(i, 0) > now_s
                    value = 45 if low else round(125 + 35 * math.sin(r / WAVE + i), 1)
                    device = f"soak-cgm-{i}"
                    seq = self.published.get(device, 0) + 1
                    payload = encode_message(device_id=device, seq=seq, readings=[
                        {"metric": "glucose", "value": value, "unit": "mg/dL", "source": "cgm",
                         "time": datetime.now(UTC)}])
                    if alert:
                        with self.lock:
                            self.alert_sent[f"s{i:05d}"] = time.perf_counter()
                    paced.publish(topics.up(device), payload, timeout=60)
                    self.published[device] = seq
                r += 1
        finally:
            paced.wait_idle(60)
            client.disconnect()
            client.loop_stop()

    def sample(self) -> None:
        sample: dict[str, Any] = {"t_s": round(time.monotonic() - self.t0, 1)}
        procs = {"mosquitto": self.broker.process.pid if self.broker.process else None,
                 "influxd": self.influx.process.pid if self.influx.process else None}
        procs |= {c.name: c.pid for c in [*self.children, *self.gateways]}
        sample["rss_mb"] = {name: rss_mb(pid) for name, pid in procs.items()}
        sample["sys"] = dict(self.sys)
        sample["outbox"] = sum(self.outbox_depth(g) for g in range(self.plan.gateways))
        stored = self.stored_soak()
        sample["published"] = sum(self.published.values())
        sample["unstored"] = None if stored is None else sample["published"] - stored
        self.report.samples.append(sample)
        log.info("t=%5.0fs published %d, not yet stored %s, outboxes %d, broker store %s, "
                 "RSS ingest %.0f/%.0f coach %.0f MB", sample["t_s"], sample["published"],
                 sample["unstored"], sample["outbox"], self.sys.get("store/messages/count"),
                 *(sample["rss_mb"].get(k) or 0 for k in ("hearth-ingest-1", "hearth-ingest-2",
                                                          "hearth-coach")))

    def outbox_depth(self, g: int) -> int:
        path = self.workdir / f"gw-{g}.db"
        if not path.exists():
            return 0
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return int(db.execute("SELECT count(*) FROM readings").fetchone()[0])
        except sqlite3.DatabaseError:
            return 0
        finally:
            db.close()

    def counts(self, prefix: str) -> dict[str, int]:
        """Readings stored per device whose id starts with ``prefix``."""
        body = httpx.post(f"{self.influx.base_url}/query", timeout=60, data={
            "db": "hearth", "q": f"SELECT count(\"value\") FROM /.*/ WHERE \"device\" =~ "
                                f"/^{prefix}/ GROUP BY \"device\""}).json()
        out: dict[str, int] = {}
        for result in body.get("results", []):
            for series in result.get("series", []):
                device = series["tags"]["device"]
                out[device] = out.get(device, 0) + int(series["values"][0][1])
        return out

    def stored_soak(self) -> int | None:
        try:
            return sum(self.counts("soak-").values())
        except Exception:  # noqa: BLE001 - a sample is skipped, the run goes on
            return None

    def soak(self) -> None:
        self.t0 = time.monotonic()
        publisher = threading.Thread(target=self.publish_loop, name="soak-devices", daemon=True)
        publisher.start()
        end = self.t0 + self.plan.minutes * 60
        while time.monotonic() < end:
            self.sample()
            time.sleep(max(0.0, min(self.plan.sample_s, end - time.monotonic())))
        self.stop.set()
        publisher.join(timeout=90)
        self.sample()

    def settle(self, timeout: float = 180) -> None:
        published = sum(self.published.values())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stored = self.stored_soak()
            outboxes = sum(self.outbox_depth(g) for g in range(self.plan.gateways))
            with self.lock:
                answered = set(self.alert_sent) <= set(self.alert_seen)
            if stored == published and outboxes == 0 and answered:
                break
            time.sleep(1)
        for gateway in self.gateways:
            gateway.stop()  # reader stops; what it took is confirmed (outbox empty above)
        got = self.counts("soak-")
        lost = extra = 0
        for device, n in self.published.items():
            lost += max(0, n - got.get(device, 0))
            extra += max(0, got.get(device, 0) - n)
        taken = self.gateway_taken()
        gw_got = self.counts("gw")
        for device, n in taken.items():
            lost += max(0, n - gw_got.get(device, 0))
            extra += max(0, gw_got.get(device, 0) - n)
        r = self.report
        r.published, r.gateway_readings = published, sum(taken.values())
        r.stored = sum(got.values()) + sum(gw_got.values())
        r.lost, r.extra = lost, extra
        self.summarise()

    def gateway_taken(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for g in range(self.plan.gateways):
            db = sqlite3.connect(self.workdir / f"gw-{g}.db")
            try:
                out |= {d: int(n) for d, n in db.execute("SELECT device_id, next_seq FROM devices")}
            finally:
                db.close()
        return out

    def summarise(self) -> None:
        r = self.report
        delays = [1000 * (self.alert_seen[p] - t) for p, t in self.alert_sent.items()
                  if p in self.alert_seen]
        r.alerts_sent, r.alerts_received = len(self.alert_sent), len(delays)
        r.alert_latencies_ms = [
            round(1000 * (self.alert_seen[p] - t)) if p in self.alert_seen else None
            for p, t in sorted(self.alert_sent.items(), key=lambda item: item[1])]
        if delays:
            r.alert_latency_ms = {"p50": round(percentile(delays, 50)),
                                  "p99": round(percentile(delays, 99)),
                                  "max": round(max(delays))}
        soak_samples = [s for s in r.samples if s["t_s"] <= self.plan.minutes * 60 + 1]
        half = self.plan.minutes * 30
        for name in soak_samples[-1]["rss_mb"]:
            series = [(s["t_s"], s["rss_mb"][name]) for s in soak_samples
                      if s["rss_mb"].get(name) is not None]
            if not series:
                continue
            second = [p for p in series if p[0] >= half]
            r.rss_mb[name] = {"start": round(series[0][1], 1),
                              "peak": round(max(v for _, v in series), 1),
                              "end": round(series[-1][1], 1),
                              "second_half_slope_mb_per_min": round(slope_per_min(second), 2)}
        for key in SYS_KEYS:
            values = [s["sys"].get(key) for s in soak_samples if s["sys"].get(key) is not None]
            if values:
                r.sys_peak[key] = max(values)
        unstored = [s["unstored"] for s in soak_samples if s["unstored"] is not None]
        outbox = [s["outbox"] for s in soak_samples]
        r.sys_peak["unstored_readings"] = max(unstored, default=0)
        r.sys_peak["gateway_outbox_readings"] = max(outbox, default=0)
        r.load_average = [round(x, 2) for x in os.getloadavg()]

    # -- the burst ---------------------------------------------------------------------

    def burst(self) -> None:
        """N gateways' worth of MQTT clients connect at once, in worker processes of at most
        200 clients each (paho waits with select(), which takes no descriptor above 1023:
        one process cannot hold 500 clients of three descriptors each)."""
        n, per = self.plan.burst_gateways, self.plan.burst_readings
        if not n:
            return
        ctx = multiprocessing.get_context("spawn")
        events: Any = ctx.Queue()
        go, stop = ctx.Event(), ctx.Event()
        start = (datetime.now(UTC).replace(second=0, microsecond=0)
                 - timedelta(hours=1)).isoformat()
        chunks = [list(range(k, min(n, k + 200))) for k in range(0, n, 200)]
        workers = [ctx.Process(target=burst_worker, args=(self.broker.url, ks, per, start,
                                                           events, go, stop), daemon=True)
                   for ks in chunks]
        for worker in workers:
            worker.start()
        for _ in workers:  # every worker has built its clients
            events.get(timeout=120)
        log.info("burst: %d gateways reconnect at once, %d readings each", n, per)
        go.set()
        began = time.monotonic()
        connected = acked = resent = 0
        times: dict[str, float | None] = {"all_connected_s": None, "all_stored_s": None,
                                          "all_confirmed_s": None}
        while time.monotonic() - began < 600:
            while not events.empty():
                kind, count = events.get()
                connected += count if kind == "connected" else 0
                acked += count if kind == "acked" else 0
                resent += count if kind == "resent" else 0
            elapsed = round(time.monotonic() - began, 2)
            if times["all_connected_s"] is None and connected >= n:
                times["all_connected_s"] = elapsed
            if times["all_confirmed_s"] is None and acked >= n:
                times["all_confirmed_s"] = elapsed
            if times["all_stored_s"] is None and sum(self.counts("burst-").values()) >= n * per:
                times["all_stored_s"] = round(time.monotonic() - began, 2)
            if times["all_confirmed_s"] is not None and times["all_stored_s"] is not None:
                break
            time.sleep(0.25)
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
        stored = sum(self.counts("burst-").values())
        self.report.burst = {"gateways": n, "readings": n * per, "stored": stored,
                             "not_stored": n * per - min(stored, n * per),
                             "resent_messages": resent, **times}
        log.info("burst: %s", self.report.burst)

    def close(self) -> None:
        self.stop.set()
        if self.watcher is not None:
            self.watcher.disconnect()
            self.watcher.loop_stop()
        for child in [*self.gateways, *self.children]:
            child.stop()
        self.broker.kill()
        self.influx.kill()


def burst_worker(url: str, ks: list[int], per: int, start_iso: str, events: Any, go: Any,
                 stop: Any) -> None:
    """Gateways ``ks``: connect when ``go`` is set (persistent session), subscribe to the ack
    topic, publish the hour as one batch message, re-send it if unconfirmed after 30 s
    (gateway/forwarder.py); all clients pumped from this one thread."""
    endpoint = MqttEndpoint.parse(url)
    start = datetime.fromisoformat(start_iso)
    acked: set[int] = set()
    clients: dict[int, mqtt.Client] = {}
    payloads: dict[int, bytes] = {}
    tally = {"connected": 0, "acked": 0}

    def make(k: int) -> mqtt.Client:
        device = f"burst-cgm-{k}"
        payloads[k] = encode_message(device_id=device, seq=per, readings=[
            {"metric": "glucose", "value": 90 + (k + i) % 120, "unit": "mg/dL",
             "source": "cgm", "time": start + timedelta(minutes=i)} for i in range(per)])
        client = new_client(f"burst-gw-{k}")

        def on_connect(c: mqtt.Client, *_: Any) -> None:
            tally["connected"] += 1
            c.subscribe(topics.ack(device), options=SubscribeOptions(qos=1))

        def on_subscribe(c: mqtt.Client, *_: Any) -> None:
            c.publish(topics.up(device), payloads[k], qos=1)

        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            if k not in acked and per in json.loads(msg.payload).get("seqs", []):
                acked.add(k)
                tally["acked"] += 1

        client.on_connect, client.on_subscribe = on_connect, on_subscribe
        client.on_message = on_message
        return client

    for k in ks:
        clients[k] = make(k)
    events.put(("ready", 0))
    go.wait()
    for client in clients.values():
        connect(client, endpoint, clean_start=False, session_expiry_s=3600)
        client.reconnect()
    resend_at = time.monotonic() + 30
    while not stop.is_set():
        for client in clients.values():
            if client.loop(timeout=0) != mqtt.MQTT_ERR_SUCCESS:
                try:
                    client.reconnect()
                except OSError:
                    pass
        for kind in ("connected", "acked"):
            if tally[kind]:
                events.put((kind, tally[kind]))
                tally[kind] = 0
        if time.monotonic() > resend_at:
            unconfirmed = [k for k in ks if k not in acked]
            for k in unconfirmed:
                clients[k].publish(topics.up(f"burst-cgm-{k}"), payloads[k], qos=1)
            events.put(("resent", len(unconfirmed)))
            resend_at = time.monotonic() + 30
        time.sleep(0.005)
    for client in clients.values():
        client.disconnect()
        client.loop(timeout=0)


def markdown(r: SoakReport) -> str:
    p = r.plan
    lat = r.alert_latency_ms
    lines = [
        "# Load and soak", "",
        f"{p['patients']:,} simulated patients (a CGM reading every 5 simulated minutes) at "
        f"{p['accel']:g}× real time for {p['minutes']:g} min, plus {p['gateways']} `hearth "
        f"gateway` processes ({p['gateway_devices']} live meters/scales each), through "
        "Mosquitto → 2 `hearth ingest` → InfluxDB → `hearth coach`; run at "
        f"{r.started_at[:19]}Z, load average at the end {r.load_average}.", "",
        f"- readings published {r.published:,} + taken by gateways {r.gateway_readings:,}; "
        f"stored {r.stored:,}; **lost {r.lost}**, extra {r.extra}",
        f"- urgent lows {r.alerts_sent}, home-display messages {r.alerts_received}; latency "
        f"p50 {lat.get('p50', '-')} ms, **p99 {lat.get('p99', '-')} ms**, max "
        f"{lat.get('max', '-')} ms",
        f"- peaks: {', '.join(f'{k} {v:,.0f}' for k, v in r.sys_peak.items())}", "",
        "| process | RSS start MB | peak | end | slope over the second half (MB/min) |",
        "|---|---:|---:|---:|---:|",
        *[f"| {name} | {v['start']} | {v['peak']} | {v['end']} | "
          f"{v['second_half_slope_mb_per_min']} |" for name, v in r.rss_mb.items()],
    ]
    if r.burst:
        b = r.burst
        lines += ["", f"Burst: {b['gateways']} gateways reconnect at once, each replaying an hour "
                  f"({b['readings']:,} readings): all connected after {b['all_connected_s']} s, "
                  f"**all stored after {b['all_stored_s']} s**, all confirmed to the gateways "
                  f"after {b['all_confirmed_s']} s; not stored when the run ended (600 s at most) "
                  f"{b['not_stored']}, re-sent messages "
                  f"{b['resent_messages']}."]
    return "\n".join(lines) + "\n"


def run_soak(plan: SoakPlan, workdir: Path | None = None) -> SoakReport:
    with tempfile.TemporaryDirectory(prefix="hearth-soak-") as tmp:
        soak = Soak(plan, workdir or Path(tmp))
        try:
            soak.setup()
            soak.soak()
            soak.settle()
            soak.burst()
        finally:
            soak.close()
        return soak.report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    for name, kind in (("patients", int), ("accel", float), ("minutes", float),
                       ("gateways", int), ("burst_gateways", int), ("seed", int)):
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind)
    parser.add_argument("--out", type=Path, default=RESULTS / "soak")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the stack's files and logs here (default: a temp directory)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    plan = SoakPlan.quick() if args.quick else SoakPlan()
    for name in ("patients", "accel", "minutes", "gateways", "burst_gateways", "seed"):
        if getattr(args, name) is not None:
            setattr(plan, name, getattr(args, name))
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    report = run_soak(plan, args.workdir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(asdict(report), indent=1) + "\n")
    text = markdown(report)
    args.out.with_suffix(".md").write_text(text)
    _say(text)
    return 0 if report.lost == 0 and report.burst.get("not_stored", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
