"""Peak and steady RSS of the real services while they work (issue 10: targets).

Two measurements, each of real processes sampled every 0.25 s (psutil; the RSS of a
process and all its children, summed):

- ``hearth ingest`` (SQLite store) against a real Mosquitto, driven by a backlog of
  batched readings (a gateway coming back: 20 readings a message) and then a live
  stream of single-reading messages at a fixed rate. Target: under 150 MB.
- ``hearth up --patients N`` (default 50: broker, ingest, coach, dashboard and the
  simulator in one process, as a newcomer runs it) with its default 14-day backfill
  and live stream, while a signed-in nurse, coach and patient keep requesting
  dashboard pages. Target: under 600 MB for 50 patients.

Peak = the largest sample; steady = the median of the last quarter of the samples.
The sum of RSS counts pages shared between processes more than once (an upper bound).

A third, quick one: the wall time of ``python -c "import dashboard.app"`` in a fresh
process (what every dashboard worker pays when it starts), the median of several runs,
and which heavy libraries that import loads. Target: under 1.5 s on the project's
2-core machine, with matplotlib, scikit-learn and scipy left for the code that draws
or fits (``--import-only`` measures this alone; ``--repo DIR`` measures another
checkout, e.g. an older commit, with this machine's venv).

Usage: python -m bench.footprint [--quick] [--patients 50] [--up-seconds 180]
       python -m bench.footprint --import-only [--runs 7] [--repo DIR]
Writes bench/results/footprint.json (--import-only: bench/results/import_time.json).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.ingest import DEVICES, workload
from tests.support.factories import app_database, publisher, register, wait_until
from tests.support.ingest_processes import IngestProcess
from tests.support.mosquitto import MosquittoServer
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
INGEST_LIMIT_MB = 150.0
UP_LIMIT_MB = 600.0


def show(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class Sampler:
    """RSS of a process tree, sampled in a thread until stopped."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.root = psutil.Process(pid)
        self.every = every
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._began = time.monotonic()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                rss = 0
                for p in procs:
                    try:
                        rss += p.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
            except psutil.NoSuchProcess:
                return
            self.samples.append((time.monotonic() - self._began, rss / 2**20))
            self._stop.wait(self.every)

    def figures(self) -> dict[str, float]:
        mb = [m for _, m in self.samples]
        if not mb:
            return {"peak_mb": 0.0, "steady_mb": 0.0, "start_mb": 0.0, "samples": 0}
        tail = mb[-max(1, len(mb) // 4):]
        return {"peak_mb": max(mb), "steady_mb": statistics.median(tail), "start_mb": mb[0],
                "samples": len(mb), "seconds": self.samples[-1][0]}


# -- ingest --------------------------------------------------------------------------------


def ingest_footprint(work: Path, *, backlog_messages: int, live_s: float,
                     rate: float) -> dict[str, Any]:
    broker = MosquittoServer(work / "mosquitto")
    broker.start()
    engine = app_database(work / "hearth.db")
    register(engine, "fp-patient", [(f"bench-{d}", "cgm") for d in range(DEVICES)])
    engine.dispose()
    proc = IngestProcess(work, client_id="fp-ingest", env={
        "HEARTH_MQTT_URL": broker.url, "HEARTH_DATABASE_URL": f"sqlite:///{work / 'hearth.db'}",
        "HEARTH_TIMESERIES_URL": f"sqlite:///{work / 'ts.db'}"})
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=300)
    backlog = workload(backlog_messages, 20, start)
    live_start = start + timedelta(days=200)
    live = workload(int(live_s * rate) // DEVICES + 1, 1, live_start)
    try:
        proc.start()
        assert proc.process is not None
        wait_until(proc.subscribed, timeout=60, message="ingest subscribed")
        with Sampler(proc.process.pid) as sampler:
            began = time.perf_counter()
            with publisher(broker.url, window=1000) as pub:
                for topic, _device, _seq, payload in backlog:
                    pub.publish(topic, payload)
            backlog_s = time.perf_counter() - began
            t0 = time.perf_counter()
            with publisher(broker.url, window=1000) as pub:
                for i, (topic, _device, _seq, payload) in enumerate(live):
                    delay = t0 + i / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    pub.publish(topic, payload)
            time.sleep(2)
        readings = len(backlog) * 20 + len(live)
    finally:
        proc.stop()
        broker.kill()
    figures = sampler.figures()
    show(f"  ingest: {readings:,} readings ({len(backlog) * 20:,} as a backlog of 20 a message "
         f"published in {backlog_s:.1f} s, then {len(live):,} single at {rate:g}/s): RSS peak "
         f"{figures['peak_mb']:.0f} MB, steady {figures['steady_mb']:.0f} MB   target < "
         f"{INGEST_LIMIT_MB:g} MB")
    return {"what": "hearth ingest (SQLite store)", "limit_mb": INGEST_LIMIT_MB,
            "readings": readings, "note": f"backlog {len(backlog) * 20:,} + live {len(live):,} at "
            f"{rate:g}/s", **figures}


# -- hearth up -----------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ACCOUNT = re.compile(r"^\s{4}(patient|caregiver|coach|nurse|admin)\s+(\S+)\s+(\S+)\s*$", re.M)


def _signed_in(base: str, user: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    page = client.get("/login")
    found = CSRF.search(page.text)
    if not found:
        raise RuntimeError("no CSRF field on the login page")
    done = client.post("/login", data={"username": user, "password": password,
                                       "csrf_token": found.group(1)})
    if done.status_code not in (200, 303):
        raise RuntimeError(f"sign-in as {user}: HTTP {done.status_code}")
    return client


def _browse(base: str, accounts: dict[str, tuple[str, str]], stop: threading.Event,
            counts: dict[str, int]) -> None:
    clients = {role: _signed_in(base, *accounts[role]) for role in ("nurse", "coach", "patient")}
    patient = accounts["patient"][0]
    pages = [("nurse", "/nurse"), ("coach", "/coach"),
             ("patient", f"/patients/{patient}/trends?days=14"),
             ("patient", "/"), ("nurse", "/nurse?bucket=low")]
    i = 0
    while not stop.is_set():
        role, path = pages[i % len(pages)]
        response = clients[role].get(path)
        key = "ok" if response.status_code == 200 else f"http_{response.status_code}"
        counts[key] = counts.get(key, 0) + 1
        i += 1
        stop.wait(0.5)
    for c in clients.values():
        c.close()


def up_footprint(work: Path, *, patients: int, seconds: float, backfill_days: float,
                 accounts: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """``accounts`` is filled with the demo sign-ins hearth up printed (for dashboard_footprint)."""
    port, mqtt_port = free_port(), free_port()
    out, err = work / "up.out", work / "up.err"
    env = {**os.environ, "HEARTH_DATA_DIR": str(work / "data")}
    for key in ("HEARTH_MQTT_URL", "HEARTH_TIMESERIES_URL", "HEARTH_DATABASE_URL"):
        env.pop(key, None)
    command = [sys.executable, "-m", "hearth", "up", "--patients", str(patients),
               "--port", str(port),
               "--mqtt-port", str(mqtt_port), "--backfill-days", f"{backfill_days:g}"]
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=o, stderr=e)
    counts: dict[str, int] = {}
    stop = threading.Event()
    try:
        with Sampler(proc.pid) as sampler:
            wait_until(lambda: "Hearth is up." in out.read_text() or proc.poll() is not None,
                       timeout=180, interval=0.2, message="hearth up announced")
            if proc.poll() is not None:
                raise RuntimeError(f"hearth up exited: {err.read_text()[-500:]}")
            up_after = sampler.samples[-1][0] if sampler.samples else 0.0
            accounts.update({m[1]: (m[2], m[3]) for m in ACCOUNT.finditer(out.read_text())})
            browser = threading.Thread(target=_browse, args=(f"http://127.0.0.1:{port}", accounts,
                                                             stop, counts), daemon=True)
            browser.start()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.5)
            stop.set()
            browser.join(timeout=60)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.send_signal(2)  # SIGINT: the way a user stops it
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    figures = sampler.figures()
    log = err.read_text(errors="replace")
    stored = _stored(work / "data" / "timeseries.db")
    app_rows = _app_rows(work / "data" / "hearth.db")
    errors = log.count("Traceback")
    show(f"  hearth up, {patients} patients, backfill {backfill_days:g} days, {seconds:g} s after "
         f"start-up ({up_after:.0f} s), dashboard pages {counts}: {stored:,} readings stored; "
         f"RSS peak {figures['peak_mb']:.0f} MB, steady {figures['steady_mb']:.0f} MB   "
         f"target < {UP_LIMIT_MB:g} MB; tracebacks in its log: {errors}")
    return {"what": f"hearth up, {patients} demo patients (all processes)", "limit_mb": UP_LIMIT_MB,
            "patients": patients, "backfill_days": backfill_days, "readings_stored": stored,
            "dashboard_requests": counts, "tracebacks_in_log": errors, "startup_s": up_after,
            "app_db_rows": app_rows,
            "note": f"{stored:,} readings stored, {sum(counts.values())} page views", **figures}


def _stored(path: Path) -> int:
    import sqlite3

    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])


