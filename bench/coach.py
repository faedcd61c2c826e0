"""Coach speed: one full evaluation cycle over 10,000 patients, and urgent-low latency.

Targets (issue 5, item 9): the scheduled cycle (context -> trend rules -> dispatcher,
for every patient, with data in the store) in at most 60 s on this machine; an urgent
low published by a device reaching the home display topic at p99 <= 2 s.

The population (kept in --workdir between runs, built once): 10,000 patients over
14 days in a SQLite store, a realistic mix of devices (numpy generators written
straight into the store's table: what is measured is the coach, not the seeding):

    20% CGM (15-minute history, as Libre exports it)   40% glucose meter, 3 a day
    50% BP cuff, a morning and an evening pair          20% scale, daily
    10% pulse oximeter, 3 a day                         60% step counter, daily
    30% pill box, twice a day                           10% motion sensor, hourly

The cycle is measured as production runs it: N coach processes (spawned, imports and
connections made before the clock starts: a coach runs for days) share one run of the
trend-check job, split into --shards patient shards that each claims through the run
lease table (coach/scheduler.py), for N = 1 and N = --processes; on the seeded SQLite
application database and, with --postgres, on a private PostgreSQL cluster. Each run
starts from a fresh copy of the application database (the dispatcher records flags and
cool-downs, which would make a second run cheaper). Printed and stored per run: wall
time and its ratio to the 60 s target, CPU time of the coach processes, the time they
were runnable but waiting for a core (/proc/thread-self/schedstat: on this shared
2-core machine that, not I/O or locks, is the wall time that is not CPU), per-patient
milliseconds, the load average before and after.

Latency: real Mosquitto, real ingest, the real coach service (rules, dispatcher,
delivery) on the wall clock; one urgent low per patient (the cool-down would stop a
second), published every --gap seconds; measured from just before the publish to
the arrival of the home-display message at a subscriber.

Run:  .venv/bin/python -m bench.coach [--patients 10000] [--processes 2] [--shards 8]
      [--postgres] [--latency 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from core.appdb.engine import create_schema, make_engine
from core.readings import to_epoch_us
from core.timeseries.sqlite import SqliteTimeSeriesStore

RESULTS = Path(__file__).resolve().parent / "results" / "coach.json"
END = datetime(2026, 3, 16, 9, tzinfo=UTC)
DAYS = 14
ZONES = ("Europe/London", "Europe/Lisbon", "America/New_York", "Asia/Kolkata", "UTC")
# (kind, share of patients, metrics, readings a day); a patient has a device when
# (i * prime) % 100 < share * 100, so the mixes overlap as they do in life.
DEVICES: tuple[tuple[str, float, int], ...] = (
    ("cgm", 0.20, 11), ("glucose_meter", 0.40, 13), ("bp_cuff", 0.50, 17),
    ("scale", 0.20, 19), ("pulse_oximeter", 0.10, 23), ("pedometer", 0.60, 29),
    ("pill_box", 0.30, 31), ("motion_sensor", 0.10, 37),
)


def show(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- the population ------------------------------------------------------------------------


def _has(i: int, share: float, prime: int) -> bool:
    return (i * prime + prime) % 100 < share * 100


def _times(rng: np.random.Generator, start_us: int, per_day: int, jitter_min: float,
           hours: tuple[float, ...] | None = None) -> np.ndarray:
    day_us = 86_400_000_000
    if hours is None:  # evenly spread
        hours = tuple(24 * k / per_day for k in range(per_day))
    base = np.array([start_us + d * day_us + int(h * 3.6e9) for d in range(DAYS) for h in hours],
                    dtype=np.int64)
    jitter = (rng.normal(0, jitter_min, base.size) * 60e6).astype(np.int64)
    return np.sort(base + jitter)


def _rows(i: int, rng: np.random.Generator, start_us: int) -> list[tuple[Any, ...]]:
    pid = f"p{i:05d}"
    out: list[tuple[Any, ...]] = []

    def add(device: str, metric: str, t: np.ndarray, v: np.ndarray, source: str,
            unit: str) -> None:
        out.extend((pid, metric, int(a), device, float(b), source, float(b), unit, None, None)
                   for a, b in zip(t.tolist(), v.tolist(), strict=True))

    mean = rng.uniform(110, 190)
    if _has(i, 0.20, 11):
        t = start_us + np.arange(DAYS * 96, dtype=np.int64) * 900_000_000
        hours = (t // 1_000_000 % 86_400) / 3600
        v = mean + 25 * np.sin(hours / 24 * 2 * np.pi) + rng.normal(0, 18, t.size).cumsum() / 8
        add(f"{pid}-cgm", "glucose", t, np.clip(v, 40, 400).round(), "cgm", "mg/dL")
    if _has(i, 0.40, 13):
        t = _times(rng, start_us, 3, 20, (7.5, 12.5, 19.0))
        add(f"{pid}-meter", "glucose", t, np.clip(rng.normal(mean, 35, t.size), 40, 400).round(),
            "meter", "mg/dL")
    if _has(i, 0.50, 17):
        t = _times(rng, start_us, 2, 15, (7.0, 7.05, 21.0, 21.05))
        sys_mean = rng.uniform(115, 150)
        add(f"{pid}-cuff", "systolic", t, rng.normal(sys_mean, 8, t.size).round(), "device",
            "mm[Hg]")
        add(f"{pid}-cuff", "diastolic", t, rng.normal(sys_mean * 0.6, 6, t.size).round(),
            "device", "mm[Hg]")
    if _has(i, 0.20, 19):
        t = _times(rng, start_us, 1, 20, (7.2,))
        add(f"{pid}-scale", "weight", t, (rng.uniform(60, 110) + rng.normal(0, 0.4, t.size)
                                          .cumsum() / 4).round(1), "device", "kg")
    if _has(i, 0.10, 23):
        t = _times(rng, start_us, 3, 30, (8.0, 14.0, 22.0))
        add(f"{pid}-ox", "spo2", t, np.clip(rng.normal(95, 1.5, t.size), 80, 100).round(),
            "device", "%")
    if _has(i, 0.60, 29):
        t = _times(rng, start_us, 1, 1, (23.9,))
        add(f"{pid}-steps", "steps", t, np.clip(rng.normal(5500, 1800, t.size), 0, None).round(),
            "device", "{steps}")
    if _has(i, 0.30, 31):
        t = _times(rng, start_us, 2, 25, (8.0, 20.0))
        add(f"{pid}-pills", "medication_taken", t, np.ones(t.size), "device", "1")
    if _has(i, 0.10, 37):
        t = start_us + np.arange(DAYS * 24, dtype=np.int64) * 3_600_000_000
        hours = (t // 1_000_000 % 86_400) / 3600
        v = np.where((hours > 7) & (hours < 23), rng.poisson(6, t.size), rng.poisson(0.3, t.size))
        add(f"{pid}-motion", "motion", t, v.astype(float), "device", "{events}")
    return out


def _devices(i: int) -> list[tuple[str, str]]:
    pid = f"p{i:05d}"
    names = {"cgm": "cgm", "glucose_meter": "meter", "bp_cuff": "cuff", "scale": "scale",
             "pulse_oximeter": "ox", "pedometer": "steps", "pill_box": "pills",
             "motion_sensor": "motion"}
    return [(f"{pid}-{names[kind]}", kind) for kind, share, prime in DEVICES
            if _has(i, share, prime)]


def seed(workdir: Path, patients: int) -> tuple[Path, Path]:
    """The stores for ``patients`` (built once, reused from --workdir)."""
    ts_path = workdir / f"timeseries-{patients}.db"
    app_path = workdir / f"hearth-{patients}.db"
    done = workdir / f"seeded-{patients}"
    if done.exists():
        return ts_path, app_path
    for path in (ts_path, app_path):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    began = time.perf_counter()
    _seed_app(app_path, patients)
    SqliteTimeSeriesStore(ts_path).close()  # the adapter makes its own schema
    conn = sqlite3.connect(ts_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    rng = np.random.default_rng(5)
    start_us = to_epoch_us(END - timedelta(days=DAYS))
    rows = 0
    for i in range(patients):
        batch = _rows(i, rng, start_us)
        conn.executemany("INSERT OR IGNORE INTO readings VALUES (?,?,?,?,?,?,?,?,?,?)", batch)
        rows += len(batch)
        if i % 500 == 499:
            conn.commit()
    conn.commit()
    conn.close()
    done.write_text(str(rows))
    show(f"  seeded {patients} patients, {rows} readings in {time.perf_counter() - began:.0f} s")
    return ts_path, app_path


def _seed_app(path: Path, patients: int) -> None:
    _seed_app_url(f"sqlite:///{path}", patients)


def _seed_app_url(url: str, patients: int) -> None:
    from sqlalchemy.orm import Session

    from core.appdb.directory import PatientInfo, bind_devices, upsert_patient

    engine = make_engine(url)
    create_schema(engine)
    with Session(engine) as session:
        for i in range(patients):
            pid = f"p{i:05d}"
            conditions = ["type2_diabetes"] if i % 3 else ["type1_diabetes"]
            if _has(i, 0.20, 19):
                conditions.append("heart_failure")
            upsert_patient(session, PatientInfo(pid, pid, ZONES[i % len(ZONES)],
                                                tuple(conditions)))
        session.flush()
        for i in range(patients):
            bind_devices(session, f"p{i:05d}", _devices(i))
        session.commit()
    engine.dispose()


# -- one full cycle ------------------------------------------------------------------------

TARGET_S = 60.0


def _schedstat() -> tuple[float, float]:
    """(CPU seconds, seconds spent runnable but waiting for a core) of this thread, from
    /proc/thread-self/schedstat: on a shared machine the second is where the wall time
    that is not CPU goes."""
    try:
        cpu_ns, wait_ns, _ = Path("/proc/thread-self/schedstat").read_text().split()
        return int(cpu_ns) / 1e9, int(wait_ns) / 1e9
    except (OSError, ValueError):
        return time.thread_time(), 0.0


def _cpu_pressure() -> float | None:
    """Linux PSI: the share of the last 10 s in which some runnable task waited for a CPU."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return float(line.split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None


