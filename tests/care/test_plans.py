"""Plans and goals: progress from readings in a real SQLite store, the step ladder, the
joint record of achievements."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from care.goals import Behaviour, GoalKind, next_step
from care.plans import (
    GoalDraft,
    PlanError,
    agree_plan,
    confirm_achievement,
    create_plan,
    current_progress,
    evaluate_goals,
    plan_view,
    record_achievement,
    record_self_report,
)
from core.appdb.plans import Achievement, Goal, GoalProgress
from core.metrics import Metric
from devices.profiles import load_profiles
from tests.care.plan_support import (
    AppStore,
    add_patient,
    daily_steps,
    databases,
    reading,
    simulated,
)

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday in March (no DST change in London)


def agreed_plan(session: Session, store, patient_id: str, drafts: list[GoalDraft],
                now: datetime) -> list[Goal]:
    plan = create_plan(session, store, patient_id=patient_id, coach_id="coach-1",
                       focus=Behaviour.BEING_ACTIVE, goals=drafts, now=now)
    agree_plan(session, plan.id, role="patient", now=now)
    agree_plan(session, plan.id, role="coach", now=now)
    return list(session.scalars(select(Goal).where(Goal.plan_id == plan.id)))


def test_steps_progress_from_a_simulated_fortnight_and_week(tmp_path: Path) -> None:
    """ann's pedometer (the simulator, through the wire contract) sets the baseline and
    the week's per-day totals; they match the readings summed by local day."""
    engine, store = databases(tmp_path)
    ann = next(p for p in load_profiles() if p.id == "ann")
    add_patient(engine, "ann", tz=ann.timezone)
    start = MONDAY - timedelta(days=14)
    readings = [r for r in simulated([ann], start, MONDAY + timedelta(days=8))
                if r.metric == Metric.STEPS]
    store.write(readings)
    zone = ZoneInfo(ann.timezone)
    by_day: dict[date, float] = defaultdict(float)
    for r in readings:
        by_day[r.measured_at.astimezone(zone).date()] += r.value

    with Session(engine) as session:
        (goal,) = agreed_plan(session, store, "ann", [GoalDraft(GoalKind.STEPS)], MONDAY)
        fortnight = sorted(by_day[start.date() + timedelta(days=i)] for i in range(14))
        median = (fortnight[6] + fortnight[7]) / 2
        assert goal.baseline == pytest.approx(median)
        assert goal.target == round((median + 500) / 100) * 100  # 500 more steps a day
        assert goal.days_required == 5 and goal.starts_on == MONDAY.date()
        target = goal.target

        events = evaluate_goals(session, store, MONDAY + timedelta(days=8))
        session.commit()

    assert len(events) == 1
    week = [MONDAY.date() + timedelta(days=i) for i in range(7)]
    expected = [by_day[d] for d in week]
    measured = events[0].measured
    assert measured.days == tuple(d.isoformat() for d in week)
    assert measured.per_day == pytest.approx(expected)
    reached = sum(total >= target for total in expected)
    assert measured.achieved == reached
    assert events[0].met == (reached >= 5)
    with Session(engine) as session:
        snapshot = session.scalars(select(GoalProgress)).one()
        assert snapshot.achieved == reached
        assert snapshot.evidence["per_day"] == pytest.approx(expected)
    store.close()


def test_a_goal_steps_up_when_met_and_down_when_missed_twice(app_store: AppStore) -> None:
    engine, store = app_store
    add_patient(engine, "p1")
    week1 = [3600] * 5 + [1000, 1000]  # 5 days at the 3,500 target: met
    week2 = [3900] * 4 + [1000] * 3  # 4 days at 4,000: missed
    week3 = [4100] * 3 + [1000] * 4  # missed again: step down
    week4 = [3600] * 6 + [0]  # met at 3,500 again: up
    store.write(daily_steps("p1", datetime(2026, 3, 2, tzinfo=UTC), week1 + week2 + week3 + week4))
    with Session(engine) as session:
        (goal,) = agreed_plan(session, store, "p1",
                              [GoalDraft(GoalKind.STEPS, target=3500, days_required=5)], MONDAY)
        outcomes = []
        for weeks in (1, 2, 3, 4):
            events = evaluate_goals(session, store, datetime(2026, 3, 2, tzinfo=UTC)
                                    + timedelta(weeks=weeks, hours=1))
            outcomes += [(e.outcome, e.old_target, e.new_target) for e in events]
        again = evaluate_goals(session, store, datetime(2026, 3, 30, 2, tzinfo=UTC))
        assert again == []  # idempotent
        session.commit()
        assert outcomes == [("stepped_up", 3500, 4000), ("missed", 4000, 4000),
                            ("stepped_down", 4000, 3500), ("stepped_up", 3500, 4000)]
        assert (goal.target, goal.level, goal.misses_in_row) == (4000, 2, 0)
        met = session.scalars(select(Achievement).where(Achievement.kind == "goal_met")).all()
        assert [a.evidence["period_index"] for a in met] == [0, 3]
        assert met[0].title == "Walk 3,500 steps a day on 5 days this week"


