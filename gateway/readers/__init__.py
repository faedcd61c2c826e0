"""Device readers: where the gateway's readings come from.

A reader turns a source (real Bluetooth devices, a simulator, a replay file)
into ``Sample``s - raw GATT payloads with the device they came from - and hands
them to a ``SampleSink``. The sink decodes, corrects the time and writes them
to the outbox before it returns: ``submit`` blocks while the outbox is full,
which is the backpressure a reader feels (it stops asking its devices for
records; the devices keep them).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.timing import ClockReference


@dataclass(frozen=True, slots=True)
class Sample:
    """One GATT payload as a device sent it."""

    device_id: str
    characteristic: int  # 16-bit UUID, e.g. 0x2A35
    payload: bytes
    received_at: datetime  # the gateway's clock, aware UTC
    clock: ClockReference | None = None  # what the device's clock read, if known


class SampleSink(Protocol):
    def submit(self, samples: Sequence[Sample]) -> bool:
        """Decode and store durably; blocks while the outbox is full. False: stopping."""
        ...


class Reader(Protocol):
    name: str

    def run(self, sink: SampleSink, stop: threading.Event) -> None:
        """Read until ``stop`` is set (or the source is exhausted) and return."""
        ...


# name -> "module:factory"; a factory takes the gateway settings' reader options.
READERS: dict[str, str] = {
    "simulator": "gateway.readers.simulator:from_options",
    "bleak": "gateway.readers.ble:from_options",
}


def load_reader(name: str, options: dict[str, str]) -> Reader:
    target = READERS.get(name)
    if target is None:
        raise ValueError(f"unknown reader {name!r} (known: {', '.join(sorted(READERS))})")
    module_name, attribute = target.split(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    reader: Reader = factory(options)
    return reader