def _fresh_copy(app_path: Path) -> Path:
    fresh = app_path.with_name(app_path.stem + "-run.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{fresh}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(app_path, fresh)
    return fresh


def _coach_process(ts_url: str, app_url: str, owner: str, shards: int, ready: Any, go: Any,
                   results: Any) -> None:
    """One coach process of the benchmark: the production shard path (CoachScheduler
    claims shards of the run through the lease table; each runs CoachEvaluator.scheduled
    over its patients), after its imports and connections are ready."""
    from apscheduler.triggers.interval import IntervalTrigger

    from coach.evaluation import CoachEvaluator, CycleStats
    from coach.scheduler import CoachScheduler, JobSpec
    from core.clock import FixedClock
    from core.timeseries.factory import open_store

    store, engine = open_store(ts_url), make_engine(app_url)
    evaluator = CoachEvaluator(store=store, engine=engine)
    stats, messages = CycleStats(), [0]

    def trend_check(run_time: datetime, *_args: Any, shard: tuple[int, int]) -> None:
        messages[0] += len(evaluator.scheduled(run_time, stats=stats, shard=shard))

    scheduler = CoachScheduler(engine=engine, handlers={"trend_check": trend_check},
                               clock=FixedClock(END), owner=owner)
    scheduler.ensure([JobSpec("trend-checks", "trend_check",
                              IntervalTrigger(minutes=60, start_date=END, timezone=UTC),
                              shards=shards)], now=END)
    evaluator.patient_ids()  # warm: the first query of a connection pays for the schema
    ready.wait(timeout=600)
    go.wait(timeout=600)
    began, (cpu0, wait0) = time.perf_counter(), _schedstat()
    ran = scheduler.work_shards()
    cpu1, wait1 = _schedstat()
    results.put({"owner": owner, "shards": ran, "wall_s": time.perf_counter() - began,
                 "cpu_s": cpu1 - cpu0, "runqueue_wait_s": wait1 - wait0,
                 "patients": stats.patients, "flags": stats.flags, "messages": messages[0],
                 "failed_patients": stats.failed_patients, "failed_rules": stats.failed_rules,
                 "write_s": stats.write_s, "lock_wait_s": stats.lock_wait_s})
    scheduler.stop(wait_s=1)
    store.close()
    engine.dispose()


def cycle(ts_url: str, app_url: str, patients: int, processes: int,
          shards: int) -> dict[str, Any]:
    """One full cycle (every scheduled rule for every patient) by ``processes`` coach
    processes sharing the run's ``shards``. The processes are spawned and connected
    first (their start-up, mostly imports, is reported apart: a coach runs for days);
    the wall time is from the run's opening to the last shard's end."""
    import multiprocessing

    from coach.scheduler import CoachScheduler

    context = multiprocessing.get_context("spawn")
    ready, go = context.Barrier(processes + 1), context.Barrier(processes + 1)
    results = context.Queue()
    spawned = time.perf_counter()
    workers = [context.Process(target=_coach_process,
                               args=(ts_url, app_url, f"bench-{k}", shards, ready, go, results))
               for k in range(processes)]
    for w in workers:
        w.start()
    ready.wait(timeout=600)
    start_s = time.perf_counter() - spawned
    engine = make_engine(app_url)
    opener = CoachScheduler(engine=engine, handlers={}, owner="bench-opener")
    load_before, pressure_before = os.getloadavg(), _cpu_pressure()
    began = time.perf_counter()
    assert opener.open_run("trend-checks", END, shards)
    go.wait(timeout=60)
    parts = [results.get(timeout=3600) for _ in workers]
    wall = time.perf_counter() - began
    load_after, pressure_after = os.getloadavg(), _cpu_pressure()
    for w in workers:
        w.join(timeout=60)
    opener.stop(wait_s=1)
    engine.dispose()
    total = {name: sum(p[name] for p in parts)
             for name in ("patients", "flags", "messages", "failed_patients", "failed_rules",
                          "cpu_s", "runqueue_wait_s", "write_s", "lock_wait_s")}
    return {"processes": processes, "shards": shards, "wall_s": wall,
            "ratio_to_target": wall / TARGET_S, "target_s": TARGET_S,
            **total,
            "per_patient_ms": 1000 * wall / patients,
            "cpu_per_patient_ms": 1000 * total["cpu_s"] / patients,
            "process_start_s": start_s,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
            "cpu_pressure_some_avg10_before_after": [pressure_before, pressure_after],
            "per_process": parts}


def _cycle_urls(postgres_url: str, ts_path: Path, app_path: Path) -> tuple[str, str]:
    """A fresh application database for one run (the dispatcher records cool-downs,
    which would make a second run cheaper): a copy of the seeded SQLite file, or on
    --postgres the seeded PostgreSQL database with the coach's decisions emptied."""
    if postgres_url:
        _reset_postgres(postgres_url)
        return f"sqlite:///{ts_path}", postgres_url
    url = f"sqlite:///{_fresh_copy(app_path)}"
    engine = make_engine(url)
    create_schema(engine)  # a population seeded before the newest migration gets it
    engine.dispose()
    return f"sqlite:///{ts_path}", url


COACH_TABLES = ("coach_escalation_steps", "coach_nudges", "coach_alerts", "coach_flags",
                "coach_cooldowns", "coach_job_runs", "apscheduler_jobs", "deliveries")


def _reset_postgres(url: str) -> None:
    from sqlalchemy import text

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(COACH_TABLES)}"))
    engine.dispose()