def test_evaluation_catches_up_after_downtime_in_order(tmp_path: Path) -> None:
    engine, store = databases(tmp_path)
    add_patient(engine, "p1")
    store.write(daily_steps("p1", datetime(2026, 3, 2, tzinfo=UTC), [3600] * 14))
    with Session(engine) as session:
        agreed_plan(session, store, "p1", [GoalDraft(GoalKind.STEPS, target=3500)], MONDAY)
        events = evaluate_goals(session, store, datetime(2026, 3, 20, tzinfo=UTC))
        # week 1 met at 3,500 -> 4,000; week 2 (3,600 a day) misses 4,000
        assert [(e.period_index, e.outcome) for e in events] == [(0, "stepped_up"), (1, "missed")]
    store.close()


def test_the_ladder_stays_within_bounds() -> None:
    top = next_step(met=True, target=2, level=2, misses_in_row=0, step=1, minimum=1, maximum=2)
    assert (top.outcome, top.target) == ("kept_up", 2)
    floor = next_step(met=False, target=1, level=1, misses_in_row=1, step=1, minimum=1, maximum=2)
    assert (floor.outcome, floor.target, floor.misses_in_row) == ("kept", 1, 0)


def test_fasting_checks_bp_pairs_and_medication_from_hand_built_readings(tmp_path: Path) -> None:
    engine, store = databases(tmp_path)
    add_patient(engine, "bob", tz="Europe/London")
    monday = datetime(2026, 3, 2, tzinfo=UTC)  # London is on UTC in early March
    rows = []
    for day in range(7):
        morning = monday + timedelta(days=day, hours=7)
        if day < 5:  # fasting checks on 5 mornings; a later check that day is not fasting
            rows.append(reading("bob", Metric.GLUCOSE, 120, morning, device="meter",
                                source="meter", context="fasting"))
        rows.append(reading("bob", Metric.GLUCOSE, 150, morning + timedelta(hours=6),
                            device="meter", source="meter", context="after_meal"))
        pairs = 2 if day < 6 else 1  # two sittings of a pair on 6 days, one on the last
        for sitting in range(pairs):
            first = morning + timedelta(hours=13 * sitting)
            rows += [reading("bob", Metric.SYSTOLIC, 130, first + timedelta(minutes=k),
                             device="cuff", source="bp_cuff") for k in range(2)]
        if day != 3:
            rows.append(reading("bob", Metric.MEDICATION_TAKEN, 1, morning, device="pills",
                                source="pill_box"))
    store.write(rows)
    with Session(engine) as session:
        goals = agreed_plan(session, store, "bob", [
            GoalDraft(GoalKind.FASTING_CHECKS, target=5),
            GoalDraft(GoalKind.BP_PAIRS, target=2, days_required=7),
            GoalDraft(GoalKind.MEDICATION, target=1, days_required=6),
        ], monday + timedelta(hours=1))
        thursday = monday + timedelta(days=3, hours=9)
        mid_week = current_progress(session, store, goals[0].id, thursday)
        assert mid_week is not None and mid_week.achieved == 4  # Mon-Thu mornings so far
        events = {e.goal_id: e for e in evaluate_goals(session, store, monday + timedelta(days=7))}
    fasting, bp, pills = (events[goal.id] for goal in goals)
    assert (fasting.measured.achieved, fasting.met, fasting.outcome) == (5, True, "stepped_up")
    assert fasting.new_target == 6
    assert bp.measured.per_day == (2, 2, 2, 2, 2, 2, 1) and not bp.met and bp.outcome == "missed"
    assert (pills.measured.achieved, pills.met) == (6, True)
    store.close()


