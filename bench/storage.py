"""Ingest throughput by store and by number of ingest processes, measured in one run.

The production pairings against the embedded default: `hearth ingest` backed by
SQLite, by InfluxDB (Debian's influxd, started here), and two `hearth ingest`
processes on one shared subscription backed by InfluxDB. Each case drains the
same backlog (the consumers are offline while it is queued in Mosquitto, as
after an outage); the rate runs from the first commit acknowledgement
(``hearth/v1/ack/{device}``) to the last. The target (issue 3): InfluxDB-backed
ingest at no less than 70% of the SQLite-backed rate of the same run.

Usage (from the repository root): python -m bench.storage [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.ingest import DEVICES, workload
from core.appdb.engine import create_schema, make_engine
from core.timeseries import TimeSeriesStore
from core.timeseries.factory import open_store
from tests.support.factories import publisher, register, subscribed, wait_until
from tests.support.influxdb import InfluxServer
from tests.support.ingest_processes import IngestProcess
from tests.support.mosquitto import MosquittoServer

RESULTS = Path(__file__).resolve().parent / "results"
TARGET = 0.70


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


def _ack_count(acks: object) -> tuple[int, float, float]:
    """Messages acknowledged so far, and the first and last arrival times."""
    with acks.lock:  # type: ignore[attr-defined]
        seqs = sum(len(json.loads(p)["seqs"]) for _t, p in acks.messages)  # type: ignore[attr-defined]
        times = list(acks.times)  # type: ignore[attr-defined]
    return seqs, (min(times) if times else 0.0), (max(times) if times else 0.0)


class Bench:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.broker = MosquittoServer(workdir / "mosquitto")
        self.influx = InfluxServer(workdir / "influxdb")
        self.database_url = f"sqlite:///{workdir / 'hearth.db'}"
        self._run = 0

    def __enter__(self) -> Bench:
        engine = make_engine(self.database_url)
        create_schema(engine)
        register(engine, "bench-patient", [(f"bench-{d}", "cgm") for d in range(DEVICES)])
        engine.dispose()
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
        try:
            self._make_sessions(consumers)
            with subscribed(self.broker.url, "hearth/v1/ack/+") as acks:
                with publisher(self.broker.url, window=1000) as paced:
                    for topic, _device, _seq, payload in messages:
                        paced.publish(topic, payload)
                for consumer in consumers:
                    consumer.start()
                wait_until(
                    lambda: _ack_count(acks)[0] >= len(messages),
                    timeout=900,
                    interval=0.1,
                    message=f"{case.name} acknowledged every message",
                )
                _, first, last = _ack_count(acks)
        finally:
            for consumer in consumers:
                consumer.kill()
        readings = len(messages) * per_message
        store = open_store(url)
        try:
            stored = _count(store)
        finally:
            store.close()
        return Figures(
            case.name,
            name,
            readings,
            (readings - per_message) / (last - first),
            last - first,
            stored,
        )

    @staticmethod
    def _make_sessions(consumers: list[IngestProcess]) -> None:
        """Start each consumer once so the broker keeps a session (and queue) for it."""
        for consumer in consumers:
            consumer.start()
        for consumer in consumers:
            wait_until(consumer.subscribed, timeout=60, message="consumer subscribed")
            consumer.kill()


def _count(store: TimeSeriesStore) -> int:
    count = getattr(store, "count", None)
    return int(count()) if count else -1


def main(argv: list[str] | None = None) -> list[Figures]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller workload")
    args = parser.parse_args(argv)
    scale = 5 if args.quick else 1
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=300)
    plans = [
        ("backlog, 20/msg", workload(25 // scale, 20, start), 20),
        ("backlog, 1/msg", workload(100 // scale, 1, start), 1),
    ]
    cases = [Case("sqlite", 1), Case("influxdb", 1), Case("influxdb", 2)]
    results: list[Figures] = []
    with (
        tempfile.TemporaryDirectory(prefix="hearth-bench-storage-") as tmp,
        Bench(Path(tmp)) as bench,
    ):
        for name, messages, per_message in plans:
            for case in cases:
                figures = bench.measure(case, name, messages, per_message)
                results.append(figures)
                print(
                    f"{name:<16} {figures.case:<12} {figures.readings:>7} readings "
                    f"{figures.readings_per_s:>9,.0f}/s  drain {figures.drain_s:6.2f} s  "
                    f"stored {figures.stored}",
                    flush=True,
                )
    _report(results)
    return results


def _report(results: list[Figures]) -> None:
    by = {(f.workload, f.case): f for f in results}
    print(
        f"\nInfluxDB-backed ingest against SQLite-backed ingest in this run (target ≥ {TARGET:.0%}):"
    )
    for name in dict.fromkeys(f.workload for f in results):
        sqlite = by[(name, "sqlite ×1")].readings_per_s
        for case in ("influxdb ×1", "influxdb ×2"):
            ratio = by[(name, case)].readings_per_s / sqlite
            verdict = "meets" if ratio >= TARGET else "MISSES"
            print(f"  {name:<16} {case:<12} {ratio:6.0%} of SQLite  ({verdict} the target)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "storage.json").write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(),
                "cpus": os.cpu_count(),
                "target": TARGET,
                "results": [asdict(f) for f in results],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