def seed_postgres(url: str, patients: int) -> None:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from core.appdb.models import Patient

    engine = make_engine(url)
    create_schema(engine)
    with Session(engine) as session:
        have = session.scalar(select(func.count()).select_from(Patient)) or 0
    engine.dispose()
    if have != patients:
        _seed_app_url(url, patients)


def show_cycle(f: dict[str, Any], where: str) -> None:
    show(f"  cycle on {where}, {f['processes']} process(es), {f['shards']} shards: "
         f"{f['wall_s']:.1f} s wall = {f['ratio_to_target']:.2f} x the 60 s target "
         f"({f['per_patient_ms']:.2f} ms a patient); CPU {f['cpu_s']:.1f} s "
         f"({f['cpu_per_patient_ms']:.2f} ms a patient), waiting for a core "
         f"{f['runqueue_wait_s']:.1f} s; in write transactions {f['write_s']:.1f} s, of "
         f"which waiting for the write lock {f['lock_wait_s']:.1f} s; "
         f"{f['flags']} flags, {f['messages']} messages, "
         f"failed patients {f['failed_patients']}; load {f['load_average_before']} -> "
         f"{f['load_average_after']}; process start {f['process_start_s']:.1f} s (apart)")


# -- latency -------------------------------------------------------------------------------


