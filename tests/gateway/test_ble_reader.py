"""The bleak reader's protocol work, against a fake glucose meter that implements the
small BleClient interface (no Bluetooth adapter here): clock read, indications,
Record Access Control Point requests, malformed records kept out of the outbox."""

from __future__ import annotations

import asyncio
import importlib
import logging
import struct
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.normaliser import Normaliser
from gateway.outbox import Outbox
from gateway.readers import load_reader
from gateway.readers.ble import (
    CURRENT_TIME,
    RACP,
    BleakReader,
    clock_reference,
    racp_request,
    uuid,
)
from gateway.readers.simulator import date_time
from gateway.service import OutboxSink


def _record(seq: int, when: datetime, mg_dl: int) -> bytes:
    # Glucose Measurement: time offset + concentration (kg/L, exponent -5), capillary/finger.
    return (struct.pack("<BH", 0x03, seq) + date_time(when) + struct.pack("<h", 0)
            + struct.pack("<HB", 0xB000 | mg_dl, 0x11))


class FakeMeter:
    """A meter whose clock runs one hour fast, holding three records and one corrupt one."""

    def __init__(self, on_disconnect: Callable[[], None]) -> None:
        self.on_disconnect = on_disconnect
        self.connected = False
        self.callbacks: dict[str, Callable[[Any, bytearray], None]] = {}
        self.writes: list[bytes] = []
        self.records = [_record(s, datetime(2026, 11, 23, 8 + s, 0), 100 + s) for s in (1, 2, 3)]
        self.records.insert(2, bytes.fromhex("0301"))  # truncated: the meter's firmware bug

    async def connect(self) -> None:
        self.connected = True

    async def disconnect(self) -> None:
        self.connected = False

    @property
    def is_connected(self) -> bool:
        return self.connected

    def has_characteristic(self, uuid16: int) -> bool:
        return uuid16 in (0x2A18, 0x2A34, RACP, CURRENT_TIME)

    async def read_gatt_char(self, char: str) -> bytearray:
        assert char == uuid(CURRENT_TIME)
        fast = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
        return bytearray(date_time(fast) + bytes(3))

    async def write_gatt_char(self, char: str, data: bytes, response: bool) -> None:
        assert char == uuid(RACP) and response
        self.writes.append(bytes(data))
        asyncio.get_running_loop().call_soon(self._report)

    async def start_notify(self, char: str, callback: Callable[[Any, bytearray], None]) -> None:
        self.callbacks[char] = callback

    def _report(self) -> None:
        for record in self.records:
            self.callbacks[uuid(0x2A18)](None, bytearray(record))
        self.callbacks[uuid(RACP)](None, bytearray([0x06, 0x00, 0x01, 0x01]))
        self.on_disconnect()  # meters hang up once they have reported


def test_racp_requests_and_clock_reference_bytes() -> None:
    assert racp_request(None) == bytes([0x01, 0x01])  # report stored records: all
    assert racp_request(41) == bytes([0x01, 0x03, 0x01, 42, 0])  # >= sequence 42
    ref = clock_reference(date_time(datetime(2026, 11, 23, 10, 0)) + bytes(3),
                          datetime.fromisoformat("2026-11-23T09:00:00+00:00"))
    assert ref is not None and ref.offset_s == -3600
    assert clock_reference(bytes(10), datetime.fromisoformat("2026-11-23T09:00:00+00:00")) is None


def test_the_reader_fetches_stored_records_and_keeps_malformed_ones_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    meters: list[FakeMeter] = []

    async def factory(address: str, on_disconnect: Callable[[], None]) -> FakeMeter:
        assert address == "AA:BB:CC:DD:EE:FF"
        meters.append(FakeMeter(on_disconnect))
        return meters[-1]

    outbox = Outbox(tmp_path / "o.db", max_readings=100)
    stop = threading.Event()
    sink = OutboxSink(outbox=outbox, normaliser=Normaliser(), forwarder=None, stop=stop)
    reader = BleakReader({"AA:BB:CC:DD:EE:FF": "ann-meter"}, retry_s=0.05,
                         client_factory=factory)
    thread = threading.Thread(target=reader.run, args=(sink, stop))
    with caplog.at_level(logging.ERROR, logger="gateway"):
        thread.start()
        deadline = datetime.now().timestamp() + 10
        while len(meters) < 2 and datetime.now().timestamp() < deadline:
            threading.Event().wait(0.05)
        stop.set()
        thread.join(timeout=10)
    assert len(meters) >= 2
    # First connection: every stored record; then only those after the last sequence seen.
    assert meters[0].writes == [bytes([0x01, 0x01])]
    assert meters[1].writes == [bytes([0x01, 0x03, 0x01, 4, 0])]
    [batch] = outbox.take_due(now=0, resend_after_s=1, max_messages=10, max_per_message=100)
    first = [e for e in batch.entries][:3]
    assert [e["value"] for e in first] == [101.0, 102.0, 103.0]
    # The meter's clock is an hour fast: 09:00 on its clock was 08:00 UTC.
    assert first[0]["time"] == "2026-11-23T08:00:00Z"
    assert first[0]["status"] == ["clock_offset_s:-3600"]
    malformed = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert malformed and all("ann-meter" in m for m in malformed)
    outbox.close()


def test_the_rest_of_the_gateway_imports_without_bleak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bleak", None)  # as if the extra were not installed
    module = importlib.reload(importlib.import_module("gateway.readers.ble"))
    reader = load_reader("bleak", {"devices": "AA:BB:CC:DD:EE:FF=ann-meter"})
    assert reader.name == "bleak"
    # In a thread of its own: a session-wide Playwright keeps an event loop running in
    # the main thread once the browser tests have run.
    with ThreadPoolExecutor(1) as pool, pytest.raises(RuntimeError, match=r"hearth\[ble\]"):
        pool.submit(asyncio.run, module._bleak_client("AA:BB:CC:DD:EE:FF", lambda: None)).result()
