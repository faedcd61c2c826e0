"""The live predicted-low rule runs on the shipped forecast model (analytics/forecast_model.json),
with AR2 when the newest reading lacks 30 minutes of history: through both evaluators the
coach runs (the real-time path and the cycle), on a real SQLite store and database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from analytics.forecast import deployed_model
from care.messages import Outbound
from coach.evaluation import CoachEvaluator
from coach.realtime_eval import RealtimeEvaluator
from core.metrics import Metric
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.support.factories import app_database, reading, register

NOW = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
FALLING = [165.0, 155, 145, 135, 125, 113, 100, 86]  # 35 minutes of a steepening fall


def cgm(patient: str, values: list[float]) -> list[object]:
    n = len(values)
    return [reading(patient_id=patient, device_id=f"{patient}-cgm", metric=Metric.GLUCOSE,
                    value=v, at=NOW - timedelta(minutes=5 * (n - 1 - i)))
            for i, v in enumerate(values)]


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[SqliteTimeSeriesStore, Engine]:
    engine = app_database(tmp_path / "hearth.db")
    store = SqliteTimeSeriesStore(tmp_path / "ts.db")
    for pid, values in (("rt", FALLING), ("cycle", FALLING), ("short", FALLING[-2:])):
        register(engine, pid, [(f"{pid}-cgm", "cgm")])
        store.write(cgm(pid, values))  # type: ignore[arg-type]
    return store, engine


def predicted(out: list[Outbound]) -> Outbound:
    found = [o for o in out if o.flag_type == "predicted_low" and o.recipient_role == "patient"]
    assert len(found) == 1, [(o.flag_type, o.recipient_role) for o in out]
    return found[0]


def test_both_evaluators_forecast_with_the_shipped_model(
        setup: tuple[SqliteTimeSeriesStore, Engine]) -> None:
    store, engine = setup
    model = deployed_model()
    realtime = predicted(RealtimeEvaluator(store=store, engine=engine).evaluate("rt", NOW))
    cycle = predicted(CoachEvaluator(store=store, engine=engine).realtime("cycle", NOW))
    for out in (realtime, cycle):
        assert out.evidence["model"] == model.kind == "neural"
        assert out.evidence["current"] == 86.0
        assert min(out.evidence["predicted"]) < 70.0 + model.low_margin


def test_too_little_history_falls_back_to_ar2(setup: tuple[SqliteTimeSeriesStore, Engine]) -> None:
    store, engine = setup
    # two readings, 100 then 86: AR2 sees the fall (68.6 in 15 minutes); the model has no
    # 30 minutes of history
    out = predicted(RealtimeEvaluator(store=store, engine=engine).evaluate("short", NOW))
    assert out.evidence["model"] == "ar2"