def latency(workdir: Path, samples: int, gap: float) -> dict[str, Any]:
    from coach.service import CoachService
    from coach.settings import CoachSettings
    from core import topics
    from core.appdb.directory import SqlDirectory
    from core.contract import encode_message
    from core.mqtt import MqttEndpoint
    from ingest.service import IngestService
    from ingest.settings import IngestSettings
    from tests.support.factories import publisher, register, subscribed, wait_until
    from tests.support.mosquitto import MosquittoServer

    run = Path(tempfile.mkdtemp(dir=workdir, prefix="latency-"))
    broker = MosquittoServer(run / "mosquitto")
    broker.start()
    engine = make_engine(f"sqlite:///{run / 'hearth.db'}")
    create_schema(engine)
    for i in range(samples):
        register(engine, f"l{i:04d}", [(f"l{i:04d}-cgm", "cgm")])
    store = SqliteTimeSeriesStore(run / "timeseries.db")
    endpoint = MqttEndpoint.parse(broker.url)
    ingest = IngestService(endpoint=endpoint, store=store, registry=SqlDirectory(engine),
                           settings=IngestSettings(client_id="bench-ingest"))
    coach = CoachService(endpoint=endpoint, store=store, engine=engine,
                         settings=CoachSettings(client_id="bench-coach"))
    ingest.start()
    coach.start(scheduler=False)
    assert ingest.wait_connected(10) and coach.wait_connected(10)
    sent: dict[str, float] = {}
    try:
        with subscribed(broker.url, topics.DOWN_ALL) as display, \
                publisher(broker.url) as paced:
            for i in range(samples):
                pid, device = f"l{i:04d}", f"l{i:04d}-cgm"
                now = datetime.now(UTC)
                payload = encode_message(device_id=device, seq=1, readings=[
                    {"metric": "glucose", "value": 45, "unit": "mg/dL", "source": "cgm",
                     "time": now}])
                sent[pid] = time.perf_counter()
                paced.publish(topics.up(device), payload)
                time.sleep(gap)
            wait_until(lambda: len(display) >= samples, timeout=60, message="every message")
            with display.lock:
                arrivals = list(zip(display.messages, display.times, strict=True))
    finally:
        coach.stop()
        ingest.stop()
        store.close()
        broker.kill()
    delays = []
    for (topic, _payload), at in arrivals:
        pid = topics.last_level(topic, "down")
        if pid in sent:
            delays.append(at - sent.pop(pid))
    ms = np.array(delays) * 1000
    return {"samples": len(delays), "gap_s": gap, "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)), "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max())}


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--shards", type=int, default=8, help="shards of the cycle's run")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each process count (alternated); best and median kept")
    parser.add_argument("--postgres", action="store_true",
                        help="also on PostgreSQL (a private cluster, tests/support/postgres.py)")
    parser.add_argument("--postgres-url", default="",
                        help="also on this PostgreSQL database (seeded once, coach tables "
                             "emptied before each run)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--latency", type=int, default=200, help="urgent lows to time")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between them")
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "hearth-bench-coach")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)

    show(f"coach: full cycle over {args.patients} patients x {DAYS} days "
         f"(SQLite stores in {args.workdir})")
    ts_path, app_path = seed(args.workdir, args.patients)
    results: dict[str, Any] = {"patients": args.patients, "days": DAYS,
                               "target_s": TARGET_S}
    cluster = None
    if args.postgres and not args.postgres_url:
        from tests.support.postgres import PostgresCluster

        cluster = PostgresCluster()  # fsync off, as in the tests: the figure is the coach's
        cluster.start()
        args.postgres_url = cluster.url(cluster.create_database())
    try:
        databases = [("SQLite", "")] + ([("PostgreSQL", args.postgres_url)]
                                        if args.postgres_url else [])
        for where, url in databases:
            if url:
                seed_postgres(url, args.patients)
            prefix = "" if not url else "postgres_"
            runs: dict[int, list[dict[str, Any]]] = {}
            for _ in range(args.repeat):  # alternated, so both see the same machine
                for processes in sorted({1, args.processes}):
                    ts_url, app_url = _cycle_urls(url, ts_path, app_path)
                    figures = cycle(ts_url, app_url, args.patients, processes, args.shards)
                    runs.setdefault(processes, []).append(figures)
                    show_cycle(figures, where)
            for processes, done in runs.items():
                walls = sorted(r["wall_s"] for r in done)
                best = min(done, key=lambda r: r["wall_s"])
                results[f"{prefix}cycle_{processes}p"] = {
                    **best, "database": where, "best_wall_s": walls[0],
                    "median_wall_s": float(np.median(walls)),
                    "median_cpu_s": float(np.median([r["cpu_s"] for r in done])),
                    "runs": done}
                show(f"  {where}, {processes} process(es): best {walls[0]:.1f} s, median "
                     f"{float(np.median(walls)):.1f} s of {len(walls)} run(s)")
            one = results[f"{prefix}cycle_1p"]
            more = results[f"{prefix}cycle_{args.processes}p"]
            if more is not one:
                results[f"{prefix}speed_up"] = one["median_wall_s"] / more["median_wall_s"]
                show(f"  {where}: {args.processes} processes vs 1: "
                     f"{results[f'{prefix}speed_up']:.2f} x (median wall)")
    finally:
        if cluster is not None:
            cluster.stop()
    if args.latency:
        figures = latency(args.workdir, args.latency, args.gap)
        results["latency"] = figures
        show(f"  urgent low -> home display, {figures['samples']} readings every "
             f"{args.gap:g} s: p50 {figures['p50_ms']:.0f} ms, p95 {figures['p95_ms']:.0f} ms, "
             f"p99 {figures['p99_ms']:.0f} ms, max {figures['max_ms']:.0f} ms   "
             f"target p99 <= 2000 ms")
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    # The machine is shared: the load average says how much of it the run had.
    results["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    show(f"  load average while measuring (1/5/15 min): {results['load_average_1_5_15']}")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    show(f"  written to {args.results}")


if __name__ == "__main__":
    main()
