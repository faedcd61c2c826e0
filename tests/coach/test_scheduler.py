"""The scheduled path: jobs persist in the application database, run once each.

Time is a FixedClock walked through simulated days; nothing sleeps. "Two coach
processes" are two real OS processes on one database file (and on PostgreSQL),
stepping through the same instants in lock-step so that they race for every run.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from coach.scheduler import CoachScheduler, coach_jobs
from coach.settings import CoachSettings
from core.appdb.engine import create_schema, make_engine
from core.clock import FixedClock

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
ZONES = ("Europe/London", "America/New_York")
KINDS = ("trend_check", "digest", "peer_prompts", "self_assessment_reminders",
         "escalation_tick", "engagement", "service_standards")
SETTINGS = CoachSettings(escalation_tick_s=900, trend_check_minutes=60)


def recording(calls: list[tuple[str, datetime, tuple[Any, ...]]]) -> dict[str, Callable[..., None]]:
    def handler(kind: str) -> Callable[..., None]:
        return lambda run_time, *args: calls.append((kind, run_time, args))

    return {kind: handler(kind) for kind in KINDS}


def walk(scheduler: CoachScheduler, clock: FixedClock, until: datetime,
         step: timedelta = timedelta(hours=1)) -> None:
    while clock.now() < until:
        clock.set(clock.now() + step)
        scheduler.run_pending(wait_s=10)


def start(engine: Engine, clock: FixedClock, calls: list[Any], owner: str) -> CoachScheduler:
    scheduler = CoachScheduler(engine=engine, handlers=recording(calls), clock=clock, owner=owner)
    scheduler.ensure(coach_jobs(SETTINGS, ZONES, clock.now()), now=clock.now())
    return scheduler


def local_days(calls: list[Any], zone: str) -> list[tuple[int, int, int]]:
    return [
        (t.astimezone(ZoneInfo(zone)).day, t.astimezone(ZoneInfo(zone)).hour,
         t.astimezone(ZoneInfo(zone)).minute)
        for kind, t, args in calls if kind == "digest" and args == (zone,)
    ]


def test_restarting_mid_week_neither_loses_nor_repeats_jobs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hearth.db'}"
    calls: list[tuple[str, datetime, tuple[Any, ...]]] = []
    clock = FixedClock(MONDAY)
    engine = make_engine(url)
    create_schema(engine)
    first = start(engine, clock, calls, "coach-a")
    walk(first, clock, MONDAY + timedelta(days=2, hours=12))  # Wednesday noon UTC
    first.stop()
    engine.dispose()
    before = len(calls)

    # Down until Thursday 09:30 UTC: London's Thursday digest (08:00) fell due meanwhile.
    clock.set(MONDAY + timedelta(days=3, hours=9, minutes=30))
    engine = make_engine(url)
    create_schema(engine)  # a restarted process migrates (a no-op) and re-declares its jobs
    second = start(engine, clock, calls, "coach-b")
    london = next(j for j in second.jobs() if j.id == "digest:Europe/London")
    assert london.next_run_time == datetime(2026, 3, 5, 8, tzinfo=ZoneInfo("Europe/London")), \
        "re-declaring the jobs on restart must keep the run that fell due while down"
    made_up = second.run_pending(wait_s=10)
    assert ("digest:Europe/London", datetime(2026, 3, 5, 8, tzinfo=UTC)) in [
        (j, t.astimezone(UTC)) for j, t in made_up]
    walk(second, clock, MONDAY + timedelta(days=7))
    runs = second.runs()
    # Old leases can be forgotten without anything running again.
    assert second.prune_runs(MONDAY + timedelta(days=3)) > 0
    assert second.run_pending(clock.now(), wait_s=10) == []
    second.stop()

    # Nothing ran twice: not across the restart, not within a process.
    assert max(Counter((kind, t, args) for kind, t, args in calls).values()) == 1
    assert len(calls) > before
    # Every morning digest of the week, at 08:00 local, exactly once, in both zones.
    for zone in ZONES:
        assert local_days(calls, zone) == [(d, 8, 0) for d in range(2, 9)], zone
    # The weekly peer-group prompt once (Monday 10:00 UTC); no monthly reminder this week.
    assert [t for k, t, _ in calls if k == "peer_prompts"] == [MONDAY + timedelta(hours=10)]
    assert not [t for k, t, _ in calls if k == "self_assessment_reminders"]
    # The daily engagement evaluation at 03:30 UTC, every day once (Thursday's made up).
    assert [t for k, t, _ in calls if k == "engagement"] == [
        MONDAY + timedelta(days=d, hours=3, minutes=30) for d in range(7)]
    # Hourly trend checks: the hours the coach was down are made up by one run.
    trend = [t for k, t, _ in calls if k == "trend_check"]
    assert trend == sorted(set(trend))
    gaps = [b - a for a, b in zip(trend, trend[1:], strict=False) if b - a != timedelta(hours=1)]
    assert gaps == [timedelta(hours=21)]  # Wed 12:00 (last before) -> Thu 09:00 (made up)
    # The lease table is the record: each run by one owner, all finished.
    assert {o for _, _, o, _ in runs} == {"coach-a", "coach-b"}
    assert {s for _, _, _, s in runs} == {"done"}
    assert len(runs) == len(calls)


def test_a_changed_schedule_replaces_the_job_and_a_gone_time_zone_drops_its_digest(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hearth.db'}")
    create_schema(engine)
    clock = FixedClock(MONDAY)
    calls: list[Any] = []
    scheduler = start(engine, clock, calls, "coach-a")
    scheduler.ensure(coach_jobs(SETTINGS.model_copy(update={"digest_hour": 7}),
                                ["Europe/London"], clock.now()), prune_prefixes=["digest:"])
    digests = {j.id: j.next_run_time for j in scheduler.jobs() if j.id.startswith("digest:")}
    scheduler.stop()
    assert digests == {"digest:Europe/London":
                       datetime(2026, 3, 2, 7, tzinfo=ZoneInfo("Europe/London"))}


# -- two processes -------------------------------------------------------------------------


def _coach_process(url: str, instants: list[datetime], barrier: Any, out: Any,
                   owner: str) -> None:
    engine = make_engine(url)
    clock = FixedClock(instants[0])
    calls: list[Any] = []
    barrier.wait()
    scheduler = start(engine, clock, calls, owner)
    for instant in instants[1:]:
        barrier.wait()  # both processes look for due jobs at the same instant
        clock.set(instant)
        scheduler.run_pending(wait_s=30)
    scheduler.stop()
    out.put([(kind, t.isoformat(), args, owner) for kind, t, args in calls])


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hearth.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    return url


def test_two_coach_processes_on_one_database_run_each_job_once(shared_url: str) -> None:
    instants = [MONDAY + timedelta(minutes=30 * i) for i in range(2 * 24 * 2 + 1)]  # 2 days
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_coach_process,
                                 args=(shared_url, instants, barrier, out, f"coach-{n}"))
                 for n in (1, 2)]
    for process in processes:
        process.start()
    results = [out.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0

    calls = [c for result in results for c in result]
    counts = Counter((kind, t, tuple(args)) for kind, t, args, _ in calls)
    assert max(counts.values()) == 1, [c for c, n in counts.items() if n > 1][:5]
    # Nothing was lost between them either: every digest and every hourly trend check.
    digests = sorted(t for kind, t, *_ in calls if kind == "digest")
    assert len(digests) == 2 * 2
    trend = sorted(datetime.fromisoformat(t) for kind, t, *_ in calls if kind == "trend_check")
    assert trend == [MONDAY + timedelta(hours=h) for h in range(2 * 24 + 1)]


def test_the_scheduler_uses_no_private_part_of_apscheduler() -> None:
    """Only APScheduler 3's public API (issue 19): a private name of a library object
    (``job._modify``, ``job._get_run_times``) may change in any release."""
    import ast
    import inspect

    import coach.scheduler

    tree = ast.parse(inspect.getsource(coach.scheduler))
    private = [
        f"line {node.lineno}: .{node.attr}" for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    ]
    assert private == []
