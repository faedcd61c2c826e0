"""Ingest throughput by store and by number of ingest processes, measured in one run.

The production pairings against the embedded default: `hearth ingest` backed by
SQLite, by InfluxDB (Debian's influxd, started here), and (``--two``) two `hearth
ingest` processes on one shared subscription backed by InfluxDB. Each case drains the
same backlog (the consumers are offline while it is queued in Mosquitto, as
after an outage) of ``bench.ingest.PATIENTS`` patients with one CGM each (issue 22: many
patients, not 200 devices of one), sized for drains of about 20 s; the rate runs from
the first commit acknowledgement (``hearth/v1/ack/{device}``) of the sampled devices
(one in ``bench.ingest.SAMPLE``) to the last. Target (issue 22): InfluxDB-backed
batched ingest at no less than 0.9x the SQLite-backed rate of the same round.

The machine is shared, so one drain is noisy: the cases run in rounds
(``--repeat``; the order reversed every other round, so that neither store always
follows the other), and the report gives each case's median rate, the ratio of the
medians and the ratio within each round. Beside the rates it gives the CPU time
each case spent per 100,000 readings: the ingest processes' (minus what one start-up
up to the subscription costs) and influxd's, which the load of other people's
work on the machine does not inflate the way it inflates the wall clock; and every
figure keeps the 1-minute load at its start and end (bench/hygiene.py).

Usage (from the repository root): python -m bench.storage [--quick] [--repeat N] [--two]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from bench import hygiene
from bench.ingest import SAMPLE, _SampledAcks, patients_workload, register_patients
from core.timeseries import TimeSeriesStore
from core.timeseries.factory import open_store
from tests.support.factories import publisher, wait_until
from tests.support.influxdb import InfluxServer
from tests.support.ingest_processes import IngestProcess
from tests.support.mosquitto import MosquittoServer

RESULTS = Path(__file__).resolve().parent / "results"
TARGET = 0.90


def _say(text: str) -> None:
    """One line of the benchmark's output (sys.stdout is looked up now: the runner may tee it)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Case:
    store: str  # "sqlite" or "influxdb"
    processes: int

    @property
    def name(self) -> str:
        return f"{self.store} ×{self.processes}"


@dataclass
class Figures:
    case: str
    workload: str
    readings: int
    readings_per_s: float
    drain_s: float
    stored: int
    round: int = 0
    ingest_cpu_s: float = 0.0  # the ingest processes, minus their start-up
    influxd_cpu_s: float = 0.0  # the InfluxDB server, over the drain
    load_start: float = 0.0  # 1-minute load average at the start and the end
    load_end: float = 0.0
    loaded: bool = False  # the load stayed above the cores for the whole wait before it


class Bench:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.broker = MosquittoServer(workdir / "mosquitto")
        self.influx = InfluxServer(workdir / "influxdb")
        self.database_url = f"sqlite:///{workdir / 'hearth.db'}"
        self._run = 0

    def __enter__(self) -> Bench:
        register_patients(self.database_url)
        self.broker.start()
        self.influx.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.influx.stop()
        self.broker.kill()

    def store_url(self, case: Case) -> str:
        if case.store == "sqlite":
            return f"sqlite:///{self.workdir / f'ts-{self._run}.db'}"
        return self.influx.url(self.influx.create_database(f"bench{self._run}"))

    def measure(
        self, case: Case, name: str, messages: list[tuple[str, str, int, bytes]], per_message: int
    ) -> Figures:
        self._run += 1
        url = self.store_url(case)
        env = {
            "HEARTH_MQTT_URL": self.broker.url,
            "HEARTH_TIMESERIES_URL": url,
            "HEARTH_DATABASE_URL": self.database_url,
        }
        if case.processes > 1:
            env["HEARTH_INGEST_SHARED_GROUP"] = f"bench{self._run}"
        consumers = [
            IngestProcess(self.workdir, client_id=f"bench-{self._run}-{i}", env=env)
            for i in range(case.processes)
        ]
        ingest_cpu = influxd_cpu = 0.0
        sampled = sorted({m[1] for m in messages})[::SAMPLE]
        expected = sum(1 for m in messages if m[1] in set(sampled))
        acks = _SampledAcks(self.broker.url, sampled)
        try:
            startup_cpu = self._make_sessions(consumers)
            with publisher(self.broker.url, window=1000) as paced:
                for topic, _device, _seq, payload in messages:
                    paced.publish(topic, payload)
            with hygiene.measure(f"{case.name}, {name}", say=False) as conditions:
                influxd_before = _cpu_s(self.influx.process)
                for consumer in consumers:
                    consumer.start()
                wait_until(lambda: acks.count() >= expected, timeout=900, interval=0.1,
                           message=f"{case.name} acknowledged every sampled message")
                with acks.lock:
                    times = sorted(acks.times.values())
                first, last = times[0], times[-1]
                pids = [c.process.pid for c in consumers if c.process is not None]
                ingest_cpu = hygiene.tree_cpu(pids) - startup_cpu
                influxd_cpu = _cpu_s(self.influx.process) - influxd_before
        finally:
            acks.close()
            for consumer in consumers:
                consumer.kill()
        readings = len(messages) * per_message
        # the sample's messages after the first arrival, scaled to the whole stream
        rate = (expected - 1) * (len(messages) / expected) * per_message / (last - first)
        store = open_store(url)
        try:
            stored = _count(store)
        finally:
            store.close()
        if stored != readings:
            raise AssertionError(f"{case.name} stored {stored} of {readings} readings")
        return Figures(
            case.name,
            name,
            readings,
            rate,
            last - first,
            stored,
            ingest_cpu_s=ingest_cpu,
            influxd_cpu_s=influxd_cpu if case.store == "influxdb" else 0.0,
            load_start=conditions.load_start,
            load_end=hygiene.load1(),
            loaded=conditions.loaded,
        )

    @staticmethod
    def _make_sessions(consumers: list[IngestProcess]) -> float:
        """Start each consumer once so the broker keeps a session (and queue) for it.

        Returns the CPU seconds these starts took up to the subscription (idle
        after it), the start-up cost to take off the drain's figure."""
        for consumer in consumers:
            consumer.start()
        cpu = 0.0
        for consumer in consumers:
            wait_until(consumer.subscribed, timeout=300, message="consumer subscribed")
            time.sleep(0.2)  # what follows the log line (the SUBACK) is part of the start-up
            cpu += hygiene.tree_cpu([consumer.process.pid] if consumer.process else [])
            consumer.kill()
        return cpu


