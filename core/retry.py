"""Capped exponential backoff with full jitter (as influxdb-client's write retries)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(slots=True)
class Backoff:
    initial: float = 0.1
    cap: float = 10.0
    multiplier: float = 2.0
    attempt: int = 0

    def next_delay(self, rng: random.Random | None = None) -> float:
        """The next wait in seconds: uniform in [0, min(cap, initial * multiplier**n)]."""
        ceiling = min(self.cap, self.initial * self.multiplier**self.attempt)
        self.attempt += 1
        return (rng or random).uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