def dashboard_footprint(work: Path, *, seconds: float, accounts: dict[str, tuple[str, str]]
                        ) -> dict[str, Any]:
    """`hearth dashboard` alone on the data hearth up left, browsed by a nurse, a coach and
    a patient for ``seconds``."""
    port = free_port()
    env = {**os.environ, "HEARTH_DATA_DIR": str(work / "data")}
    for key in ("HEARTH_MQTT_URL", "HEARTH_TIMESERIES_URL", "HEARTH_DATABASE_URL"):
        env.pop(key, None)
    log = work / "dashboard.log"
    with log.open("wb") as o:
        proc = subprocess.Popen([sys.executable, "-m", "hearth", "dashboard", "--port", str(port)],
                                cwd=REPO, env=env, stdout=o, stderr=subprocess.STDOUT)
    counts: dict[str, int] = {}
    stop = threading.Event()
    base = f"http://127.0.0.1:{port}"
    try:
        with Sampler(proc.pid) as sampler:
            wait_until(lambda: _answers(base) or proc.poll() is not None, timeout=120,
                       interval=0.3, message="hearth dashboard listening")
            browser = threading.Thread(target=_browse, args=(base, accounts, stop, counts),
                                       daemon=True)
            browser.start()
            time.sleep(seconds)
            stop.set()
            browser.join(timeout=60)
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    figures = sampler.figures()
    show(f"  hearth dashboard alone, {seconds:g} s browsed ({counts}): RSS peak "
         f"{figures['peak_mb']:.0f} MB, steady {figures['steady_mb']:.0f} MB")
    return {"what": "hearth dashboard (alone, on hearth up's data)", "limit_mb": None,
            "dashboard_requests": counts, "note": f"{sum(counts.values())} page views", **figures}


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


