"""Load and soak at CI size: 100 patients at 60x real time for 45 s through real Mosquitto,
ingest, InfluxDB, coach and gateway processes, then 50 gateways reconnecting at once.
No reading lost, every urgent low answered on the home display, and no process's
memory still climbing in the second half. The full run is `make soak` (bench/soak.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.soak import SoakPlan, markdown, run_soak

pytestmark = pytest.mark.slow


def test_a_small_soak_loses_nothing_and_its_memory_stays_flat(tmp_path: Path) -> None:
    plan = SoakPlan.quick()
    plan.minutes = 0.75
    report = run_soak(plan, tmp_path)
    sys.stdout.write(markdown(report) + "\n")  # shown with -s, and on failure

    assert report.published > 800  # 100 patients, a reading every 5 s, 45 s
    assert report.gateway_readings > 0
    assert report.lost == 0 and report.extra == 0
    assert report.stored == report.published + report.gateway_readings
    assert report.sys_peak["publish/messages/dropped"] == 0
    assert report.alerts_sent >= 10
    assert report.alerts_received == report.alerts_sent
    for name in ("hearth-ingest-1", "hearth-ingest-2", "hearth-coach", "gw-0"):
        rss = report.rss_mb[name]
        # bounded: over the second half it grows by less than 2% of its size a minute
        assert rss["second_half_slope_mb_per_min"] < 0.02 * rss["end"], (name, rss)
    assert report.burst["not_stored"] == 0
    assert report.burst["stored"] == 50 * 60
    assert report.burst["all_confirmed_s"] is not None
