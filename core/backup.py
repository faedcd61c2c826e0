"""Back up and restore Hearth's stores: SQLite files, InfluxDB 1.x and PostgreSQL.

- SQLite (the embedded time-series store and application database): SQLite's
  online backup API (``sqlite3.Connection.backup``), which copies a consistent
  snapshot while other connections keep reading and writing, WAL included; a
  plain file copy of a WAL database can miss committed pages still in the -wal file.
  Restore copies the snapshot back with the same API, so the target's own WAL
  is handled by SQLite. Stop the services that write to it before a restore.
- InfluxDB 1.x: ``influxd backup -portable`` / ``influxd restore -portable``
  over the server's RPC address (``bind-address``, 127.0.0.1:8088 by default).
  A database cannot be restored over itself: restore drops it first when asked to.
- PostgreSQL: ``pg_dump --format=custom`` / ``pg_restore --clean --if-exists``.
  The password goes to the tools through PGPASSWORD, never on their command line.

Each backup directory carries ``manifest.json``: what was backed up from where
(URLs without passwords), when, how long it took, and a SHA-256 of every file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from core.errors import ConfigurationError, HearthError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
TIMESERIES, APPDB = "timeseries", "appdb"
DEFAULT_INFLUX_RPC_PORT = 8088  # influxd's default bind-address


class BackupError(HearthError):
    """A backup or restore could not be completed (the reason says which step)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One store in a backup: ``role`` is timeseries or appdb, ``path`` relative to the set."""

    role: str
    engine: str
    source: str  # the store's URL without its password
    path: str
    seconds: float
    sha256: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Manifest:
    created_at: str
    items: tuple[Item, ...]

    def item(self, role: str) -> Item:
        for found in self.items:
            if found.role == role:
                return found
        raise BackupError(f"the backup holds no {role} store")


# --- URLs -------------------------------------------------------------------------------

def engine_of(url: str) -> str:
    scheme = urlparse(url).scheme.split("+", 1)[0]
    names = {"sqlite": "sqlite", "influxdb": "influxdb", "influxdbs": "influxdb",
             "postgresql": "postgresql", "postgres": "postgresql"}
    if scheme not in names:
        raise ConfigurationError(f"cannot back up a store with URL scheme {scheme!r}")
    return names[scheme]


def sqlite_path(url: str) -> Path:
    """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (SQLAlchemy's form)."""
    path = urlparse(url).path
    path = path[1:] if path.startswith("/") else path
    if not path:
        raise ConfigurationError("no file in the SQLite URL")
    return Path(path)


def redacted(url: str) -> str:
    """The URL with any password replaced, for manifests and messages."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return parsed._replace(netloc=netloc).geturl()


# --- SQLite -----------------------------------------------------------------------------

def backup_sqlite(source: Path, target: Path) -> None:
    """A consistent snapshot of ``source`` (which may be in use) written to ``target``."""
    if not source.exists():
        raise BackupError(f"no SQLite database at {source}")
    target.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # the snapshot is one self-contained file
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {source} failed: {exc}") from exc
    finally:
        dst.close()
        src.close()


def restore_sqlite(snapshot: Path, target: Path) -> None:
    """Replace the content of ``target`` (created if missing) with ``snapshot``'s."""
    if not snapshot.exists():
        raise BackupError(f"no SQLite snapshot at {snapshot}")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        # The restored pages keep the snapshot's journal mode; Hearth's stores run in WAL.
        dst.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite restore into {target} failed: {exc}") from exc
    finally:
        dst.close()
        src.close()


# --- InfluxDB 1.x -----------------------------------------------------------------------

def influx_database(url: str) -> str:
    database = urlparse(url).path.strip("/")
    if not database:
        raise ConfigurationError("no database in the InfluxDB URL")
    return database


def influx_rpc(url: str, rpc: str | None) -> str:
    """The RPC address for ``influxd backup``: given, or the HTTP host on port 8088."""
    return rpc or f"{urlparse(url).hostname}:{DEFAULT_INFLUX_RPC_PORT}"


def _run(argv: Sequence[str], *, what: str, env: dict[str, str] | None = None) -> None:
    tool = shutil.which(argv[0])
    if tool is None:
        raise BackupError(f"{what}: {argv[0]} is not installed")
    result = subprocess.run([tool, *argv[1:]], capture_output=True, text=True, check=False,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise BackupError(f"{what} failed ({argv[0]} exit {result.returncode}): "
                          + " | ".join(detail))


def backup_influxdb(*, rpc: str, database: str, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    _run(["influxd", "backup", "-portable", "-host", rpc, "-database", database, str(target)],
         what=f"InfluxDB backup of {database}")


def _influx_http(url: str) -> tuple[str, httpx.Auth | None]:
    parsed = urlparse(url)
    scheme = "https" if parsed.scheme == "influxdbs" else "http"
    auth = httpx.BasicAuth(unquote(parsed.username), unquote(parsed.password or "")) \
        if parsed.username else None
    return f"{scheme}://{parsed.hostname}:{parsed.port or 8086}", auth


def drop_influx_database(url: str) -> None:
    base, auth = _influx_http(url)
    database = influx_database(url).replace('"', '\\"')
    try:
        answer = httpx.post(f"{base}/query", data={"q": f'DROP DATABASE "{database}"'},
                            auth=auth, timeout=60)
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        raise BackupError(f"could not drop the InfluxDB database before restoring: {exc}") from exc


def restore_influxdb(*, url: str, rpc: str, source: Path, backed_up: str, replace: bool) -> None:
    """Restore database ``backed_up`` from ``source`` under the URL's database name.

    ``influxd restore`` refuses a database that exists; ``replace`` drops it first."""
    database = influx_database(url)
    if replace:
        drop_influx_database(url)
    _run(["influxd", "restore", "-portable", "-host", rpc, "-db", backed_up,
          "-newdb", database, str(source)], what=f"InfluxDB restore of {database}")


# --- PostgreSQL -------------------------------------------------------------------------

def _pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    parsed = urlparse(url)
    args = ["--host", parsed.hostname or "127.0.0.1", "--port", str(parsed.port or 5432),
            "--dbname", parsed.path.lstrip("/") or "postgres"]
    if parsed.username:
        args += ["--username", unquote(parsed.username)]
    env = {"PGPASSWORD": unquote(parsed.password)} if parsed.password else {}
    return args, env


def backup_postgres(url: str, target: Path) -> None:
    args, env = _pg_args(url)
    _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(target), *args],
         what="PostgreSQL backup", env=env)


def restore_postgres(url: str, dump: Path) -> None:
    """Drop and recreate every object of the dump inside the database, in one transaction."""
    args, env = _pg_args(url)
    _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
          "--exit-on-error", *args, str(dump)], what="PostgreSQL restore", env=env)


