"""Ingest benchmark: readings stored per second against a subscriber that does nothing.

Every consumer runs as its own process against one real Mosquitto (docs/INGEST.md's
settings) and drains the same backlog: its session exists, it is offline while the
whole workload is queued, then it starts and drains it.

- ``hearth``: ``hearth ingest`` (SQLite store, priority lane on: production). A
  message counts as done when its ``hearth/v1/ack/{device}`` arrives (sent after the
  commit). The benchmark subscribes to the acknowledgements of one device in
  ``SAMPLE`` only, so that its own reading of acknowledgements costs the shared CPU
  little; the workload is interleaved across devices, so the sample's timeline is the
  whole stream's. Every reading's storage is checked at the end (exactly once).
- ``null``: a paho subscriber that truly does nothing (bench/ingest_baselines.py:
  it counts, publishes nothing); its own first and last arrival times: the
  broker-delivery limit.
- ``naive`` (``--naive``): validate and commit once per message, auto-ack; on a
  tenth of the workload (it is some 10x slower), once.

Honesty rules (issue 22): the workload belongs to many patients (``PATIENTS``, one CGM
each), not many devices of one; each hearth drain lasts about 20 s or more on this
machine (``--quick`` is shorter and says so); hearth and the do-nothing subscriber
alternate within each round (bench/hygiene.py: baseline first in odd rounds), and
the ratio of each round is printed and kept; every figure keeps the 1-minute load
at its start and end, whether it waited for or ran out of waiting for a quiet
machine (``loaded``), and the CPU time of the consumer (hearth with its priority-lane
process) and of Mosquitto beside the wall time of the drain.

Usage (from the repository root): python -m bench.ingest [--quick] [--rounds N] [--naive]
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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.orm import Session

from bench import hygiene
from core import topics
from core.appdb.directory import PatientInfo, bind_devices, upsert_patient
from core.appdb.engine import create_schema, make_engine
from core.contract import encode_message
from core.mqtt import MqttEndpoint, connect, new_client
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.support.factories import publisher, wait_until
from tests.support.mosquitto import MosquittoServer

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PATIENTS = 2_000  # one CGM each
SAMPLE = 20  # the benchmark reads the acknowledgements of one device in SAMPLE
DEVICES = 200  # the old workload's devices (bench/footprint.py still uses it)
Message = tuple[str, str, int, bytes]  # topic, device, seq, payload


def _say(text: str) -> None:
    """One line of the benchmark's output (sys.stdout is looked up now: the runner may tee it)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def device_of(patient: int) -> str:
    return f"cgm-{patient:05d}"


def patient_of(patient: int) -> str:
    return f"bench-p{patient:05d}"


def register_patients(database_url: str, patients: int = PATIENTS) -> None:
    """``patients`` patients with one CGM each, in one transaction."""
    engine = make_engine(database_url)
    create_schema(engine)
    with Session(engine) as session:
        for p in range(patients):
            upsert_patient(session, PatientInfo(patient_of(p), patient_of(p), "UTC"))
        session.flush()
        for p in range(patients):
            bind_devices(session, patient_of(p), [(device_of(p), "cgm")])
        session.commit()
    engine.dispose()


def patients_workload(messages: int, per_message: int, start: datetime,
                      patients: int = PATIENTS) -> list[Message]:
    """``messages`` messages of ``per_message`` readings, round robin over the patients'
    CGMs (message k is device k % patients's seq k // patients); every reading distinct,
    none recent (the priority lane has nothing to do)."""
    out: list[Message] = []
    for k in range(messages):
        p, seq = k % patients, k // patients
        device = device_of(p)
        first = start + timedelta(minutes=5 * seq * per_message)
        entries = [{"value": 70 + (seq + i + p) % 200, "offset_s": 300 * i}
                   for i in range(per_message)]
        base = {"metric": "glucose", "unit": "mg/dL", "source": "cgm", "time": first}
        out.append((topics.up(device), device, seq,
                    encode_message(device_id=device, seq=seq, base=base, readings=entries)))
    return out


def workload(messages_per_device: int, per_message: int, start: datetime) -> list[Message]:
    """The pre-issue-22 workload: ``DEVICES`` CGMs of one patient (bench/footprint.py)."""
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


