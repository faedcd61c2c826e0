"""Ingest asks the device registry for a batch's devices in bulk (issue 22), against the
real application database (SQLite): statements counted on the engine itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from core.appdb.directory import BULK_CHUNK, CachedRegistry, SqlDirectory
from core.appdb.models import Device
from core.contract import encode_message
from ingest.pipeline import Inbound, plan_batch
from tests.support.factories import app_database, register

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
DEVICES = 1_200  # three bulk look-ups of BULK_CHUNK


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _messages(devices: list[str]) -> list[Inbound]:
    return [Inbound(f"hearth/v1/up/{d}", encode_message(
        device_id=d, seq=1, base={"time": NOW - timedelta(hours=1)},
        readings=[{"metric": "glucose", "value": 110, "unit": "mg/dL", "source": "cgm"}]))
        for d in devices]


def _plan(messages: list[Inbound], registry: Any):
    return plan_batch(messages, registry=registry, now=NOW, max_payload_bytes=10_000,
                      future_tolerance=timedelta(minutes=5))


def test_a_batch_of_many_devices_costs_one_query_per_chunk_and_the_cache_then_none(
    tmp_path: Path,
) -> None:
    engine = app_database(tmp_path / "app.db")
    devices = [f"cgm-{n:04d}" for n in range(DEVICES)]
    for n in range(0, DEVICES, 100):  # 12 patients of 100 devices
        register(engine, f"pat-{n}", [(d, "cgm") for d in devices[n:n + 100]])
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: statements.append(statement))
    clock = Clock()
    registry = CachedRegistry(SqlDirectory(engine), ttl=30, monotonic=clock)
    messages = _messages([*devices, "stranger"])

    plan = _plan(messages, registry)
    assert len(plan.readings) == DEVICES
    assert {r.patient_id for r in plan.readings} == {f"pat-{n}" for n in range(0, DEVICES, 100)}
    assert plan.rejections == {"unknown_device": 1}
    assert len(statements) == -(-(DEVICES + 1) // BULK_CHUNK)  # 3, not 1,201

    statements.clear()
    clock.t = 29.0
    assert len(_plan(messages, registry).readings) == DEVICES
    assert statements == []  # all cached, the unknown device too

    # Past the ttl the batch's devices are asked again, in bulk: a revocation is seen.
    with Session(engine) as session:
        revoked = session.get(Device, devices[0])
        assert revoked is not None
        revoked.active = False
        session.commit()
    statements.clear()
    clock.t = 31.0
    plan = _plan(messages, registry)
    assert len(statements) == 3
    assert len(plan.readings) == DEVICES - 1
    assert plan.rejections == {"unknown_device": 2}


def test_bulk_and_single_look_ups_agree(tmp_path: Path) -> None:
    engine = app_database(tmp_path / "app.db")
    register(engine, "pat-1", [("cuff-1", "bp_cuff"), ("cgm-1", "cgm")])
    directory = SqlDirectory(engine)
    ids = ["cuff-1", "cgm-1", "nobody"]
    assert directory.bindings(ids) == {d: directory.binding(d) for d in ids}
    cached = CachedRegistry(directory)
    assert cached.bindings(ids) == {d: directory.binding(d) for d in ids}
    assert cached.binding("cgm-1") == directory.binding("cgm-1")
