"""Capped exponential backoff with "equal jitter": each wait is drawn uniformly from the
upper half of its ceiling, [c/2, c] with c = min(cap, initial * multiplier**attempt).

Half the ceiling is always waited, so a retry never comes at once after a failure (full
jitter, [0, c], can draw a wait of nearly nothing and hammer a store that just went
away), and the other half is random, so that many clients retrying do not come back in
step.
"""

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
        """The next wait in seconds: uniform in [c/2, c], c = min(cap, initial * multiplier**n)
        for the n-th call since the last reset."""
        ceiling = min(self.cap, self.initial * self.multiplier**self.attempt)
        self.attempt += 1
        return (rng or random).uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
