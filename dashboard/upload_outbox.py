"""The Nightscout API's upload outbox: an upload is answered 2xx only once it is on disk
here, and it leaves only when ingest has committed it.

The broker's PUBACK is not durable (Mosquitto 2.0 acknowledges before it writes to
disk, and a broker killed while ingest is away loses what it queued), and an uploader
never sends again what was answered 200. So an upload's readings go, in one SQLite
transaction (WAL, ``synchronous=FULL``: core/outbox.py, the gateway's outbox), into a
file under the data directory, and the HTTP answer waits only for that commit. A
thread then publishes them at QoS 1 on ``hearth/v1/up/{uploader}`` and forgets them
only when ingest's ``hearth/v1/ack/{uploader}`` names their message (ingest sends it
after its commit: docs/CONTRACT.md); unconfirmed messages are sent again with backoff,
and ingest's idempotency makes the copies harmless. A full or unusable outbox refuses
the whole upload (``UploadError``: the API answers 503 with ``Retry-After``); nothing
is half-taken.

Several dashboard processes (uvicorn workers): each takes the first free *slot*, an
outbox file of its own with a lock (``nightscout-outbox-{slot}.db``) and an MQTT
client id of its own with a persistent session. A worker that dies leaves its file;
whoever takes the slot next (its replacement, or the next start) sends what is in it.
Message numbers on the wire are ``msg_seq * SLOTS + slot``, so that an
acknowledgement names one slot's message only, whichever slot reads it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from core import topics
from core.acks import read_ack
from core.contract import encode_message
from core.errors import HearthError
from core.mqtt import MQTT_V5, MqttEndpoint, connect, new_client
from core.outbox import Batch, Outbox, OutboxError, OutboxFullError, resend_delay

log = logging.getLogger(__name__)

SLOTS = 16  # dashboard processes that may take uploads at once
MAX_READINGS = 200_000  # per slot: days of every uploader's readings while ingest is away
READINGS_PER_MESSAGE = 100  # well inside the contract's 256 kB, even for treatments with notes
MAX_INFLIGHT = 20  # messages awaiting ingest's acknowledgement
RESEND_AFTER_S = 30.0
RESEND_MAX_S = 600.0
SESSION_EXPIRY_S = 7 * 24 * 3600
RETRY_AFTER_S = 60  # what a refused upload is told (Retry-After)
UNCONFIRMED_WARNING_ATTEMPTS = 5  # sends without ingest's ack before a warning


class QueueRefused(HearthError):
    """The outbox did not take the upload (full, or its file is unusable); nothing of it
    was taken."""


def plain(entry: dict[str, Any]) -> dict[str, Any]:
    """A contract entry as the JSON the outbox keeps (times as ISO 8601, as on the wire)."""
    def iso(value: Any) -> str:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"cannot keep {type(value).__name__} in the outbox")
    kept: dict[str, Any] = json.loads(json.dumps(entry, default=iso))
    return kept


def wire_seq(msg_seq: int, slot: int) -> int:
    return msg_seq * SLOTS + slot


def take_slot(directory: Path, *, max_readings: int = MAX_READINGS) -> tuple[int, Outbox]:
    """The first outbox file under ``directory`` that no other process holds."""
    for slot in range(SLOTS):
        try:
            return slot, Outbox(directory / f"nightscout-outbox-{slot}.db",
                                max_readings=max_readings)
        except OutboxError:
            continue
    raise OutboxError(f"all {SLOTS} Nightscout upload outboxes in {directory} are in use")


class UploadOutbox:
    """``put`` stores an upload durably; a thread publishes and forgets on ingest's ack."""

    def __init__(self, endpoint: MqttEndpoint, directory: Path, *,
                 client_prefix: str = "hearth-dashboard-nightscout", protocol: str = MQTT_V5,
                 max_readings: int = MAX_READINGS, resend_after_s: float = RESEND_AFTER_S,
                 resend_max_s: float = RESEND_MAX_S,
                 session_expiry_s: int = SESSION_EXPIRY_S,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.slot, self.outbox = take_slot(Path(directory), max_readings=max_readings)
        self._endpoint = endpoint
        self._protocol = protocol
        self._resend_after_s = resend_after_s
        self._resend_max_s = resend_max_s
        self._session_expiry_s = session_expiry_s
        self._now = wall_clock
        self._client = new_client(f"{client_prefix}-{self.slot}", protocol=protocol,
                                  clean_session=False)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.max_inflight_messages_set(MAX_INFLIGHT)
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._subscribed: set[str] = set()
        self._pending_subs: dict[int, tuple[list[str], float]] = {}
        self._awaiting: dict[tuple[str, int], float] = {}  # (device, msg_seq) -> due again
        self.confirmed_readings = 0
        self._thread = threading.Thread(target=self._run, name="nightscout-outbox",
                                        daemon=True)

    # -- lifecycle ------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> bool:
        """Connect and start sending; False if the broker did not answer within
        ``timeout`` (uploads are still taken, and sent once it does)."""
        connect(self._client, self._endpoint, clean_start=False,
                session_expiry_s=self._session_expiry_s)
        self._client.loop_start()
        self._thread.start()
        return self._connected.wait(timeout)

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._client.disconnect()
        self._client.loop_stop()
        self.outbox.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- taking uploads -------------------------------------------------------

    def put(self, device_id: str, readings: list[dict[str, Any]]) -> None:
        """All of ``readings`` on disk, or ``QueueRefused`` and none of them."""
        try:
            self.outbox.add([(device_id, plain(r)) for r in readings], now=self._now())
        except OutboxFullError as exc:
            raise QueueRefused(f"the upload queue is full ({exc})") from exc
        except sqlite3.Error as exc:
            log.error("nightscout upload outbox unusable: %s", type(exc).__name__)
            raise QueueRefused("the upload queue cannot be written") from exc
        self._wake.set()

    def __len__(self) -> int:
        return len(self.outbox)

    # -- paho callbacks (its network thread) ------------------------------------

    def _on_connect(self, _c: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the Nightscout outbox's connection: %s", reason)
            return
        if not getattr(flags, "session_present", False):
            # No session: the broker may have lost what it acknowledged; send it again now.
            with self._lock:
                self._awaiting.clear()
            self.outbox.all_due()
        self._connected.set()
        self._wake.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self._connected.is_set() and not self._stopping.is_set():
            log.warning("Nightscout outbox lost the broker (%s); uploads wait on disk", reason)
        self._connected.clear()
        with self._lock:
            self._subscribed.clear()
            self._pending_subs.clear()

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, reasons: Any, _p: Any
                      ) -> None:
        with self._lock:
            devices, _ = self._pending_subs.pop(mid, ([], 0.0))
            for device_id, code in zip(devices, reasons, strict=False):
                if getattr(code, "is_failure", False) or code == 0x80:
                    log.error("broker refused the ack subscription of uploader %s (%s); "
                              "its uploads wait on disk", device_id, code)
                else:
                    self._subscribed.add(device_id)
        self._wake.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            device_id, seqs = read_ack(msg.topic, msg.payload)
        except ValueError as exc:
            log.warning("%s (ignored)", exc)
            return
        mine = [s // SLOTS for s in seqs if s >= 0 and s % SLOTS == self.slot]
        removed = self.outbox.confirm(device_id, mine)
        with self._lock:
            for seq in mine:
                self._awaiting.pop((device_id, seq), None)
        self.confirmed_readings += removed
        self._wake.set()

    # -- sending ----------------------------------------------------------------

    def _subscribe(self, devices: list[str]) -> None:
        now = time.monotonic()
        with self._lock:  # held across subscribe(): the SUBACK must find its mid
            for old, (_, asked) in list(self._pending_subs.items()):
                if now - asked > 10.0:  # a SUBACK lost: ask again
                    del self._pending_subs[old]
            waiting = {d for ds, _ in self._pending_subs.values() for d in ds}
            new = [d for d in devices if d not in self._subscribed and d not in waiting]
            for start in range(0, len(new), 100):
                chunk = new[start:start + 100]
                rc, mid = self._client.subscribe([(topics.ack(d), SubscribeOptions(qos=1))
                                                  for d in chunk])
                if rc == mqtt.MQTT_ERR_SUCCESS and mid is not None:
                    self._pending_subs[mid] = (chunk, now)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            if not self._connected.is_set() or not len(self.outbox):
                continue
            try:
                self._send_due()
            except Exception:  # the loop must outlive one bad turn
                log.exception("Nightscout outbox turn failed; retrying")
                self._stopping.wait(1.0)

    def _send_due(self) -> None:
        self._subscribe(self.outbox.devices())
        now = self._now()
        with self._lock:
            for key, due in list(self._awaiting.items()):
                if due <= now:
                    del self._awaiting[key]
            room = MAX_INFLIGHT - len(self._awaiting)
            ready = set(self._subscribed)
        if room <= 0 or not ready:
            return
        batches = self.outbox.take_due(now=now, resend_after_s=self._resend_after_s,
                                      resend_max_s=self._resend_max_s, max_messages=room,
                                      max_per_message=READINGS_PER_MESSAGE, devices=ready)
        for batch in batches:
            if not self._publish(batch, now):
                break
        if len(batches) == room:
            self._wake.set()

    def _publish(self, batch: Batch, now: float) -> bool:
        payload = encode_message(device_id=batch.device_id,
                                 seq=wire_seq(batch.msg_seq, self.slot),
                                 readings=list(batch.entries))
        info = self._client.publish(topics.up(batch.device_id), payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.outbox.unsend(batch)
            return False
        delay = resend_delay(batch.attempts, after_s=self._resend_after_s,
                             max_s=self._resend_max_s)
        with self._lock:
            self._awaiting[(batch.device_id, batch.msg_seq)] = now + delay
        if batch.attempts == UNCONFIRMED_WARNING_ATTEMPTS:
            # Mosquitto grants a subscription and then withholds what the ACL forbids:
            # without the read right on the ack topic nothing would ever say why.
            log.warning("no commit acknowledgement for uploader %s after %d sends: is ingest "
                        "running, and may this login read %s (re-render the broker's ACL: "
                        "hearth devices render)?", batch.device_id, batch.attempts,
                        topics.ack(batch.device_id))
        elif batch.attempts > 1:
            log.info("re-sent unconfirmed Nightscout message of %s (attempt %d)",
                     batch.device_id, batch.attempts)
        return True
