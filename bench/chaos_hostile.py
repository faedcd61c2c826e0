"""The hostile device of the fault suite: a registered device ("mallory-cgm", patient
"mallory") with valid credentials on the device listener, doing what issue 16 found
harmful with the shipped configuration, while the honest sources stream:

- ``takeover``: log in with its own credentials under the client ids of the services
  and of honest sources (clean and resumed sessions, while an ingest replica is down),
  subscribe to everything, and try the services' listener;
- ``oversized``: messages far over the broker's packet limit on its own topic (the
  issue's 10 × 50 MB), and one over the contract's limit but under the broker's;
- ``flood``: its own valid readings as fast as the broker takes them;
- ``malformed``: payloads that are not JSON, the wrong schema, another device's id in
  the payload, impossible values and times, too many readings;
- ``spoof``: honest devices' readings (their times, other values) on their topics,
  forged commit acknowledgements to a gateway and a direct device, forged stored
  events, nudges and dead letters.

Each attack records what the broker answered. Its own valid flood readings are what it
"sent": they may be stored under mallory; anything else stored anywhere is a failure.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.chaos_sources import Key, key

log = logging.getLogger("bench.chaos")

DEVICE_ID, PATIENT_ID = "mallory-cgm", "mallory"
WAIT_S = 30.0


@dataclass
class Answers:
    """What the broker made of one attack."""

    attempts: int = 0
    accepted: int = 0  # CONNACK 0, PUBACK 0/16, SUBACK granted
    refused: int = 0  # a failure reason code
    disconnected: int = 0  # the broker closed the connection
    notes: list[str] = field(default_factory=list)


class _Session:
    """An MQTT 5 client that records the broker's answers."""

    def __init__(self, port: int, password: str, *, client_id: str, clean_start: bool = True,
                 expiry_s: int = 3600, v5: bool = True, inflight: int = 20) -> None:
        self.cond = threading.Condition()
        self.connack: list[int] = []
        self.pubacks: dict[int, int] = {}
        self.subacks: list[list[int]] = []
        self.disconnects = 0
        self.received: list[str] = []
        self.v5 = v5
        if v5:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                      protocol=mqtt.MQTTv5)
        else:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                      protocol=mqtt.MQTTv311, clean_session=clean_start)
        self.client.username_pw_set(DEVICE_ID, password)
        self.client.on_connect = self._note(lambda *a: self.connack.append(_code(a[3])))
        self.client.on_publish = self._note(
            lambda _c, _u, mid, reason, _p: self.pubacks.__setitem__(mid, _code(reason)))
        self.client.on_subscribe = self._note(
            lambda _c, _u, _m, codes, _p: self.subacks.append([_code(c) for c in codes]))
        self.client.on_message = self._note(lambda _c, _u, msg: self.received.append(msg.topic))
        self.client.on_disconnect = self._note(lambda *_a: self._disconnected())
        self.client.reconnect_delay_set(1, 2)
        self.client.max_inflight_messages_set(inflight)
        self.client.max_queued_messages_set(2 * inflight)
        kwargs: dict[str, Any] = {}
        if self.v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = expiry_s
            kwargs = {"clean_start": clean_start, "properties": props}
        self.client.connect("127.0.0.1", port, **kwargs)
        self.client.loop_start()
        self.wait(lambda: bool(self.connack) or self.disconnects > 0)

    def _disconnected(self) -> None:
        self.disconnects += 1

    def _note(self, action: Callable[..., Any]) -> Callable[..., None]:
        def callback(*args: Any) -> None:
            with self.cond:
                action(*args)
                self.cond.notify_all()
        return callback

    def wait(self, predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    @property
    def accepted(self) -> bool:
        return bool(self.connack) and self.connack[-1] == 0

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> int | None:
        """The PUBACK's reason code (MQTT 5), or None if none came."""
        info = self.client.publish(topic, payload, qos=qos)
        if qos == 0:
            return 0
        self.wait(lambda: info.mid in self.pubacks or self.disconnects > 0, timeout=10)
        return self.pubacks.get(info.mid)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _code(reason: Any) -> int:
    return int(getattr(reason, "value", reason))


def _reading(seq: int, readings: list[dict[str, Any]], device_id: str = DEVICE_ID) -> bytes:
    return json.dumps({"schema": 1, "device_id": device_id, "seq": seq, "readings": readings},
                      default=lambda v: v.isoformat()).encode()


class HostileDevice:
    def __init__(self, *, device_port: int, service_port: int, password: str,
                 victims: dict[str, list[Key]], gateway_victim: str, base_time: datetime,
                 oversized_bytes: int, oversized_count: int, flood_s: float) -> None:
        self.device_port, self.service_port, self.password = device_port, service_port, password
        self.victims = victims  # honest device id -> its expected readings (to spoof)
        self.gateway_victim = gateway_victim
        self.base_time = base_time.replace(microsecond=0)
        self.oversized_bytes, self.oversized_count, self.flood_s = (
            oversized_bytes, oversized_count, flood_s)
        self.sent: list[Key] = []  # its own valid readings that the broker accepted
        self.answers: dict[str, Answers] = {}
        self.seq = 1_000_000
        self.lock = threading.Lock()

    def _next_seq(self) -> int:
        with self.lock:
            self.seq += 1
            return self.seq

    # -- the attacks ---------------------------------------------------------------------

    def takeover(self, service_ids: list[str]) -> Answers:
        """Accepted on the device listener means: as itself (the broker gives every client
        its login as client id); the test of that is that the services lose nothing."""
        answers = self.answers.setdefault("takeover", Answers())
        foreign = 0
        for client_id in [*service_ids, *list(self.victims)[:2], self.gateway_victim]:
            for clean in (True, False):
                answers.attempts += 1
                session = _Session(self.device_port, self.password, client_id=client_id,
                                   clean_start=clean)
                if session.accepted:
                    answers.accepted += 1
                    session.client.subscribe([("hearth/v1/#", 1),
                                              ("$share/hearth/hearth/v1/up/+", 1), ("#", 1)])
                    session.wait(lambda s=session: bool(s.subacks), timeout=10)  # type: ignore[misc]
                time.sleep(0.3)  # anything the broker would hand it arrives meanwhile
                foreign += sum(1 for t in session.received if not t.endswith("/" + DEVICE_ID))
                session.close()
            answers.attempts += 1
            on_services = _Session(self.service_port, self.password, client_id=client_id)
            if on_services.accepted:
                answers.accepted += 1
                answers.notes.append(f"{client_id}: ACCEPTED on the services' listener")
            else:
                answers.refused += 1
            on_services.close()
        answers.notes.append(f"{foreign} messages of others received on its wildcard "
                             "subscriptions")
        return answers

    def oversized(self) -> Answers:
        """MQTT 3.1.1, which learns no packet limit from the broker: it really sends."""
        answers = self.answers.setdefault("oversized", Answers())
        huge = b"{" + b" " * self.oversized_bytes + b"}"
        session = _Session(self.device_port, self.password, client_id=DEVICE_ID,
                           v5=False)
        for _ in range(self.oversized_count):
            session.wait(lambda: session.client.is_connected(), timeout=WAIT_S)
            before = session.disconnects
            answers.attempts += 1
            session.client.publish(f"hearth/v1/up/{DEVICE_ID}", huge, qos=1)
            if session.wait(lambda b=before: session.disconnects > b, timeout=WAIT_S):  # type: ignore[misc]
                answers.disconnected += 1
        session.close()
        del huge
        # Over the contract's 256 KiB, under the broker's packet limit: ingest's dead letter.
        between = _reading(self._next_seq(), [{"metric": "glucose", "value": 100,
                                               "unit": "mg/dL", "time": self.base_time,
                                               "note": "x" * (300 * 1024)}])
        v5 = _Session(self.device_port, self.password, client_id=DEVICE_ID)
        answers.attempts += 1
        code = v5.publish(f"hearth/v1/up/{DEVICE_ID}", between)
        answers.accepted += code in (0, 16)
        v5.close()
        return answers

    def flood(self) -> Answers:
        """Its own valid readings, one a message, as fast as it can for ``flood_s``."""
        answers = self.answers.setdefault("flood", Answers())
        session = _Session(self.device_port, self.password, client_id=DEVICE_ID, inflight=1000)
        infos: list[tuple[mqtt.MQTTMessageInfo, Key]] = []
        end = time.monotonic() + self.flood_s
        n = 0
        while time.monotonic() < end:
            when = self.base_time - timedelta(days=2) + timedelta(seconds=len(self.sent) + n)
            value = 60 + n % 300
            info = session.client.publish(f"hearth/v1/up/{DEVICE_ID}", _reading(
                self._next_seq(), [{"metric": "glucose", "value": value, "unit": "mg/dL",
                                    "source": "cgm", "time": when}]), qos=1)
            if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                time.sleep(0.001)
                continue
            infos.append((info, key("glucose", when, value)))
            n += 1
        session.wait(lambda: all(i.mid in session.pubacks for i, _ in infos), timeout=WAIT_S)
        for info, k in infos:
            answers.attempts += 1
            if session.pubacks.get(info.mid) in (0, 16):
                answers.accepted += 1
                self.sent.append(k)
            else:
                answers.refused += 1
        answers.notes.append(f"{len(infos)} messages in {self.flood_s:.0f} s")
        session.close()
        return answers

    def malformed(self) -> Answers:
        answers = self.answers.setdefault("malformed", Answers())
        an_hour_ago = self.base_time - timedelta(hours=1)
        good: dict[str, Any] = {"metric": "glucose", "value": 120, "unit": "mg/dL",
                                "source": "cgm", "time": an_hour_ago}
        victim = next(iter(self.victims))
        payloads = [
            b"not json at all", b"\xff\xfe\x00binary", b"[1, 2, 3]", b"{}",
            json.dumps({"schema": 99, "device_id": DEVICE_ID, "seq": 1, "readings": []}).encode(),
            _reading(self._next_seq(), [good], device_id=victim),  # another device's id
            _reading(self._next_seq(), [{**good, "value": 5000}]),
            _reading(self._next_seq(), [{**good, "value": "120"}]),
            _reading(self._next_seq(), [{**good, "metric": "plutonium"}]),
            _reading(self._next_seq(), [{**good, "time": datetime(1900, 1, 1, tzinfo=UTC)}]),
            _reading(self._next_seq(), [{**good, "time": self.base_time + timedelta(days=30)}]),
            _reading(self._next_seq(), [{**good, "unit": "furlongs"}]),
            json.dumps({"schema": 1, "device_id": DEVICE_ID, "seq": self._next_seq(),
                        "base": {**good, "time": an_hour_ago.isoformat()},
                        "readings": [{"value": 100 + i % 50, "offset_s": -i}
                                     for i in range(5001)]}).encode(),
            b"[" * 100_000 + b"]" * 100_000,
        ]
        session = _Session(self.device_port, self.password, client_id=DEVICE_ID)
        for payload in payloads:
            answers.attempts += 1
            code = session.publish(f"hearth/v1/up/{DEVICE_ID}", payload)
            if code in (0, 16):
                answers.accepted += 1
            else:
                answers.refused += 1
        session.close()
        return answers

    def spoof(self) -> Answers:
        """Another's readings on another's topic; forged acks, stored events, nudges."""
        answers = self.answers.setdefault("spoof", Answers())
        session = _Session(self.device_port, self.password, client_id=DEVICE_ID)
        attempts: list[tuple[str, bytes]] = []
        for device_id, keys in self.victims.items():
            readings = [{"metric": m, "value": v + 1, "unit": "mg/dL", "source": "cgm",
                         "time": datetime.fromtimestamp(us / 1e6, UTC)}
                        for m, us, v in keys[:50] if m == "glucose"]
            if readings:
                attempts.append((f"hearth/v1/up/{device_id}",
                                 _reading(self._next_seq(), readings, device_id=device_id)))
            forged = {"schema": 1, "device_id": device_id, "seqs": list(range(0, 5000))}
            attempts.append((f"hearth/v1/ack/{device_id}", json.dumps(forged).encode()))
        gw = {"schema": 1, "device_id": self.gateway_victim, "seqs": list(range(0, 5000))}
        attempts += [
            (f"hearth/v1/ack/{self.gateway_victim}", json.dumps(gw).encode()),
            (f"hearth/v1/up/{self.gateway_victim}", _reading(self._next_seq(), [
                {"metric": "weight", "value": 150, "unit": "kg",
                 "time": self.base_time - timedelta(hours=3)}], device_id=self.gateway_victim)),
            ("hearth/v1/stored/p-0", b'{"schema":1,"patient_id":"p-0","metrics":["glucose"]}'),
            ("hearth/v1/down/p-0", b'{"kind":"alert","text":"forged"}'),
            (f"hearth/v1/dead/{self.gateway_victim}", b'{"forged":true}'),
            ("$share/hearth/hearth/v1/up/x", b"{}"),
        ]
        for topic, payload in attempts:
            answers.attempts += 1
            code = session.publish(topic, payload)
            if code in (0, 16):
                answers.accepted += 1
                answers.notes.append(f"ACCEPTED on {topic}")
            elif code is None:
                answers.disconnected += 1
                session.wait(lambda: session.client.is_connected(), timeout=WAIT_S)
            else:
                answers.refused += 1
        session.close()
        return answers
