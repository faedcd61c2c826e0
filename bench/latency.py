"""Urgent low -> home display latency, on an idle stack and under 1,000 readings/s.

Target (issue 10): an urgent-low reading published -> the home-display message, p99 at
most 1 s WHILE 1,000 readings/s of background load flow through the same stack.

What runs, all on this machine and all real processes: Mosquitto, InfluxDB (or a
SQLite store with ``--store sqlite``), ``hearth ingest`` (``--ingest`` replicas on a
shared subscription) and ``hearth coach --no-scheduler`` (``--coaches`` processes on
the coach's shared subscription): the real rules, dispatcher and delivery.

1. Baseline: the idle stack. ``--idle`` urgent lows (45 mg/dL, one patient each: the
   cool-down stops a second alarm for one person), one every ``--gap`` seconds.
2. Loaded: a separate load process publishes single-reading CGM messages (values in
   range, so nothing to say) for ``--patients`` background patients at ``--rate``
   readings/s for ``--seconds``; after ``--warmup`` seconds urgent lows for other
   patients are injected every ``--every`` seconds.

``--hog N`` starts N busy-loop processes (a CPU hog saturating the machine) for the
loaded phase: the idle baseline is measured without them, in the same run.
``--priority-lane off`` runs ingest without its priority lane (ingest/priority.py), to
compare the two paths on the same machine.

Latency runs from just before the urgent reading's publish to its arrival at a
subscriber of ``hearth/v1/down/+``. Reported: p50/p95/p99/max for both phases, their
ratio, the background rate the load process achieved and the rate the store took,
the load average. Written to bench/results/latency.json.

Run:  .venv/bin/python -m bench.latency [--rate 1000 --seconds 60 --patients 2000]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from bench.chaos_stack import Child, hearth_child
from core import topics
from core.contract import encode_message
from core.mqtt import MqttEndpoint, PacedPublisher, connect, new_client

RESULTS = Path(__file__).resolve().parent / "results" / "latency.json"
TARGET_P99_MS = 1000.0


def show(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - the benchmark's output


def background_load(url: str, patients: int, rate: float, seconds: float,
                    ready: Any, go: Any, out: Any) -> None:
    """In its own process: single-reading CGM messages at ``rate``/s, spread over patients."""
    client = new_client(f"latency-load-{os.getpid()}")
    paced = PacedPublisher(client, window=1000)
    connect(client, MqttEndpoint.parse(url))
    client.loop_start()
    seqs = [0] * patients
    ready.set()
    go.wait()
    began = time.monotonic()
    step = 1.0 / rate
    sent = 0
    try:
        while True:
            due = began + sent * step
            now = time.monotonic()
            if now - began >= seconds:
                break
            if due > now:
                time.sleep(due - now)
            i = sent % patients
            seqs[i] += 1
            payload = encode_message(device_id=f"bg-cgm-{i}", seq=seqs[i], readings=[
                {"metric": "glucose", "value": round(130 + 30 * math.sin(sent / 1e7 + i), 1),
                 "unit": "mg/dL", "source": "cgm", "time": datetime.now(UTC)}])
            paced.publish(topics.up(f"bg-cgm-{i}"), payload, timeout=60)
            sent += 1
        out.put({"sent": sent, "seconds": time.monotonic() - began})
    finally:
        paced.wait_idle(60)
        client.disconnect()
        client.loop_stop()


def spin(stop: Any) -> None:
    """A CPU hog: a busy loop until ``stop`` is set."""
    n = 0
    while not stop.is_set():
        for _ in range(100_000):
            n += 1


class Hog:
    def __init__(self, processes: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.stop = ctx.Event()
        self.procs = [ctx.Process(target=spin, args=(self.stop,), daemon=True)
                      for _ in range(processes)]
        for proc in self.procs:
            proc.start()

    def close(self) -> None:
        self.stop.set()
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


class Display:
    """A subscriber of every home display: the first message per patient, timed; and of
    the urgent patients' stored events (to split the latency into ingest and coach)."""

    def __init__(self, url: str, urgent_ids: list[str]) -> None:
        self.lock = threading.Lock()
        self.first: dict[str, float] = {}
        self.stored: dict[str, float] = {}
        self.count = 0
        self.ready = threading.Event()
        client = new_client(f"latency-display-{os.getpid()}")
        wanted = [(topics.DOWN_ALL, SubscribeOptions(qos=1))] + [
            (topics.stored(p), SubscribeOptions(qos=1)) for p in urgent_ids]
        client.on_connect = lambda c, *_: c.subscribe(wanted)
        client.on_subscribe = lambda *_: self.ready.set()
        client.on_message = self._on_message
        connect(client, MqttEndpoint.parse(url))
        client.loop_start()
        self.client = client
        if not self.ready.wait(10):
            raise RuntimeError("the display subscriber did not subscribe")

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        at = time.perf_counter()
        stored = topics.last_level(msg.topic, "stored")
        if stored is not None:
            with self.lock:
                self.stored.setdefault(stored, at)
            return
        patient = topics.last_level(msg.topic, "down")
        with self.lock:
            self.count += 1
            if patient is not None and patient not in self.first:
                self.first[patient] = at

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def inject(url: str, display: Display, patients: list[str], every: float,
           wait_s: float = 30.0) -> dict[str, Any]:
    """One urgent low per patient, ``every`` seconds apart; latencies in ms."""
    client = new_client(f"latency-urgent-{os.getpid()}")
    connect(client, MqttEndpoint.parse(url))
    client.loop_start()
    sent: dict[str, float] = {}
    try:
        for pid in patients:
            device = f"{pid}-cgm"
            payload = encode_message(device_id=device, seq=1, readings=[
                {"metric": "glucose", "value": 45, "unit": "mg/dL", "source": "cgm",
                 "time": datetime.now(UTC)}])
            sent[pid] = time.perf_counter()
            client.publish(topics.up(device), payload, qos=1)
            time.sleep(every)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with display.lock:
                if all(p in display.first for p in sent):
                    break
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    with display.lock:
        delays = [1000 * (display.first[p] - t) for p, t in sent.items() if p in display.first]
        ingest = [1000 * (display.stored[p] - t) for p, t in sent.items() if p in display.stored]
        coach = [1000 * (display.first[p] - display.stored[p]) for p in sent
                 if p in display.first and p in display.stored]
    figures = summary(delays, len(sent))
    # The two legs: publish -> ingest's stored event; stored event -> home display.
    figures["to_stored_event"] = summary(ingest, len(sent))
    figures["stored_event_to_display"] = summary(coach, len(sent))
    return figures


