"""The Bluetooth reader, on bleak (optional extra: ``pip install 'hearth[ble]'``).

For each configured device (address -> Hearth device id) it connects, reads
the device's Current Time (0x2A2B) when offered so that the gateway can
correct the device's clock, subscribes to every health measurement
characteristic the device has (indications or notifications; bleak confirms
indications), and, for a glucose meter, asks the Record Access Control Point
(0x2A52) to "report stored records" - all of them on the first connection,
then those after the last sequence number seen. Payloads are handed to the
sink as they come; the sink decodes them (a malformed one is logged with the
device id and dropped, never published) and writes them to the outbox.

bleak is imported only when the reader runs, so the rest of Hearth installs
and runs without Bluetooth.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from gateway.ble.decoders import CHARACTERISTICS
from gateway.ble.glucose import CONTEXT as GLUCOSE_CONTEXT
from gateway.ble.glucose import MEASUREMENT as GLUCOSE_MEASUREMENT
from gateway.readers import Sample, SampleSink
from gateway.timing import ClockReference

log = logging.getLogger(__name__)

CURRENT_TIME = 0x2A2B
RACP = 0x2A52
RACP_REPORT_RECORDS = 0x01
RACP_RESPONSE = 0x06
RACP_ALL = 0x01
RACP_GREATER_OR_EQUAL = 0x03
RACP_FILTER_SEQUENCE = 0x01


def uuid(uuid16: int) -> str:
    return f"0000{uuid16:04x}-0000-1000-8000-00805f9b34fb"


def racp_request(after_sequence: int | None) -> bytes:
    """Report stored records: all, or those with a sequence number >= ``after_sequence`` + 1."""
    if after_sequence is None:
        return bytes([RACP_REPORT_RECORDS, RACP_ALL])
    return struct.pack("<BBBH", RACP_REPORT_RECORDS, RACP_GREATER_OR_EQUAL, RACP_FILTER_SEQUENCE,
                       (after_sequence + 1) & 0xFFFF)


def clock_reference(current_time: bytes, gateway_utc: datetime) -> ClockReference | None:
    """From a Current Time value (Exact Time 256: Date Time first); None if unset or invalid."""
    if len(current_time) < 7:
        return None
    year, month, day, hour, minute, second = struct.unpack_from("<HBBBBB", current_time)
    try:
        wall = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return ClockReference(device_wall=wall, gateway_utc=gateway_utc)


class BleClient(Protocol):
    """The part of ``bleak.BleakClient`` the reader uses (a fake implements it in tests)."""

    async def connect(self) -> Any: ...
    async def disconnect(self) -> Any: ...
    @property
    def is_connected(self) -> bool: ...
    def has_characteristic(self, uuid16: int) -> bool: ...
    async def read_gatt_char(self, char: str) -> bytearray: ...
    async def write_gatt_char(self, char: str, data: bytes, response: bool) -> None: ...
    async def start_notify(self, char: str, callback: Callable[[Any, bytearray], None]) -> None: ...


ClientFactory = Callable[[str, Callable[[], None]], Awaitable[BleClient]]


@dataclass
class _DeviceState:
    address: str
    device_id: str
    last_sequence: int | None = None
    records_done: asyncio.Event = field(default_factory=asyncio.Event)


class BleakReader:
    name = "bleak"

    def __init__(self, devices: dict[str, str], *, retry_s: float = 30.0,
                 session_s: float = 120.0, client_factory: ClientFactory | None = None) -> None:
        if not devices:
            raise ValueError("the bleak reader needs devices=ADDRESS=device-id;...")
        self.devices = devices
        self.retry_s = retry_s
        self.session_s = session_s  # longest a connection is held before reconnecting
        self._factory = client_factory or _bleak_client

    def run(self, sink: SampleSink, stop: threading.Event) -> None:
        asyncio.run(self._main(sink, stop))

    async def _main(self, sink: SampleSink, stop: threading.Event) -> None:
        queue: asyncio.Queue[Sample] = asyncio.Queue()
        states = [_DeviceState(a, d) for a, d in self.devices.items()]
        tasks = [asyncio.create_task(self._device_loop(s, queue, stop)) for s in states]
        tasks.append(asyncio.create_task(_drain(queue, sink, stop)))
        while not stop.is_set() and not all(t.done() for t in tasks[:-1]):
            await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        batch = _take_all(queue)
        if batch:
            sink.submit(batch)

    async def _device_loop(self, state: _DeviceState, queue: asyncio.Queue[Sample],
                           stop: threading.Event) -> None:
        failing = False
        while not stop.is_set():
            try:
                await self.session(state, queue, stop)
                if failing:
                    log.info("device %s reachable again", state.device_id)
                failing = False
            except Exception as exc:  # bleak raises several kinds; log once per outage
                if not failing:
                    log.warning("device %s unreachable (%s); retrying every %.0f s",
                                state.device_id, type(exc).__name__, self.retry_s)
                failing = True
            await _wait(stop, self.retry_s)

    async def session(self, state: _DeviceState, queue: asyncio.Queue[Sample],
                      stop: threading.Event) -> None:
        """One connection: clock, subscriptions, stored records; until the device leaves."""
        gone = asyncio.Event()
        loop = asyncio.get_running_loop()
        def on_disconnect() -> None:
            loop.call_soon_threadsafe(gone.set)

        client = await self._factory(state.address, on_disconnect)
        await client.connect()
        try:
            reference = None
            if client.has_characteristic(CURRENT_TIME):
                asked_at = datetime.now(UTC)  # before the device samples its clock
                raw = await client.read_gatt_char(uuid(CURRENT_TIME))
                reference = clock_reference(bytes(raw), asked_at)
            for uuid16 in CHARACTERISTICS:
                if client.has_characteristic(uuid16):
                    await client.start_notify(
                        uuid(uuid16), self._on_value(state, uuid16, reference, queue))
            if client.has_characteristic(GLUCOSE_MEASUREMENT) and client.has_characteristic(RACP):
                state.records_done.clear()
                await client.start_notify(uuid(RACP), self._on_racp(state))
                await client.write_gatt_char(uuid(RACP), racp_request(state.last_sequence),
                                             response=True)
            waiter = asyncio.ensure_future(gone.wait())
            stopper = asyncio.ensure_future(_wait(stop, self.session_s))
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
        finally:
            if client.is_connected:
                await client.disconnect()

    def _on_value(self, state: _DeviceState, uuid16: int, reference: ClockReference | None,
                  queue: asyncio.Queue[Sample]) -> Callable[[Any, bytearray], None]:
        def callback(_char: Any, data: bytearray) -> None:
            payload = bytes(data)
            if uuid16 in (GLUCOSE_MEASUREMENT, GLUCOSE_CONTEXT) and len(payload) >= 3:
                sequence = int.from_bytes(payload[1:3], "little")
                if state.last_sequence is None or sequence > state.last_sequence:
                    state.last_sequence = sequence
            queue.put_nowait(Sample(state.device_id, uuid16, payload, datetime.now(UTC),
                                    reference))
        return callback

    def _on_racp(self, state: _DeviceState) -> Callable[[Any, bytearray], None]:
        def callback(_char: Any, data: bytearray) -> None:
            if len(data) >= 4 and data[0] == RACP_RESPONSE:
                code = data[3]
                if code not in (0x01, 0x06):  # success; no records found
                    log.warning("device %s: record access control point answered %d",
                                state.device_id, code)
                state.records_done.set()
        return callback


async def _drain(queue: asyncio.Queue[Sample], sink: SampleSink, stop: threading.Event) -> None:
    """Hand samples to the sink in batches, in a worker thread (submit blocks when full)."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        first = await queue.get()
        batch = [first, *_take_all(queue)]
        if not await loop.run_in_executor(None, sink.submit, batch):
            return


