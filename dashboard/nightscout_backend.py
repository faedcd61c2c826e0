"""What the Nightscout API needs besides HTTP: uploader identities, entry conversion to the
message contract, and a publisher that waits for the broker's acknowledgement.

An upload is not written to the store here: each batch becomes one contract
message (core/contract.py) published at QoS 1 on ``hearth/v1/up/{uploader}``,
exactly as a device would send it, and ingest validates, de-duplicates and
stores it. The API answers once the upload is on disk in the upload outbox
(dashboard/upload_outbox.py), which forgets it only when ingest acknowledges the commit;
without an outbox (tests), once the broker acknowledged the message (PUBACK).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from core import topics
from core.contract import (
    MAX_PAYLOAD_BYTES,
    MAX_READINGS_PER_MESSAGE,
    decode_readings,
    encode_message,
    oldest_accepted,
)
from core.errors import HearthError
from core.mqtt import MQTT_V5, MqttEndpoint, connect, new_client

log = logging.getLogger(__name__)

MAX_ENTRIES = 5000  # documents per request (published in as many messages as the contract needs)


class UploadError(HearthError):
    """The broker did not take the upload (not connected, refused, or no answer in time)."""


class Uploaders(Protocol):
    def nightscout_uploader(self, api_secret_sha1: str) -> tuple[str, str] | None: ...


class Publisher(Protocol):
    def publish_confirmed(self, topic: str, payload: bytes, *, timeout: float) -> None: ...


class DurableQueue(Protocol):
    """Takes an upload's readings all together and durably, or raises (a HearthError) and
    takes none: dashboard/upload_outbox.py."""

    def put(self, device_id: str, readings: list[dict[str, Any]]) -> None: ...


@dataclass
class NightscoutBackend:
    """Set as ``app.state.nightscout`` by the composition root (hearth/nightscout.py).

    With a ``queue`` (the upload outbox), an upload is answered once it is on disk and
    the queue sends it; without one, ``publisher`` sends it and the answer waits for the
    broker's PUBACK only, which does not survive a broker crash while ingest is away
    (tests and tools only; `hearth dashboard` and `hearth up` always use the queue)."""

    uploaders: Uploaders
    publisher: Publisher | None
    timeout_s: float = 10.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    queue: DurableQueue | None = None


# --- documents -> contract -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Converted:
    readings: list[dict[str, Any]]  # contract entries
    indexes: list[int]  # the Nightscout document each came from
    bad: list[str]  # "entry 3: reason"


def convert(docs: list[Any], make: Callable[[Any], list[dict[str, Any]]], *, device_id: str,
            now: datetime, noun: str = "entry", kind: str = "cgm") -> Converted:
    """Nightscout documents -> contract readings (``make`` gives each document's); each bad
    document is named with its reason. The contract's own validation (ranges, future
    times) runs here too, so the uploader hears about a bad one at once rather than
    through a dead letter; a document is kept whole or not at all."""
    readings: list[dict[str, Any]] = []
    indexes: list[int] = []
    bad: dict[int, str] = {}
    for index, doc in enumerate(docs):
        try:
            made = make(doc)
        except (ValueError, OverflowError) as exc:  # overflow: a time beyond the calendar
            bad[index] = f"{noun} {index}: {exc}"
            continue
        readings.extend(made)
        indexes.extend([index] * len(made))
    # Ingest's own limits too (docs/CONTRACT.md): an entry older than an uploader's
    # backfill limit would be a dead letter after a 200.
    oldest = oldest_accepted(kind, now)
    for start, payload in messages(device_id, 0, readings):
        decoded = decode_readings(payload, topic_device_id=device_id, patient_id="-",
                                  now=now, oldest=oldest)
        for r in decoded.rejections:
            assert r.index is not None
            doc_index = indexes[start + r.index]
            bad.setdefault(doc_index, f"{noun} {doc_index}: {r.reason.split(': ', 1)[-1]}")
    keep = [i for i in range(len(readings)) if indexes[i] not in bad]
    return Converted([readings[i] for i in keep], [indexes[i] for i in keep],
                     [bad[i] for i in sorted(bad)])


def messages(device_id: str, seq: int, readings: list[dict[str, Any]], start: int = 0
             ) -> list[tuple[int, bytes]]:
    """(offset of the first reading, payload): as few contract messages as keep each within
    the contract's limits (5000 readings, 256 kB), halving a batch until it fits."""
    if not readings:
        return []
    if len(readings) <= MAX_READINGS_PER_MESSAGE:
        payload = encode_message(device_id=device_id, seq=seq, readings=readings)
        if len(payload) <= MAX_PAYLOAD_BYTES or len(readings) == 1:
            return [(start, payload)]
    half = len(readings) // 2
    first = messages(device_id, seq, readings[:half], start)
    return first + messages(device_id, seq + len(first), readings[half:], start + half)


def message_seq(now: datetime) -> int:
    """Uploads carry no sequence of their own: milliseconds keep each message distinct."""
    return int(now.timestamp() * 1000)


# --- a publisher that waits for PUBACK ---------------------------------------------

class ConfirmedPublisher:
    """One MQTT connection; ``publish_confirmed`` returns once the broker acknowledged."""

    def __init__(self, endpoint: MqttEndpoint, *, client_id: str, protocol: str = MQTT_V5
                 ) -> None:
        self._client = new_client(client_id, protocol=protocol)
        self._endpoint = endpoint
        self._done = threading.Condition()
        self._acks: dict[int, int] = {}
        self._connected = threading.Event()
        self._client.on_publish = self._on_publish
        self._client.on_connect = lambda *_a: self._connected.set()
        self._client.on_disconnect = lambda *_a: self._connected.clear()

    def start(self, timeout: float = 10.0) -> bool:
        connect(self._client, self._endpoint)
        self._client.loop_start()
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        with self._done:
            self._acks[mid] = int(getattr(reason, "value", reason))
            self._done.notify_all()

    def publish_confirmed(self, topic: str, payload: bytes, *, timeout: float) -> None:
        if not self._connected.is_set():
            raise UploadError("not connected to the broker")
        with self._done:
            info = self._client.publish(topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise UploadError(f"publish refused: {mqtt.error_string(info.rc)}")
            if not self._done.wait_for(lambda: info.mid in self._acks, timeout=timeout):
                raise UploadError(f"no acknowledgement from the broker within {timeout:g} s")
            code = self._acks.pop(info.mid)
        if code >= 0x80:
            raise UploadError(f"the broker refused the message (reason code {code})")


def publish_upload(backend: NightscoutBackend, device_id: str, readings: list[dict[str, Any]]
                   ) -> None:
    started = time.monotonic()
    if backend.queue is not None:
        try:
            backend.queue.put(device_id, readings)
        except HearthError as exc:
            raise UploadError(str(exc)) from exc
        log.info("nightscout upload from %s: %d readings queued in %.0f ms", device_id,
                 len(readings), (time.monotonic() - started) * 1000)
        return
    if backend.publisher is None:
        raise UploadError("no broker connection")
    now = backend.clock()
    sent = messages(device_id, message_seq(now), readings)
    for _, payload in sent:
        backend.publisher.publish_confirmed(topics.up(device_id), payload,
                                            timeout=backend.timeout_s)
    log.info("nightscout upload from %s: %d readings in %d messages published in %.0f ms",
             device_id, len(readings), len(sent), (time.monotonic() - started) * 1000)
