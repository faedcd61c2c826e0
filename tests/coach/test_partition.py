"""Several coach processes share one trend-check cycle: the run is split into patient
shards (a stable hash of the patient id), each claimed through the run-lease table so
it runs exactly once per cycle, and a dead process's shard is taken over once its
lease has passed."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from coach.evaluation import CoachEvaluator, shard_of
from coach.scheduler import CoachScheduler, JobSpec
from core.appdb.engine import create_schema, make_engine
from core.clock import FixedClock
from core.metrics import Metric
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.support.factories import reading, register

NOW = datetime(2026, 3, 10, 9, tzinfo=UTC)
SHARDS = 4


def trend_job(shards: int = SHARDS) -> JobSpec:
    from apscheduler.triggers.interval import IntervalTrigger

    return JobSpec("trend-checks", "trend_check",
                   IntervalTrigger(minutes=60, start_date=NOW, timezone=UTC), shards=shards)


def coach(url: str, clock: FixedClock, owner: str,
          handler: Callable[..., None]) -> CoachScheduler:
    scheduler = CoachScheduler(engine=make_engine(url), handlers={"trend_check": handler},
                               clock=clock, owner=owner, shard_lease=timedelta(minutes=2))
    scheduler.ensure([trend_job()], now=NOW)
    return scheduler


def test_the_shard_of_a_patient_is_stable_and_the_shards_cover_everyone_once() -> None:
    ids = [f"p{i:05d}" for i in range(2000)]
    parts = [[p for p in ids if shard_of(p, 8) == k] for k in range(8)]
    assert sorted(p for part in parts for p in part) == ids
    assert min(len(p) for p in parts) > 2000 / 8 * 0.8  # roughly even
    assert shard_of("p00042", 8) == 2  # CRC-32: the same in every process (not hash())


def test_two_coach_processes_share_a_run_and_each_shard_runs_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hearth.db'}"
    create_schema(make_engine(url))
    clock = FixedClock(NOW)
    calls: list[tuple[str, datetime, tuple[int, int]]] = []
    lock = threading.Lock()
    both_in = threading.Barrier(2, timeout=10)

    def handler_of(owner: str) -> Callable[..., None]:
        def handler(run_time: datetime, *_args: Any, shard: tuple[int, int]) -> None:
            with lock:
                calls.append((owner, run_time, shard))
                first = len(calls) <= 2
            if first:  # hold the first shard of each until both are working
                both_in.wait()
        return handler

    a = coach(url, clock, "coach-a", handler_of("coach-a"))
    b = coach(url, clock, "coach-b", handler_of("coach-b"))
    # a wins the run's lease and opens its shards; b, polling, finds them and joins in
    worker_a = threading.Thread(target=a.run_pending, kwargs={"wait_s": 20})
    worker_a.start()
    b.run_pending(wait_s=20)
    worker_a.join()
    assert sorted(s for _, _, s in calls) == [(k, SHARDS) for k in range(SHARDS)]
    assert {o for o, _, _ in calls} == {"coach-a", "coach-b"}
    assert {t for _, t, _ in calls} == {NOW}
    runs = {(j, s) for j, _, _, s in a.runs()}
    assert ("trend-checks", "done") in runs
    assert {s for j, s in runs if "#" in j} == {"done"}
    # nothing left to claim, by either
    assert a.claim_shard() is None and b.claim_shard() is None
    a.stop(), b.stop()


def test_a_dead_processs_shard_is_taken_over_after_its_lease(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hearth.db'}"
    create_schema(make_engine(url))
    clock = FixedClock(NOW)
    calls: list[tuple[str, tuple[int, int]]] = []
    a = coach(url, clock, "coach-a", lambda t, *args, shard: calls.append(("coach-a", shard)))
    b = coach(url, clock, "coach-b", lambda t, *args, shard: calls.append(("coach-b", shard)))
    # a wins the run and claims one shard, then dies before running it (never renews)
    assert a.open_run("trend-checks", NOW, SHARDS)
    claimed = a.claim_shard(NOW)
    assert claimed is not None
    # b runs every other shard; the dead one is still leased to a
    assert b.work_shards() == SHARDS - 1
    assert b.claim_shard(NOW + timedelta(minutes=1)) is None
    # once the lease has passed, b takes it over, and it runs once
    clock.set(NOW + timedelta(minutes=3))
    assert b.work_shards() == 1
    assert Counter(s for _, s in calls) == Counter((k, SHARDS) for k in range(SHARDS))
    assert {o for o, _ in calls} == {"coach-b"}
    assert ("trend-checks", "done") in {(j, s) for j, _, _, s in b.runs()}
    a.stop(), b.stop()


def test_a_sharded_cycle_decides_what_the_whole_cycle_decides(tmp_path: Path) -> None:
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'hearth.db'}")
    create_schema(engine)
    store = SqliteTimeSeriesStore(tmp_path / "timeseries.db")
    for i in range(12):  # scales silent for three days: one finding each
        pid = f"p{i:02d}"
        register(engine, pid, [(f"{pid}-scale", "scale")], timezone="UTC")
        store.write([reading(patient_id=pid, device_id=f"{pid}-scale", metric=Metric.WEIGHT,
                             value=80.0, unit="kg", source="device",
                             at=NOW - timedelta(days=3))])
    evaluator = CoachEvaluator(store=store, engine=engine)
    parts = [evaluator.scheduled(NOW, shard=(k, 3), chunk=2) for k in range(3)]
    assert sorted(m.patient_id for part in parts for m in part) == [f"p{i:02d}" for i in range(12)]
    for k, part in enumerate(parts):
        assert {shard_of(m.patient_id, 3) for m in part} <= {k}
    assert evaluator.scheduled(NOW + timedelta(hours=1)) == []  # all committed, once
    store.close()


def test_a_live_owner_renews_its_lease_and_keeps_its_shard(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hearth.db'}"
    create_schema(make_engine(url))
    clock = FixedClock(NOW)
    a = coach(url, clock, "coach-a", lambda t, *args, shard: None)
    b = coach(url, clock, "coach-b", lambda t, *args, shard: None)
    assert a.open_run("trend-checks", NOW, 1 + 1)
    assert a.claim_shard(NOW) is not None and b.claim_shard(NOW) is not None
    for minutes in (1, 2, 3):  # a's loop renews while it works; b's shard lapses
        assert a.renew_leases(NOW + timedelta(minutes=minutes)) == 1
    clock.set(NOW + timedelta(minutes=4))
    taken = a.claim_shard()  # b's lease (NOW + 2 min) has passed; a's (NOW + 5 min) has not
    assert taken is not None and taken[0] == "trend-checks#1/2"
    assert b.claim_shard() is None
    a.stop(), b.stop()
