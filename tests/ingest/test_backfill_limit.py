"""Readings older than the device kind's longest plausible backfill are dead-lettered
with a reason (issue #16: a reading dated 1900 used to be stored). The limit:
core/contract.py (BACKFILL_LIMITS), docs/CONTRACT.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.appdb.directory import SqlDirectory
from core.contract import (
    BACKFILL_DEFAULT,
    BACKFILL_LIMITS,
    decode_message,
    decode_readings,
    encode_message,
    oldest_accepted,
)
from ingest.pipeline import Inbound, plan_batch
from tests.support.factories import app_database, register

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def message(device_id: str, *times: datetime) -> bytes:
    return encode_message(device_id=device_id, seq=7, readings=[
        {"metric": "glucose", "unit": "mg/dL", "source": "cgm", "value": 100 + i, "time": t}
        for i, t in enumerate(times)])


def test_an_ancient_reading_is_refused_and_its_neighbours_kept() -> None:
    oldest = oldest_accepted("cgm", NOW)
    payload = message("d1", NOW - timedelta(minutes=5), datetime(1900, 1, 1, tzinfo=UTC),
                      datetime(1970, 1, 1, tzinfo=UTC), oldest)
    decoded = decode_readings(payload, topic_device_id="d1", patient_id="p", now=NOW,
                              oldest=oldest)
    assert [r.measured_at for r in decoded.measurements] == [NOW - timedelta(minutes=5), oldest]
    assert [(r.code, r.index) for r in decoded.rejections] == [("too_old", 1), ("too_old", 2)]
    assert "1900-01-01" in decoded.rejections[0].reason
    assert "check the device clock" in decoded.rejections[0].reason
    # Without a limit (an import of a history file) the same message is all readings.
    assert len(decode_message(payload, topic_device_id="d1", now=NOW).measurements) == 4


def test_the_limit_depends_on_the_kind() -> None:
    assert oldest_accepted("cgm", NOW) == NOW - BACKFILL_DEFAULT
    assert oldest_accepted("glucose_meter", NOW) == NOW - BACKFILL_LIMITS["glucose_meter"]
    assert BACKFILL_LIMITS["glucose_meter"] > BACKFILL_DEFAULT >= timedelta(days=365)


def test_ingest_dead_letters_the_ancient_reading_with_its_reason(tmp_path: Path) -> None:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [("ann-cgm", "cgm"), ("ann-meter", "glucose_meter")])
    two_years = NOW - timedelta(days=730)
    plan = plan_batch(
        [Inbound("hearth/v1/up/ann-cgm", message("ann-cgm", datetime(1900, 1, 1, tzinfo=UTC),
                                                 NOW - timedelta(hours=1), two_years)),
         Inbound("hearth/v1/up/ann-meter", message("ann-meter", two_years))],
        registry=SqlDirectory(engine), now=NOW, max_payload_bytes=256 * 1024,
        future_tolerance=timedelta(minutes=5))
    assert sorted((r.device_id, r.measured_at) for r in plan.readings) == [
        ("ann-cgm", NOW - timedelta(hours=1)), ("ann-meter", two_years)]
    (letter,) = [json.loads(body) for _topic, body in plan.dead_letters]
    assert letter["device_id"] == "ann-cgm"
    assert [e["code"] for e in letter["errors"]] == ["too_old", "too_old"]
    assert "days old" in letter["reason"]
    assert plan.rejections["too_old"] == 2
