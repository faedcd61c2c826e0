"""The scheduled cycle through the real context builder, rules and dispatcher.

A scale that stopped reporting three days ago is a "device gone silent" finding;
the cycle shares one transaction between patients, and a patient whose data
breaks the evaluation is skipped without losing the others' decisions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from coach.evaluation import CoachEvaluator, CycleStats, StoreUrls, parallel_cycle
from core.metrics import Metric
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.support.factories import reading, register

NOW = datetime(2026, 3, 10, 9, tzinfo=UTC)


def household(engine: Engine, store: SqliteTimeSeriesStore, zones: dict[str, str]) -> None:
    for patient_id, zone in zones.items():
        register(engine, patient_id, [(f"{patient_id}-scale", "scale")], timezone=zone)
        store.write([reading(patient_id=patient_id, device_id=f"{patient_id}-scale",
                             metric=Metric.WEIGHT, value=80.0, unit="kg", source="device",
                             at=NOW - timedelta(days=3, hours=h)) for h in range(3)])


def test_the_cycle_flags_each_silent_device_once_and_commits_its_decisions(
    engine: Engine, store: SqliteTimeSeriesStore
) -> None:
    household(engine, store, {f"p{i}": "Europe/London" for i in range(5)})
    evaluator = CoachEvaluator(store=store, engine=engine)
    stats = CycleStats()

    out = evaluator.scheduled(NOW, stats=stats, chunk=2)

    assert sorted(m.patient_id for m in out) == [f"p{i}" for i in range(5)]
    assert {m.flag_type for m in out} == {"device_silent"}
    assert all(m.why and m.evidence["device_id"].endswith("-scale") for m in out)
    assert (stats.patients, stats.failed_patients, stats.messages) == (5, 0, 5)
    # The dispatcher's cool-down was committed: the next cycle says nothing new.
    assert evaluator.scheduled(NOW + timedelta(hours=1), chunk=2) == []


def test_a_patient_whose_evaluation_fails_is_skipped_and_the_others_are_kept(
    engine: Engine, store: SqliteTimeSeriesStore
) -> None:
    household(engine, store, {"p1": "Europe/London", "p2": "Not/AZone", "p3": "UTC"})
    stats = CycleStats()

    out = CoachEvaluator(store=store, engine=engine).scheduled(NOW, stats=stats, chunk=3)

    assert sorted(m.patient_id for m in out) == ["p1", "p3"]
    assert (stats.patients, stats.failed_patients) == (3, 1)


def test_the_real_time_path_runs_only_real_time_rules(
    engine: Engine, store: SqliteTimeSeriesStore
) -> None:
    household(engine, store, {"p1": "UTC"})
    store.write([reading(patient_id="p1", device_id="p1-scale", metric=Metric.WEIGHT,
                         value=80.0, unit="kg", source="device", at=NOW - timedelta(minutes=5))])

    # A silent device is a scheduled finding: the real-time path does not raise it.
    assert CoachEvaluator(store=store, engine=engine).realtime("p1", NOW) == []


def test_the_cycle_split_over_worker_processes_decides_the_same(
    engine: Engine, store: SqliteTimeSeriesStore, tmp_path: Path
) -> None:
    household(engine, store, {f"p{i}": "UTC" for i in range(4)})
    urls = StoreUrls(f"sqlite:///{tmp_path / 'timeseries.db'}",
                     f"sqlite:///{tmp_path / 'hearth.db'}")

    out, stats = parallel_cycle(urls, [f"p{i}" for i in range(4)], NOW, processes=2)

    assert sorted(m.patient_id for m in out) == ["p0", "p1", "p2", "p3"]
    assert (stats.patients, stats.failed_patients) == (4, 0)
    # The workers committed to the shared database: the cool-downs hold here too.
    assert CoachEvaluator(store=store, engine=engine).scheduled(NOW, chunk=2) == []


def test_a_reading_no_real_time_rule_reads_wakes_nothing(
    engine: Engine, store: SqliteTimeSeriesStore
) -> None:
    register(engine, "p1", [("p1-cgm", "cgm"), ("p1-steps", "pedometer")])
    store.write([reading(patient_id="p1", device_id="p1-cgm", value=48.0,
                         at=NOW - timedelta(minutes=2))])
    evaluator = CoachEvaluator(store=store, engine=engine)

    assert evaluator.realtime("p1", NOW, metrics={"steps"}) == []  # not evaluated at all
    (urgent, *_) = evaluator.realtime("p1", NOW, metrics={"steps", "glucose"})
    assert urgent.priority == "urgent" and urgent.patient_id == "p1"


def test_a_patient_still_in_quiet_hours_at_digest_time_gets_the_digest_when_they_end(
    engine: Engine, store: SqliteTimeSeriesStore
) -> None:
    from sqlalchemy.orm import Session

    from coach.policy import save_preferences
    from core.appdb.coaching import CoachNudge

    register(engine, "late", [], timezone="UTC")
    register(engine, "early", [], timezone="UTC")
    night = datetime(2026, 3, 10, 2, tzinfo=UTC)
    with Session(engine) as session:
        save_preferences(session, "late", now=night, quiet_start="22:00", quiet_end="09:30")
        for patient_id in ("late", "early"):
            session.add(CoachNudge(patient_id=patient_id, kind="nudge", flag_type="device_silent",
                                   priority="normal", title="t", body="b", why="w",
                                   status="queued", created_at=night))
        session.commit()
    evaluator = CoachEvaluator(store=store, engine=engine)

    at_eight = evaluator.digests("UTC", datetime(2026, 3, 10, 8, tzinfo=UTC))
    assert [m.patient_id for m in at_eight] == ["early"]  # "late" is still in quiet hours
    assert evaluator.late_digests(datetime(2026, 3, 10, 9, tzinfo=UTC), hour=8) == []
    after = evaluator.late_digests(datetime(2026, 3, 10, 10, tzinfo=UTC), hour=8)
    assert [(m.patient_id, m.kind) for m in after] == [("late", "digest")]
    # One digest a day: neither patient gets another one later that day.
    assert evaluator.late_digests(datetime(2026, 3, 10, 15, tzinfo=UTC), hour=8) == []
