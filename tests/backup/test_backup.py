"""Back up, destroy, restore, same data: SQLite, InfluxDB and PostgreSQL, through the real
`hearth backup` / `hearth restore` commands against real servers.

"Same data" is checked independently of core/backup.py: for every table (or
measurement) a row count and a SHA-256 over its sorted rows, before and after.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, inspect, text

from core.appdb.engine import create_schema, make_engine
from core.backup import BackupError, backup_sqlite, read_manifest, redacted, restore_all
from core.config import get_settings
from core.readings import Reading
from core.timeseries.factory import open_store
from core.timeseries.sqlite import SqliteTimeSeriesStore
from hearth.cli import main
from tests.support.accounts import add_people
from tests.support.factories import app_database, cgm_series, register_household, wait_until
from tests.support.influxdb import InfluxServer

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=7)
Fingerprint = dict[str, tuple[int, str]]  # table -> (rows, sha256 of the sorted rows)


def readings() -> list[Reading]:
    """A week of five-minute CGM readings for three patients (6,048)."""
    return [r for pid in ("ann", "bob", "cat")
            for r in cgm_series(2016, patient_id=pid, device_id=f"{pid}-cgm", start=START)]


def fill_appdb(engine: Engine) -> None:
    profiles = register_household(engine)
    add_people(engine, profiles[0].id, clinic_patients=[p.id for p in profiles[1:]])


def _hash(rows: list[tuple[object, ...]]) -> tuple[int, str]:
    lines = sorted(repr(tuple(str(v) for v in row)) for row in rows)
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()


def sqlite_fingerprint(path: Path) -> Fingerprint:
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        return {t: _hash(db.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables}


def sql_fingerprint(engine: Engine) -> Fingerprint:
    with engine.connect() as conn:
        return {t: _hash([tuple(r) for r in conn.execute(text(f'SELECT * FROM "{t}"'))])
                for t in inspect(engine).get_table_names()}


def influx_fingerprint(server: InfluxServer, database: str) -> Fingerprint:
    series = server.query("SELECT * FROM /.*/", database)["results"][0].get("series", [])  # type: ignore[index]
    return {s["name"]: _hash([tuple(v) for v in s["values"]]) for s in series}


def hearth(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real console command in a subprocess (used once, for the SQLite case)."""
    return subprocess.run([sys.executable, "-m", "hearth", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=300, check=False)


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The same command in this process (start-up is most of a subprocess's cost)."""
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, list(args), env=env)
    finally:
        get_settings.cache_clear()
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_sqlite_backup_restore_while_a_writer_holds_uncheckpointed_commits(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ts_path, app_path = data / "timeseries.db", data / "hearth.db"
    store = SqliteTimeSeriesStore(ts_path)
    engine = app_database(app_path)
    fill_appdb(engine)
    # The writer stays open with its last commits only in the -wal file.
    writer = sqlite3.connect(ts_path)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    store.write(readings())
    assert ts_path.with_name("timeseries.db-wal").stat().st_size > 0
    before = sqlite_fingerprint(ts_path), sqlite_fingerprint(app_path)
    assert sum(n for n, _ in before[0].values()) >= 6048

    env = {"HEARTH_TIMESERIES_URL": f"sqlite:///{ts_path}",
           "HEARTH_DATABASE_URL": f"sqlite:///{app_path}"}
    out = ok(hearth("backup", str(tmp_path / "backup"), env=env))
    assert "timeseries (sqlite)" in out and "appdb (sqlite)" in out

    store.close()
    writer.close()
    engine.dispose()
    for path in data.iterdir():  # destroy: the files, their WAL and shared memory
        path.unlink()
    out = ok(cli("restore", str(tmp_path / "backup"), env=env))
    assert "timeseries from" in out and "appdb from" in out
    assert (sqlite_fingerprint(ts_path), sqlite_fingerprint(app_path)) == before
    reopened = SqliteTimeSeriesStore(ts_path)  # the store works on the restored file
    try:
        assert len(reopened.read("ann", readings()[0].metric, START, START + timedelta(days=8))) \
            == 2016
    finally:
        reopened.close()


def test_a_file_copy_of_a_wal_database_can_lose_commits_the_backup_api_keeps(
        tmp_path: Path) -> None:
    """Why the online backup API: the control case for the test above."""
    db = tmp_path / "live.db"
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (x INTEGER)")
    writer.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    writer.commit()
    copied = tmp_path / "copied.db"
    copied.write_bytes(db.read_bytes())  # the main file only, as a naive copy would
    backup_sqlite(db, tmp_path / "snapshot.db")
    with sqlite3.connect(copied) as c, sqlite3.connect(tmp_path / "snapshot.db") as s:
        copied_rows = c.execute("SELECT name FROM sqlite_master WHERE name='t'").fetchall()
        assert copied_rows == []  # the table and its rows were still in the WAL
        assert s.execute("SELECT COUNT(*) FROM t").fetchone() == (1000,)
    writer.close()


def test_influxdb_backup_drop_restore(tmp_path: Path, influxdb_server: InfluxServer) -> None:
    server = influxdb_server
    database = server.create_database()
    url = server.url(database)
    store = open_store(url)
    try:
        store.write(readings())
    finally:
        store.close()
    before = influx_fingerprint(server, database)
    assert sum(n for n, _ in before.values()) == 6048
    app_path = tmp_path / "hearth.db"
    fill_appdb(app_database(app_path))
    env = {"HEARTH_TIMESERIES_URL": url, "HEARTH_DATABASE_URL": f"sqlite:///{app_path}"}
    rpc = f"127.0.0.1:{server.rpc_port}"
    out = ok(cli("backup", str(tmp_path / "backup"), "--influx-rpc", rpc, env=env))
    assert "timeseries (influxdb)" in out

    server.query(f'DROP DATABASE "{database}"')  # destroy
    assert influx_fingerprint(server, database) == {}
    ok(cli("restore", str(tmp_path / "backup"), "--influx-rpc", rpc, env=env))
    settled(server, database, before)

    # Restoring over a database that exists needs --replace, and then gives the same data.
    server.query(f"DELETE FROM /.*/ WHERE time > {int(START.timestamp() * 1e9) + 3600 * 10**9}",
                 database)
    assert influx_fingerprint(server, database) != before
    again = cli("restore", str(tmp_path / "backup"), "--influx-rpc", rpc, env=env)
    assert again.returncode != 0 and "InfluxDB restore" in again.stderr
    ok(cli("restore", str(tmp_path / "backup"), "--influx-rpc", rpc, "--replace", env=env))
    settled(server, database, before)


def settled(server: InfluxServer, database: str, expected: Fingerprint) -> None:
    """influxd loads restored shards just after `influxd restore` returns: allow it 15 s."""
    try:
        wait_until(lambda: influx_fingerprint(server, database) == expected, timeout=15,
                   interval=0.2)
    except AssertionError:
        pass  # say below what differs
    found = influx_fingerprint(server, database)
    assert found == expected, {k: v[0] for k, v in found.items()}


def test_postgresql_backup_drop_restore(tmp_path: Path, postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    create_schema(engine)
    fill_appdb(engine)
    before = sql_fingerprint(engine)
    assert before["patients"][0] >= 3 and before["users"][0] == 5
    ts_path = tmp_path / "timeseries.db"
    SqliteTimeSeriesStore(ts_path).close()
    env = {"HEARTH_TIMESERIES_URL": f"sqlite:///{ts_path}", "HEARTH_DATABASE_URL": postgres_url}
    out = ok(cli("backup", str(tmp_path / "backup"), env=env))
    assert "appdb (postgresql)" in out

    with engine.begin() as conn:  # destroy: every table, the migration history too
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    assert inspect(engine).get_table_names() == []
    engine.dispose()
    ok(cli("restore", str(tmp_path / "backup"), env=env))
    assert sql_fingerprint(engine) == before
    create_schema(engine)  # the migrations see the restored schema as current
    assert sql_fingerprint(engine) == before
    engine.dispose()


def test_a_tampered_backup_is_refused(tmp_path: Path) -> None:
    ts_path, app_path = tmp_path / "ts.db", tmp_path / "app.db"
    SqliteTimeSeriesStore(ts_path).close()
    app_database(app_path).dispose()
    env = {"HEARTH_TIMESERIES_URL": f"sqlite:///{ts_path}",
           "HEARTH_DATABASE_URL": f"sqlite:///{app_path}"}
    ok(cli("backup", str(tmp_path / "b"), env=env))
    manifest = read_manifest(tmp_path / "b")
    with (tmp_path / "b" / manifest.item("appdb").path).open("ab") as f:
        f.write(b"x")
    with pytest.raises(BackupError, match="does not match its manifest"):
        restore_all({"appdb": f"sqlite:///{app_path}"}, tmp_path / "b")
    refused = cli("backup", str(tmp_path / "b"), env=env)
    assert refused.returncode != 0 and "not empty" in refused.stderr


def test_the_manifest_never_holds_a_password(tmp_path: Path, postgres_url: str) -> None:
    with_password = postgres_url.replace("hearth_test@", "hearth_test:s3cret-pw@")
    assert "s3cret-pw" not in redacted(with_password)
    assert httpx.URL(redacted(with_password)).password == "***"
