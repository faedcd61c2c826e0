"""`hearth decode`: a payload in, its readings out as JSON; a malformed one gets a clear error."""

from __future__ import annotations

import json

from click.testing import CliRunner

from hearth.cli import main

# Blood Pressure Measurement, flags 0x1E: mmHg, time stamp, pulse, user id, status.
# 138/82 mmHg (MAP 101), 2026-11-23 08:15:30, pulse 72, user 1, body movement.
BP = "1E8A0052006500EA070B17080F1E480001 0100".replace(" ", "")


def test_decode_prints_the_readings_as_json() -> None:
    result = CliRunner().invoke(main, ["decode", "--characteristic", "0x2A35", "--hex", BP])
    assert result.exit_code == 0, result.output
    decoded = json.loads(result.output)
    assert decoded["name"] == "Blood Pressure Measurement"
    assert [(r["metric"], r["value"], r["unit"]) for r in decoded["readings"]] == [
        ("systolic", 138.0, "mm[Hg]"), ("diastolic", 82.0, "mm[Hg]"), ("pulse", 72.0, "/min")]
    assert decoded["device_time"] == "2026-11-23T08:15:30"
    assert decoded["status"] == ["body_movement"]


def test_decode_accepts_the_full_uuid_and_spaced_hex() -> None:
    result = CliRunner().invoke(main, ["decode", "-c", "00002a9d-0000-1000-8000-00805f9b34fb",
                                       "--hex", "00 70 3F"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["readings"][0]["value"] == 81.2


def test_a_truncated_payload_is_a_clear_error_with_a_failing_exit_code() -> None:
    result = CliRunner().invoke(main, ["decode", "--characteristic", "0x2A35", "--hex", "1E8A00"])
    assert result.exit_code != 0
    assert "cannot decode this payload" in result.output
    assert "Blood Pressure Measurement" in result.output
    assert "flags announce more fields" in result.output


def test_bad_hex_and_unknown_characteristics_are_refused() -> None:
    runner = CliRunner()
    bad_hex = runner.invoke(main, ["decode", "-c", "0x2A35", "--hex", "zz"])
    assert bad_hex.exit_code != 0 and "not hexadecimal" in bad_hex.output
    unknown = runner.invoke(main, ["decode", "-c", "0x2A00", "--hex", "00"])
    assert unknown.exit_code != 0 and "no decoder for this characteristic" in unknown.output
