"""Ingest benchmark: readings stored per second, end-to-end latency and peak RSS.

Every consumer runs as its own process against one real Mosquitto and is
measured the same way: a message counts as done when the consumer's
``hearth/v1/ack/{device}`` for it arrives (Hearth's ingest sends it after the
commit). Baselines measured in the same run:

- ``null``: a paho subscriber that does nothing (the broker-delivery limit);
- ``naive``: validate and commit once per message, auto-ack.

The machine is shared, so every workload is measured ``--repeat`` times (each
repetition measures the three consumers back to back); the json keeps every run
with the 1/5/15-minute load average around it, and a summary with the best and
the median of hearth's rate and of its ratio to the do-nothing subscriber of the
same repetition. ``results`` holds, per workload, the repetition with the median
ratio (so that its figures and baselines come from one run).

Usage (from the repository root): python -m bench.ingest [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psutil

from core import topics
from core.appdb.engine import create_schema, make_engine
from core.contract import encode_message
from core.mqtt import MqttEndpoint, connect, new_client
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.support.factories import publisher, register, subscribed, wait_until
from tests.support.mosquitto import MosquittoServer

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DEVICES = 200


def _say(text: str) -> None:
    """One line of the benchmark's output (sys.stdout is looked up now: the runner may tee it)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Figures:
    consumer: str
    workload: str
    readings: int
    readings_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    peak_rss_mb: float
    stored: int
    repetition: int = 0
    loadavg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # 1/5/15 min, when it finished


def workload(
    messages_per_device: int, per_message: int, start: datetime
) -> list[tuple[str, str, int, bytes]]:
    """(topic, device, seq, payload), interleaved across devices; every reading distinct."""
    out = []
    for seq in range(messages_per_device):
        for d in range(DEVICES):
            device = f"bench-{d}"
            first = start + timedelta(minutes=5 * seq * per_message)
            entries = [
                {"value": 70 + (seq + i) % 200, "offset_s": 300 * i} for i in range(per_message)
            ]
            base = {"metric": "glucose", "unit": "mg/dL", "source": "cgm", "time": first}
            payload = encode_message(device_id=device, seq=seq, base=base, readings=entries)
            out.append((topics.up(device), device, seq, payload))
    return out


