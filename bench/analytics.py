"""Analytics speed: one patient's CGM metrics + AGP, and the population summary from SQLite.

Targets (issue 4): all CGM metrics plus the AGP for 14 days of one patient
(about 4,000 readings) in at most 10 ms; the population summary for 1,000
patients x 14 days read from SQLite in at most 5 s.

The single patient is 14 days of the household simulator's CGM
(devices/simulator.py).  The population store is filled with a fast numpy
generator (meals, noise, a sensor gap a day), since what is measured is the
reading and the arithmetic, not the physiology; it is built once and kept in
--workdir between runs.

Each figure is given as wall-clock time and as the CPU time of the measuring
thread (``time.thread_time``): the development machine is shared, and when
other people's tests load it the wall clock also counts the time the
scheduler gave them; the CPU time is the work the analytics need.

Run:  .venv/bin/python -m bench.analytics [--patients 1000] [--days 14] [--repeat 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from analytics.agp import agp_percentiles
from analytics.cgm import cgm_metrics
from analytics.population import READERS, population_summary
from analytics.summary import cgm_summary
from analytics.timebase import local_day_and_minute
from bench import hygiene
from bench.forecast import cgm_series, simulated_patient
from core.metrics import Metric
from core.readings import Reading, from_epoch_us, to_epoch_us
from core.timeseries.sqlite import SqliteTimeSeriesStore


def show(text: str) -> None:
    """Benchmark figures go to standard output."""
    sys.stdout.write(text + "\n")


END = datetime(2026, 3, 16, tzinfo=UTC)


def _ms(fn, repeat: int) -> tuple[float, float, float, float]:  # type: ignore[no-untyped-def]
    """Median and max of wall-clock ms, then median and max of CPU ms."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.thread_time()
        fn()
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.thread_time() - began_cpu) * 1000)
    return statistics.median(wall), max(wall), statistics.median(cpu), max(cpu)


def one_patient(repeat: int) -> None:
    profile = simulated_patient(3)
    t, v = cgm_series(profile, 14)
    tz = profile.timezone
    show(f"one patient: {t.size} CGM readings over 14 days ({tz}); target ALL <= 10 ms")
    for name, fn in (
        ("consensus metrics (ranges, GRI, GMI, CV, sufficiency)", lambda: cgm_metrics(t, v)),
        (
            "AGP percentiles (local time of day)",
            lambda: agp_percentiles(v, local_day_and_minute(t, tz)[1]),
        ),
        ("ALL: metrics + events + AGP + daily + MAGE + MODD", lambda: cgm_summary(t, v, tz=tz)),
    ):
        median, worst, cpu, cpu_worst = _ms(fn, repeat)
        show(
            f"  {name:<52} wall median {median:6.2f} ms (max {worst:6.2f})   "
            f"CPU median {cpu:6.2f} ms (max {cpu_worst:6.2f})"
        )


def _fake_cgm(rng: np.random.Generator, start_us: int, days: int) -> tuple[np.ndarray, np.ndarray]:
    n = days * 288
    t = start_us + np.arange(n, dtype=np.int64) * 300_000_000 + int(rng.integers(0, 300)) * 10**6
    hours = (t // 1_000_000 % 86_400) / 3600
    v = rng.uniform(110, 180) + 8 * rng.normal(0, 1, n).cumsum() / np.sqrt(np.arange(1, n + 1))
    for meal in (7.5, 12.5, 19.0):
        x = np.clip(hours - meal, 0, None)
        v += rng.uniform(30, 90) * x * np.exp(1 - x)
    v = np.clip(v * (1 + rng.normal(0, 0.03, n)), 40, 400).round()
    keep = np.ones(n, dtype=bool)
    for d in range(days):  # one 40-minute dropout a day
        a = d * 288 + int(rng.integers(0, 280))
        keep[a : a + 8] = False
    return t[keep], v[keep]


def build_store(path: Path, patients: int, days: int) -> SqliteTimeSeriesStore:
    store = SqliteTimeSeriesStore(path)
    if store.count() > 0:
        return store
    rng = np.random.default_rng(42)
    start_us = to_epoch_us(END - timedelta(days=days))
    began = time.perf_counter()
    for i in range(patients):
        t, v = _fake_cgm(rng, start_us, days)
        store.write(
            [
                Reading(
                    f"p{i:04d}",
                    f"p{i:04d}-cgm",
                    Metric.GLUCOSE,
                    float(x),
                    from_epoch_us(int(u)),
                    "cgm",
                    float(x),
                    "mg/dL",
                )
                for u, x in zip(t.tolist(), v.tolist(), strict=True)
            ]
        )
    show(f"  built the store: {store.count()} readings in {time.perf_counter() - began:.0f} s")
    return store


def population(workdir: Path, patients: int, days: int, rounds: int = 3) -> None:
    """The summary as the dashboard computes it (reads running ahead on a few threads,
    analytics/population.py), alternating round by round with the same summary read one
    patient after another (``readers=1``, the code before issue 22): both meet the same
    load, and each round's ratio is printed. CPU is the process's (every thread's)."""
    path = workdir / f"population-{patients}x{days}.db"
    show(f"population: {patients} patients x {days} days in SQLite ({path})")
    store = build_store(path, patients, days)
    ids = [f"p{i:04d}" for i in range(patients)]
    results: dict[str, list[dict[str, float | bool]]] = {"ahead": [], "sequential": []}
    flagged = 0

    def run(readers: int) -> dict[str, float | bool]:
        nonlocal flagged
        with hygiene.measure(f"population summary, readers={readers}", say=False,
                             max_wait_s=20) as fig:
            summary = population_summary(store, ids, end=END, days=days, readers=readers)
        flagged = sum(1 for p in summary.patients if p.flags)
        return {"wall_s": fig.wall_s, "cpu_s": fig.cpu_s, "load_start": fig.load_start,
                "load_end": fig.load_end, "loaded": fig.loaded}

    population_summary(store, ids[:20], end=END, days=days)  # warm-up
    pairs = hygiene.alternate(
        f"population summary, {READERS} readers", lambda: run(READERS),
        "one patient after another", lambda: run(1), rounds=rounds,
        value=lambda r: float(r["wall_s"]), wait=False)
    for r in pairs.rounds:
        results["ahead"].append(r.figure["result"])
        results["sequential"].append(r.baseline["result"])
    ahead, seq = results["ahead"], results["sequential"]
    med = statistics.median
    loads = [float(x[k]) for x in ahead + seq for k in ("load_start", "load_end")]
    wall = [float(x["wall_s"]) for x in ahead]
    cpu = [float(x["cpu_s"]) for x in ahead]
    show(
        f"  population summary (target <= 5 s): wall median {med(wall):.2f} s "
        f"(max {max(wall):.2f}), CPU median {med(cpu):.2f} s (max {max(cpu):.2f}) "
        f"over {rounds} runs; {flagged} of {patients} patients flagged"
    )
    show(
        f"  population summary, one patient after another (same run, alternating): wall median "
        f"{med(float(x['wall_s']) for x in seq):.2f} s, CPU median "
        f"{med(float(x['cpu_s']) for x in seq):.2f} s; ratio median "
        f"{pairs.summary()['median_ratio']:.2f}; load {min(loads):.1f}-{max(loads):.1f} on "
        f"{hygiene.CORES} cores; {sum(bool(x['loaded']) for x in ahead + seq)} of "
        f"{len(ahead + seq)} runs LOADED"
    )
    store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "hearth-bench"
    )
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    show(f"load average at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    one_patient(args.repeat)
    population(args.workdir, args.patients, args.days)


if __name__ == "__main__":
    main()