@dataclass
class Figures:
    consumer: str
    workload: str
    readings: int
    readings_per_s: float
    drain_s: float
    cpu_s: float  # the consumer's CPU over the drain (hearth: with its lane process)
    broker_cpu_s: float  # Mosquitto's CPU over the drain
    peak_rss_mb: float
    stored: int
    latency_p50_ms: float = 0.0  # backlog: not a property of the consumer (kept for report.py)
    latency_p99_ms: float = 0.0
    repetition: int = 0
    loadavg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # 1/5/15 min, when it finished
    extra: dict[str, Any] = field(default_factory=dict)


class Consumer:
    """One consumer process; the same client id across restarts keeps its broker session."""

    def __init__(self, kind: str, workdir: Path, broker: MosquittoServer, run: int,
                 database_url: str) -> None:
        self.kind = kind
        self.db = workdir / f"ts-{kind}-{run}.db"
        self.result = workdir / f"{kind}-{run}.json"
        self.env = {
            **os.environ,
            "HEARTH_MQTT_URL": broker.url,
            "HEARTH_TIMESERIES_URL": f"sqlite:///{self.db}",
            "HEARTH_DATABASE_URL": database_url,
            "HEARTH_INGEST_CLIENT_ID": f"bench-{kind}-{run}",
            "HEARTH_BENCH_RESULT": str(self.result),
        }
        self.command = ([sys.executable, "-m", "hearth", "ingest"] if kind == "hearth"
                        else [sys.executable, "-m", "bench.ingest_baselines", kind])
        self.log = workdir / f"{kind}-{run}.log"
        self.peak_rss = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and wait for the subscription; the process tree's CPU by then."""
        self.log.write_bytes(b"")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.command, cwd=REPO, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)
        threading.Thread(target=self._sample, args=(self.process,), daemon=True).start()
        wait_until(lambda: "subscribed" in self.log.read_text(), timeout=300,
                   message=f"{self.kind} subscribed")
        return hygiene.tree_cpu([self.process.pid])

    def cpu(self) -> float:
        return hygiene.tree_cpu([self.process.pid]) if self.process else 0.0

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
            for child in psutil.Process(self.process.pid).children(recursive=True):
                try:
                    child.kill()
                except psutil.Error:
                    pass
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


class _SampledAcks:
    """The acknowledgements of the sampled devices: when each of their seqs was acked."""

    def __init__(self, url: str, devices: list[str]) -> None:
        self.times: dict[tuple[str, int], float] = {}
        self.lock = threading.Lock()
        self._ready = threading.Event()
        self._client = new_client(f"bench-acks-{time.monotonic_ns()}")
        self._devices = devices
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_a: self._ready.set()
        self._client.on_message = self._on_message
        connect(self._client, MqttEndpoint.parse(url))
        self._client.loop_start()
        assert self._ready.wait(30), "ack subscription not confirmed"

    def _on_connect(self, c: Any, *_a: Any) -> None:
        c.subscribe([(topics.ack(d), 1) for d in self._devices])

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        at = time.perf_counter()
        body = json.loads(msg.payload)
        with self.lock:
            for seq in body["seqs"]:
                self.times.setdefault((body["device_id"], seq), at)

    def count(self) -> int:
        with self.lock:
            return len(self.times)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _publish(broker: MosquittoServer, messages: list[Message]) -> None:
    with publisher(broker.url, window=1000) as pub:
        for topic, _device, _seq, payload in messages:
            pub.publish(topic, payload)


