"""A private PostgreSQL cluster on a free loopback port, in a temporary directory.

``initdb`` and ``pg_ctl`` from Debian's package (/usr/lib/postgresql/*/bin).
PostgreSQL refuses to run as root, so when the tests run as root the cluster
belongs to the ``postgres`` system user (created with the package), started
through ``runuser``; the temporary directory is made directly under /tmp so
that user can reach it. Authentication is ``trust`` on loopback only.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port, wait_for_port

SUPERUSER = "hearth_test"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:  # pragma: no cover - the test command installs it
        raise RuntimeError("PostgreSQL is not installed: run scripts/system-packages.sh")
    return Path(found[-1]).parent


class PostgresCluster:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="hearth-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log_path = self.root / "postgres.log"
        self.port = free_port()
        self._names = itertools.count()
        self._owner = self._cluster_owner()

    @staticmethod
    def _cluster_owner() -> pwd.struct_passwd | None:
        """The system user to run as, or None to run as ourselves (when not root)."""
        if os.geteuid() != 0:
            return None
        return pwd.getpwnam("postgres")

    def _run(self, *argv: str) -> None:
        command = list(argv)
        if self._owner is not None:
            command = ["runuser", "-u", self._owner.pw_name, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            raise RuntimeError(f"{argv[0]} failed:\n{result.stdout}{result.stderr}\n{log}")

    def start(self) -> None:
        self.socket_dir.mkdir(parents=True)
        if self._owner is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                  "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
                   " -c fsync=off -c full_page_writes=off")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path),
                  "-o", options, "-w", "-t", "60", "start")
        wait_for_port(self.port)

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) for a database of this cluster."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = f"hearth_{next(self._names)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def stop(self) -> None:
        if self.data.exists():
            try:
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "-w", "stop")
            except RuntimeError:
                pass  # not running
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """A SQLAlchemy URL naming a fresh, empty database."""
    return postgres_cluster.url(postgres_cluster.create_database())
