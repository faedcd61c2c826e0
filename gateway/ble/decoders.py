"""The decoder for each supported characteristic, by its 16-bit UUID."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.ble import blood_pressure, glucose, heart_rate, plx, temperature, weight
from gateway.ble.errors import DecodeError
from gateway.ble.model import Decoded


@dataclass(frozen=True, slots=True)
class Characteristic:
    uuid16: int
    name: str
    decode: Callable[[bytes], Decoded]
    indicate: bool  # indications (acknowledged) rather than notifications

    @property
    def uuid(self) -> str:
        return f"0000{self.uuid16:04x}-0000-1000-8000-00805f9b34fb"


_ALL = (
    Characteristic(glucose.MEASUREMENT, glucose.NAME, glucose.decode_measurement, False),
    Characteristic(glucose.CONTEXT, glucose.CONTEXT_NAME, glucose.decode_context, False),
    Characteristic(blood_pressure.MEASUREMENT, blood_pressure.NAME, blood_pressure.decode, True),
    Characteristic(weight.MEASUREMENT, weight.NAME, weight.decode, True),
    Characteristic(plx.SPOT_CHECK, plx.SPOT_NAME, plx.decode_spot_check, True),
    Characteristic(plx.CONTINUOUS, plx.CONTINUOUS_NAME, plx.decode_continuous, False),
    Characteristic(heart_rate.MEASUREMENT, heart_rate.NAME, heart_rate.decode, False),
    Characteristic(temperature.MEASUREMENT, temperature.NAME, temperature.decode, True),
)

CHARACTERISTICS: Mapping[int, Characteristic] = MappingProxyType({c.uuid16: c for c in _ALL})


def parse_uuid(text: str) -> int:
    """``0x2A35``, ``2a35`` or the full 128-bit Bluetooth base UUID."""
    cleaned = text.strip().lower()
    if cleaned.endswith("-0000-1000-8000-00805f9b34fb") and len(cleaned) == 36:
        cleaned = cleaned[4:8]
    cleaned = cleaned.removeprefix("0x")
    try:
        value = int(cleaned, 16)
    except ValueError:
        raise DecodeError(text, "not a characteristic UUID (expected e.g. 0x2A35)") from None
    if value not in CHARACTERISTICS:
        known = ", ".join(f"0x{c:04X} {CHARACTERISTICS[c].name}" for c in CHARACTERISTICS)
        raise DecodeError(f"0x{value:04X}", f"no decoder for this characteristic (known: {known})")
    return value


def decode(characteristic: int, payload: bytes) -> Decoded:
    """Decode one payload; a malformed one raises DecodeError (never another exception)."""
    spec = CHARACTERISTICS.get(characteristic)
    if spec is None:
        raise DecodeError(f"0x{characteristic:04X}", "no decoder for this characteristic")
    if not payload:
        raise DecodeError(spec.name, "payload is empty")
    return spec.decode(bytes(payload))
