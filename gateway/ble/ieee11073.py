"""IEEE 11073-20601 medical floats as Bluetooth carries them: SFLOAT (16 bit) and FLOAT (32 bit).

SFLOAT is a 4-bit signed exponent over a 12-bit signed mantissa; FLOAT an
8-bit signed exponent over a 24-bit signed mantissa; value = mantissa * 10**exponent.
With exponent 0, five mantissas are reserved for special values (IEEE 11073-20601
§F.8 "Special values"; Bluetooth GATT Specification Supplement §2.2.2):

    special      SFLOAT mantissa   FLOAT mantissa
    NaN          0x07FF            0x7FFFFF
    NRes         0x0800            0x800000   (not at this resolution)
    +INFINITY    0x07FE            0x7FFFFE
    -INFINITY    0x0802            0x800002
    reserved     0x0801            0x800001

A special value is never a number in Hearth: decoding returns a ``SpecialValue``
and the caller records the reading as unavailable, with the reason.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Final


class SpecialValue(StrEnum):
    NAN = "nan"
    NRES = "nres"
    POSITIVE_INFINITY = "+inf"
    NEGATIVE_INFINITY = "-inf"
    RESERVED = "reserved"


_SFLOAT_SPECIALS: Final = {
    0x07FF: SpecialValue.NAN,
    0x0800: SpecialValue.NRES,
    0x07FE: SpecialValue.POSITIVE_INFINITY,
    0x0802: SpecialValue.NEGATIVE_INFINITY,
    0x0801: SpecialValue.RESERVED,
}
_FLOAT_SPECIALS: Final = {
    0x7FFFFF: SpecialValue.NAN,
    0x800000: SpecialValue.NRES,
    0x7FFFFE: SpecialValue.POSITIVE_INFINITY,
    0x800002: SpecialValue.NEGATIVE_INFINITY,
    0x800001: SpecialValue.RESERVED,
}
SFLOAT_CODES: Final = {v: k for k, v in _SFLOAT_SPECIALS.items()}
FLOAT_CODES: Final = {v: k for k, v in _FLOAT_SPECIALS.items()}

MedFloat = float | SpecialValue


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _scaled(mantissa: int, exponent: int) -> float:
    # Decimal keeps 138 * 10**-1 exactly 13.8 rather than 13.799999999999999.
    return float(Decimal(mantissa).scaleb(exponent))


def decode_sfloat(raw: int) -> MedFloat:
    """Decode a 16-bit SFLOAT given as an unsigned integer (little-endian already applied)."""
    if not 0 <= raw <= 0xFFFF:
        raise ValueError(f"SFLOAT must fit 16 bits, got {raw:#x}")
    mantissa_bits = raw & 0x0FFF
    exponent = _signed(raw >> 12, 4)
    if exponent == 0 and mantissa_bits in _SFLOAT_SPECIALS:
        return _SFLOAT_SPECIALS[mantissa_bits]
    return _scaled(_signed(mantissa_bits, 12), exponent)


def decode_float(raw: int) -> MedFloat:
    """Decode a 32-bit FLOAT given as an unsigned integer (little-endian already applied)."""
    if not 0 <= raw <= 0xFFFFFFFF:
        raise ValueError(f"FLOAT must fit 32 bits, got {raw:#x}")
    mantissa_bits = raw & 0xFFFFFF
    exponent = _signed(raw >> 24, 8)
    if exponent == 0 and mantissa_bits in _FLOAT_SPECIALS:
        return _FLOAT_SPECIALS[mantissa_bits]
    return _scaled(_signed(mantissa_bits, 24), exponent)


def encode_sfloat(value: float | SpecialValue, *, exponent: int = 0) -> int:
    """Encode with a chosen exponent (simulators and tests use this)."""
    if isinstance(value, SpecialValue):
        return SFLOAT_CODES[value]
    mantissa = int(round(Decimal(repr(value)).scaleb(-exponent)))
    if not -2048 < mantissa < 2046 or not -8 <= exponent <= 7:
        raise ValueError(f"{value} does not fit an SFLOAT with exponent {exponent}")
    return ((exponent & 0xF) << 12) | (mantissa & 0x0FFF)


def encode_float(value: float | SpecialValue, *, exponent: int = 0) -> int:
    if isinstance(value, SpecialValue):
        return FLOAT_CODES[value]
    mantissa = int(round(Decimal(repr(value)).scaleb(-exponent)))
    if not -(1 << 23) < mantissa < (1 << 23) - 2 or not -128 <= exponent <= 127:
        raise ValueError(f"{value} does not fit a FLOAT with exponent {exponent}")
    return ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)