APP_TABLES = ("coach_flags", "coach_nudges", "coach_alerts", "coach_escalation_steps",
              "coach_cooldowns", "deliveries", "inbox_messages", "audit_log", "coach_job_runs")


def _app_rows(path: Path) -> dict[str, int]:
    """Rows the run left in the application database's busiest tables (docs/SCALING.md)."""
    import sqlite3

    if not path.exists():
        return {}
    out = {}
    with sqlite3.connect(path) as conn:
        for table in APP_TABLES:
            try:
                out[table] = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            except sqlite3.Error:
                continue
    return out


IMPORT_LIMIT_S = 1.5
HEAVY = ("matplotlib", "sklearn", "scipy", "pandas")
# Wall time, and the CPU time of the import (process_time): on a loaded machine the wall
# time is mostly waiting for a core, the CPU time what an idle machine would take.
PROBE = ("import sys, time; t = time.perf_counter(); c = time.process_time(); "
         "import {module}; "
         "print(time.perf_counter() - t, time.process_time() - c, "
         "*[m for m in {heavy!r} if m in sys.modules])")


def import_time(module: str = "dashboard.app", *, runs: int = 7, repo: Path = REPO
                ) -> dict[str, Any]:
    """Seconds to import ``module`` in a fresh interpreter (median of ``runs``)."""
    seconds: list[float] = []
    cpu: list[float] = []
    loaded: set[str] = set()
    load = os.getloadavg()
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", PROBE.format(module=module, heavy=HEAVY)],
                              cwd=repo, capture_output=True, text=True, check=True, timeout=300)
        wall, used, *heavy = done.stdout.split()
        seconds.append(float(wall))
        cpu.append(float(used))
        loaded.update(heavy)
    median = statistics.median(seconds)
    show(f"import {module}: median {median:.2f} s of {runs} (min {min(seconds):.2f}, "
         f"max {max(seconds):.2f}), CPU {statistics.median(cpu):.2f} s, "
         f"heavy modules loaded: {sorted(loaded) or 'none'}")
    return {"name": f"import {module}", "repo": str(repo), "runs": runs,
            "median_s": round(median, 3), "min_s": round(min(seconds), 3),
            "max_s": round(max(seconds), 3), "cpu_median_s": round(statistics.median(cpu), 3),
            "heavy_loaded": sorted(loaded),
            "limit_s": IMPORT_LIMIT_S, "load_average_start": load,
            "load_average_end": os.getloadavg()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--up-seconds", type=float, default=None,
                        help="how long to sample hearth up after it announces itself")
    parser.add_argument("--import-only", action="store_true",
                        help="only the import time of dashboard.app")
    parser.add_argument("--runs", type=int, default=7, help="fresh imports to time")
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout to import from")
    args = parser.parse_args(argv)
    if args.import_only:
        RESULTS.mkdir(parents=True, exist_ok=True)
        figure = import_time(runs=args.runs, repo=args.repo)
        (RESULTS / "import_time.json").write_text(json.dumps({
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "results": [figure]}, indent=2) + "\n")
        return
    backlog, live_s, rate = (10, 10.0, 500.0) if args.quick else (50, 60.0, 1000.0)
    up_s = args.up_seconds or (30.0 if args.quick else 180.0)
    backfill = 1.0 if args.quick else 14.0
    load_start = os.getloadavg()
    show(f"footprint: load average at the start {', '.join(f'{x:.1f}' for x in load_start)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="hearth-footprint-") as tmp:
        (Path(tmp) / "ingest").mkdir()
        (Path(tmp) / "up").mkdir()
        results.append(ingest_footprint(Path(tmp) / "ingest", backlog_messages=backlog,
                                        live_s=live_s, rate=rate))
        accounts: dict[str, tuple[str, str]] = {}
        results.append(up_footprint(Path(tmp) / "up", patients=args.patients, seconds=up_s,
                                    backfill_days=backfill, accounts=accounts))
        results.append(dashboard_footprint(Path(tmp) / "up", seconds=up_s / 4, accounts=accounts))
    results.append(import_time(runs=3 if args.quick else 7))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "footprint.json").write_text(json.dumps({
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "quick": args.quick,
        "load_average_start": load_start, "load_average_end": os.getloadavg(),
        "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