def measure(kind: str, name: str, messages: list[Message], per_message: int,
            broker: MosquittoServer, workdir: Path, run: int, database_url: str) -> Figures:
    """Backlog drain: the consumer's session exists, it is offline while the workload is
    queued, then restarted. Throughput runs from the first completion to the last."""
    consumer = Consumer(kind, workdir, broker, run, database_url)
    consumer.env["HEARTH_BENCH_EXPECT"] = str(len(messages))
    broker_pid = broker.process.pid if broker.process else 0
    sampled = sorted({m[1] for m in messages})[::SAMPLE]
    acks = _SampledAcks(broker.url, sampled) if kind != "null" else None
    try:
        consumer.start()
        consumer.kill()
        _publish(broker, messages)
        broker_cpu0 = hygiene.tree_cpu([broker_pid])
        cpu0 = consumer.start()
        readings = len(messages) * per_message
        if acks is None:
            wait_until(consumer.result.exists, timeout=900, interval=0.1,
                       message="the do-nothing subscriber received every message")
            got = json.loads(consumer.result.read_text())
            first, last, cpu = got["first"], got["last"], got["cpu_s"]
            rate = (got["messages"] - 1) * per_message / (last - first)
        else:
            expected = sum(1 for m in messages if m[1] in set(sampled))
            wait_until(lambda: acks.count() >= expected, timeout=900, interval=0.1,
                       message=f"{kind} acknowledged every sampled message")
            cpu = consumer.cpu() - cpu0
            with acks.lock:
                times = sorted(acks.times.values())
            first, last = times[0], times[-1]
            # the sample's messages after the first arrival, scaled to the whole stream
            rate = (expected - 1) * (len(messages) / expected) * per_message / (last - first)
        broker_cpu = hygiene.tree_cpu([broker_pid]) - broker_cpu0
        loads = os.getloadavg()
        consumer.kill()
        stored = consumer.stored()
        if kind != "null" and stored != readings:
            raise AssertionError(f"{kind} stored {stored} of {readings} readings")
        return Figures(kind, name, readings, rate, last - first, cpu, broker_cpu,
                       consumer.peak_rss / 2**20, stored,
                       loadavg=(round(loads[0], 2), round(loads[1], 2), round(loads[2], 2)))
    finally:
        if acks is not None:
            acks.close()
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