def summary(delays: list[float], sent: int) -> dict[str, Any]:
    if not delays:
        return {"sent": sent, "received": 0}
    ms = np.array(delays)
    return {"sent": sent, "received": len(delays),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "max_ms": round(float(ms.max()), 1)}


class Stack:
    def __init__(self, workdir: Path, args: argparse.Namespace) -> None:
        from tests.support.factories import app_database, register
        from tests.support.influxdb import InfluxServer
        from tests.support.mosquitto import MosquittoServer

        self.workdir = workdir
        self.broker = MosquittoServer(workdir / "mosquitto")
        self.broker.start()
        self.influx = None
        if args.store == "influx":
            self.influx = InfluxServer(workdir / "influx")
            self.influx.start()
            self.influx.create_database("hearth")
            ts_url = self.influx.url("hearth")
        else:
            ts_url = f"sqlite:///{workdir / 'timeseries.db'}"
        engine = app_database(workdir / "hearth.db")
        for i in range(args.patients):
            register(engine, f"bg{i:05d}", [(f"bg-cgm-{i}", "cgm")])
        for i in range(args.idle + args.urgent):
            register(engine, f"u{i:04d}", [(f"u{i:04d}-cgm", "cgm")])
        engine.dispose()
        env = {"HEARTH_MQTT_URL": self.broker.url, "HEARTH_TIMESERIES_URL": ts_url,
               "HEARTH_DATABASE_URL": f"sqlite:///{workdir / 'hearth.db'}",
               "HEARTH_INGEST_PRIORITY_LANE": str(args.priority_lane == "on").lower()}
        self.children: list[Child] = []
        for n in range(args.ingest):
            self.children.append(hearth_child(
                f"ingest-{n}", "ingest", workdir=workdir,
                env={**env, "HEARTH_INGEST_CLIENT_ID": f"bench-ingest-{n}",
                     "HEARTH_INGEST_SHARED_GROUP": "hearth"}))
        for n in range(args.coaches):
            coach = hearth_child(f"coach-{n}", "coach", workdir=workdir,
                                 env={**env, "HEARTH_COACH_CLIENT_ID": f"bench-coach-{n}",
                                      "HEARTH_COACH_REPORT_S": "5"})
            coach.argv.append("--no-scheduler")
            self.children.append(coach)
        for child in self.children:
            child.start()
        deadline = time.monotonic() + 120
        while not all(("subscribed to" in c.log()) for c in self.children):
            if time.monotonic() > deadline:
                raise RuntimeError("a service did not subscribe: see " + str(workdir))
            time.sleep(0.2)
        self.ts_url = ts_url

    def pids(self) -> dict[str, int | None]:
        return {c.name: c.pid for c in self.children}

    def stored_background(self) -> int:
        """Readings of the background devices in the store."""
        if self.influx is not None:
            import httpx

            r = httpx.get(f"{self.influx.base_url}/query", params={
                "db": "hearth", "q": "SELECT count(\"value\") FROM \"glucose\" WHERE "
                "\"device\" =~ /^bg-cgm-/"}, timeout=60)
            series = r.json()["results"][0].get("series") or []
            return int(series[0]["values"][0][1]) if series else 0
        import sqlite3

        db = sqlite3.connect(f"file:{self.workdir / 'timeseries.db'}?mode=ro", uri=True,
                             timeout=30)
        try:
            return int(db.execute("SELECT count(*) FROM readings WHERE device_id LIKE "
                                  "'bg-cgm-%'").fetchone()[0])
        finally:
            db.close()

    def close(self, keep: Path | None = None) -> None:
        for child in self.children:
            child.stop()
        if keep is not None:  # the services' logs, for a look afterwards
            keep.mkdir(parents=True, exist_ok=True)
            for child in self.children:
                (keep / f"{child.name}.log").write_text(child.log())
        if self.influx is not None:
            self.influx.stop()
        self.broker.kill()


