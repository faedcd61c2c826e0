"""The simulator reader: the gateway with no hardware.

It builds real GATT payloads (the same bytes a cuff, scale, meter or
thermometer sends) and feeds them through the same decode path as Bluetooth,
or replays a JSONL file of captured payloads, one per line:

    {"device_id": "ann-cuff", "characteristic": "0x2A35", "hex": "1E8A00...",
     "received_at": "2026-11-23T08:00:00Z"}          # received_at optional

Options (HEARTH_GATEWAY_READER_OPTIONS, comma-separated key=value):
``devices`` (2), ``kinds`` (cuff+scale+meter+thermometer), ``prefix`` (sim),
``count`` readings per device (0: forever), ``interval_s`` between rounds
(60), ``step_s`` between device time stamps of a backlog (60), ``burst``
samples per submit (1), ``pause_s`` after each submit (0),
``clock_offset_s`` how far the devices' clocks are off (0),
``clock_reference`` whether the gateway knows it (1), ``seed``, ``replay``
a JSONL path. It imports nothing from ``devices/``.
"""

from __future__ import annotations

import json
import logging
import random
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.ble.decoders import parse_uuid
from gateway.ble.ieee11073 import encode_float, encode_sfloat
from gateway.readers import Sample, SampleSink
from gateway.timing import ClockReference

log = logging.getLogger(__name__)

KINDS = ("cuff", "scale", "meter", "thermometer")


def date_time(when: datetime) -> bytes:
    """The 7-byte Bluetooth Date Time of a naive wall-clock time."""
    return struct.pack("<HBBBBB", when.year, when.month, when.day, when.hour, when.minute,
                       when.second)


def blood_pressure(systolic: int, diastolic: int, pulse: int, when: datetime | None) -> bytes:
    flags = 0x04 | (0x02 if when else 0)
    out = struct.pack("<BHHH", flags, encode_sfloat(systolic), encode_sfloat(diastolic),
                      encode_sfloat(round((systolic + 2 * diastolic) / 3)))
    if when:
        out += date_time(when)
    return out + struct.pack("<H", encode_sfloat(pulse))


def weight(kg: float, when: datetime | None) -> bytes:
    flags = 0x02 if when else 0
    return struct.pack("<BH", flags, round(kg / 0.005)) + (date_time(when) if when else b"")


def glucose(sequence: int, mg_dl: int, when: datetime) -> bytes:
    # kg/L: mg/dL x 1e-5, as an SFLOAT with exponent -5; capillary whole blood, finger.
    return (struct.pack("<BH", 0x02, sequence & 0xFFFF) + date_time(when)
            + struct.pack("<HB", encode_sfloat(float(f"{mg_dl}e-5"), exponent=-5), 0x11))


def temperature(celsius: float, when: datetime | None) -> bytes:
    flags = 0x02 if when else 0
    out = struct.pack("<BI", flags, encode_float(celsius, exponent=-1))
    return out + (date_time(when) if when else b"")


@dataclass(frozen=True, slots=True)
class SimulatedDevice:
    device_id: str
    kind: str

    @property
    def characteristic(self) -> int:
        return {"cuff": 0x2A35, "scale": 0x2A9D, "meter": 0x2A18, "thermometer": 0x2A1C}[self.kind]

    def payload(self, index: int, rng: random.Random, when: datetime) -> bytes:
        if self.kind == "cuff":
            return blood_pressure(rng.randint(105, 150), rng.randint(65, 95), rng.randint(55, 95),
                                  when)
        if self.kind == "scale":
            return weight(round(rng.uniform(60, 95), 2), when)
        if self.kind == "meter":
            return glucose(index, rng.randint(70, 220), when)
        return temperature(round(rng.uniform(36.1, 37.6), 1), when)


class SimulatorReader:
    name = "simulator"

    def __init__(self, *, devices: int = 2, kinds: tuple[str, ...] = KINDS, prefix: str = "sim",
                 count: int = 0, interval_s: float = 60.0, step_s: float = 60.0, burst: int = 1,
                 clock_offset_s: int = 0, clock_reference: bool = True, seed: int = 1,
                 replay: Path | None = None, pause_s: float = 0.0) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown simulated device kinds {sorted(unknown)} (known: {KINDS})")
        self.devices = [SimulatedDevice(f"{prefix}-{kinds[i % len(kinds)]}-{i}",
                                        kinds[i % len(kinds)]) for i in range(devices)]
        self.count, self.interval_s, self.step_s = count, interval_s, step_s
        self.burst = max(1, burst)
        self.pause_s = pause_s
        self.clock_offset = timedelta(seconds=clock_offset_s)
        self.clock_reference = clock_reference
        self.replay = replay
        self._rng = random.Random(seed)

    def run(self, sink: SampleSink, stop: threading.Event) -> None:
        source = self._replayed() if self.replay else self._generated(stop)
        pending: list[Sample] = []
        for sample in source:
            pending.append(sample)
            if len(pending) >= self.burst:
                if not sink.submit(pending) or stop.wait(self.pause_s):
                    return
                pending = []
        if pending:
            sink.submit(pending)

    def _generated(self, stop: threading.Event) -> Iterator[Sample]:
        start = datetime.now(UTC).replace(microsecond=0)
        if self.count:  # a backlog: time stamps spaced step_s apart, ending now
            start -= timedelta(seconds=self.step_s * self.count)
        index = 0
        while not self.count or index < self.count:
            now = datetime.now(UTC)
            true_time = start + timedelta(seconds=self.step_s * index) if self.count else now
            for device in self.devices:
                yield self._sample(device, index, true_time, now)
            index += 1
            if self.interval_s and stop.wait(self.interval_s):
                return

    def _sample(self, device: SimulatedDevice, index: int, true_time: datetime,
                now: datetime) -> Sample:
        wall = (true_time + self.clock_offset).replace(tzinfo=None)
        reference = None
        if self.clock_reference:
            reference = ClockReference(
                device_wall=(now + self.clock_offset).replace(tzinfo=None, microsecond=0),
                gateway_utc=now.replace(microsecond=0),
            )
        return Sample(device.device_id, device.characteristic,
                      device.payload(index, self._rng, wall), now, reference)

    def _replayed(self) -> Iterator[Sample]:
        assert self.replay is not None
        with self.replay.open() as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    received = row.get("received_at")
                    at = datetime.fromisoformat(received) if received else datetime.now(UTC)
                    yield Sample(
                        device_id=str(row["device_id"]),
                        characteristic=parse_uuid(str(row["characteristic"])),
                        payload=bytes.fromhex(str(row["hex"])),
                        received_at=at if at.tzinfo else at.replace(tzinfo=UTC),
                    )
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("replay line %d is unusable (%s); skipped", number,
                              type(exc).__name__)


def from_options(options: dict[str, str]) -> SimulatorReader:
    return SimulatorReader(
        devices=int(options.get("devices", 2)),
        kinds=tuple(options.get("kinds", "+".join(KINDS)).split("+")),
        prefix=options.get("prefix", "sim"),
        count=int(options.get("count", 0)),
        interval_s=float(options.get("interval_s", 60)),
        step_s=float(options.get("step_s", 60)),
        burst=int(options.get("burst", 1)),
        clock_offset_s=int(options.get("clock_offset_s", 0)),
        clock_reference=options.get("clock_reference", "1") not in ("0", "false", "no"),
        seed=int(options.get("seed", 1)),
        replay=Path(options["replay"]) if options.get("replay") else None,
        pause_s=float(options.get("pause_s", 0)),
    )
