"""A real InfluxDB 1.x (Debian's ``influxd``) on free loopback ports, in a temporary directory.

One server per test session; each test gets its own database, so tests do not
see each other's points. Tests that stop and restart the server (a store that
is down) start their own with ``influxdb_factory``.
"""

from __future__ import annotations

import itertools
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port

INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"

# Reporting off; the RPC (backup/restore) listener and HTTP on free loopback
# ports; the limits that would refuse a clinic's worth of patients turned off
# (docs/STORAGE.md: series cardinality).
CONFIG = """\
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root}/meta"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  index-version = "tsi1"
  query-log-enabled = false
  max-series-per-database = 0
  max-values-per-tag = 0

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
  pprof-enabled = false

[logging]
  level = "warn"
  suppress-logo = true
"""


class InfluxServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.http_port = free_port()
        self.rpc_port = free_port()
        self.config_path = workdir / "influxdb.conf"
        self.log_path = workdir / "influxd.log"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            CONFIG.format(root=workdir, rpc_port=self.rpc_port, http_port=self.http_port)
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def url(self, database: str, **options: str) -> str:
        """A HEARTH_TIMESERIES_URL for this server."""
        query = "&".join(f"{key}={value}" for key, value in options.items())
        return f"influxdb://127.0.0.1:{self.http_port}/{database}" + (f"?{query}" if query else "")

    def start(self, *, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [INFLUXD, "run", "-config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        self._wait_for_ping(timeout)

    def _wait_for_ping(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.base_url}/ping", timeout=1.0).status_code == 204:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        log = self.log_path.read_text(errors="replace")
        self.kill()
        raise RuntimeError(f"influxd did not answer /ping:\n{log[-4000:]}")

    def create_database(self, name: str | None = None) -> str:
        name = name or f"test{next(self._names)}"
        self.query(f'CREATE DATABASE "{name}"')
        return name

    def query(self, statement: str, database: str | None = None) -> dict[str, object]:
        params = {"q": statement, "epoch": "u"} | ({"db": database} if database else {})
        response = httpx.post(f"{self.base_url}/query", data=params, timeout=30.0)
        response.raise_for_status()
        body: dict[str, object] = response.json()
        return body

    def stop(self) -> None:
        """A clean stop (SIGTERM): the WAL is on disk, the data survives a restart."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


def _require_influxd() -> None:
    if not Path(INFLUXD).exists():  # pragma: no cover - the test command installs it
        raise RuntimeError(
            "influxd is not installed: `apt-get install -y influxdb` (docs/STORAGE.md, Testing)"
        )


@pytest.fixture(scope="session")
def influxdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """One InfluxDB for the session; use ``influxdb_url`` for a database of your own."""
    _require_influxd()
    server = InfluxServer(tmp_path_factory.mktemp("influxdb"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def influxdb_url(influxdb_server: InfluxServer) -> str:
    """A HEARTH_TIMESERIES_URL naming a fresh, empty database."""
    return influxdb_server.url(influxdb_server.create_database())


@pytest.fixture
def influxdb_factory(tmp_path: Path) -> Iterator[type[InfluxServer]]:
    """Servers of a test's own (for stopping and restarting); all killed afterwards."""
    _require_influxd()
    started: list[InfluxServer] = []

    class _Factory(InfluxServer):
        def __init__(self) -> None:
            super().__init__(tmp_path / f"influxdb-{len(started)}")
            started.append(self)

    try:
        yield _Factory
    finally:
        for server in started:
            server.kill()
