"""The project's error hierarchy; adapters translate library errors into these."""

from __future__ import annotations


class HearthError(Exception):
    """Base of every error Hearth raises on purpose."""


class ContractError(HearthError):
    """A message does not follow the wire contract.

    ``code`` is a short machine-readable category (safe to log); ``reason`` is
    a sentence a person can act on (it may quote the payload, so it goes to the
    dead-letter topic, never to the logs).
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class StoreError(HearthError):
    """A store rejected an operation."""


class StoreUnavailableError(StoreError):
    """A store cannot be reached right now; the operation may succeed later."""


class ConfigurationError(HearthError):
    """Settings are missing or inconsistent."""
