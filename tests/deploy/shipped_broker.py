"""deploy/mosquitto/ as docker-compose runs it, on loopback in a temporary directory.

The real entrypoint.sh builds the password files and the ACL (the shipped
``acl`` plus the device logins and rights rendered by core/provisioning.py)
and starts the real broker with the shipped mosquitto.conf. Only the compose
paths and the two listeners' ports are moved (the entrypoint's MOSQUITTO_*_DIR
variables, and a rewrite of the configuration's paths and listeners).

Waits are on conditions, with timeouts sized for a loaded two-core machine.
"""

from __future__ import annotations

import contextlib
import getpass
import itertools
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine

from core.provisioning import Provisioner, hash_password_pbkdf2, render
from tests.support.factories import wait_until
from tests.support.ports import free_port, wait_for_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
SERVICE_ENV = {"MQTT_INGEST_PASSWORD": "ingest-pw", "MQTT_COACH_PASSWORD": "coach-pw",
               "MQTT_DASHBOARD_PASSWORD": "dashboard-pw"}
SERVICE_PASSWORDS = {"hearth-ingest": "ingest-pw", "hearth-coach": "coach-pw",
                     "hearth-dashboard": "dashboard-pw"}
# Generous: the broker and its clients share two cores with several test runs.
WAIT_S = 60.0


def shipped_config(*, device_port: int, service_port: int, run: Path, data: Path,
                   log: Path) -> str:
    """The shipped mosquitto.conf with its paths and listeners moved."""
    conf = (DEPLOY / "mosquitto.conf").read_text()
    for old, new in (("listener 1883", f"listener {device_port} 127.0.0.1"),
                     ("listener 1884", f"listener {service_port} 127.0.0.1"),
                     ("/mosquitto/run/", f"{run}/"), ("/mosquitto/data/", f"{data}/"),
                     ("log_dest stdout", f"log_dest file {log}")):
        assert old in conf, old
        conf = conf.replace(old, new)
    # In the container the broker drops to its own user, which owns its files; here
    # the temporary directory belongs to whoever runs the tests.
    return conf + f"user {getpass.getuser()}\npid_file {run.parent / 'mosquitto.pid'}\n"


class ShippedBroker:
    """The entrypoint and its broker. ``device_port`` is the device listener (1883 in
    compose), ``service_port`` the services' listener (1884)."""

    def __init__(self, workdir: Path, *, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.config, self.auth, self.run, self.data = (
            workdir / d for d in ("config", "auth", "run", "data"))
        for d in (self.config, self.auth, self.data):
            d.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "mosquitto.log"
        self.device_port, self.service_port = free_port(), free_port()
        shutil.copy(DEPLOY / "acl", self.config / "acl")
        (self.config / "mosquitto.conf").write_text(shipped_config(
            device_port=self.device_port, service_port=self.service_port, run=self.run,
            data=self.data, log=self.log_path))
        self.env = {**os.environ, **SERVICE_ENV, **(env or {}),
                    "MOSQUITTO_CONFIG_DIR": str(self.config),
                    "MOSQUITTO_AUTH_DIR": str(self.auth), "MOSQUITTO_RUN_DIR": str(self.run),
                    "PATH": os.environ.get("PATH", "") + ":/usr/sbin"}
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr_path = workdir / "entrypoint.stderr"

    def render_devices(self, engine: Engine) -> None:
        """What `hearth devices render --devices-only --out /mosquitto/auth` writes."""
        render(Provisioner(engine, hasher=hash_password_pbkdf2), self.auth, service_names=(),
               passwd_name="devices.passwd", acl_name="devices.acl")

    def url(self, user: str, password: str, *, service: bool = True) -> str:
        port = self.service_port if service else self.device_port
        return f"mqtt://{user}:{password}@127.0.0.1:{port}"

    def start(self) -> None:
        with self.stderr_path.open("ab") as stderr:
            self.process = subprocess.Popen(["sh", str(DEPLOY / "entrypoint.sh")], env=self.env,
                                            stdout=subprocess.DEVNULL, stderr=stderr)
        process = self.process
        try:
            wait_until(lambda: process.poll() is not None or (
                _listening(self.device_port) and _listening(self.service_port)),
                timeout=WAIT_S, message="the broker's two listeners")
            if process.poll() is not None:
                raise AssertionError("the entrypoint exited")
        except AssertionError as exc:
            self.kill()
            raise RuntimeError(f"the broker did not start ({exc}):\n{self.log()}\n"
                               f"{self.stderr_path.read_text()}") from None

    def reloads(self) -> int:
        return self.log().count("Reloading config")

    def reload(self) -> None:
        """SIGHUP to the entrypoint (`docker compose kill -s HUP mosquitto`), then wait
        until the broker has re-read its files."""
        assert self.process is not None
        before = self.reloads()
        self.process.send_signal(signal.SIGHUP)
        wait_until(lambda: self.reloads() > before, timeout=WAIT_S, message="broker reload")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=WAIT_S)
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # the shell; then its broker, by the broker's pid file
            self.process.wait(timeout=WAIT_S)
        pid_file = self.workdir / "mosquitto.pid"
        if pid_file.exists():
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def _listening(port: int) -> bool:
    try:
        wait_for_port(port, timeout=0.2)
    except TimeoutError:
        return False
    return True


