"""The honest sources of the fault suite beside the gateways: devices that publish MQTT
themselves, and Nightscout uploaders posting to the dashboard's API.

Their readings come from the household simulator (devices/, copies of the demo's "ann":
CGM, blood-pressure cuff, pedometer, all in canonical units), and what must be stored is
taken from the simulator's own values (measured time, value), never from Hearth's
decoder. Each source behaves as the contract asks of a careful client and nothing more:

- a direct device publishes its messages at QoS 1 (the simulator's own encoding,
  devices/publisher.py), keeps each until ingest's ``hearth/v1/ack/{device}`` names it,
  and sends it again if no acknowledgement came (docs/CONTRACT.md: the broker's PUBACK
  is not durable);
- an uploader posts entries to ``/api/v1/entries`` and forgets them only on a 2xx; on a
  503, a timeout or a refused connection it posts the same upload again, as the
  Nightscout apps do.

Both record when each message was first sent and when it was confirmed, which gives
the recovery figures of the suite.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.home_devices import SimReading
from devices.profiles import PatientProfile, load_profiles, replicate
from devices.publisher import encode_batches
from devices.simulator import HouseholdSimulator

log = logging.getLogger("bench.chaos")

Key = tuple[str, int, float]  # (metric, measured time in µs, value rounded to 0.001)


def key(metric: str, when: datetime, value: float) -> Key:
    when = when.astimezone(UTC)
    return metric, int(when.timestamp()) * 1_000_000 + when.microsecond, round(float(value), 3)


def simulated_patients(count: int, *, skip: int = 0) -> list[PatientProfile]:
    """``count`` copies of the demo's "ann" (canonical units only), numbered from ``skip``+1."""
    ann = [p for p in load_profiles() if p.id == "ann"]
    return replicate(ann, count + skip + 1)[skip + 1:]


def simulated_readings(profiles: list[PatientProfile], *, hours: float, seed: int,
                       end: datetime) -> list[SimReading]:
    start = (end - timedelta(hours=hours)).replace(second=0, microsecond=0)
    return HouseholdSimulator(profiles, seed=seed).readings(start, end)


# -- direct MQTT devices -----------------------------------------------------------------


@dataclass
class Pending:
    payload: bytes
    first_sent: float
    last_sent: float
    attempts: int = 1


