"""Random bytes never crash a decoder: they decode, or raise the project's DecodeError."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ble.decoders import CHARACTERISTICS, decode
from gateway.ble.errors import DecodeError


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(sorted(CHARACTERISTICS)), st.binary(max_size=40))
def test_random_bytes_decode_or_raise_decode_error(characteristic: int, payload: bytes) -> None:
    try:
        decoded = decode(characteristic, payload)
    except DecodeError as exc:
        assert exc.reason
        return
    for observation in decoded.observations:
        if observation.value is None:
            assert observation.unavailable
        else:
            assert math.isfinite(observation.value)
    decoded.as_json()
