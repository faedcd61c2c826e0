"""Self-assessment: DDS2 scoring, where the plan starts, change over time, monthly reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from care.goals import Behaviour, GoalKind
from care.plans import agree_plan, create_plan
from care.selfassessment import (
    CARDS,
    AssessmentError,
    CardAnswer,
    assessment_history,
    choose_start,
    dds2_score,
    deck,
    record_self_assessment,
    self_assessment_reminders,
)
from core.appdb.directory import bind_devices
from tests.care.plan_support import (
    AppStore,
    add_patient,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def answers(**overrides: tuple[int, int, int | None]) -> list[CardAnswer]:
    """Every card rated 4, confidence 8, importance 5 unless overridden."""
    out = []
    for card in CARDS:
        rating, confidence, importance = overrides.get(str(card.behaviour), (4, 8, 5))
        out.append(CardAnswer(card.behaviour, rating, confidence, importance))
    return out


@pytest.mark.parametrize(("items", "mean", "positive"), [
    ((1, 1), 1.0, False), ((3, 2), 2.5, False), ((3, 3), 3.0, True), ((2, 4), 3.0, True),
    ((6, 6), 6.0, True), ((1, 4), 2.5, False),
])
def test_dds2_mean_and_the_cut_off_of_three(items: tuple[int, int], mean: float,
                                            positive: bool) -> None:
    score = dds2_score(*items)
    assert (score.mean, score.positive) == (mean, positive)


@pytest.mark.parametrize("items", [(0, 3), (3, 7), (2.5, 3)])
def test_dds2_items_are_whole_numbers_from_one_to_six(items: tuple[int, int]) -> None:
    with pytest.raises(AssessmentError):
        dds2_score(*items)


def test_the_plan_starts_where_it_matters_most_and_confidence_is_lowest() -> None:
    start = choose_start(answers(being_active=(2, 3, 9), monitoring=(2, 2, 3)))
    # being active: 9 - 3 = 6; monitoring: 3 - 2 = 1; the rest 5 - 8 = -3
    assert start.behaviour is Behaviour.BEING_ACTIVE
    assert start.ranking[:2] == ("being_active", "monitoring")
    assert "matters to you (9 out of 10)" in start.reason and "(3 out of 10)" in start.reason
    assert not start.coach_follow_up


def test_without_importance_the_lowest_confidence_wins_and_ties_go_to_the_lower_rating() -> None:
    chosen = choose_start(answers(healthy_coping=(3, 4, None), reducing_risks=(2, 4, None)))
    assert chosen.behaviour is Behaviour.REDUCING_RISKS
    assert chosen.ranking[1] == "healthy_coping"


def test_distress_asks_the_coach_to_follow_up_without_moving_the_start() -> None:
    start = choose_start(answers(monitoring=(1, 2, 8)), dds2_score(4, 3))
    assert start.behaviour is Behaviour.MONITORING and start.coach_follow_up
    assert "3.5 out of 6" in start.follow_up_reason


def test_every_card_must_be_answered_once() -> None:
    with pytest.raises(AssessmentError):
        choose_start(answers()[:-1])
    with pytest.raises(AssessmentError):
        CardAnswer(Behaviour.MONITORING, 6, 5)


def test_the_deck_has_the_seven_behaviours_and_the_two_distress_items() -> None:
    shown = deck()
    assert [c["behaviour"] for c in shown["cards"]] == [str(b) for b in Behaviour]
    assert len(shown["dds2"]["items"]) == 2
    assert shown["dds2"]["labels"][6] == "A very serious problem"


def test_recorded_over_time_with_change_since_last_and_a_coach_follow_up(
    app_store: AppStore,
) -> None:
    engine, store = app_store
    add_patient(engine, "bob", conditions=("type2_diabetes", "hypertension"))
    with Session(engine) as session:
        bind_devices(session, "bob", [("bob-meter", "glucose_meter"), ("bob-cuff", "bp_cuff")])
        first = record_self_assessment(session, patient_id="bob", by="bob", now=NOW,
                                       answers=answers(monitoring=(2, 3, 8)), dds2=(2, 2))
        assert first.start.behaviour is Behaviour.MONITORING and first.follow_up is None
        assert all(c.rating_change is None for c in first.changes) and first.dds2_change is None
        # options for monitoring: what bob's meter and cuff can show, then his own words
        kinds = [o.kind for o in first.options]
        assert kinds[:2] == [GoalKind.FASTING_CHECKS, GoalKind.BP_PAIRS]
        assert GoalKind.SELF_REPORT in kinds and GoalKind.TIME_IN_RANGE not in kinds

        plan = create_plan(session, store, patient_id="bob", coach_id="coach-7",
                           focus=first.start.behaviour, goals=[first.options[0]], now=NOW,
                           assessment_id=first.assessment_id)
        agree_plan(session, plan.id, role="patient", now=NOW)
        agree_plan(session, plan.id, role="coach", now=NOW)

        later = NOW + timedelta(days=31)
        second = record_self_assessment(session, patient_id="bob", by="coach-7", now=later,
                                        answers=answers(monitoring=(4, 7, 8)), dds2=(4, 3))
        session.commit()
    monitoring = next(c for c in second.changes if c.behaviour == "monitoring")
    assert (monitoring.rating_change, monitoring.confidence_change) == (2, 4)
    assert second.dds2_change == pytest.approx(1.5)
    follow_up = second.follow_up
    assert follow_up is not None
    assert (follow_up.kind, follow_up.recipient_role, follow_up.recipient_id) == (
        "alert", "coach", "coach-7")
    assert follow_up.ref == second.assessment_id and follow_up.evidence["dds2_mean"] == 3.5
    assert "Fisher" in follow_up.why
    with Session(engine) as session:
        history = assessment_history(session, "bob")
    assert [h.distress for h in history] == [False, True]
    assert [h.ratings["monitoring"] for h in history] == [2, 4]


def test_monthly_reminders_once_and_only_when_due(app_store: AppStore) -> None:
    engine, store = app_store
    for patient in ("ann", "bob", "cat"):
        add_patient(engine, patient)
    with Session(engine) as session:
        record_self_assessment(session, patient_id="ann", by="ann", now=NOW - timedelta(days=10),
                               answers=answers(), dds2=None)
        record_self_assessment(session, patient_id="bob", by="bob", now=NOW - timedelta(days=40),
                               answers=answers(), dds2=None)
        sent = self_assessment_reminders(session, NOW)
        session.commit()
        assert sorted(m.patient_id for m in sent) == ["bob", "cat"]  # ann's is 10 days old
        bob = next(m for m in sent if m.patient_id == "bob")
        assert bob.evidence["days_since"] == 40 and "40 days ago" in bob.why
        assert (bob.kind, bob.recipient_role, bob.flag_type) == (
            "nudge", "patient", "self_assessment_due")
        # the job ran twice
        assert self_assessment_reminders(session, NOW + timedelta(hours=1)) == []
        assert self_assessment_reminders(session, NOW + timedelta(days=15)) == []
        # ann's assessment is four weeks old: due; bob and cat were reminded 18 days ago
        assert [m.patient_id for m in self_assessment_reminders(
            session, NOW + timedelta(days=18))] == ["ann"]
        later = self_assessment_reminders(session, NOW + timedelta(days=28))
        # a month later, even a February: bob and cat again; ann was reminded 10 days ago
        assert sorted(m.patient_id for m in later) == ["bob", "cat"]
