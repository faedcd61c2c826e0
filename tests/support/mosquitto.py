"""A real Mosquitto broker on a free loopback port, in a temporary directory.

The configuration mirrors what the docs and docker-compose promise: persistence
on, a large in-flight window for subscribers that acknowledge after commit, and
``max_queued_messages`` sized so that an offline persistent session is not
silently trimmed (the default of 1000 drops messages and still acknowledges
them to the publisher).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port, wait_for_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
RELOADED = "Reloading config."

BASE_CONFIG = """\
listener {port} 127.0.0.1
allow_anonymous {allow_anonymous}
persistence true
persistence_location {data_dir}/
autosave_interval 1
max_inflight_messages 1000
max_queued_messages 1000000
max_queued_bytes 0
set_tcp_nodelay true
sys_interval 1
log_dest file {log_file}
log_type error
log_type warning
log_type notice
"""


class MosquittoServer:
    """``password_file``/``acl_file`` turn on authentication (anonymous logins are
    then refused unless ``allow_anonymous`` says otherwise); ``reload()`` makes
    the broker re-read both; with them the pid is written to ``workdir/mosquitto.pid``."""

    def __init__(self, workdir: Path, *, extra_config: str = "",
                 allow_anonymous: bool | None = None,
                 password_file: Path | None = None, acl_file: Path | None = None):
        self.workdir = workdir
        self.password_file = password_file
        self.acl_file = acl_file
        self.pid_path = workdir / "mosquitto.pid"
        if allow_anonymous is None:
            allow_anonymous = password_file is None
        self.port = free_port()
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        self.extra_config = extra_config
        self.allow_anonymous = allow_anonymous
        self.process: subprocess.Popen[bytes] | None = None
        self.write_config()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        config = BASE_CONFIG.format(
            port=self.port,
            data_dir=self.workdir / "data",
            log_file=self.log_path,
            allow_anonymous="true" if self.allow_anonymous else "false",
        )
        if self.password_file is not None:
            config += f"password_file {self.password_file}\n"
        if self.acl_file is not None:
            config += f"acl_file {self.acl_file}\n"
        if self.password_file is not None or self.acl_file is not None:
            # Run as whoever runs the tests, who owns the (0600) credential files
            # (and the directory of the pid file, written after dropping privileges).
            config += f"user {getpass.getuser()}\npid_file {self.pid_path}\n"
            # "Reloading config." (information level) tells reload() the files were re-read.
            config += "log_type information\n"
        self.config_path.write_text(config + self.extra_config)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, alive=lambda: self.process is not None
                          and self.process.poll() is None)
        except TimeoutError:
            log = self.log_path.read_text() if self.log_path.exists() else ""
            self.kill()
            raise RuntimeError(f"mosquitto did not start:\n{log}") from None

    def stop(self) -> None:
        """A clean stop: Mosquitto saves its persistence file."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=15)
        self.process = None

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15)
        self.process = None

    def reload(self) -> None:
        """Re-read the password and ACL files without a restart (SIGHUP)."""
        assert self.process is not None
        before = self.log().count(RELOADED)
        self.process.send_signal(signal.SIGHUP)
        # Mosquitto logs the line, then re-reads both files in the same turn of its (single
        # threaded) loop: a client that connects after the line is judged by the new files.
        deadline = time.monotonic() + 60
        while self.log().count(RELOADED) <= before:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"mosquitto did not reload:\n{self.log()[-2000:]}")
            time.sleep(0.02)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoServer]:
    server = MosquittoServer(tmp_path / "mosquitto")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[type[MosquittoServer]]:
    """For tests that need their own configuration (ACLs, TLS)."""
    started: list[MosquittoServer] = []

    class _Factory(MosquittoServer):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(tmp_path / f"mosquitto-{len(started)}", **kwargs)  # type: ignore[arg-type]
            started.append(self)

    try:
        yield _Factory
    finally:
        for server in started:
            server.kill()


if not os.path.exists(MOSQUITTO):  # pragma: no cover - the test command installs it
    raise RuntimeError("mosquitto is not installed: run the README's test command")
