"""The fault suite at CI size: 10,000 readings from 20 devices through real gateway,
Mosquitto, ingest and InfluxDB processes while ingest, the broker (cleanly and by
SIGKILL), InfluxDB (5 s) and a gateway are brought down. Every reading must be
stored exactly once. The full run is `make chaos` (bench/chaos.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.chaos import Plan, markdown, run_suite

pytestmark = pytest.mark.slow


def test_every_reading_is_stored_exactly_once_through_crashes_and_outages(tmp_path: Path) -> None:
    report = run_suite(Plan.quick(), tmp_path)
    sys.stdout.write(markdown(report) + "\n")  # shown with -s, and on failure

    injected = [e.kind for e in report.events]
    assert injected.count("ingest_kill") == 2
    assert {"broker_kill", "broker_restart", "influx_stop", "gateway_kill"} <= set(injected)
    assert not report.timed_out, "the outboxes never emptied"
    assert report.hearth.expected == 10_000
    assert report.hearth.lost == 0
    assert report.hearth.duplicated == 0
    assert report.hearth.stored_rows == 10_000
    assert report.hearth.devices_with_wrong_checksum == 0
    # the faults landed mid-stream: readings were still being taken after the last one
    faults = {"ingest_kill", "gateway_kill", "broker_kill", "broker_restart", "influx_stop"}
    last_fault = max(e.at_s for e in report.events if e.kind in faults)
    assert report.stream_s > last_fault