def test_a_time_in_range_goal_counts_cgm_time_not_fingersticks(tmp_path: Path) -> None:
    engine, store = databases(tmp_path)
    add_patient(engine, "cai", tz="Europe/London")
    monday = datetime(2026, 3, 2, tzinfo=UTC)
    # a week of CGM every 5 minutes: 3 hours of each day above 180, 21 in range (87.5%)
    cgm = [reading("cai", Metric.GLUCOSE, 200 if (k % 288) < 36 else 120,
                   monday + timedelta(minutes=5 * k), device="cgm", source="cgm")
           for k in range(7 * 288)]
    # and fingersticks at 300 mg/dL twice an hour, which are not CGM time
    meter = [reading("cai", Metric.GLUCOSE, 300, monday + timedelta(minutes=30 * k + 2),
                     device="meter", source="meter") for k in range(7 * 48)]
    store.write(cgm + meter)
    with Session(engine) as session:
        (goal,) = agreed_plan(session, store, "cai", [GoalDraft(GoalKind.TIME_IN_RANGE, target=70)],
                              monday + timedelta(minutes=1))
        (event,) = evaluate_goals(session, store, monday + timedelta(days=7))
    assert event.goal_id == goal.id
    assert event.measured.achieved == pytest.approx(87.5, abs=0.1) and event.met
    store.close()


def test_a_plan_starts_only_when_both_agree_and_the_record_is_joint(app_store: AppStore) -> None:
    engine, store = app_store
    add_patient(engine, "p1")
    with Session(engine) as session:
        plan = create_plan(session, store, patient_id="p1", coach_id="coach-1",
                           focus="healthy_eating", now=MONDAY, goals=[
                               GoalDraft(GoalKind.SELF_REPORT, target=3,
                                         behaviour=Behaviour.HEALTHY_EATING,
                                         what="Have vegetables with dinner",
                                         patient_part="Buy vegetables for the week on Saturday")])
        agree_plan(session, plan.id, role="patient", now=MONDAY)
        view = plan_view(session, store, "p1", MONDAY)
        assert view is not None and view.status == "draft" and view.patient_agreed
        assert not view.coach_agreed and view.goals[0].status == "proposed"
        agree_plan(session, plan.id, role="coach", now=MONDAY)
        (goal,) = plan_view(session, store, "p1", MONDAY).goals  # type: ignore[union-attr]
        assert goal.text == "Have vegetables with dinner on 3 days this week"
        assert goal.patient_part == "Buy vegetables for the week on Saturday"
        assert goal.professional_part.startswith("Ask how it went")

        with pytest.raises(PlanError):  # the week has not finished
            record_self_report(session, goal.goal_id, days_done=set(), period_index=0, now=MONDAY)
        done = {MONDAY.date() + timedelta(days=i) for i in (0, 2, 4)}
        event = record_self_report(session, goal.goal_id, days_done=done, period_index=0,
                                   now=MONDAY + timedelta(days=7))
        assert event.met and event.new_target == 4 and event.achievement_id
        confirm_achievement(session, event.achievement_id, role="coach", now=MONDAY,
                            note="Well done: three evenings in a busy week")
        confirm_achievement(session, event.achievement_id, role="patient", now=MONDAY)
        note = record_achievement(session, patient_id="p1", title="Walked to the shops", by="p1",
                                  role="patient", now=MONDAY)
        session.commit()
        final = plan_view(session, store, "p1", MONDAY + timedelta(days=7))
        assert final is not None
        record = final.achievements
    kinds = {r["kind"]: r for r in record}
    assert set(kinds) == {"agreed", "goal_met", "note"}
    assert kinds["goal_met"]["patient_confirmed"] and kinds["goal_met"]["coach_confirmed"]
    assert kinds["goal_met"]["coach_note"].startswith("Well done")
    assert kinds["note"]["patient_confirmed"] and not kinds["note"]["coach_confirmed"]
    assert note.recorded_by == "p1"


def test_targets_outside_the_bounds_are_refused(tmp_path: Path) -> None:
    engine, store = databases(tmp_path)
    add_patient(engine, "p1")
    with Session(engine) as session, pytest.raises(PlanError):
        create_plan(session, store, patient_id="p1", coach_id=None, focus="monitoring",
                    goals=[GoalDraft(GoalKind.BP_PAIRS, target=3)], now=MONDAY)
    store.close()