def _cpu_s(process: object) -> float:
    """User + system CPU seconds of a running child process (its own, not its children's)."""
    pid = process.pid  # type: ignore[attr-defined]
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _count(store: TimeSeriesStore) -> int:
    count = getattr(store, "count", None)
    return int(count()) if count else -1


def main(argv: list[str] | None = None) -> list[Figures]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller workload")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every case (median)")
    parser.add_argument("--two", action="store_true",
                        help="also two InfluxDB-backed ingest processes on a shared group")
    parser.add_argument("--only", choices=("batched", "single"), default=None)
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=300)
    plans = [  # about 20 s of SQLite-backed draining each on this machine
        ("backlog, 20/msg", patients_workload(30_000 // scale, 20, start), 20),
        ("backlog, 1/msg", patients_workload(100_000 // scale, 1, start), 1),
    ]
    if args.only:
        plans = [plans[0 if args.only == "batched" else 1]]
    cases = [Case("sqlite", 1), Case("influxdb", 1)] + ([Case("influxdb", 2)] if args.two else [])
    results: list[Figures] = []
    with (
        tempfile.TemporaryDirectory(prefix="hearth-bench-storage-") as tmp,
        Bench(Path(tmp)) as bench,
    ):
        for round_ in range(1, max(1, args.repeat) + 1):
            for name, messages, per_message in plans:
                for case in cases if round_ % 2 else cases[::-1]:
                    figures = bench.measure(case, name, messages, per_message)
                    figures.round = round_
                    results.append(figures)
                    _say(
                        f"round {round_}  {name:<16} {figures.case:<12} {figures.readings:>7} "
                        f"readings {figures.readings_per_s:>9,.0f}/s  drain "
                        f"{figures.drain_s:6.2f} s  stored {figures.stored}  CPU ingest "
                        f"{figures.ingest_cpu_s:.1f} s, influxd {figures.influxd_cpu_s:.1f} s  "
                        f"load {figures.load_start:.1f} -> {figures.load_end:.1f}"
                        + ("  LOADED" if figures.loaded else "")
                    )
    _report(results)
    return results


def summarise(results: list[Figures]) -> list[dict[str, object]]:
    """Per workload and case: the median rate over the rounds, and the ratios to SQLite."""
    rows: list[dict[str, object]] = []
    for name in dict.fromkeys(f.workload for f in results):
        rates = {
            case: {
                f.round: f.readings_per_s for f in results if (f.workload, f.case) == (name, case)
            }
            for case in dict.fromkeys(f.case for f in results)
        }
        sqlite = rates["sqlite ×1"]
        for case, by_round in rates.items():
            median = statistics.median(by_round.values())
            figures = [f for f in results if (f.workload, f.case) == (name, case)]
            per = 100_000 / figures[0].readings
            rows.append({
                "ingest_cpu_s_per_100k": statistics.median(f.ingest_cpu_s * per for f in figures),
                "influxd_cpu_s_per_100k": statistics.median(
                    f.influxd_cpu_s * per for f in figures
                ),
                "workload": name,
                "case": case,
                "rounds": len(by_round),
                "median_readings_per_s": median,
                "min_readings_per_s": min(by_round.values()),
                "max_readings_per_s": max(by_round.values()),
                "ratio_of_medians": median / statistics.median(sqlite.values()),
                "ratio_each_round": [by_round[r] / sqlite[r] for r in sorted(by_round)],
            })
    return rows


def _report(results: list[Figures]) -> None:
    rows = summarise(results)
    _say(
        "\nInfluxDB-backed ingest against SQLite-backed ingest in this run "
        f"(target ≥ {TARGET:.0%}), medians over the rounds:"
    )
    for row in rows:
        ratio = float(row["ratio_of_medians"])  # type: ignore[arg-type]
        each = ", ".join(f"{r:.0%}" for r in row["ratio_each_round"])  # type: ignore[attr-defined]
        verdict = "" if row["case"] == "sqlite ×1" else (
            "meets the target" if ratio >= TARGET else "MISSES the target"
        )
        _say(
            f"  {row['workload']:<16} {row['case']:<12} {row['median_readings_per_s']:>9,.0f}/s "
            f"(min {row['min_readings_per_s']:,.0f}, max {row['max_readings_per_s']:,.0f})  "
            f"{ratio:5.0%} of SQLite  [rounds: {each}]  {verdict}"
        )
        _say(
            f"  {'':<16} {'':<12} CPU per 100,000 readings: ingest "
            f"{row['ingest_cpu_s_per_100k']:.2f} s, influxd {row['influxd_cpu_s_per_100k']:.2f} s"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "storage.json").write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(),
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
                "target": TARGET,
                "summary": rows,
                "results": [asdict(f) for f in results],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
