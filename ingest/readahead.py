"""An MQTT client for ingest that reads its socket 64 KiB at a time.

paho reads each incoming packet with several small ``recv`` calls (the command
byte, the remaining length a byte at a time, then the body): four or more
system calls a message, and for each one paho's thread gives up the GIL and
must win it back from the planner and the writer, which is what limited
ingest with single-reading messages. Here the socket is read in large chunks
and paho is served from the buffer. paho already knows such a socket: it asks
``pending()`` (as it does of an SSL socket, whose decrypted bytes wait in the
same way) and then reads again without waiting in ``select()``.

Only plain TCP is wrapped; TLS sockets buffer by themselves, and websockets have
paho's own wrapper. This relies on paho-mqtt's ``Client._create_socket`` (pinned
at 2.2.0 in pyproject.toml); the ingest tests run through it.
"""

from __future__ import annotations

import socket
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core.errors import ConfigurationError
from core.mqtt import MQTT_V5, MQTT_V311

CHUNK = 64 * 1024


class ReadAheadSocket:
    """A socket whose ``recv`` is served from a buffer filled CHUNK bytes at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self._at = 0

    def recv(self, size: int) -> bytes:
        if self._at < len(self._buffer):
            end = self._at + size
            chunk = self._buffer[self._at:end]
            self._at = min(end, len(self._buffer))
            return chunk
        data = self._sock.recv(max(size, CHUNK))  # BlockingIOError and b"" (EOF) pass through
        if len(data) <= size:
            self._buffer, self._at = b"", 0
            return data
        self._buffer, self._at = data, size
        return data[:size]

    def pending(self) -> int:
        """Bytes read from the socket that paho has not taken yet."""
        return len(self._buffer) - self._at

    def __getattr__(self, name: str) -> Any:  # send, fileno, close, setsockopt, ...
        return getattr(self._sock, name)


class ReadAheadClient(mqtt.Client):
    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if isinstance(sock, socket.socket) and not self._ssl and self._transport == "tcp":
            return ReadAheadSocket(sock)
        return sock


def new_read_ahead_client(
    client_id: str, *, protocol: str = MQTT_V5, manual_ack: bool = False,
    clean_session: bool = True,
) -> mqtt.Client:
    """As core.mqtt.new_client, with the read-ahead socket."""
    if protocol == MQTT_V5:
        return ReadAheadClient(CallbackAPIVersion.VERSION2, client_id=client_id,
                               protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    if protocol == MQTT_V311:
        return ReadAheadClient(CallbackAPIVersion.VERSION2, client_id=client_id,
                               protocol=mqtt.MQTTv311, clean_session=clean_session,
                               manual_ack=manual_ack)
    raise ConfigurationError(f"unsupported MQTT protocol version {protocol!r}")
