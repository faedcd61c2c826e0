"""Dashboard speed: p95 with 20 concurrent users on 1,000 patients x 14 days.

Targets (issue 6): the patient trends page p95 <= 300 ms, the nurse triage page
p95 <= 1 s, with 20 concurrent users.

The data are seeded straight into a SQLite time-series store (the fast numpy
CGM generator of bench/analytics.py, plus a BP pair and a weigh-in every
morning and a step count every evening) and an application database with one
clinic holding every patient; they are kept in --workdir between runs.  The
app runs in its own process under uvicorn (one worker, as `hearth dashboard`);
the users are threads with their own signed-in sessions, each sending its next
request when the previous one is answered (a closed loop).

Scenarios (every figure is a full page: HTML with the chart data in it):
  baseline        GET /healthz: the framework's floor under the same load
  trends, cold    GET /patients/{id}/trends?days=14, every request a patient's first view
                  of their own page (20 x N patients; nothing cached)
  trends, repeat  each patient reloads their own trends page (served from the cache
                  while no new reading has come in)
  triage          GET /nurse with a mix of pages, buckets and searches, after the
                  board was built once (its build time is printed separately)

Run:  .venv/bin/python -m bench.dashboard [--patients 1000] [--days 14] [--users 20]
Writes bench/results/dashboard.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

from bench.analytics import _fake_cgm

END = datetime(2026, 3, 16, tzinfo=UTC)  # the data end here; the app's clock stands at END
PASSWORD = "bench-password-not-secret"
RESULTS = Path(__file__).with_name("results") / "dashboard.json"
TARGETS_MS = {"trends, cold": 300.0, "triage": 1000.0}
NURSES = 20
PATIENT_ACCOUNTS = 220  # 20 users x 10 first views, and 20 who reload their own page


def show(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- seeding ------------------------------------------------------------------------------

def seed(workdir: Path, patients: int, days: int) -> None:
    marker = workdir / "seeded.json"
    if marker.exists() and json.loads(marker.read_text()) == {"patients": patients, "days": days, "accounts": PATIENT_ACCOUNTS}:
        show(f"  reusing the seeded data in {workdir}")
        return
    for name in ("ts.db", "ts.db-wal", "ts.db-shm", "app.db", "app.db-wal", "app.db-shm"):
        (workdir / name).unlink(missing_ok=True)
    began = time.perf_counter()
    n = _seed_readings(workdir / "ts.db", patients, days)
    show(f"  seeded {n} readings in {time.perf_counter() - began:.0f} s")
    began = time.perf_counter()
    _seed_accounts(workdir / "app.db", patients)
    show(f"  seeded {patients} patients and the accounts in {time.perf_counter() - began:.0f} s")
    marker.write_text(json.dumps({"patients": patients, "days": days, "accounts": PATIENT_ACCOUNTS}))


def _seed_readings(path: Path, patients: int, days: int) -> int:
    from core.timeseries.sqlite import SqliteTimeSeriesStore

    SqliteTimeSeriesStore(path).close()  # the adapter creates its schema
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    rng = np.random.default_rng(7)
    start_us = int((END - timedelta(days=days)).timestamp() * 1e6)
    day_us = 86_400_000_000
    total = 0
    for i in range(patients):
        pid = f"p{i:04d}"
        t, v = _fake_cgm(rng, start_us, days)
        rows = [(pid, "glucose", int(a), f"{pid}-cgm", float(b), "cgm", float(b), "mg/dL", None, None)
                for a, b in zip(t.tolist(), v.tolist(), strict=True)]
        for d in range(days):
            morning = start_us + d * day_us + 7 * 3_600_000_000 + int(rng.integers(0, 3600)) * 1_000_000
            sys_, dia = float(rng.normal(132, 12)), float(rng.normal(82, 8))
            kg = 70.0 + i % 30 + 0.05 * d
            steps = float(rng.integers(2000, 11000))
            rows += [(pid, "systolic", morning, f"{pid}-cuff", sys_, "bp_cuff", sys_, "mm[Hg]", None, None),
                     (pid, "diastolic", morning, f"{pid}-cuff", dia, "bp_cuff", dia, "mm[Hg]", None, None),
                     (pid, "weight", morning + 60_000_000, f"{pid}-scale", kg, "scale", kg, "kg", None, None),
                     (pid, "steps", morning + 12 * 3_600_000_000, f"{pid}-steps", steps, "pedometer",
                      steps, "{steps}", None, None)]
        conn.executemany("INSERT OR IGNORE INTO readings VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        total += len(rows)
        if i % 100 == 99:
            conn.commit()
    conn.commit()
    conn.close()
    return total


def _seed_accounts(path: Path, patients: int) -> None:
    from sqlalchemy.orm import Session

    from core.appdb.account_store import AccountStore
    from core.appdb.accounts import CareTeam, CareTeamPatient, Clinic, ClinicPatient
    from core.appdb.directory import bind_devices
    from core.appdb.engine import create_schema, make_engine
    from core.appdb.models import Patient

    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    with Session(engine) as session:
        session.add(Clinic(id="clinic", name="Bench clinic"))
        session.flush()
        session.add(CareTeam(id="team", name="Bench team", clinic_id="clinic"))
        session.flush()
        for i in range(patients):
            pid = f"p{i:04d}"
            targets = {"older_adult": True} if i % 5 == 0 else {}
            session.add(Patient(id=pid, display_name=f"Patient {i:04d}", timezone="Europe/London",
                                conditions=["type_1_diabetes"], targets=targets))
        session.flush()
        for i in range(patients):
            pid = f"p{i:04d}"
            session.add(ClinicPatient(patient_id=pid, clinic_id="clinic"))
            session.add(CareTeamPatient(team_id="team", patient_id=pid))
            bind_devices(session, pid, [(f"{pid}-cgm", "cgm"), (f"{pid}-cuff", "bp_cuff"),
                                        (f"{pid}-scale", "scale"), (f"{pid}-steps", "pedometer")])
        session.commit()
    accounts = AccountStore(engine)
    for u in range(NURSES):
        accounts.add_user(f"nurse{u:02d}", role="nurse", display_name=f"Nurse {u}",
                          password=PASSWORD, clinic_id="clinic")
    for u in range(min(PATIENT_ACCOUNTS, patients)):
        accounts.add_user(f"patient{u:04d}", role="patient", display_name=f"Patient {u:04d}",
                          password=PASSWORD, patient_id=f"p{u:04d}")
    engine.dispose()


# -- the server -------------------------------------------------------------------------

def build_app(workdir: Path):  # type: ignore[no-untyped-def]
    """The dashboard over the seeded data, its clock standing at END."""
    from core.appdb.account_store import AccountStore
    from core.appdb.directory import SqlDirectory
    from core.appdb.engine import make_engine
    from core.timeseries.sqlite import SqliteTimeSeriesStore
    from dashboard.app import create_app

    engine = make_engine(f"sqlite:///{workdir / 'app.db'}")
    app = create_app(store=SqliteTimeSeriesStore(workdir / "ts.db"), directory=SqlDirectory(engine),
                     accounts=AccountStore(engine), clock=lambda: END)
    app.state.engine = engine
    return app


def serve(workdir: Path, port: int) -> None:
    """Run the dashboard over the seeded data (in the child process), one process as
    `hearth dashboard` runs it."""
    import logging

    import uvicorn

    logging.basicConfig(level=logging.WARNING)
    uvicorn.run(build_app(workdir), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    from tests.support.ports import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.dashboard", "--serve", str(port),
                             "--workdir", str(workdir)], cwd=Path(__file__).parent.parent)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # worker processes import the app under load
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the dashboard did not start")


# -- the load ---------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def signed_in(base: str, name: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    page = client.get("/login")
    found = CSRF.search(page.text)
    assert found, "no CSRF field on the login page"
    done = client.post("/login", data={"username": name, "password": PASSWORD,
                                       "csrf_token": found.group(1)})
    assert done.status_code in (200, 303), done.status_code
    return client


def run_load(users: int, pick: Callable[[int, int], tuple[httpx.Client, str]],
             requests_each: int) -> list[float]:
    """``users`` threads at once, each sending ``requests_each`` requests back to back
    (the next as soon as the previous is answered); ``pick(k, j)`` gives user k's j-th."""
    times: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []
    go = threading.Barrier(users)

    def user(k: int) -> None:
        go.wait()
        for j in range(requests_each):
            client, path = pick(k, j)
            began = time.perf_counter()
            response = client.get(path)
            spent = (time.perf_counter() - began) * 1000
            with lock:
                times.append(spent)
                if response.status_code != 200:
                    errors.append(f"{path}: {response.status_code}")

    threads = [threading.Thread(target=user, args=(k,)) for k in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return times


def figures(name: str, times: list[float], wall_s: float) -> dict[str, float | str | int]:
    arr = np.asarray(times)
    out: dict[str, float | str | int] = {
        "scenario": name, "requests": int(arr.size),
        "p50_ms": float(np.percentile(arr, 50)), "p95_ms": float(np.percentile(arr, 95)),
        "max_ms": float(arr.max()), "requests_per_s": float(arr.size / wall_s)}
    target = TARGETS_MS.get(name)
    if target is not None:
        out["target_p95_ms"] = target
        out["meets_target"] = "yes" if out["p95_ms"] <= target else "no"
    show(f"  {name:<16} {arr.size:5d} requests  p50 {out['p50_ms']:7.1f} ms  "
         f"p95 {out['p95_ms']:7.1f} ms  max {out['max_ms']:7.1f} ms  "
         f"{out['requests_per_s']:6.1f}/s" + (f"  (target p95 <= {target:.0f} ms)" if target else ""))
    return out


def measure(base: str, *, users: int, requests_each: int, patients: int) -> list[dict]:
    nurses = [signed_in(base, f"nurse{u:02d}") for u in range(users)]
    # user k's j-th first view is patient (k * requests_each + j): each page is new
    fresh = [[signed_in(base, f"patient{k * requests_each + j:04d}") for j in range(requests_each)]
             for k in range(users)]
    repeat_from = users * requests_each
    own = [signed_in(base, f"patient{repeat_from + u:04d}") for u in range(users)]
    results = []

    def timed(name: str, pick: Callable[[int, int], tuple[httpx.Client, str]]) -> None:
        began = time.perf_counter()
        times = run_load(users, pick, requests_each)
        results.append(figures(name, times, time.perf_counter() - began))

    timed("baseline", lambda k, j: (nurses[k], "/healthz"))
    timed("trends, cold", lambda k, j: (fresh[k][j],
                                       f"/patients/p{k * requests_each + j:04d}/trends?days=14"))
    for u, client in enumerate(own):
        client.get(f"/patients/p{repeat_from + u:04d}/trends?days=14")
    timed("trends, repeat", lambda k, j: (own[k], f"/patients/p{repeat_from + k:04d}/trends?days=14"))
    began = time.perf_counter()
    first = nurses[0].get("/nurse")
    build_s = time.perf_counter() - began
    assert first.status_code == 200
    show(f"  triage board built for {patients} patients in {build_s:.2f} s (first request, "
         "once per 5-minute refresh; later refreshes run in the background)")
    results.append({"scenario": "triage board build", "seconds": build_s})
    views = ["/nurse", "/nurse?page=2", "/nurse?bucket=low", "/nurse?risk=bp_crisis",
             "/nurse?q=Patient+00", "/nurse?bucket=meeting&page=3", "/nurse?bucket=high"]
    timed("triage", lambda k, j: (nurses[k], views[(k + j) % len(views)]))
    for c in [*nurses, *own, *(c for row in fresh for c in row)]:
        c.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10, help="per user and scenario")
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "hearth-bench-dashboard")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.users > NURSES or args.users * (args.requests + 1) > PATIENT_ACCOUNTS:
        parser.error(f"at most {NURSES} users and {PATIENT_ACCOUNTS} patient page views")
    if args.serve:
        serve(args.workdir, args.serve)
        return
    show(f"dashboard: {args.patients} patients x {args.days} days, {args.users} concurrent users, "
         "one server process")
    seed(args.workdir, args.patients, args.days)
    load_before = os.getloadavg()
    proc, base = start_server(args.workdir)
    try:
        results = measure(base, users=args.users, requests_each=args.requests,
                          patients=args.patients)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    load_after = os.getloadavg()
    show(f"  machine load average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after "
         f"on {os.cpu_count()} CPUs: other work on the machine inflates every figure alike")
    baseline = next(r for r in results if r["scenario"] == "baseline")["p95_ms"]
    for r in results:
        if "p95_ms" in r and r["scenario"] != "baseline":
            show(f"  {r['scenario']:<16} p95 = {r['p95_ms'] / baseline:5.1f} x the /healthz baseline")
    out = RESULTS
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "measured_at": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "patients": args.patients, "days": args.days,
        "users": args.users, "requests_per_user": args.requests, "workers": 1,
        "load_average_1min": [load_before[0], load_after[0]], "results": results}, indent=2) + "\n")
    show(f"  wrote {out}")


if __name__ == "__main__":
    main()
