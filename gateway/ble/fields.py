"""A bounds-checked little-endian reader for GATT payloads, and the shared field types."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from core.metrics import Metric
from gateway.ble.errors import DecodeError
from gateway.ble.ieee11073 import MedFloat, SpecialValue, decode_float, decode_sfloat
from gateway.ble.model import Observation


class Fields:
    """Reads a payload front to back; running past its end is a DecodeError, not an IndexError."""

    def __init__(self, characteristic: str, payload: bytes) -> None:
        self.characteristic = characteristic
        self._data = bytes(payload)
        self._pos = 0

    def _take(self, size: int, what: str) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise DecodeError(
                self.characteristic,
                f"payload is {len(self._data)} bytes; {what} needs bytes {self._pos}-{end - 1} "
                "(the flags announce more fields than were sent)",
            )
        chunk = self._data[self._pos:end]
        self._pos = end
        return chunk

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self._take(size, what), "little")

    def sint(self, size: int, what: str) -> int:
        return int.from_bytes(self._take(size, what), "little", signed=True)

    def sfloat(self, what: str) -> MedFloat:
        return decode_sfloat(self.uint(2, what))

    def float32(self, what: str) -> MedFloat:
        return decode_float(self.uint(4, what))

    def date_time(self, what: str = "time stamp") -> datetime | None:
        """The 7-byte Date Time; None when the device says year, month or day is unknown (0)."""
        year = self.uint(2, what)
        month, day, hour, minute, second = self._take(5, what)
        if year == 0 or month == 0 or day == 0:
            return None
        try:
            if not 1582 <= year <= 9999:
                raise ValueError(f"year {year} is outside 1582-9999")
            return datetime(year, month, day, hour, minute, second)
        except ValueError as exc:
            raise DecodeError(self.characteristic, f"invalid {what}: {exc}") from None

    def remaining(self) -> int:
        return len(self._data) - self._pos


def bits(value: int, names: dict[int, str]) -> tuple[str, ...]:
    """The names of the set bits, in bit order."""
    return tuple(name for bit, name in sorted(names.items()) if value & (1 << bit))


def observation(metric: Metric, value: MedFloat, unit: str, source: str) -> Observation:
    """An observation from a medical float: a special value becomes an unavailable reading."""
    if isinstance(value, SpecialValue):
        return Observation(metric, None, unit, unavailable=value.value, source=source)
    return Observation(metric, value, unit, source=source)


def rescale(value: MedFloat, power: int) -> MedFloat:
    """Multiply by 10**power exactly (kg/L to mg/dL is 10**5)."""
    if isinstance(value, SpecialValue):
        return value
    return float(Decimal(repr(value)).scaleb(power))


def time_state(present: int, value: datetime | None) -> str:
    """"absent" (no time stamp field), "unset" (the device's clock is not set) or "present"."""
    if not present:
        return "absent"
    return "present" if value is not None else "unset"
