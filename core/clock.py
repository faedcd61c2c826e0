"""Time is injected, never read directly by logic that tests need to control."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock for tests: it moves only when told."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


def aware(when: datetime) -> datetime:
    """A stored time as timezone-aware UTC: SQLite gives back naive datetimes, and every
    time Hearth stores is UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)
