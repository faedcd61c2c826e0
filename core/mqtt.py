"""MQTT plumbing shared by the services: broker URLs, clients, a paced publisher.

paho-mqtt 2.x with callback API version 2. Publishers are paced by their
in-flight window: publishing tens of thousands of QoS 1 messages in a tight
loop stalls paho, and while disconnected paho refuses with
MQTT_ERR_QUEUE_SIZE once its queue is full.

A broker URL may name several brokers of a cluster, separated by commas
(``mqtt://u:p@node-1:1883,mqtt://u:p@node-2:1883,...``, docs/DEPLOY.md): ``connect``
then moves to the next address whenever the connection is lost or an attempt
fails, through paho's public API (``connect_async`` from its own callbacks), and
paho's reconnect loop carries on there with the same session.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core.errors import ConfigurationError, HearthError

log = logging.getLogger(__name__)

MQTT_V5 = "5"
MQTT_V311 = "3.1.1"

# Between two broker URLs of a cluster: a comma followed by the next URL's scheme (a
# password may hold a comma; it cannot hold "mqtt://" unescaped).
_URL_SEPARATOR = re.compile(r",\s*(?=mqtts?://)")


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    # The other brokers of a cluster, (host, port), tried in turn after this one.
    alternates: tuple[tuple[str, int], ...] = ()

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        """Every broker to try, this one first."""
        return ((self.host, self.port), *self.alternates)

    @classmethod
    def parse(cls, url: str) -> MqttEndpoint:
        """``mqtt://user:pass@host:1883`` or ``mqtts://host:8883?ca=/path/ca.pem``; or
        several such URLs separated by commas, the brokers of one cluster, all with the
        same scheme, login and CA (the first is tried first)."""
        urls = [u.strip() for u in _URL_SEPARATOR.split(url.strip()) if u.strip()]
        if not urls:
            raise ConfigurationError("empty MQTT URL")
        first, *others = [cls._parse_one(u) for u in urls]
        for other in others:
            if (other.tls, other.username, other.password, other.ca_file) != (
                    first.tls, first.username, first.password, first.ca_file):
                raise ConfigurationError(
                    "the broker URLs of a cluster must share their scheme, login and CA")
        return replace(first, alternates=tuple((o.host, o.port) for o in others))

    @classmethod
    def _parse_one(cls, url: str) -> MqttEndpoint:
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
    """Connect (asynchronously; paho reconnects by itself once its loop runs). With
    several brokers (``endpoint.alternates``), each lost connection or failed attempt
    moves on to the next one (``fail_over``)."""
    configure(client, endpoint)
    if client.protocol == mqtt.MQTTv5:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = session_expiry_s

        def connect_to(host: str, port: int) -> None:
            client.connect_async(host, port, keepalive=keepalive, clean_start=clean_start,
                                 properties=props)
    else:
        def connect_to(host: str, port: int) -> None:
            client.connect_async(host, port, keepalive=keepalive)
    connect_to(endpoint.host, endpoint.port)
    if endpoint.alternates:
        fail_over(client, endpoint.addresses, connect_to)


def fail_over(client: mqtt.Client, addresses: tuple[tuple[str, int], ...],
              connect_to: Callable[[str, int], None]) -> None:
    """After a lost connection or a failed attempt, point paho's reconnect loop at the
    next broker (round robin). Wraps the client's ``on_disconnect`` and
    ``on_connect_fail`` as they are now: set the service's callbacks first. A
    disconnect the client asked for (``disconnect()``) stays where it is."""
    lock = threading.Lock()
    at = [0]
    previous_disconnect: Any = client.on_disconnect
    previous_fail: Any = client.on_connect_fail

    def next_broker() -> None:
        with lock:
            at[0] = (at[0] + 1) % len(addresses)
            host, port = addresses[at[0]]
        log.info("trying the next MQTT broker of the cluster, %s:%d", host, port)
        connect_to(host, port)

    def on_disconnect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                      props: Any) -> None:
        if getattr(reason, "is_failure", True):  # lost, or the broker closed it
            next_broker()
        if previous_disconnect is not None:
            previous_disconnect(c, userdata, flags, reason, props)

    def on_connect_fail(c: mqtt.Client, userdata: Any) -> None:
        next_broker()
        if previous_fail is not None:
            previous_fail(c, userdata)

    client.on_disconnect = on_disconnect
    client.on_connect_fail = on_connect_fail


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
