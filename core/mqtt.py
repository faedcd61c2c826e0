"""MQTT plumbing shared by the services: broker URLs, clients, a paced publisher.

paho-mqtt 2.x with callback API version 2. Publishers are paced by their
in-flight window: publishing tens of thousands of QoS 1 messages in a tight
loop stalls paho, and while disconnected paho refuses with
MQTT_ERR_QUEUE_SIZE once its queue is full.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core.errors import ConfigurationError, HearthError

log = logging.getLogger(__name__)

MQTT_V5 = "5"
MQTT_V311 = "3.1.1"


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str) -> MqttEndpoint:
        """``mqtt://user:pass@host:1883`` or ``mqtts://host:8883?ca=/path/ca.pem``."""
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts"):
            raise ConfigurationError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")
        if not parsed.hostname:
            raise ConfigurationError(f"no host in MQTT URL {url!r}")
        tls = parsed.scheme == "mqtts"
        query = dict(p.split("=", 1) for p in parsed.query.split("&") if "=" in p)
        return cls(
            host=parsed.hostname,
            port=parsed.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            ca_file=query.get("ca"),
        )


def new_client(
    client_id: str,
    *,
    protocol: str = MQTT_V5,
    manual_ack: bool = False,
    clean_session: bool = True,
) -> mqtt.Client:
    if protocol == MQTT_V5:
        return mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=manual_ack,
        )
    if protocol == MQTT_V311:
        return mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=clean_session,
            manual_ack=manual_ack,
        )
    raise ConfigurationError(f"unsupported MQTT protocol version {protocol!r}")


def no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """Small MQTT packets go out at once. With Nagle's algorithm a publish that follows
    a PUBACK waits for the peer's delayed TCP ACK (~40 ms on Linux): measured by the
    gateway's latency bench (docs/GATEWAY.md)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket (e.g. a websocket wrapper)
        pass


def configure(client: mqtt.Client, endpoint: MqttEndpoint) -> None:
    client.on_socket_open = no_delay
    if endpoint.username is not None:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set(ca_certs=endpoint.ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.reconnect_delay_set(min_delay=1, max_delay=30)


def connect(
    client: mqtt.Client,
    endpoint: MqttEndpoint,
    *,
    clean_start: bool = True,
    session_expiry_s: int = 0,
    keepalive: int = 30,
) -> None:
    """Connect (asynchronously; paho reconnects by itself once its loop runs)."""
    configure(client, endpoint)
    if client.protocol == mqtt.MQTTv5:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = session_expiry_s
        client.connect_async(
            endpoint.host,
            endpoint.port,
            keepalive=keepalive,
            clean_start=clean_start,
            properties=props,
        )
    else:
        client.connect_async(endpoint.host, endpoint.port, keepalive=keepalive)


class PublishError(HearthError):
    """A message could not be handed to the MQTT client."""


class PacedPublisher:
    """QoS 1 publishing paced by an in-flight window.

    ``publish`` blocks while ``window`` messages await their PUBACK; a slot
    frees in ``on_publish``, which paho calls after the QoS 1 handshake.
    """

    def __init__(self, client: mqtt.Client, *, window: int = 100) -> None:
        self._client = client
        self._slots = threading.BoundedSemaphore(window)
        self._idle = threading.Condition()
        self._outstanding = 0
        client.max_inflight_messages_set(window)
        previous: Any = client.on_publish  # a v2 callback (five arguments) or None

        def on_publish(c: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
            self._release()
            if previous is not None:
                previous(c, userdata, mid, rc, props)

        client.on_publish = on_publish

    def publish(self, topic: str, payload: bytes, *, timeout: float | None = None) -> int:
        if not self._slots.acquire(timeout=timeout):
            raise PublishError("timed out waiting for the in-flight window")
        with self._idle:
            self._outstanding += 1
        info = self._client.publish(topic, payload, qos=1)
        # While disconnected paho keeps a QoS 1 message queued and answers NO_CONN;
        # it sends it on reconnect. QUEUE_SIZE (queue full) is a real refusal.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self._release()
            raise PublishError(f"publish refused: {mqtt.error_string(info.rc)}")
        return int(info.mid)

    def _release(self) -> None:
        with self._idle:
            if self._outstanding == 0:
                return
            self._outstanding -= 1
            self._slots.release()
            if self._outstanding == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every published message is acknowledged by the broker."""
        with self._idle:
            return self._idle.wait_for(lambda: self._outstanding == 0, timeout=timeout)
