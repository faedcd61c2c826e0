"""IEEE 11073-20601 SFLOAT/FLOAT, including every special value (§F.8)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.ble.ieee11073 import (
    SpecialValue,
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0x07FF, SpecialValue.NAN),
        (0x0800, SpecialValue.NRES),
        (0x07FE, SpecialValue.POSITIVE_INFINITY),
        (0x0802, SpecialValue.NEGATIVE_INFINITY),
        (0x0801, SpecialValue.RESERVED),
        (0x0072, 114.0),
        (0xF3AC, 94.0),  # exponent -1, mantissa 940 (SpeziBluetooth PLXTests)
        (0xF0BD, 18.9),  # exponent -1, mantissa 189 (Nordic BPM test)
        (0xB05A, 0.0009),  # 90 x 10^-5 (a glucose meter's kg/L)
        (0x0FFF, -1.0),  # mantissa is signed 12-bit
        (0x1001, 10.0),
    ],
)
def test_sfloat(raw: int, expected: float | SpecialValue) -> None:
    assert decode_sfloat(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0x007FFFFF, SpecialValue.NAN),
        (0x00800000, SpecialValue.NRES),
        (0x007FFFFE, SpecialValue.POSITIVE_INFINITY),
        (0x00800002, SpecialValue.NEGATIVE_INFINITY),
        (0x00800001, SpecialValue.RESERVED),
        (0xFE000EB0, 37.6),  # Nordic TemperatureMeasurementDataCallbackTest
        (0xFF00016C, 36.4),
        (0x00FFFFFF, -1.0),
    ],
)
def test_float(raw: int, expected: float | SpecialValue) -> None:
    assert decode_float(raw) == expected


@given(st.integers(-2045, 2045), st.integers(-8, 7))
def test_sfloat_round_trip(mantissa: int, exponent: int) -> None:
    value = decode_sfloat(((exponent & 0xF) << 12) | (mantissa & 0xFFF))
    if isinstance(value, SpecialValue):
        return
    assert decode_sfloat(encode_sfloat(value, exponent=exponent)) == value


@given(st.integers(0, 0xFFFF))
def test_every_sfloat_is_a_finite_number_or_special(raw: int) -> None:
    value = decode_sfloat(raw)
    assert isinstance(value, SpecialValue) or value == value and abs(value) < float("inf")


@given(st.integers(0, 0xFFFFFFFF))
def test_every_float_is_a_finite_number_or_special(raw: int) -> None:
    value = decode_float(raw)
    assert isinstance(value, SpecialValue) or value == value and abs(value) < float("inf")


def test_specials_encode() -> None:
    assert encode_sfloat(SpecialValue.NAN) == 0x07FF
    assert encode_float(SpecialValue.NEGATIVE_INFINITY) == 0x00800002
