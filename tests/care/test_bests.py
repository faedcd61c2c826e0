"""Personal bests enter the joint record by themselves (issue 23): a finished week of a
goal that beats every earlier week of it, judged on the person's own figures, through the
real weekly evaluation over a real SQLite store and application database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from care.bests import PERSONAL_BEST, personal_best, words
from care.goals import GoalKind, Measured
from care.plans import GoalDraft, confirm_achievement, evaluate_goals, record_view
from core.appdb.plans import Achievement
from tests.care.plan_support import AppStore, add_patient, daily_steps
from tests.care.test_plans import MONDAY, agreed_plan


def _measured(achieved: float, per_day: tuple[float, ...] = (), unit: str = "days/week"
              ) -> Measured:
    return Measured(achieved, 5, None, True, unit, tuple("d" * len(per_day)), per_day, "")


def test_the_best_week_of_steps_is_recorded_once_both_sides_confirm_it(
        app_store: AppStore) -> None:
    engine, store = app_store
    add_patient(engine, "p1")
    week1 = [3600] * 5 + [1000, 1000]  # best day 3,600: the first week is a start, not a best
    week2 = [3900] * 4 + [1000] * 3  # best day 3,900: a best (the goal is missed all the same)
    week3 = [4100] * 3 + [1000] * 4  # 4,100: a best
    week4 = [3600] * 6 + [0]  # 3,600: not
    week5 = [4100] * 7  # 4,100 again: a tie is not a best
    store.write(daily_steps("p1", datetime(2026, 3, 2, tzinfo=UTC),
                            week1 + week2 + week3 + week4 + week5))
    with Session(engine) as session:
        agreed_plan(session, store, "p1",
                    [GoalDraft(GoalKind.STEPS, target=3500, days_required=5)], MONDAY)
        for weeks in range(1, 6):
            evaluate_goals(session, store, datetime(2026, 3, 2, tzinfo=UTC)
                           + timedelta(weeks=weeks, hours=1))
        evaluate_goals(session, store, datetime(2026, 4, 7, tzinfo=UTC))  # again: nothing new
        session.commit()
        bests = session.scalars(select(Achievement).where(Achievement.kind == PERSONAL_BEST)
                                .order_by(Achievement.achieved_at)).all()
        assert [(b.evidence["period_index"], b.title) for b in bests] == [
            (1, "Personal best: 3,900 steps in a day"),
            (2, "Personal best: 4,100 steps in a day")]
        assert bests[1].evidence["previous_best"] == 3900
        assert bests[0].achieved_at.replace(tzinfo=UTC) == datetime(2026, 3, 16, tzinfo=UTC)
        # in the joint record, beside "goal met", for both sides to confirm
        record = record_view(session, "p1")
        assert [a["kind"] for a in record].count(PERSONAL_BEST) == 2
        shown = next(a for a in record if a["id"] == bests[0].id)
        assert shown["recorded_by"] == "system"
        assert not shown["patient_confirmed"] and not shown["coach_confirmed"]
        confirm_achievement(session, bests[0].id, role="coach", now=MONDAY + timedelta(days=20))
        confirm_achievement(session, bests[0].id, role="patient", now=MONDAY + timedelta(days=21))
        session.commit()
        again = next(a for a in record_view(session, "p1") if a["id"] == bests[0].id)
        assert again["patient_confirmed"] and again["coach_confirmed"]


def test_what_a_best_is_judged_on_per_kind_of_goal() -> None:
    # steps: the best day; time in range: the week's figure; counts: the week's count
    steps = _measured(2, (4000, 9214, 0), unit="steps/day")
    assert personal_best(GoalKind.STEPS, steps, [(5, [8000, 9000])]) is not None
    assert personal_best(GoalKind.STEPS, steps, [(0, [9300])]) is None
    tir = personal_best(GoalKind.TIME_IN_RANGE, _measured(71.4, unit="% time in range"),
                        [(65.0, []), (70.2, [])])
    assert tir is not None and tir.title == "Personal best: 71% time in range over a week"
    assert personal_best(GoalKind.WEIGH_INS, _measured(6), []) is None  # nothing to beat yet
    assert personal_best(GoalKind.WEIGH_INS, _measured(0), [(0, [])]) is None  # zero never
    assert words(GoalKind.WEIGH_INS, 6, "days/week") == "Personal best: 6 days in a week"
    assert words(GoalKind.FASTING_CHECKS, 4, "mornings/week") == \
        "Personal best: 4 mornings in a week"
    assert words(GoalKind.BP_PAIRS, 5, "pairs/day") == "Personal best: 5 days on target in a week"