# -- MQTT 5 sessions that record what the broker answered ----------------------------------

NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87
BAD_CREDENTIALS = 134  # 0x86, "bad user name or password"
ACCEPTED = {0, 16}  # success; success with no matching subscribers (0x10)
_ids = itertools.count()


@dataclass
class Session:
    client: mqtt.Client
    client_id: str
    connack: list[int] = field(default_factory=list)
    assigned_id: list[str] = field(default_factory=list)
    subacks: list[list[int]] = field(default_factory=list)
    pubacks: dict[int, int] = field(default_factory=dict)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    disconnects: list[int] = field(default_factory=list)
    event: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
        with self.event:
            return self.event.wait_for(predicate, timeout)

    @property
    def accepted(self) -> bool:
        return bool(self.connack) and self.connack[0] == 0

    @property
    def disconnected(self) -> bool:
        return bool(self.disconnects)

    def subscribe(self, topic: str) -> int:
        before = len(self.subacks)
        self.client.subscribe(topic, qos=1)
        assert self.wait(lambda: len(self.subacks) > before), "no SUBACK"
        return self.subacks[-1][0]

    def publish(self, topic: str, payload: bytes = b"{}") -> int:
        info = self.client.publish(topic, payload, qos=1)
        assert self.wait(lambda: info.mid in self.pubacks), "no PUBACK"
        return self.pubacks[info.mid]

    def received(self, topic: str) -> list[bytes]:
        with self.event:
            return [p for t, p in self.messages if t == topic]

    def topics(self) -> set[str]:
        with self.event:
            return {t for t, _ in self.messages}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def open_session(port: int, user: str | None, password: str | None = None, *,
                 client_id: str | None = None, clean_start: bool = True,
                 session_expiry_s: int = 0) -> Session:
    """Log in (MQTT 5) and wait for the broker's answer; the session records it."""
    cid = client_id or f"t-{user}-{next(_ids)}"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    session = Session(client, cid)

    def note(action: Callable[..., Any]) -> Callable[..., None]:
        def callback(*args: Any) -> None:
            with session.event:
                action(*args)
                session.event.notify_all()
        return callback

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, props: Any) -> None:
        session.connack.append(reason.value)
        assigned = getattr(props, "AssignedClientIdentifier", None)
        if assigned:
            session.assigned_id.append(assigned)

    client.on_connect = note(on_connect)
    client.on_subscribe = note(lambda _c, _u, _m, codes, _p: session.subacks.append(
        [c.value for c in codes]))
    client.on_publish = note(lambda _c, _u, mid, reason, _p: session.pubacks.__setitem__(
        mid, reason.value))
    client.on_message = note(lambda _c, _u, msg: session.messages.append(
        (msg.topic, bytes(msg.payload))))
    client.on_disconnect = note(lambda _c, _u, _f, reason, _p: session.disconnects.append(
        reason.value))
    if user is not None:
        client.username_pw_set(user, password)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = session_expiry_s
    client.connect("127.0.0.1", port, clean_start=clean_start, properties=properties)
    client.loop_start()
    assert session.wait(lambda: bool(session.connack) or session.disconnected), "no CONNACK"
    return session


@contextlib.contextmanager
def sessions(port: int) -> Iterator[Callable[..., Session]]:
    """``login(user, password, **options)`` on ``port``; every session closed afterwards."""
    opened: list[Session] = []

    def login(user: str | None, password: str | None = None, **options: Any) -> Session:
        session = open_session(port, user, password, **options)
        opened.append(session)
        return session

    try:
        yield login
    finally:
        for session in opened:
            session.close()
