"""The decoders' error: a payload that does not follow its characteristic's format."""

from __future__ import annotations

from core.errors import HearthError


class DecodeError(HearthError):
    """A Bluetooth payload cannot be decoded.

    The message says what was expected and what was found (lengths, flags),
    never a measured value, so it is safe to log with the device id.
    """

    def __init__(self, characteristic: str, reason: str) -> None:
        super().__init__(f"{characteristic}: {reason}")
        self.characteristic = characteristic
        self.reason = reason
