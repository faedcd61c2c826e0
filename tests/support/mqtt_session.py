"""An MQTT 5 test client that records what the broker answered (CONNACK, SUBACK, PUBACK).

For authentication and ACL tests: ``login`` returns a session whether or not
the broker accepted the login, so a test can assert a refusal.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87
ACCEPTED = {0, 16}  # success; success with no matching subscribers (0x10)
_ids = itertools.count()


@dataclass
class MqttSession:
    client: mqtt.Client
    connack: list[int] = field(default_factory=list)
    subacks: list[list[int]] = field(default_factory=list)
    pubacks: dict[int, int] = field(default_factory=dict)
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)  # topic, payload, retain
    disconnected: bool = False
    event: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, predicate: Callable[[], bool], timeout: float = 10) -> bool:
        with self.event:
            return self.event.wait_for(predicate, timeout)

    @property
    def accepted(self) -> bool:
        return bool(self.connack) and self.connack[0] == 0

    def subscribe(self, topic: str) -> int:
        before = len(self.subacks)
        self.client.subscribe(topic, qos=1)
        assert self.wait(lambda: len(self.subacks) > before), "no SUBACK"
        return self.subacks[-1][0]

    def publish(self, topic: str, payload: bytes = b"{}", *, retain: bool = False,
                wait: float | None = None) -> int | None:
        """Publish at QoS 1 and return the PUBACK reason code.

        With ``wait`` a missing PUBACK (e.g. the session is closed) returns None
        after that many seconds; without it a missing PUBACK fails the test."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if not self.wait(lambda: info.mid in self.pubacks, timeout=wait or 10):
            assert wait is not None, "no PUBACK"
            return None
        return self.pubacks[info.mid]

    def received(self, topic: str) -> list[bytes]:
        with self.event:
            return [p for t, p, _ in self.messages if t == topic]

    def topics(self) -> set[str]:
        with self.event:
            return {t for t, _, _ in self.messages}


def _session(port: int, user: str | None, password: str | None) -> MqttSession:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{next(_ids)}",
                         protocol=mqtt.MQTTv5)
    session = MqttSession(client)

    def note(action: Callable[..., Any]) -> Callable[..., None]:
        def callback(*args: Any) -> None:
            with session.event:
                action(*args)
                session.event.notify_all()
        return callback

    def on_disconnect(*_a: Any) -> None:
        session.disconnected = True

    client.on_connect = note(lambda _c, _u, _f, reason, _p: session.connack.append(reason.value))
    client.on_subscribe = note(lambda _c, _u, _m, codes, _p: session.subacks.append(
        [c.value for c in codes]))
    client.on_publish = note(lambda _c, _u, mid, reason, _p: session.pubacks.__setitem__(
        mid, reason.value))
    client.on_message = note(lambda _c, _u, msg: session.messages.append(
        (msg.topic, bytes(msg.payload), bool(msg.retain))))
    client.on_disconnect = note(on_disconnect)
    if user is not None:
        client.username_pw_set(user, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    session.wait(lambda: bool(session.connack) or session.disconnected)
    return session


@contextmanager
def sessions(port: int) -> Iterator[Callable[[str | None, str | None], MqttSession]]:
    """``login(user, password)`` opens sessions on the broker; all are closed afterwards."""
    opened: list[MqttSession] = []

    def login(user: str | None, password: str | None = None) -> MqttSession:
        session = _session(port, user, password)
        opened.append(session)
        return session

    try:
        yield login
    finally:
        for session in opened:
            session.client.disconnect()
            session.client.loop_stop()