def _take_all(queue: asyncio.Queue[Sample]) -> list[Sample]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def _wait(stop: threading.Event, seconds: float) -> None:
    end = asyncio.get_running_loop().time() + seconds
    while not stop.is_set() and asyncio.get_running_loop().time() < end:
        await asyncio.sleep(min(0.2, seconds))


class _BleakAdapter:
    """``bleak.BleakClient`` behind the small ``BleClient`` interface."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def connect(self) -> Any:
        return await self._client.connect()

    async def disconnect(self) -> Any:
        return await self._client.disconnect()

    @property
    def is_connected(self) -> bool:
        return bool(self._client.is_connected)

    def has_characteristic(self, uuid16: int) -> bool:
        return self._client.services.get_characteristic(uuid(uuid16)) is not None

    async def read_gatt_char(self, char: str) -> bytearray:
        return bytearray(await self._client.read_gatt_char(char))

    async def write_gatt_char(self, char: str, data: bytes, response: bool) -> None:
        await self._client.write_gatt_char(char, data, response=response)

    async def start_notify(self, char: str, callback: Callable[[Any, bytearray], None]) -> None:
        await self._client.start_notify(char, callback)


async def _bleak_client(address: str, on_disconnect: Callable[[], None]) -> BleClient:
    try:
        from bleak import BleakClient
    except ImportError:  # pragma: no cover - depends on the installation
        raise RuntimeError("the bleak reader needs the 'ble' extra: pip install 'hearth[ble]'") \
            from None
    return _BleakAdapter(BleakClient(address, disconnected_callback=lambda _c: on_disconnect()))


def from_options(options: dict[str, str]) -> BleakReader:
    """``devices=AA:BB:CC:DD:EE:FF=ann-cuff;11:22:33:44:55:66=ann-meter``, ``retry_s``."""
    devices: dict[str, str] = {}
    for pair in options.get("devices", "").split(";"):
        if "=" in pair:
            address, device_id = pair.rsplit("=", 1)
            devices[address.strip()] = device_id.strip()
    return BleakReader(devices, retry_s=float(options.get("retry_s", 30)),
                       session_s=float(options.get("session_s", 120)))