def run(args: argparse.Namespace) -> dict[str, Any]:
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="hearth-latency-") as tmp:
        workdir = Path(tmp)
        stack = Stack(workdir, args)
        display = Display(stack.broker.url, [f"u{i:04d}" for i in range(args.idle + args.urgent)])
        hog: Hog | None = None
        try:
            time.sleep(2)
            idle_ids = [f"u{i:04d}" for i in range(args.idle)]
            load_idle = os.getloadavg()
            idle = inject(stack.broker.url, display, idle_ids, args.gap)
            show(f"  idle stack: {fmt(idle)}")

            hog = Hog(args.hog) if args.hog else None
            ctx = multiprocessing.get_context("spawn")
            ready, go, out = ctx.Event(), ctx.Event(), ctx.Queue()
            loader = ctx.Process(target=background_load, args=(
                stack.broker.url, args.patients, args.rate, args.seconds, ready, go, out))
            loader.start()
            ready.wait(60)
            stored_before = stack.stored_background()
            go.set()
            t0 = time.monotonic()
            time.sleep(args.warmup)
            urgent_ids = [f"u{i:04d}" for i in range(args.idle, args.idle + args.urgent)]
            every = max(0.05, (args.seconds - args.warmup - 2) / max(1, args.urgent))
            if args.every:
                every = args.every
            loaded = inject(stack.broker.url, display, urgent_ids, every,
                            wait_s=max(30.0, args.seconds))
            load_loaded = os.getloadavg()
            background = out.get(timeout=args.seconds + 120)
            loader.join(30)
            if hog is not None:
                hog.close()
                hog = None
            elapsed = time.monotonic() - t0
            time.sleep(3)
            stored = stack.stored_background() - stored_before
            show(f"  under load: {fmt(loaded)}")
        finally:
            if hog is not None:
                hog.close()
            display.close()
            stack.close(args.keep_logs)
    figures: dict[str, Any] = {
        "target_p99_ms": TARGET_P99_MS, "store": args.store, "ingest_processes": args.ingest,
        "hog_processes": args.hog, "priority_lane": args.priority_lane,
        "load_average_start_1_5_15": [round(x, 2) for x in load_start],
        "coach_processes": args.coaches, "background_patients": args.patients,
        "idle": idle, "loaded": loaded,
        "background": {"target_per_s": args.rate, "published": background["sent"],
                       "published_per_s": round(background["sent"] / background["seconds"], 1),
                       "stored": stored, "stored_per_s": round(stored / elapsed, 1),
                       "seconds": round(background["seconds"], 1)},
        "urgent_every_s": round(every, 3),
        "load_average_idle_1_5_15": [round(x, 2) for x in load_idle],
        "load_average_loaded_1_5_15": [round(x, 2) for x in load_loaded],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if "p99_ms" in idle and "p99_ms" in loaded:
        figures["ratio_p99_loaded_to_idle"] = round(loaded["p99_ms"] / idle["p99_ms"], 2)
        figures["ratio_p99_loaded_to_target"] = round(loaded["p99_ms"] / TARGET_P99_MS, 3)
    return figures


def fmt(s: dict[str, Any]) -> str:
    if "p99_ms" not in s:
        return f"{s['received']} of {s['sent']} answered"
    text = (f"{s['received']}/{s['sent']} answered; p50 {s['p50_ms']:.0f} ms, p95 "
            f"{s['p95_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms, max {s['max_ms']:.0f} ms")
    for leg, name in (("to_stored_event", "publish -> stored event"),
                      ("stored_event_to_display", "stored event -> display")):
        if "p99_ms" in s.get(leg, {}):
            text += (f"\n      {name}: p50 {s[leg]['p50_ms']:.0f} ms, "
                     f"p99 {s[leg]['p99_ms']:.0f} ms, max {s[leg]['max_ms']:.0f} ms")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0, help="background readings/s")
    parser.add_argument("--seconds", type=float, default=60.0, help="background duration")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--patients", type=int, default=2000, help="background patients")
    parser.add_argument("--urgent", type=int, default=100, help="urgent lows under load")
    parser.add_argument("--every", type=float, default=0.0,
                        help="seconds between them (default: spread over the run)")
    parser.add_argument("--idle", type=int, default=50, help="urgent lows on the idle stack")
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between idle ones")
    parser.add_argument("--store", choices=("influx", "sqlite"), default="influx")
    parser.add_argument("--ingest", type=int, default=1, help="ingest processes")
    parser.add_argument("--coaches", type=int, default=1, help="coach processes")
    parser.add_argument("--quick", action="store_true",
                        help="a short run: 300 readings/s for 20 s")
    parser.add_argument("--hog", type=int, default=0,
                        help="busy-loop processes beside the stack in the loaded phase")
    parser.add_argument("--priority-lane", choices=("on", "off"), default="on",
                        help="ingest's priority lane (off: the ordinary path only)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--keep-logs", type=Path, default=None,
                        help="copy the services' logs into this directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.rate, args.seconds, args.warmup, args.patients = 300.0, 20.0, 4.0, 300
        args.urgent, args.idle = 20, 10
    show(f"latency: urgent low -> home display; {args.rate:g} readings/s from "
         f"{args.patients} patients for {args.seconds:g} s; store {args.store}; "
         f"{args.ingest} ingest, {args.coaches} coach process(es); CPU hog {args.hog} "
         f"process(es); priority lane {args.priority_lane}")
    figures = run(args)
    bg = figures["background"]
    show(f"  background: {bg['published_per_s']:g} readings/s published, "
         f"{bg['stored_per_s']:g}/s stored (target {bg['target_per_s']:g}/s)")
    if "ratio_p99_loaded_to_idle" in figures:
        show(f"  p99 loaded / idle = {figures['ratio_p99_loaded_to_idle']:g}; "
             f"p99 / target ({TARGET_P99_MS:.0f} ms) = {figures['ratio_p99_loaded_to_target']:g}")
    show(f"  load average (1/5/15 min): start {figures['load_average_start_1_5_15']}, "
         f"idle {figures['load_average_idle_1_5_15']}, "
         f"loaded {figures['load_average_loaded_1_5_15']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    show(f"  written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
