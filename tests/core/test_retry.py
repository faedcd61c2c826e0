"""core/retry.py: the waits are where its docstring says, [c/2, c]."""

import random

from core.retry import Backoff


def test_each_wait_is_in_the_upper_half_of_its_capped_ceiling() -> None:
    rng = random.Random(19)
    for _ in range(200):
        backoff = Backoff(initial=0.1, cap=10.0, multiplier=2.0)
        for n in range(12):
            ceiling = min(10.0, 0.1 * 2.0**n)
            assert ceiling / 2 <= backoff.next_delay(rng) <= ceiling


def test_the_draws_reach_both_ends_of_the_range_and_reset_starts_again() -> None:
    rng = random.Random(7)
    waits = []
    for _ in range(2000):
        backoff = Backoff(initial=1.0, cap=4.0)
        waits.append(backoff.next_delay(rng))
    assert min(waits) < 0.51 and max(waits) > 0.99  # [0.5, 1.0], not [0, 1.0]
    backoff = Backoff(initial=1.0, cap=4.0)
    for _ in range(5):
        backoff.next_delay(rng)
    assert 2.0 <= backoff.next_delay(rng) <= 4.0  # capped
    backoff.reset()
    assert 0.5 <= backoff.next_delay(rng) <= 1.0
