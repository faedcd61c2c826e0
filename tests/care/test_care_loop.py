"""The co-production loop (issue 23): a plan of several goals with options the patient
picks, edits, pauses and retirements with their history, the ladder in words, the
check-in steering the plan and entering the joint record, goal suggestions by condition,
and the conversation's unread counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from care import conversation
from care.goals import Behaviour, GoalKind, next_step, rule_text, step_text
from care.plans import (
    GoalDraft,
    PlanError,
    add_goal,
    agree_plan,
    create_plan,
    evaluate_goals,
    goal_news,
    pause_goal,
    pick_option,
    plan_view,
    resume_goal,
    retire_goal,
    update_goal,
)
from care.selfassessment import CARDS, CardAnswer, latest_assessment, record_self_assessment
from care.suggestions import condition_goals, plan_draft
from core.appdb.delivery import InboxMessage
from core.appdb.directory import bind_devices
from core.appdb.plans import Achievement, Goal, GoalChange
from tests.care.plan_support import (
    AppStore,
    add_patient,
    daily_steps,
    databases,
)

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def answers(**overrides: tuple[int, int, int | None]) -> list[CardAnswer]:
    out = []
    for card in CARDS:
        rating, confidence, importance = overrides.get(str(card.behaviour), (4, 8, 5))
        out.append(CardAnswer(card.behaviour, rating, confidence, importance))
    return out


def test_a_plan_of_three_goals_with_a_choice_the_patient_picks(app_store: AppStore) -> None:
    engine, store = app_store
    add_patient(engine, "p1")
    store.write(daily_steps("p1", MONDAY.replace(hour=0), [6000] * 7))
    with Session(engine) as session:
        plan = create_plan(session, store, patient_id="p1", coach_id="coach-1",
                           focus=Behaviour.BEING_ACTIVE, now=MONDAY, goals=[
                               GoalDraft(GoalKind.STEPS, target=3500, days_required=5),
                               GoalDraft(GoalKind.WEIGH_INS, target=3),
                               GoalDraft(GoalKind.SELF_REPORT, target=3, what="Walk after lunch",
                                         behaviour=Behaviour.BEING_ACTIVE, option_group="walk"),
                               GoalDraft(GoalKind.SELF_REPORT, target=3, what="Walk to the shop",
                                         behaviour=Behaviour.BEING_ACTIVE, option_group="walk")])
        view = plan_view(session, store, "p1", MONDAY)
        assert view is not None and list(view.choices) == ["walk"]
        assert [g.status for g in view.goals] == ["proposed", "proposed", "offered", "offered"]
        with pytest.raises(PlanError, match="pick one"):
            agree_plan(session, plan.id, role="patient", now=MONDAY)
        shop = view.choices["walk"][1].goal_id
        pick_option(session, plan.id, shop, by="p1", now=MONDAY)
        agree_plan(session, plan.id, role="patient", now=MONDAY)
        agree_plan(session, plan.id, role="coach", now=MONDAY)
        session.commit()
        view = plan_view(session, store, "p1", MONDAY)
        assert view is not None and view.status == "agreed" and not view.choices
        assert [g.text for g in view.goals] == [
            "Walk 3,500 steps a day on 5 days this week", "Weigh yourself on 3 mornings this week",
            "Walk to the shop on 3 days this week"]  # the option not picked is not shown
        assert all(g.status == "active" for g in view.goals)
        steps = view.goals[0]
        assert steps.changes[0]["change"] == "started"
        assert steps.rule == ("Met on 5 of 7 days → next week's target rises to 4,000 steps a "
                              "day. Missed 2 weeks in a row → it eases to 3,000 steps a day.")
        picked = session.scalars(select(GoalChange).where(GoalChange.goal_id == shop)
                                 .order_by(GoalChange.id)).all()
        assert [c.change for c in picked] == ["picked", "started"]
        with pytest.raises(PlanError, match="two or three|2 or 3"):
            create_plan(session, store, patient_id="p1", coach_id="coach-1", focus="being_active",
                        now=MONDAY, goals=[GoalDraft(GoalKind.STEPS, option_group="only one")])


def test_goals_are_added_edited_paused_resumed_and_retired_with_their_history(
        tmp_path: Path) -> None:
    engine, store = databases(tmp_path)
    add_patient(engine, "p1")
    store.write(daily_steps("p1", MONDAY.replace(hour=0), [4000] * 28))
    with Session(engine) as session:
        plan = create_plan(session, store, patient_id="p1", coach_id="coach-1",
                           focus="being_active", now=MONDAY,
                           goals=[GoalDraft(GoalKind.STEPS, target=3500)])
        agree_plan(session, plan.id, role="patient", now=MONDAY)
        agree_plan(session, plan.id, role="coach", now=MONDAY)
        (steps,) = session.scalars(select(Goal).where(Goal.plan_id == plan.id)).all()
        later = MONDAY + timedelta(days=2)
        added = add_goal(session, store, plan.id, GoalDraft(GoalKind.BP_PAIRS, target=1),
                         by="coach-1", role="coach", now=later, reason="Her nurse asked")
        assert added.status == "active" and added.starts_on == later.date()
        update_goal(session, steps.id, now=later, target=3000, by="coach-1", role="coach",
                    reason="A busy week at work")
        with pytest.raises(PlanError):
            update_goal(session, steps.id, now=later, target=20000, by="coach-1", role="coach")
        pause_goal(session, steps.id, by="coach-1", role="coach", now=later, reason="Flu")
        with pytest.raises(PlanError):
            pause_goal(session, steps.id, by="coach-1", role="coach", now=later)
        # nothing is measured while paused: the first weeks are skipped, not missed
        assert [e.goal_id for e in evaluate_goals(session, store, MONDAY + timedelta(days=15))
                if e.goal_id == steps.id] == []
        resume_goal(session, steps.id, by="coach-1", role="coach",
                    now=MONDAY + timedelta(days=15))
        events = evaluate_goals(session, store, MONDAY + timedelta(days=22))
        assert [(e.period_index, e.outcome) for e in events if e.goal_id == steps.id] == [
            (2, "stepped_up")]
        retire_goal(session, added.id, by="coach-1", role="coach", now=MONDAY + timedelta(days=22),
                    reason="Readings are steady")
        session.commit()
        view = plan_view(session, store, "p1", MONDAY + timedelta(days=22))
        assert view is not None
        assert [g.goal_id for g in view.goals] == [steps.id]
        assert [g.goal_id for g in view.retired] == [added.id]
        history = [c["change"] for c in view.goals[0].changes]
        assert history == ["stepped_up", "resumed", "paused", "edited", "started"]  # newest first
        edited = view.goals[0].changes[3]
        assert "A busy week at work" in edited["text"] and edited["old_target"] == 3500
        assert view.goals[0].changes[0]["text"].startswith("Well done: you reached your goal")
        assert "3,500 steps a day" in view.goals[0].changes[0]["text"]
        news = goal_news(session, "p1", since=MONDAY + timedelta(days=20))
        assert news[0]["change"] == "retired"  # the newest first
        assert sorted((n["goal"], n["change"]) for n in news[1:]) == [
            ("Take 1 blood-pressure pair(s) a day on 5 days this week", "kept"),
            ("Walk 3,500 steps a day on 5 days this week", "stepped_up")]
        assert goal_news(session, "p1", since=MONDAY + timedelta(days=23)) == []


def test_the_ladder_and_its_changes_in_plain_positive_words() -> None:
    assert rule_text(GoalKind.WEIGH_INS, target=7, days_required=None, step=1, minimum=1,
                     maximum=7).startswith("Met on 7 of 7 days → it stays at weighing on 7 "
                                           "days a week, the top of this goal.")
    assert "stays at its easiest" in rule_text(GoalKind.BP_PAIRS, target=1, days_required=5,
                                               step=1, minimum=1, maximum=2)
    for outcome in ("stepped_up", "kept_up", "missed", "stepped_down", "kept"):
        step = next_step(met=outcome in ("stepped_up", "kept_up"), target=5000, level=2,
                         misses_in_row=0 if outcome == "missed" else 1, step=500, minimum=1000,
                         maximum=12000)
        text = step_text(outcome, GoalKind.STEPS, old_target=5000, new_target=5000 + (
            500 if outcome == "stepped_up" else -500 if outcome == "stepped_down" else 0),
            summary="5 of 7 days with 5,000 steps or more")
        assert "5 of 7 days" in text
        assert not any(word in text.lower() for word in ("fail", "bad", "poor"))
        if outcome == "stepped_up":
            assert step.outcome == "stepped_up" and "5,500 steps a day" in text


def test_the_check_in_steers_the_draft_and_a_different_start_needs_a_reason(
        app_store: AppStore) -> None:
    engine, store = app_store
    add_patient(engine, "bob", conditions=("type2_diabetes", "hypertension", "heart_failure"))
    with Session(engine) as session:
        bind_devices(session, "bob", [("bob-meter", "glucose_meter"), ("bob-cuff", "bp_cuff"),
                                      ("bob-steps", "pedometer")])
        assert latest_assessment(session, "bob") is None
        result = record_self_assessment(session, patient_id="bob", by="bob", now=MONDAY,
                                        answers=answers(being_active=(2, 2, 9)), dds2=(4, 4))
        latest = latest_assessment(session, "bob")
        assert latest is not None and latest.focus == "being_active"
        assert latest.answers["being_active"] == {"rating": 2, "confidence": 2, "importance": 9}
        assert latest.dds2 is not None and latest.dds2.positive
        assert [r["title"] for r in latest.rows][0] == "Healthy eating" and len(latest.rows) == 7
        draft = plan_draft(session, "bob")
        assert draft.focus == "being_active" and draft.assessment_id == result.assessment_id
        kinds = [(s.condition, s.draft.kind) for s in draft.suggestions]
        assert kinds[0] == ("check-in", GoalKind.STEPS)  # the check-in's options first
        assert ("heart failure", GoalKind.WEIGH_INS) in kinds
        assert ("high blood pressure", GoalKind.BP_PAIRS) in kinds
        assert ("diabetes", GoalKind.FASTING_CHECKS) in kinds
        assert [k for k in kinds if k[1] is GoalKind.STEPS] == [("check-in", GoalKind.STEPS)]
        scale = next(s for s in draft.suggestions if s.draft.kind is GoalKind.WEIGH_INS)
        assert not scale.available and "ESC 2021" in scale.reason  # bob has no scale yet
        with pytest.raises(PlanError, match="say why"):
            create_plan(session, store, patient_id="bob", coach_id="coach-1",
                        focus="monitoring", assessment_id=result.assessment_id, now=MONDAY,
                        goals=[GoalDraft(GoalKind.BP_PAIRS, target=1)])
        plan = create_plan(session, store, patient_id="bob", coach_id="coach-1",
                           focus="monitoring", assessment_id=result.assessment_id, now=MONDAY,
                           focus_reason="His nurse wants home readings first",
                           goals=[GoalDraft(GoalKind.BP_PAIRS, target=1)])
        session.commit()
        view = plan_view(session, store, "bob", MONDAY)
        assert view is not None and view.suggested_focus == "being_active"
        assert view.focus_reason == "His nurse wants home readings first"
        assert plan.suggested_focus == "being_active"
        record = session.scalars(select(Achievement).where(Achievement.patient_id == "bob")).all()
        assert [(a.kind, a.title, a.detail) for a in record] == [
            ("check_in", "Check-in done", "Where to start: being active")]
        assert record[0].patient_confirmed_at is not None and record[0].coach_confirmed_at is None


def test_goal_suggestions_by_condition() -> None:
    copd = condition_goals(["copd"], [])
    assert [s.draft.what for s in copd] == [
        "Pace my activities: break jobs into parts and rest between them",
        "Use my inhaler as prescribed, with the technique I was shown"]
    assert all(s.available and "GOLD 2024" in s.reason for s in copd)
    diabetes = condition_goals(["type_1_diabetes"], ["cgm"])
    assert [(s.draft.kind, s.available) for s in diabetes] == [
        (GoalKind.TIME_IN_RANGE, True), (GoalKind.FASTING_CHECKS, False), (GoalKind.STEPS, False)]
    assert "Battelino 2019" in diabetes[0].reason
    assert diabetes[0].label == "50% of the week in range"
    assert condition_goals(["frailty"], []) == []


def test_unread_messages_each_way(tmp_path: Path) -> None:
    engine, _ = databases(tmp_path)
    with Session(engine) as session:
        for i, role in enumerate(("coach", "coach", "patient")):  # two to the coach, one back
            session.add(InboxMessage(recipient_key="x", recipient_role=role, patient_id="p1",
                                     kind="message", priority="normal", flag_type="message",
                                     title="t", body=f"m{i}", why="w",
                                     evidence={"author_name": "A"}, ref="r",
                                     created_at=MONDAY + timedelta(minutes=i)))
        session.add(InboxMessage(recipient_key="x", recipient_role="patient", patient_id="p1",
                                 kind="nudge", priority="low", flag_type="n", title="t", body="b",
                                 why="w", evidence={}, ref="r", created_at=MONDAY))
        session.commit()
        assert conversation.unread_for_coach(session, ["p1", "p2"]) == {"p1": 2}
        assert conversation.unread_for_patient(session, "p1") == 1  # nudges are not messages
        thread = conversation.thread(session, "p1", viewer="coach")
        assert [(m.author_role, m.unread) for m in thread] == [
            ("patient", True), ("patient", True), ("coach", False)]
        assert conversation.mark_read(session, "p1", reader="coach", now=MONDAY) == 2
        session.commit()
        assert conversation.unread_for_coach(session, ["p1"]) == {}
        assert conversation.unread_for_patient(session, "p1") == 1