def main(argv: list[str] | None = None) -> list[Figures]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the workload (drains of a few seconds: noisy)")
    parser.add_argument("--rounds", "--repeat", type=int, default=3, dest="rounds",
                        help="rounds of hearth and the do-nothing subscriber (default 3)")
    parser.add_argument("--scale", type=float, default=None,
                        help="a fraction of the full workload (--quick is 0.1)")
    parser.add_argument("--naive", action="store_true",
                        help="also the commit-per-message consumer, once, on a tenth")
    parser.add_argument("--only", choices=("batched", "single"), default=None)
    args = parser.parse_args(argv)
    scale = args.scale or (0.1 if args.quick else 1.0)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=300)
    plans = [
        # sized so that hearth drains each in about 20 s or more on this machine
        ("backlog, 20/msg", patients_workload(int(60_000 * scale), 20, start), 20),
        ("backlog, 1/msg", patients_workload(int(200_000 * scale), 1, start), 1),
    ]
    if args.only:
        plans = [plans[0 if args.only == "batched" else 1]]
    results: list[Figures] = []
    pairs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        workdir = Path(tmp)
        database_url = f"sqlite:///{workdir / 'hearth.db'}"
        register_patients(database_url)
        broker = MosquittoServer(workdir / "mosquitto")
        broker.start()
        runner = _Runner(broker, workdir, database_url, results)
        try:
            for name, messages, per_message in plans:
                got = hygiene.alternate(
                    f"hearth, {name}", runner.bind("hearth", name, messages, per_message),
                    f"do-nothing, {name}", runner.bind("null", name, messages, per_message),
                    rounds=args.rounds, value=lambda r: float(r["readings_per_s"]))
                pairs[name] = got.summary()
                if args.naive:
                    runner.bind("naive", name, messages[: len(messages) // 10], per_message)()
        finally:
            broker.kill()
    _report(results, pairs, quick=args.quick, scale=scale)
    return results


class _Runner:
    """Runs one consumer on one workload; numbers the runs and each consumer's rounds."""

    def __init__(self, broker: MosquittoServer, workdir: Path, database_url: str,
                 results: list[Figures]) -> None:
        self.broker, self.workdir, self.database_url = broker, workdir, database_url
        self.results = results
        self.run = 0
        self.rounds: dict[tuple[str, str], int] = {}

    def bind(self, kind: str, name: str, messages: list[Message],
             per_message: int) -> Callable[[], dict[str, Any]]:
        def one() -> dict[str, Any]:
            self.run += 1
            key = (kind, name)
            self.rounds[key] = self.rounds.get(key, 0) + 1
            f = measure(kind, name, messages, per_message, self.broker, self.workdir, self.run,
                        self.database_url)
            f.repetition = self.rounds[key]
            self.results.append(f)
            _say(_row(f))
            return asdict(f)
        return one


def _row(f: Figures) -> str:
    return (f"{f.workload:<16} {f.consumer:<7} {f.readings:>8} readings  "
            f"{f.readings_per_s:>9,.0f}/s  drain {f.drain_s:6.1f} s  CPU {f.cpu_s:6.1f} s "
            f"(broker {f.broker_cpu_s:5.1f} s)  peak RSS {f.peak_rss_mb:>6.1f} MB  "
            f"stored {f.stored}  load {f.loadavg[0]:.1f}/{f.loadavg[1]:.1f}/{f.loadavg[2]:.1f}")


def _summary(results: list[Figures], pairs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per workload: hearth's rate and its ratio to the do-nothing subscriber of the same
    round, best and median over the rounds, with the loads and CPU seen."""
    rows: list[dict[str, Any]] = []
    for name, pair in pairs.items():
        hearth = sorted((f for f in results if f.workload == name and f.consumer == "hearth"),
                        key=lambda f: f.repetition)
        null = sorted((f for f in results if f.workload == name and f.consumer == "null"),
                      key=lambda f: f.repetition)
        naive = [f for f in results if f.workload == name and f.consumer == "naive"]
        ratios = [h.readings_per_s / n.readings_per_s for h, n in zip(hearth, null, strict=True)]
        rows.append({
            "workload": name,
            "repetitions": len(ratios),
            "hearth_readings_per_s": [h.readings_per_s for h in hearth],
            "null_readings_per_s": [n.readings_per_s for n in null],
            "naive_readings_per_s": [n.readings_per_s for n in naive],
            "ratio_to_null": ratios,
            "best_hearth_readings_per_s": max(h.readings_per_s for h in hearth),
            "median_hearth_readings_per_s": statistics.median(h.readings_per_s for h in hearth),
            "best_ratio_to_null": max(ratios),
            "median_ratio_to_null": statistics.median(ratios),
            "hearth_drain_s": [h.drain_s for h in hearth],
            "hearth_cpu_us_per_reading": [1e6 * h.cpu_s / h.readings for h in hearth],
            "null_cpu_us_per_reading": [1e6 * n.cpu_s / n.readings for n in null],
            "hearth_peak_rss_mb": max(h.peak_rss_mb for h in hearth),
            "load_1min": pair["load_1min"],
            "loaded_rounds": pair["loaded_rounds"],
            "loadavg": [h.loadavg for h in hearth],
        })
    return rows


def _median_run(results: list[Figures], summary: list[dict[str, Any]]) -> list[Figures]:
    """Per workload, hearth and null of the round whose ratio is the median."""
    chosen: list[Figures] = []
    for row in summary:
        ratios = list(row["ratio_to_null"])
        median_rep = sorted(range(len(ratios)), key=ratios.__getitem__)[(len(ratios) - 1) // 2] + 1
        chosen += [f for f in results if f.workload == row["workload"]
                   and (f.repetition == median_rep or f.consumer == "naive")]
    return chosen


def _report(results: list[Figures], pairs: dict[str, dict[str, Any]], *,
            quick: bool = False, scale: float = 1.0) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = _summary(results, pairs)
    _say(f"\nHearth ingest against the do-nothing subscriber, alternating in each round "
         f"({PATIENTS} patients, one CGM each; SQLite):")
    for row in summary:
        _say(f"  {row['workload']:<16} hearth median "
             f"{row['median_hearth_readings_per_s']:>9,.0f}/s;"
             f" x do-nothing each round {', '.join(f'{r:.2f}' for r in row['ratio_to_null'])}"
             f" (median {row['median_ratio_to_null']:.2f}); drains "
             f"{', '.join(f'{d:.0f}' for d in row['hearth_drain_s'])} s; CPU "
             f"{statistics.median(row['hearth_cpu_us_per_reading']):.1f} µs a reading "
             f"(do-nothing {statistics.median(row['null_cpu_us_per_reading']):.1f}); load "
             f"{row['load_1min'][0]:.1f}-{row['load_1min'][1]:.1f} on {hygiene.CORES} cores, "
             f"{row['loaded_rounds']} round(s) loaded; peak RSS {row['hearth_peak_rss_mb']:.1f} MB")
    (RESULTS / "ingest.json").write_text(json.dumps(
        {"measured_at": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(), "quick": quick,
         "patients": PATIENTS, "scale": scale, "summary": summary, "pairs": pairs,
         "results": [asdict(f) for f in _median_run(results, summary)],
         "runs": [asdict(f) for f in results]}, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