# --- whole sets -------------------------------------------------------------------------

def _digest(root: Path, relative: str) -> dict[str, str]:
    path = root / relative
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def backup_store(role: str, url: str, target_dir: Path, *, influx_rpc_address: str | None = None
                 ) -> Item:
    engine = engine_of(url)
    target_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if engine == "sqlite":
        relative = f"{role}.sqlite"
        backup_sqlite(sqlite_path(url), target_dir / relative)
    elif engine == "influxdb":
        relative = f"{role}.influxdb"
        backup_influxdb(rpc=influx_rpc(url, influx_rpc_address), database=influx_database(url),
                        target=target_dir / relative)
    else:
        relative = f"{role}.pgdump"
        backup_postgres(url, target_dir / relative)
    seconds = round(time.monotonic() - started, 3)
    log.info("backup: %s (%s) in %.2f s", role, engine, seconds)
    return Item(role, engine, redacted(url), relative, seconds, _digest(target_dir, relative))


def backup_all(stores: dict[str, str], target_dir: Path, *,
               influx_rpc_address: str | None = None) -> Manifest:
    """Back up each ``{role: url}`` into ``target_dir`` and write its manifest."""
    target_dir.mkdir(parents=True, exist_ok=True)
    items = tuple(backup_store(role, url, target_dir, influx_rpc_address=influx_rpc_address)
                  for role, url in stores.items())
    manifest = Manifest(datetime.now(UTC).isoformat(timespec="seconds"), items)
    (target_dir / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def read_manifest(source_dir: Path) -> Manifest:
    path = source_dir / MANIFEST
    if not path.exists():
        raise BackupError(f"{source_dir} is not a Hearth backup (no {MANIFEST})")
    data = json.loads(path.read_text())
    return Manifest(data["created_at"], tuple(Item(**i) for i in data["items"]))


def verify(source_dir: Path, manifest: Manifest) -> None:
    """Every file the manifest lists is there with its SHA-256."""
    for item in manifest.items:
        if _digest(source_dir, item.path) != item.sha256:
            raise BackupError(f"the {item.role} backup in {source_dir} does not match its "
                              "manifest (changed or incomplete)")


def restore_store(item: Item, url: str, source_dir: Path, *,
                  influx_rpc_address: str | None = None, replace: bool = False) -> float:
    engine = engine_of(url)
    if engine != item.engine:
        raise BackupError(f"the {item.role} backup is {item.engine}, the target is {engine}")
    started = time.monotonic()
    path = source_dir / item.path
    if engine == "sqlite":
        restore_sqlite(path, sqlite_path(url))
    elif engine == "influxdb":
        restore_influxdb(url=url, rpc=influx_rpc(url, influx_rpc_address), source=path,
                         backed_up=influx_database(item.source), replace=replace)
    else:
        restore_postgres(url, path)
    seconds = time.monotonic() - started
    log.info("restore: %s (%s) in %.2f s", item.role, engine, seconds)
    return seconds


def restore_all(stores: dict[str, str], source_dir: Path, *,
                influx_rpc_address: str | None = None, replace: bool = False) -> dict[str, float]:
    manifest = read_manifest(source_dir)
    verify(source_dir, manifest)
    return {role: restore_store(manifest.item(role), url, source_dir,
                                influx_rpc_address=influx_rpc_address, replace=replace)
            for role, url in stores.items()}
