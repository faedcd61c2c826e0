"""Backup and restore times for each store, measured in one run (docs/RELIABILITY.md).

For each engine: fill it with N readings (time series: one five-minute CGM series
per patient, as the simulator sends them) or with the demo household plus one
audit row per reading/100 (application database), then time core/backup.py's
backup, destroy the store, time the restore, and check that every table or
measurement has the same row count and checksum afterwards. The stores are the
same real servers the tests use (Debian's influxd and PostgreSQL, on free
loopback ports in a temporary directory).

Usage (from the repository root): python -m bench.backup [--readings N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text

from core.appdb.account_store import AccountStore
from core.appdb.audit_log import AuditEntry
from core.appdb.engine import create_schema, make_engine
from core.backup import backup_store, restore_store
from core.readings import Reading
from core.timeseries.factory import open_store
from tests.support.factories import cgm_series, register_household
from tests.support.influxdb import InfluxServer
from tests.support.postgres import PostgresCluster

RESULTS = Path(__file__).with_name("results") / "backup.json"


def _say(text: str) -> None:
    """One line of the benchmark's output (sys.stdout is looked up now: the runner may tee it)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def readings(n: int) -> list[Reading]:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=400)
    per = n // 20
    return [r for i in range(20) for r in cgm_series(per, patient_id=f"p{i}",
                                                    device_id=f"p{i}-cgm", start=start)]


def _hash(rows: list[Any]) -> tuple[int, str]:
    lines = sorted(repr(tuple(str(v) for v in row)) for row in rows)
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()


def sqlite_print(path: Path) -> dict[str, tuple[int, str]]:
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: _hash(db.execute(f'SELECT * FROM "{t}"').fetchall()) for t in names}


def timed(label: str, url: str, role: str, fingerprint: Any, destroy: Any, work: Path,
          **options: Any) -> dict[str, Any]:
    before = fingerprint()
    item = backup_store(role, url, work, **options)
    size = sum(p.stat().st_size for p in (work / item.path).rglob("*")) \
        if (work / item.path).is_dir() else (work / item.path).stat().st_size
    destroy()
    started = time.monotonic()
    restore_store(item, url, work, **options)
    restore_s = time.monotonic() - started
    deadline = time.monotonic() + 30
    while fingerprint() != before and time.monotonic() < deadline:
        time.sleep(0.2)  # influxd loads restored shards just after the command returns
    same = fingerprint() == before
    rows = sum(n for n, _ in before.values())
    _say(f"{label:<28} rows {rows:>8}  backup {item.seconds:6.2f} s  restore {restore_s:6.2f} s"
         f"  size {size / 1e3:8.0f} kB  same data: {same}")
    return {"store": label, "rows": rows, "backup_s": item.seconds,
            "restore_s": round(restore_s, 3), "bytes": size, "same_data": same}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backup")
    parser.add_argument("--readings", type=int, default=200_000)
    args = parser.parse_args(argv)
    data = readings(args.readings)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # SQLite time series
        ts = root / "timeseries.db"
        store = open_store(f"sqlite:///{ts}")
        store.write(data)
        store.close()

        def drop_sqlite(path: Path = ts) -> None:
            for p in path.parent.glob(path.name + "*"):
                p.unlink()
        results.append(timed("SQLite time series", f"sqlite:///{ts}", "timeseries",
                             lambda: sqlite_print(ts), drop_sqlite, root / "b1"))
        # InfluxDB
        influx = InfluxServer(root / "influx")
        influx.start()
        try:
            database = influx.create_database()
            url = influx.url(database)
            store = open_store(url)
            store.write(data)
            store.close()

            def influx_print() -> dict[str, tuple[int, str]]:
                body: Any = influx.query("SELECT * FROM /.*/", database)
                series = body["results"][0].get("series", [])
                return {s["name"]: _hash(s["values"]) for s in series}
            results.append(timed("InfluxDB time series", url, "timeseries", influx_print,
                                 lambda: influx.query(f'DROP DATABASE "{database}"'), root / "b2",
                                 influx_rpc_address=f"127.0.0.1:{influx.rpc_port}"))
        finally:
            influx.stop()
        # PostgreSQL application database
        cluster = PostgresCluster()
        cluster.start()
        try:
            url = cluster.url(cluster.create_database())
            engine = make_engine(url)
            create_schema(engine)
            register_household(engine)
            at = datetime.now(UTC)
            AccountStore(engine).audit_log.record([
                AuditEntry(at - timedelta(seconds=i), "nurse", "nurse", f"p{i % 20}", "readings",
                           "/api")
                for i in range(args.readings // 100)])

            def pg_print() -> dict[str, tuple[int, str]]:
                with engine.connect() as conn:
                    return {t: _hash(list(conn.execute(text(f'SELECT * FROM "{t}"'))))
                            for t in inspect(engine).get_table_names()}

            def pg_drop() -> None:
                with engine.begin() as conn:
                    conn.execute(text("DROP SCHEMA public CASCADE"))
                    conn.execute(text("CREATE SCHEMA public"))
            results.append(timed("PostgreSQL application db", url, "appdb", pg_print, pg_drop,
                                 root / "b3"))
            engine.dispose()
        finally:
            cluster.stop()
    RESULTS.write_text(json.dumps({"readings": args.readings, "results": results}, indent=2)
                       + "\n")
    _say(f"written to {RESULTS}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
