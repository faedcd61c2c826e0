"""A real 3-node RabbitMQ cluster (Debian ``rabbitmq-server`` 3.10, its MQTT plugin) on
free loopback ports, in a temporary directory: the clustered broker of docs/DEPLOY.md.

Each node gets its own AMQP, MQTT and Erlang-distribution port, data directory, log
directory and ``HOME`` (the shared Erlang cookie); the nodes find each other through
``cluster_formation.classic_config``. MQTT sessions of clients with
``clean_session=false`` keep their QoS 1 subscriptions in **quorum queues**
(``mqtt.durable_queue_type = quorum``), replicated on every node, so a node's loss
does not lose them; ``mqtt.prefetch`` is Mosquitto's ``max_inflight_messages``
(ingest acknowledges after its commit). Logins come from a definitions file
(``load_definitions``) with RabbitMQ's salted SHA-256 password hashes.

The nodes run as root (whoever runs the tests) with ``rabbitmq-server`` from
``/usr/lib/rabbitmq/bin`` (scripts/system-packages.sh installs it); ``kill(i)`` is a
SIGKILL of the node's whole process group (the Erlang VM and its helpers), ``start(i)``
brings it back on its data directory, where it rejoins the cluster.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.ports import free_port

RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
STARTUP_TIMEOUT_S = 180.0  # three Erlang VMs booting at once on a loaded 2-core machine


def installed() -> bool:
    return RABBITMQ_SERVER.exists()


def password_hash(password: str) -> str:
    """RabbitMQ's ``rabbit_password_hashing_sha256``: base64(salt + SHA-256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