class Consumer:
    """One consumer process; the same client id across restarts keeps its broker session."""

    def __init__(self, kind: str, workdir: Path, broker: MosquittoServer, run: int) -> None:
        self.kind = kind
        self.db = workdir / f"ts-{kind}-{run}.db"
        self.env = {
            **os.environ,
            "HEARTH_MQTT_URL": broker.url,
            "HEARTH_TIMESERIES_URL": f"sqlite:///{self.db}",
            "HEARTH_DATABASE_URL": f"sqlite:///{workdir / 'hearth.db'}",
            "HEARTH_INGEST_CLIENT_ID": f"bench-{kind}-{run}",
        }
        self.command = ([sys.executable, "-m", "hearth", "ingest"] if kind == "hearth"
                        else [sys.executable, "-m", "bench.ingest_baselines", kind])
        self.log = workdir / f"{kind}-{run}.log"
        self.peak_rss = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.command, cwd=REPO, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)
        threading.Thread(target=self._sample, args=(self.process,), daemon=True).start()
        wait_until(lambda: "subscribed" in self.log.read_text(), timeout=30,
                   message=f"{self.kind} subscribed")

    def _sample(self, process: subprocess.Popen[bytes]) -> None:
        proc = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                self.peak_rss = max(self.peak_rss, proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stored(self) -> int:
        if self.kind == "null" or not self.db.exists():
            return 0
        store = SqliteTimeSeriesStore(self.db)
        try:
            return store.count()
        finally:
            store.close()


def _publish(broker: MosquittoServer, messages: list[tuple[str, str, int, bytes]],
             rate: float | None) -> dict[tuple[str, int], float]:
    sent: dict[tuple[str, int], float] = {}
    t0 = time.perf_counter()
    with publisher(broker.url, window=1000) as pub:
        for i, (topic, device, seq, payload) in enumerate(messages):
            if rate:
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            sent[(device, seq)] = time.perf_counter()
            pub.publish(topic, payload)
    return sent


def measure(kind: str, name: str, messages: list[tuple[str, str, int, bytes]], per_message: int,
            broker: MosquittoServer, workdir: Path, run: int, rate: float | None) -> Figures:
    """Backlog drain (rate None): the consumer is offline while the workload is queued, then
    restarted; throughput runs from its first acknowledgement to its last. Paced (rate set):
    the consumer is online; latency is publish to acknowledgement."""
    consumer = Consumer(kind, workdir, broker, run)
    try:
        consumer.start()
        with subscribed(broker.url, "hearth/v1/ack/+") as acks:
            if rate is None:
                consumer.kill()
                sent = _publish(broker, messages, None)
                consumer.start()
            else:
                sent = _publish(broker, messages, rate)
            wait_until(lambda: len(_ack_times(acks)) >= len(messages), timeout=600, interval=0.1,
                       message=f"{kind} acknowledged every message")
            received = _ack_times(acks)
        first, last = min(received.values()), max(received.values())
        readings = len(messages) * per_message
        throughput = (readings - per_message) / (last - first) if rate is None else \
            readings / (last - min(sent.values()))
        latencies = np.array([received[k] - sent[k] for k in sent]) * 1000
        return Figures(kind, name, readings, throughput, float(np.percentile(latencies, 50)),
                       float(np.percentile(latencies, 99)), consumer.peak_rss / 2**20,
                       consumer.stored(), loadavg=_loadavg())
    finally:
        consumer.kill()
        _forget_session(broker, consumer.env["HEARTH_INGEST_CLIENT_ID"])


def _forget_session(broker: MosquittoServer, client_id: str) -> None:
    """End a consumer's persistent session (clean start, expiry 0). Left alone, every
    session of the earlier runs stays subscribed and Mosquitto queues (and saves to
    disk every second) each later message for it too, slowing each repetition."""
    client = new_client(client_id)
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    connect(client, MqttEndpoint.parse(broker.url), clean_start=True, session_expiry_s=0)
    client.loop_start()
    try:
        connected.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()


def _loadavg() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return (round(one, 2), round(five, 2), round(fifteen, 2))


def _ack_times(acks: object) -> dict[tuple[str, int], float]:
    times: dict[tuple[str, int], float] = {}
    with acks.lock:  # type: ignore[attr-defined]
        for (_topic, payload), at in zip(acks.messages, acks.times, strict=True):  # type: ignore[attr-defined]
            body = json.loads(payload)
            for seq in body["seqs"]:
                times.setdefault((body["device_id"], seq), at)
    return times


def main(argv: list[str] | None = None) -> list[Figures]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller workload")
    parser.add_argument("--repeat", type=int, default=2,
                        help="measure each workload this many times (default 2)")
    args = parser.parse_args(argv)
    scale = 5 if args.quick else 1
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=300)
    results: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        workdir = Path(tmp)
        engine = make_engine(f"sqlite:///{workdir / 'hearth.db'}")
        create_schema(engine)
        register(engine, "bench-patient", [(f"bench-{d}", "cgm") for d in range(DEVICES)])
        broker = MosquittoServer(workdir / "mosquitto")
        broker.start()
        try:
            plans = [
                ("backlog, 20/msg", workload(25 // scale, 20, start), 20, None),
                ("backlog, 1/msg", workload(100 // scale, 1, start), 1, None),
                ("live 1000/s", workload(25 // scale, 1, start), 1, 1000.0),
            ]
            run = 0
            for repetition in range(1, args.repeat + 1):
                for name, messages, per_message, rate in plans:
                    for kind in ("null", "naive", "hearth"):
                        run += 1
                        figures = measure(kind, name, messages, per_message, broker, workdir,
                                          run, rate)
                        figures.repetition = repetition
                        results.append(figures)
                        _say(_row(figures))
        finally:
            broker.kill()
    _report(results, quick=args.quick)
    return results


def _row(f: Figures) -> str:
    return (f"{f.workload:<16} {f.consumer:<7} {f.readings:>7} readings  "
            f"{f.readings_per_s:>9,.0f}/s  "
            f"p50 {f.latency_p50_ms:>7.1f} ms  p99 {f.latency_p99_ms:>8.1f} ms  "
            f"peak RSS {f.peak_rss_mb:>6.1f} MB  stored {f.stored}  "
            f"load {f.loadavg[0]:.1f}/{f.loadavg[1]:.1f}/{f.loadavg[2]:.1f}")


def _summary(results: list[Figures]) -> list[dict[str, object]]:
    """Per workload: hearth's rate and its ratio to the do-nothing subscriber of the same
    repetition, best and median over the repetitions, with the load averages seen."""
    by = {(f.workload, f.consumer, f.repetition): f for f in results}
    rows: list[dict[str, object]] = []
    for workload_name in dict.fromkeys(f.workload for f in results):
        reps = sorted({f.repetition for f in results if f.workload == workload_name})
        hearth = [by[(workload_name, "hearth", r)] for r in reps]
        null = [by[(workload_name, "null", r)] for r in reps]
        naive = [by[(workload_name, "naive", r)] for r in reps]
        ratios = [h.readings_per_s / n.readings_per_s for h, n in zip(hearth, null, strict=True)]
        rows.append({
            "workload": workload_name,
            "repetitions": len(reps),
            "hearth_readings_per_s": [h.readings_per_s for h in hearth],
            "null_readings_per_s": [n.readings_per_s for n in null],
            "naive_readings_per_s": [n.readings_per_s for n in naive],
            "ratio_to_null": ratios,
            "best_hearth_readings_per_s": max(h.readings_per_s for h in hearth),
            "median_hearth_readings_per_s": statistics.median(h.readings_per_s for h in hearth),
            "best_ratio_to_null": max(ratios),
            "median_ratio_to_null": statistics.median(ratios),
            "median_ratio_to_naive": statistics.median(
                h.readings_per_s / n.readings_per_s for h, n in zip(hearth, naive, strict=True)),
            "hearth_latency_p99_ms": [h.latency_p99_ms for h in hearth],
            "hearth_peak_rss_mb": max(h.peak_rss_mb for h in hearth),
            "loadavg": [h.loadavg for h in hearth],
        })
    return rows


def _median_run(results: list[Figures], summary: list[dict[str, object]]) -> list[Figures]:
    """Per workload, the three consumers of the repetition whose ratio is the median."""
    chosen: list[Figures] = []
    for row in summary:
        ratios = list(row["ratio_to_null"])  # type: ignore[call-overload]
        median_rep = sorted(range(len(ratios)), key=ratios.__getitem__)[(len(ratios) - 1) // 2] + 1
        chosen += [f for f in results
                   if f.workload == row["workload"] and f.repetition == median_rep]
    return chosen


def _report(results: list[Figures], *, quick: bool = False) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = _summary(results)
    _say("\nHearth ingest against the baselines measured in the same repetition:")
    for row in summary:
        _say(f"  {row['workload']:<16} hearth best {row['best_hearth_readings_per_s']:>9,.0f}/s "
             f"median {row['median_hearth_readings_per_s']:>9,.0f}/s; "
             f"x do-nothing best {row['best_ratio_to_null']:.2f} "
             f"median {row['median_ratio_to_null']:.2f}; "
             f"x commit-per-message median {row['median_ratio_to_naive']:.1f}; "
             f"peak RSS {row['hearth_peak_rss_mb']:.1f} MB")
    (RESULTS / "ingest.json").write_text(json.dumps(
        {"measured_at": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(), "quick": quick,
         "summary": summary,
         "results": [asdict(f) for f in _median_run(results, summary)],
         "runs": [asdict(f) for f in results]}, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
