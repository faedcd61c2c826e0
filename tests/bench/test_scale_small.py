"""The scale simulation at CI size (bench/scale.py): correctness only, never timing.

Real Mosquitto, three real `hearth ingest` processes on one shared subscription, the
embedded SQLite store shared by all three, two harness publisher processes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.scale import Plan, simulate

pytestmark = pytest.mark.slow


def test_every_reading_is_stored_once_and_the_work_is_split(tmp_path: Path) -> None:
    plan = Plan(patients=200, accel=300.0, minutes=0.15, ingest=3, coach=0, publishers=2,
                store="sqlite")
    figures = simulate(plan, tmp_path)

    assert figures["published"] > 1000
    assert figures["devices"] == 200
    # every device's stored count is what was published for it
    assert (figures["lost"], figures["extra"]) == (0, 0)
    assert figures["stored"] == figures["published"]
    # the broker handed each message to exactly one of the three (first deliveries add up)
    assert figures["deliveries_to_ingest"] == figures["published"]
    shares = {i["process"]: i["readings"] for i in figures["ingest"]}
    assert set(shares) == {"scale-ingest-1", "scale-ingest-2", "scale-ingest-3"}
    assert all(n >= figures["published"] // 10 for n in shares.values()), shares
