"""Publish simulated readings as a device (or a gateway) would: QoS 1, paced, batched or live."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from core import topics
from core.contract import encode_message
from core.mqtt import PacedPublisher
from devices.home_devices import SimReading
from devices.simulator import HouseholdSimulator

log = logging.getLogger(__name__)


def encode_batches(
    readings: Iterable[SimReading], *, batch_size: int, seqs: dict[str, int]
) -> list[tuple[str, bytes]]:
    """Group readings per device, oldest first, into messages of at most ``batch_size``."""
    per_device: dict[str, list[SimReading]] = defaultdict(list)
    for reading in readings:
        per_device[reading.device_id].append(reading)
    out = []
    for device_id, items in per_device.items():
        items.sort(key=lambda r: r.measured_at)
        for i in range(0, len(items), batch_size):
            seq = seqs.get(device_id, 0)
            seqs[device_id] = seq + 1
            out.append((topics.up(device_id), _encode(device_id, seq, items[i:i + batch_size])))
    return out


def _encode(device_id: str, seq: int, chunk: Sequence[SimReading]) -> bytes:
    """SenML-style: shared values go to ``base``, times become offsets from the first."""
    base: dict[str, object] = {"time": chunk[0].measured_at}
    for name in ("metric", "unit", "source"):
        values = {getattr(r, name) for r in chunk}
        if len(values) == 1:
            base[name] = values.pop()
    t0 = chunk[0].measured_at
    entries = []
    for r in chunk:
        entry = {k: v for k, v in r.entry().items() if k not in base or k == "value"}
        entry.pop("time", None)
        offset = (r.measured_at - t0).total_seconds()
        if offset:
            entry["offset_s"] = offset
        entries.append(entry)
    return encode_message(device_id=device_id, seq=seq, base=base, readings=entries)


class SimulatorPublisher:
    """Sends the household's readings to the broker: a fast backfill, then live."""

    def __init__(self, simulator: HouseholdSimulator, publisher: PacedPublisher) -> None:
        self._simulator = simulator
        self._publisher = publisher
        self._seqs: dict[str, int] = {}
        self.published_messages = 0
        self.published_readings = 0

    def publish(self, readings: Sequence[SimReading], *, batch_size: int) -> None:
        for topic, payload in encode_batches(readings, batch_size=batch_size, seqs=self._seqs):
            self._publisher.publish(topic, payload)
            self.published_messages += 1
        self.published_readings += len(readings)

    def backfill(self, start: datetime, end: datetime, *, batch_size: int = 288) -> int:
        """Publish [start, end) as fast as the broker takes it (one day per chunk)."""
        count = 0
        chunk_start = start
        while chunk_start < end:
            chunk_end = min(chunk_start + timedelta(days=1), end)
            readings = self._simulator.readings(chunk_start, chunk_end)
            self.publish(readings, batch_size=batch_size)
            count += len(readings)
            chunk_start = chunk_end
        return count

    def stream(
        self,
        start: datetime,
        *,
        now: Callable[[], datetime],
        stop: threading.Event,
        speed: float = 1.0,
        tick_s: float = 1.0,
    ) -> None:
        """Live: publish each reading when simulated time reaches it, one message per device
        and instant, as real devices do. Simulated time runs ``speed`` times faster than
        the wall clock but never ahead of it."""
        simulated = start
        wall_start = time.monotonic()
        while not stop.is_set():
            target = start + timedelta(seconds=(time.monotonic() - wall_start) * speed)
            target = min(target, now())
            if target > simulated:
                readings = self._simulator.readings(simulated, target)
                self.publish(readings, batch_size=50)
                simulated = target
            stop.wait(tick_s)
