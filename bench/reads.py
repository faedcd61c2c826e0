"""Store reads, SQLite against InfluxDB, on the same readings in the same run.

Both stores are filled with the same readings (``--patients`` patients x ``--days`` days:
a CGM every 5 minutes, a morning and evening blood pressure pair, a daily weight), then
each read the services make is timed on both, ``--repeat`` times, on patients in turn:

- ``read_series``: one patient's 14 days of glucose as numpy columns (the dashboard's
  trends page, the analytics);
- ``read``: one patient's last day of systolic pressure as Reading objects;
- ``latest``: one patient's newest reading of every metric;
- ``newest_values``: the newest glucose and systolic of 200 patients at once (the
  coach's real-time triage).

Reported per read: median and p95 milliseconds on each store, and the ratio InfluxDB /
SQLite (above 1: InfluxDB slower). InfluxDB is Debian's influxd 1.x on a free port.

Usage: python -m bench.reads [--quick] [--patients 200] [--days 14] [--repeat 50]
Writes bench/results/reads.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from core.metrics import Metric
from core.readings import Reading
from core.timeseries import TimeSeriesStore
from core.timeseries.factory import open_store
from tests.support.influxdb import InfluxServer

RESULTS = Path(__file__).resolve().parent / "results"
END = datetime(2026, 3, 16, tzinfo=UTC)


def show(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def readings(patient: int, days: int, rng: np.random.Generator) -> list[Reading]:
    pid = f"r{patient:05d}"
    out: list[Reading] = []
    start = END - timedelta(days=days)
    glucose = np.clip(140 + 40 * np.sin(np.arange(days * 288) / 40) + rng.normal(0, 10, days * 288),
                      40, 400).round()
    for i, value in enumerate(glucose.tolist()):
        at = start + timedelta(minutes=5 * i)
        out.append(Reading(pid, f"{pid}-cgm", Metric.GLUCOSE, value, at, "cgm", value, "mg/dL"))
    for d in range(days):
        for hour in (7, 19):
            at = start + timedelta(days=d, hours=hour)
            for metric, value in ((Metric.SYSTOLIC, 130.0 + d % 7), (Metric.DIASTOLIC, 80.0),
                                  (Metric.PULSE, 70.0)):
                out.append(Reading(pid, f"{pid}-cuff", metric, value, at, "bp_cuff", value, "mm[Hg]"
                                   if metric != Metric.PULSE else "/min"))
        at = start + timedelta(days=d, hours=7, minutes=5)
        out.append(Reading(pid, f"{pid}-scale", Metric.WEIGHT, 80.0, at, "scale", 80.0, "kg"))
    return out


def fill(store: TimeSeriesStore, patients: int, days: int) -> float:
    rng = np.random.default_rng(3)
    began = time.perf_counter()
    for p in range(patients):
        store.write(readings(p, days, rng))
    return time.perf_counter() - began


def timed(fn: Callable[[int], object], repeat: int, patients: int) -> dict[str, float]:
    fn(0)  # warm-up
    ms = []
    for k in range(repeat):
        began = time.perf_counter()
        fn(k % patients)
        ms.append((time.perf_counter() - began) * 1000)
    return {"median_ms": statistics.median(ms), "p95_ms": float(np.percentile(ms, 95))}


def measure(store: TimeSeriesStore, patients: int, days: int, repeat: int) -> dict[str, Any]:
    start, day_ago = END - timedelta(days=days), END - timedelta(days=1)
    group = [f"r{p:05d}" for p in range(min(200, patients))]
    cases: dict[str, Callable[[int], object]] = {
        "read_series, 14 days of glucose": lambda p: store.read_series(
            f"r{p:05d}", Metric.GLUCOSE, start, END),
        "read, 1 day of systolic": lambda p: store.read(f"r{p:05d}", Metric.SYSTOLIC, day_ago, END),
        "latest, every metric": lambda p: store.latest(f"r{p:05d}"),
    }
    newest = getattr(store, "newest_values", None)
    if newest is not None:
        cases[f"newest_values, {len(group)} patients"] = lambda p: newest(
            group, [Metric.GLUCOSE, Metric.SYSTOLIC], start)
    return {name: timed(fn, repeat, patients) for name, fn in cases.items()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 patients, 10 repeats")
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)
    if args.quick:
        args.patients, args.repeat = 20, 10
    load_start = os.getloadavg()
    show(f"reads: {args.patients} patients x {args.days} days in SQLite and InfluxDB; load "
         f"average {', '.join(f'{x:.1f}' for x in load_start)}")
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="hearth-reads-") as tmp:
        influx = InfluxServer(Path(tmp) / "influxdb")
        influx.start()
        try:
            influx.create_database("hearth")
            for name, url in (("sqlite", f"sqlite:///{Path(tmp) / 'ts.db'}"),
                              ("influxdb", influx.url("hearth"))):
                store = open_store(url)
                try:
                    fill_s = fill(store, args.patients, args.days)
                    show(f"  {name}: filled in {fill_s:.1f} s")
                    figures[name] = measure(store, args.patients, args.days, args.repeat)
                finally:
                    store.close()
        finally:
            influx.stop()
    rows = []
    for case, sqlite in figures["sqlite"].items():
        influx_fig = figures["influxdb"].get(case)
        if influx_fig is None:
            continue
        ratio = influx_fig["median_ms"] / sqlite["median_ms"]
        rows.append({"read": case, "sqlite_median_ms": sqlite["median_ms"],
                     "sqlite_p95_ms": sqlite["p95_ms"],
                     "influxdb_median_ms": influx_fig["median_ms"],
                     "influxdb_p95_ms": influx_fig["p95_ms"], "ratio_influxdb_to_sqlite": ratio})
        show(f"  {case:<34} SQLite median {sqlite['median_ms']:7.2f} ms (p95 "
             f"{sqlite['p95_ms']:7.2f})  InfluxDB median {influx_fig['median_ms']:7.2f} ms (p95 "
             f"{influx_fig['p95_ms']:7.2f})  InfluxDB/SQLite {ratio:5.2f}")
    result = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "patients": args.patients, "days": args.days, "repeat": args.repeat,
              "load_average_start": load_start, "load_average_end": os.getloadavg(),
              "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reads.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
