"""Trend arrows: the Dexcom G6 rate bands, and no arrow across a gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.arrows import direction, direction_for_rate, directions

T = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(("rate", "arrow"), [
    (3.01, "DoubleUp"), (3.0, "SingleUp"), (2.01, "SingleUp"), (2.0, "FortyFiveUp"),
    (1.01, "FortyFiveUp"), (1.0, "Flat"), (0.0, "Flat"), (-1.0, "Flat"), (-1.01, "FortyFiveDown"),
    (-2.0, "FortyFiveDown"), (-2.99, "SingleDown"), (-3.0, "SingleDown"), (-3.01, "DoubleDown"),
    (-10, "DoubleDown"),
])
def test_rate_bands(rate: float, arrow: str) -> None:
    assert direction_for_rate(rate) == arrow


def test_pairs_and_gaps() -> None:
    five = timedelta(minutes=5)
    assert direction((T, 100), (T + five, 90)) == "FortyFiveDown"  # -2/min
    assert direction(None, (T, 100)) == "NONE"
    assert direction((T, 100), (T + timedelta(minutes=16), 200)) == "NONE"  # over MAX_GAP
    assert direction((T, 100), (T, 120)) == "NONE"
    assert directions([(T, 100), (T + five, 100), (T + 2 * five, 112)]) == [
        "NONE", "Flat", "SingleUp"]
