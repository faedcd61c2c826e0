"""deploy/mosquitto/ run by the real broker (Debian's Mosquitto 2.0.11).

The configuration and ACL file are the ones docker-compose mounts; only the
paths and the listener are moved into a temporary directory. The password
file is built the way entrypoint.sh builds it (mosquitto_passwd -b).
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mosquitto import MOSQUITTO
from tests.support.ports import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "mosquitto"
USERS = {"hearth-ingest": "ingest-pw", "hearth-coach": "coach-pw",
         "hearth-dashboard": "dashboard-pw", "cgm-1": "device-pw"}
NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87
ACCEPTED = {0, 16}  # success; success with no matching subscribers (0x10)


@dataclass
class Broker:
    port: int
    log: Path


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    passwd = tmp_path / "passwd"
    passwd.touch()
    for user, password in USERS.items():
        subprocess.run([shutil.which("mosquitto_passwd") or "mosquitto_passwd", "-b",
                        str(passwd), user, password], check=True)
    port = free_port()
    (tmp_path / "data").mkdir()
    conf = (DEPLOY / "mosquitto.conf").read_text()
    for old, new in (("listener 1883", f"listener {port} 127.0.0.1"),
                     ("/mosquitto/run/passwd", str(passwd)),
                     ("/mosquitto/run/acl", str(DEPLOY / "acl")),
                     ("/mosquitto/data/", f"{tmp_path / 'data'}/"),
                     ("log_dest stdout", f"log_dest file {tmp_path / 'mosquitto.log'}")):
        assert old in conf, old
        conf = conf.replace(old, new)
    # In the container the broker drops to its own user, which owns its files; here
    # the temporary directory belongs to whoever runs the tests.
    (tmp_path / "mosquitto.conf").write_text(conf + f"user {getpass.getuser()}\n")
    process = subprocess.Popen([MOSQUITTO, "-c", str(tmp_path / "mosquitto.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield Broker(port, tmp_path / "mosquitto.log")
    finally:
        process.kill()
        process.wait(timeout=10)


@dataclass
class Session:
    """One MQTT 5 client, with what the broker answered."""

    client: mqtt.Client
    connack: list[str] = field(default_factory=list)
    subacks: list[list[int]] = field(default_factory=list)
    pubacks: dict[int, int] = field(default_factory=dict)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    event: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, predicate: Any, timeout: float = 10) -> None:
        with self.event:
            assert self.event.wait_for(predicate, timeout), "no answer from the broker"

    def subscribe(self, topic: str) -> int:
        before = len(self.subacks)
        self.client.subscribe(topic, qos=1)
        self.wait(lambda: len(self.subacks) > before)
        return self.subacks[-1][0]

    def publish(self, topic: str) -> int:
        info = self.client.publish(topic, b"{}", qos=1)
        self.wait(lambda: info.mid in self.pubacks)
        return self.pubacks[info.mid]


@pytest.fixture
def connect(broker: Broker) -> Iterator[Any]:
    sessions: list[Session] = []

    def open_session(user: str | None, password: str | None = None) -> Session:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{len(sessions)}",
                             protocol=mqtt.MQTTv5)
        session = Session(client)

        def note(action: Any) -> Any:
            def callback(*args: Any) -> None:
                with session.event:
                    action(*args)
                    session.event.notify_all()
            return callback

        client.on_connect = note(lambda _c, _u, _f, reason, _p: session.connack.append(str(reason)))
        client.on_subscribe = note(lambda _c, _u, _m, codes, _p: session.subacks.append(
            [c.value for c in codes]))
        client.on_publish = note(lambda _c, _u, mid, reason, _p: session.pubacks.__setitem__(
            mid, reason.value))
        client.on_message = note(lambda _c, _u, msg: session.messages.append(
            (msg.topic, bytes(msg.payload))))
        if user is not None:
            client.username_pw_set(user, password)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        sessions.append(session)
        session.wait(lambda: session.connack)
        return session

    yield open_session
    for session in sessions:
        session.client.disconnect()
        session.client.loop_stop()


def test_anonymous_and_wrong_passwords_are_refused(connect: Any) -> None:
    assert connect(None).connack[0] != "Success"
    assert connect("hearth-ingest", "wrong").connack[0] != "Success"
    assert connect("hearth-ingest", USERS["hearth-ingest"]).connack[0] == "Success"


def test_a_device_reaches_ingest_through_the_shared_subscription(connect: Any) -> None:
    ingest = connect("hearth-ingest", USERS["hearth-ingest"])
    device = connect("cgm-1", USERS["cgm-1"])

    assert ingest.subscribe("$share/hearth/hearth/v1/up/+") == 1
    assert device.publish("hearth/v1/up/cgm-1") in ACCEPTED
    ingest.wait(lambda: ingest.messages)
    assert ingest.messages == [("hearth/v1/up/cgm-1", b"{}")]


def test_a_device_cannot_write_as_another_device(connect: Any) -> None:
    device = connect("cgm-1", USERS["cgm-1"])

    assert device.publish("hearth/v1/up/cgm-2") == NOT_AUTHORIZED
    assert device.publish("hearth/v1/down/someone") == NOT_AUTHORIZED
    assert device.publish("hearth/v1/status/cgm-1") in ACCEPTED


def test_a_device_reads_only_its_own_acks(connect: Any) -> None:
    # Mosquitto 2.0 grants a SUBSCRIBE and checks read access per delivered message.
    device = connect("cgm-1", USERS["cgm-1"])
    ingest = connect("hearth-ingest", USERS["hearth-ingest"])
    assert device.subscribe("hearth/v1/ack/+") == 1

    assert ingest.publish("hearth/v1/ack/cgm-2") in ACCEPTED
    assert ingest.publish("hearth/v1/ack/cgm-1") in ACCEPTED

    device.wait(lambda: device.messages)
    assert [topic for topic, _ in device.messages] == ["hearth/v1/ack/cgm-1"]


def test_services_are_limited_to_their_own_topics(connect: Any) -> None:
    coach = connect("hearth-coach", USERS["hearth-coach"])
    ingest = connect("hearth-ingest", USERS["hearth-ingest"])
    device = connect("cgm-1", USERS["cgm-1"])
    assert coach.subscribe("hearth/v1/#") == 1

    assert device.publish("hearth/v1/up/cgm-1") in ACCEPTED  # not for the coach's eyes
    assert ingest.publish("hearth/v1/stored/p1") in ACCEPTED

    coach.wait(lambda: coach.messages)
    assert [topic for topic, _ in coach.messages] == ["hearth/v1/stored/p1"]
    assert coach.publish("hearth/v1/down/p1") in ACCEPTED
    assert coach.publish("hearth/v1/up/cgm-1") == NOT_AUTHORIZED
    assert ingest.publish("hearth/v1/down/p1") == NOT_AUTHORIZED
    for topic in ("hearth/v1/ack/cgm-1", "hearth/v1/dead/cgm-1", "hearth/v1/stored/p1"):
        assert ingest.publish(topic) in ACCEPTED, topic


def test_the_health_check_login_sees_the_broker_uptime(connect: Any) -> None:
    dashboard = connect("hearth-dashboard", USERS["hearth-dashboard"])

    assert dashboard.subscribe("$SYS/broker/uptime") == 1
    dashboard.wait(lambda: dashboard.messages)
    assert dashboard.messages[0][0] == "$SYS/broker/uptime"


def test_the_entrypoint_is_valid_shell() -> None:
    subprocess.run(["sh", "-n", str(DEPLOY / "entrypoint.sh")], check=True)