class RabbitNode:
    def __init__(self, cluster: RabbitCluster, index: int) -> None:
        self.index = index
        self.name = f"{cluster.prefix}-{index}@localhost"
        self.workdir = cluster.workdir / f"node-{index}"
        self.amqp_port = free_port()
        self.mqtt_port = free_port()
        self.dist_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class RabbitCluster:
    """``users``: MQTT logins (name -> password), each allowed everything on the ``/``
    virtual host (the test's broker: Hearth's ACL is not ported, docs/DEPLOY.md)."""

    def __init__(self, workdir: Path, *, users: dict[str, str], nodes: int = 3,
                 prefetch: int = 1000) -> None:
        self.workdir = workdir
        self.prefix = f"hearth{os.getpid()}x{secrets.token_hex(3)}"
        self.nodes = [RabbitNode(self, i) for i in range(nodes)]
        self.cookie = secrets.token_hex(16)
        self.definitions = workdir / "definitions.json"
        workdir.mkdir(parents=True, exist_ok=True)
        self.definitions.write_text(json.dumps({
            "vhosts": [{"name": "/"}],
            "users": [{"name": name, "password_hash": password_hash(pw),
                       "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}
                      for name, pw in users.items()],
            "permissions": [{"user": name, "vhost": "/", "configure": ".*", "write": ".*",
                             "read": ".*"} for name in users],
        }))
        self.users = dict(users)
        peers = "\n".join(f"cluster_formation.classic_config.nodes.{n.index + 1} = {n.name}"
                          for n in self.nodes)
        for node in self.nodes:
            home = node.workdir / "home"
            home.mkdir(parents=True, exist_ok=True)
            cookie = home / ".erlang.cookie"
            cookie.write_text(self.cookie)
            cookie.chmod(0o400)
            (node.workdir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
            (node.workdir / "rabbitmq.conf").write_text(f"""\
listeners.tcp.default = 127.0.0.1:{node.amqp_port}
mqtt.listeners.tcp.default = 127.0.0.1:{node.mqtt_port}
mqtt.allow_anonymous = false
mqtt.durable_queue_type = quorum
mqtt.prefetch = {prefetch}
mqtt.vhost = /
mqtt.exchange = amq.topic
load_definitions = {self.definitions}
cluster_partition_handling = pause_minority
cluster_formation.peer_discovery_backend = classic_config
{peers}
log.file.level = warning
""")

    # -- addresses --------------------------------------------------------------------

    def url(self, user: str, *, first: int = 0) -> str:
        """HEARTH_MQTT_URL for ``user``: every node, starting with node ``first``."""
        password = self.users[user]
        order = self.nodes[first:] + self.nodes[:first]
        return ",".join(f"mqtt://{user}:{password}@127.0.0.1:{n.mqtt_port}" for n in order)

    def ports(self, *, first: int = 0) -> list[int]:
        order = self.nodes[first:] + self.nodes[:first]
        return [n.mqtt_port for n in order]

    # -- processes ----------------------------------------------------------------------

    def _spawn(self, node: RabbitNode) -> None:
        d = node.workdir
        env = {**os.environ, "HOME": str(d / "home"), "RABBITMQ_NODENAME": node.name,
               "RABBITMQ_USE_LONGNAME": "false",
               "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
               "RABBITMQ_MNESIA_BASE": str(d / "db"), "RABBITMQ_LOG_BASE": str(d / "log"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
               "RABBITMQ_PLUGINS_EXPAND_DIR": str(d / "plugins"),
               "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
               "RABBITMQ_DIST_PORT": str(node.dist_port),
               "RABBITMQ_NODE_PORT": str(node.amqp_port),
               # Schedulers that do not spin while idle: the machine is shared.
               "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                   "+sbwt none +sbwtdcpu none +sbwtdio none"}
        with (d / "console.log").open("ab") as out:
            node.process = subprocess.Popen([str(RABBITMQ_SERVER)], cwd=d, env=env,
                                            stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        node.starts += 1

    def start(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        """Node 0 first, then the others at once (they join it); returns when each accepts
        an MQTT login. Booted all at once, a node sometimes never joined the MQTT
        plugin's client-id registry ("client ID registration timed out" on every login,
        seen with the machine's load average at 27)."""
        deadline = time.monotonic() + timeout
        self._spawn(self.nodes[0])
        self.wait_ready(0, timeout=timeout)
        for node in self.nodes[1:]:
            self._spawn(node)
        for node in self.nodes[1:]:
            self.wait_ready(node.index, timeout=max(1.0, deadline - time.monotonic()))

    def restart(self, index: int, timeout: float = STARTUP_TIMEOUT_S) -> None:
        node = self.nodes[index]
        if node.alive:
            raise RuntimeError(f"node {index} is running")
        self._spawn(node)
        self.wait_ready(index, timeout=timeout)

    def wait_ready(self, index: int, timeout: float) -> None:
        """Until node ``index`` answers an MQTT CONNECT with success (its MQTT listener
        opens only once the node has booted and joined the cluster)."""
        node = self.nodes[index]
        user = next(iter(self.users))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not node.alive:
                raise RuntimeError(f"RabbitMQ node {index} exited:\n{self.log(index)[-3000:]}")
            if mqtt_login(node.mqtt_port, user, self.users[user]):
                return
            time.sleep(0.3)
        raise TimeoutError(f"RabbitMQ node {index} not ready after {timeout:.0f}s:\n"
                           f"{self.log(index)[-3000:]}")

    def kill(self, index: int) -> None:
        """SIGKILL of the node: the Erlang VM and its helper processes, no goodbye."""
        node = self.nodes[index]
        if node.process is None:
            return
        beam = self.beam_pid(index)
        try:
            os.killpg(node.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        node.process.wait(timeout=30)
        node.process = None
        deadline = time.monotonic() + 30  # the VM gone (its ports free) before a restart
        while beam is not None and Path(f"/proc/{beam}").exists() and _running(beam):
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {index} (pid {beam}) outlived SIGKILL")
            time.sleep(0.05)

    def close(self) -> None:
        for node in self.nodes:
            self.kill(node.index)

    def queue_members(self, via: int) -> dict[str, int]:
        """Quorum queues and how many nodes hold a replica of each (``rabbitmqctl``)."""
        node = self.nodes[via]
        out = subprocess.run(
            [str(RABBITMQ_SERVER.parent / "rabbitmqctl"), "-n", node.name, "-q",
             "list_queues", "name", "type", "members", "--formatter", "json"],
            env={**os.environ, "HOME": str(node.workdir / "home")},
            capture_output=True, text=True, timeout=120, check=True)
        return {q["name"]: len(q["members"]) for q in json.loads(out.stdout)
                if q.get("type") == "quorum"}

    def beam_pid(self, index: int) -> int | None:
        path = self.nodes[index].workdir / "rabbitmq.pid"
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def log(self, index: int) -> str:
        node = self.nodes[index]
        text = ""
        for path in [node.workdir / "console.log", *sorted((node.workdir / "log").glob("*.log"))]:
            if path.exists():
                text += path.read_text(errors="replace")
        return text


def _running(pid: int) -> bool:
    """False once the process is gone or a zombie (its sockets are closed then)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def mqtt_login(port: int, user: str, password: str, timeout: float = 5.0) -> bool:
    """One MQTT 3.1.1 CONNECT with a clean session: True when the broker accepts it."""
    accepted = threading.Event()
    answered = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{secrets.token_hex(4)}",
                         protocol=mqtt.MQTTv311, clean_session=True)
    client.username_pw_set(user, password)

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if not getattr(reason, "is_failure", True):
            accepted.set()
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect("127.0.0.1", port, keepalive=10)
    except OSError:
        return False
    client.loop_start()
    try:
        answered.wait(timeout)
        return accepted.is_set()
    finally:
        client.disconnect()
        client.loop_stop()
