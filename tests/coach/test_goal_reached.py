"""The goal_reached rule through the real registry, context builder, engine and dispatcher,
with the ``goals`` feature built from a plan in the database and readings in the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from care.goals import GoalKind
from care.plans import GoalDraft, agree_plan, create_plan, goal_statuses
from coach.context import PatientContext, build_context
from coach.dispatch import dispatch
from coach.engine import needs_of, run_rules
from coach.rules.registry import RULES, enabled_rules
from core.appdb.directory import SqlDirectory
from core.metrics import Metric
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.care.plan_support import add_patient, daily_steps, databases, reading

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


def run(session: Session, store: SqliteTimeSeriesStore, patient_id: str, now: datetime):
    rules = enabled_rules(names=["goal_reached"])
    assert needs_of(rules) == {"goals"}
    patient = SqlDirectory(session.get_bind()).patient(patient_id)
    assert patient is not None
    ctx = build_context(store, patient, now, needs=needs_of(rules),
                        goals=goal_statuses(session, store, patient_id, now))
    result = run_rules(ctx, rules)
    assert result.failed == ()
    return result.flags, dispatch(session, patient_id, result.flags, now)


def test_the_rule_is_registered() -> None:
    assert RULES["goal_reached"].path == "scheduled"


def test_a_met_week_is_celebrated_once_with_the_next_step(tmp_path: Path) -> None:
    engine, store = databases(tmp_path)
    add_patient(engine, "p1")
    store.write(daily_steps("p1", MONDAY, [4000] * 6 + [1000]))
    with Session(engine) as session:
        plan = create_plan(session, store, patient_id="p1", coach_id="coach-1",
                           focus="being_active",
                           goals=[GoalDraft(GoalKind.STEPS, target=3500)], now=MONDAY)
        agree_plan(session, plan.id, role="patient", now=MONDAY)
        agree_plan(session, plan.id, role="coach", now=MONDAY)
        session.commit()

        monday_after = MONDAY + timedelta(days=7, hours=10)
        flags, out = run(session, store, "p1", monday_after)
        session.commit()
        assert [f.key.endswith(":0") for f in flags] == [True]
        (message,) = out
        assert (message.kind, message.recipient_role, message.flag_type) == (
            "positive", "patient", "goal_reached")
        assert "Walk 3,500 steps a day on 5 days this week" in message.why
        assert "6 of 7 days" in message.why
        assert "Next small step: walk 4,000 steps a day" in message.why
        assert message.evidence["outcome"] == "stepped_up"

        # the next morning the same finished week is not news again
        flags, out = run(session, store, "p1", monday_after + timedelta(days=1))
        assert out == []
    store.close()


def test_a_count_goal_reached_before_the_week_ends(tmp_path: Path) -> None:
    engine, store = databases(tmp_path)
    add_patient(engine, "p2")
    store.write([reading("p2", Metric.GLUCOSE, 110, MONDAY + timedelta(days=d, hours=7),
                         device="meter", source="meter", context="fasting") for d in range(3)])
    with Session(engine) as session:
        plan = create_plan(session, store, patient_id="p2", coach_id="coach-1", focus="monitoring",
                           goals=[GoalDraft(GoalKind.FASTING_CHECKS, target=3)], now=MONDAY)
        agree_plan(session, plan.id, role="patient", now=MONDAY)
        agree_plan(session, plan.id, role="coach", now=MONDAY)
        flags, _ = run(session, store, "p2", MONDAY + timedelta(days=1, hours=10))
        assert flags == ()  # two mornings so far
        flags, out = run(session, store, "p2", MONDAY + timedelta(days=2, hours=10))
        session.commit()
    assert [f.title for f in flags] == ["Goal reached early"]
    assert "3 mornings checked of the 3 planned" in out[0].why
    store.close()


def test_without_the_goals_feature_the_rule_finds_nothing() -> None:
    ctx = PatientContext("p1", MONDAY)
    assert run_rules(ctx, enabled_rules(names=["goal_reached"])).flags == ()