@dataclass
class DirectDevice:
    """One device with its own login on the device listener."""

    device_id: str
    patient_id: str
    kind: str
    messages: list[tuple[int, bytes]]  # (seq, payload) in the order sent
    expected: list[Key]
    secret: str = ""
    sent: int = 0  # messages taken from ``messages``
    pending: dict[int, Pending] = field(default_factory=dict)
    acked: dict[int, tuple[float, float]] = field(default_factory=dict)  # seq -> (sent, acked)
    resends: int = 0
    client: mqtt.Client | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def connect(self, port: int) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.device_id,
                             protocol=mqtt.MQTTv311, clean_session=False)
        client.username_pw_set(self.device_id, self.secret)
        client.reconnect_delay_set(1, 2)
        client.max_inflight_messages_set(50)
        ack_topic = f"hearth/v1/ack/{self.device_id}"
        client.on_connect = lambda c, *_a: c.subscribe(ack_topic, qos=1)
        client.on_message = self._on_ack
        client.connect_async("127.0.0.1", port)
        client.loop_start()
        self.client = client

    def _on_ack(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
            seqs = [int(s) for s in body["seqs"]]
        except (ValueError, KeyError, TypeError):
            return
        now = time.monotonic()
        with self.lock:
            for seq in seqs:
                entry = self.pending.pop(seq, None)
                if entry is not None:
                    self.acked[seq] = (entry.first_sent, now)

    def turn(self, *, now: float, due: int, window: int, resend_after_s: float,
             resend_max_s: float) -> None:
        """Send again what is overdue, then new messages up to ``due`` within ``window``."""
        assert self.client is not None
        with self.lock:
            for entry in self.pending.values():
                wait = min(resend_max_s, resend_after_s * 2 ** (entry.attempts - 1))
                if now - entry.last_sent >= wait:
                    self.client.publish(f"hearth/v1/up/{self.device_id}", entry.payload, qos=1)
                    entry.last_sent, entry.attempts = now, entry.attempts + 1
                    self.resends += 1
            while self.sent < min(due, len(self.messages)) and len(self.pending) < window:
                seq, payload = self.messages[self.sent]
                self.client.publish(f"hearth/v1/up/{self.device_id}", payload, qos=1)
                self.pending[seq] = Pending(payload, now, now)
                self.sent += 1

    def done(self) -> bool:
        with self.lock:
            return self.sent >= len(self.messages) and not self.pending

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()


def direct_devices(profiles: list[PatientProfile], *, hours: float, seed: int, end: datetime,
                   batch_size: int) -> list[DirectDevice]:
    readings = simulated_readings(profiles, hours=hours, seed=seed, end=end)
    owner = {d.id: (p.id, d.kind) for p in profiles for d in p.devices}
    seqs: dict[str, int] = {}
    by_device: dict[str, list[tuple[int, bytes]]] = {}
    for _topic, payload in encode_batches(readings, batch_size=batch_size, seqs=seqs):
        head = json.loads(payload)
        by_device.setdefault(head["device_id"], []).append((int(head["seq"]), payload))
    expected: dict[str, list[Key]] = {}
    for r in readings:
        expected.setdefault(r.device_id, []).append(key(r.metric, r.measured_at, r.value))
    return [DirectDevice(d, owner[d][0], owner[d][1], by_device[d], expected[d])
            for d in sorted(by_device)]


class DirectFleet:
    """Drives every direct device from one thread: each hands over its messages evenly
    across ``stream_s`` seconds."""

    def __init__(self, devices: list[DirectDevice], *, port: int, stream_s: float,
                 resend_after_s: float, window: int = 10) -> None:
        self.devices, self.port, self.stream_s = devices, port, stream_s
        self.resend_after_s, self.window = resend_after_s, window
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos-direct", daemon=True)
        self.t0 = 0.0

    def start(self) -> None:
        for device in self.devices:
            device.connect(self.port)
        self.t0 = time.monotonic()
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            now = time.monotonic()
            share = min(1.0, (now - self.t0) / self.stream_s)
            for device in self.devices:
                device.turn(now=now, due=int(share * len(device.messages) + 0.999),
                            window=self.window, resend_after_s=self.resend_after_s,
                            resend_max_s=4 * self.resend_after_s)
            self.stop.wait(0.05)

    def taken(self) -> bool:
        return all(d.sent >= len(d.messages) for d in self.devices)

    def finished(self) -> bool:
        return all(d.done() for d in self.devices)

    def confirmations(self) -> list[tuple[float, float]]:
        """(first sent, confirmed) of every confirmed message, monotonic seconds."""
        out: list[tuple[float, float]] = []
        for device in self.devices:
            with device.lock:
                out += device.acked.values()
        return out

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        for device in self.devices:
            device.close()


# -- Nightscout uploaders ----------------------------------------------------------------


@dataclass
class Uploader:
    """A CGM app uploading for one patient with its Nightscout secret."""

    device_id: str  # the uploader's registration (its readings are stored under it)
    patient_id: str
    uploads: list[list[dict[str, Any]]]
    expected: list[Key]
    secret: str = ""
    answered: list[tuple[float, float]] = field(default_factory=list)  # (first tried, 2xx)
    refused_503: int = 0
    failed_attempts: int = 0  # timeouts, refused connections, other answers
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def header(self) -> str:
        return hashlib.sha1(self.secret.encode()).hexdigest()  # noqa: S324 - Nightscout's protocol


def uploaders(profiles: list[PatientProfile], *, hours: float, seed: int, end: datetime,
              per_upload: int) -> list[Uploader]:
    """One uploader per profile, posting its CGM's readings ``per_upload`` at a time."""
    readings = simulated_readings(profiles, hours=hours, seed=seed, end=end)
    out = []
    for profile in profiles:
        cgm = [r for r in readings if r.metric == "glucose"
               and r.device_id in {d.id for d in profile.devices_of("cgm")}]
        entries = [{"type": "sgv", "sgv": int(r.value), "device": "xDrip-chaos",
                    "date": int(r.measured_at.timestamp() * 1000),
                    "dateString": r.measured_at.isoformat().replace("+00:00", "Z")}
                   for r in cgm]
        out.append(Uploader(f"ns-{profile.id}", profile.id,
                            [entries[i:i + per_upload] for i in range(0, len(entries),
                                                                      per_upload)],
                            [key("glucose", r.measured_at, int(r.value)) for r in cgm]))
    return out


class UploaderFleet:
    """One thread per uploader: each posts its uploads evenly across ``stream_s``, the
    next only once the last was answered 2xx."""

    def __init__(self, uploaders: list[Uploader], *, base_url: str, stream_s: float,
                 retry_s: float = 1.0) -> None:
        self.uploaders, self.base_url, self.stream_s, self.retry_s = (
            uploaders, base_url, stream_s, retry_s)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(u,), daemon=True,
                                         name=f"chaos-{u.device_id}") for u in uploaders]
        self.done: set[str] = set()
        self.t0 = 0.0

    def start(self) -> None:
        self.t0 = time.monotonic()
        for thread in self.threads:
            thread.start()

    def _run(self, uploader: Uploader) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30.0) as client:
            for n, docs in enumerate(uploader.uploads):
                release = self.t0 + self.stream_s * n / len(uploader.uploads)
                if self.stop.wait(max(0.0, release - time.monotonic())):
                    return
                first = time.monotonic()
                while not self._post(client, uploader, docs):
                    if self.stop.wait(self.retry_s):
                        return
                uploader.answered.append((first, time.monotonic()))
        self.done.add(uploader.device_id)

    @staticmethod
    def _post(client: httpx.Client, uploader: Uploader, docs: list[dict[str, Any]]) -> bool:
        try:
            answer = client.post("/api/v1/entries", json=docs,
                                 headers={"api-secret": uploader.header})
        except httpx.HTTPError:
            uploader.failed_attempts += 1
            return False
        uploader.statuses[answer.status_code] = uploader.statuses.get(answer.status_code, 0) + 1
        if 200 <= answer.status_code < 300:
            return True
        if answer.status_code == 503:
            uploader.refused_503 += 1
        else:
            uploader.failed_attempts += 1
        return False

    def taken(self) -> bool:
        return len(self.done) == len(self.uploaders)

    def confirmations(self) -> list[tuple[float, float]]:
        return [pair for u in self.uploaders for pair in u.answered]

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=40)
