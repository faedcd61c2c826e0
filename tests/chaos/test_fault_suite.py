"""The fault suite at CI size (`python -m bench.chaos --quick`): every entry path (2 home
gateways with 8 devices, 3 patients' devices publishing MQTT themselves, 2 Nightscout
uploaders through the dashboard process) on the shipped broker (deploy/mosquitto: its ACL,
two listeners and limits), real ingest ×2, the dead-letter keeper and InfluxDB, while
ingest, a gateway, the dashboard, the broker (cleanly and by SIGKILL) and InfluxDB
(SIGTERM and SIGKILL) go down and a hostile device with its own valid login attacks
(client-id takeover while ingest is down, oversized messages, a flood, malformed
payloads, spoofing another patient's topic and acknowledgements). Every honest reading
must be stored exactly once, under its patient, and nothing else; the exit status says
so. The full run is `make chaos` (bench/chaos.py, figures in docs/RELIABILITY.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.chaos import HOSTILE, Plan, run_suite
from bench.chaos_check import PathTally, markdown

pytestmark = pytest.mark.slow


def test_every_honest_reading_is_stored_once_through_crashes_and_a_hostile_device(
        tmp_path: Path) -> None:
    plan = Plan.quick()
    report = run_suite(plan, tmp_path)
    sys.stdout.write(markdown(report) + "\n")  # shown with -s, and on failure

    injected = [e.kind for e in report.events]
    for kind in ("ingest_kill", "gateway_kill", "dashboard_kill", "broker_restart",
                 "broker_kill", "influx_stop", "influx_kill", "hostile_takeover", *HOSTILE):
        assert kind in injected, kind
        if kind.startswith("hostile_"):
            assert f"{kind}_done" in injected, f"{kind} failed: {report.events}"
    assert not report.timed_out, "not every source's readings were confirmed"
    assert report.failing_devices == [] and report.exit_status == 0

    paths: dict[str, PathTally] = report.paths
    assert paths["gateway"].sent == plan.readings
    # Each patient's CGM at least (the cuff and the pedometer may have no reading in the
    # simulated hours, depending on the time of day).
    assert paths["direct"].devices >= plan.direct and paths["direct"].sent > 100
    assert paths["nightscout"].devices == plan.uploaders and paths["nightscout"].sent > 50
    for name in ("gateway", "direct", "nightscout"):
        t = paths[name]
        assert (t.lost, t.not_sent, t.duplicated, t.wrong_patient, t.devices_wrong) == (
            0, 0, 0, 0, 0), name
        assert t.stored_rows == t.sent, name
    mallory = paths["hostile (its own readings)"]
    assert mallory.not_sent == 0 and mallory.wrong_patient == 0
    assert "other devices" not in paths

    attacks = report.hostile["attacks"]
    takeover = attacks["takeover"]
    assert takeover["refused"] == takeover["attempts"] - takeover["accepted"]
    assert not any("ACCEPTED" in note for note in takeover["notes"])
    assert "0 messages of others received" in takeover["notes"][-1]
    assert attacks["spoof"]["accepted"] == 0  # MQTT 5: refused with "not authorised"
    assert attacks["oversized"]["disconnected"] == plan.oversized_count
    assert attacks["flood"]["accepted"] > 0
    kept = report.hostile["dead_letters_kept"]
    codes = ("too_large", "not_json", "device_mismatch", "too_old", "out_of_range",
             "schema_version")
    missing = [code for code in codes if f"mallory-cgm: {code}" not in kept]
    # Ingest acknowledges a malformed message once the broker has its dead letter; the
    # keeper may not have taken the letter yet, and a broker SIGKILL loses what Mosquitto
    # had not saved (autosave_interval, docs/RELIABILITY.md). Only when a broker kill came
    # after the malformed messages may one of their letters be missing from the keeper.
    sent_at = next(e.at_s for e in report.events if e.kind == "hostile_malformed_done")
    killed_after = any(e.kind == "broker_kill" and e.at_s >= sent_at for e in report.events)
    assert len(missing) < len(codes) and (not missing or killed_after), (missing, kept)
    # The broker closes an oversized sender before it reads the message: no process grows
    # by the messages' size (issue 16 found ingest at 1,010 MB and the broker at 1,061 MB
    # after ten 50 MB messages; ingest runs at about 120 MB, the broker at about 10 MB).
    peak = report.memory["rss_mb_peak"]
    assert peak["mosquitto"] < 100, report.memory
    assert max(peak["hearth-ingest-1"], peak["hearth-ingest-2"]) < 300, report.memory
