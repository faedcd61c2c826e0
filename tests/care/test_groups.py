"""Peer groups: suggested groupings within 8-15 with true reasons, management, consent in the
weekly prompts, posts and moderation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from care.goals import GoalKind
from care.grouping import PeerFeatures, cluster_people, fit_sizes, group_sizes
from care.groups import (
    GroupError,
    add_member,
    consents,
    form_group,
    group_feed,
    members,
    moderate_post,
    moderation_log,
    post,
    post_prompt,
    remove_member,
    set_consent,
    set_peer_preference,
    size_advice,
    suggest_groups,
    weekly_group_prompts,
    withdraw_post,
)
from care.plans import GoalDraft, agree_plan, create_plan
from core.appdb.plans import SharingConsent
from tests.care.plan_support import (
    AppStore,
    add_patient,
    daily_steps,
    databases,
)

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
NAMES = ["Alice Ames", "Bilal Baig", "Cora Cole", "Dev Das", "Eve Eng", "Finn Fox", "Gia Gold",
         "Hal Hart", "Ivy Ito", "Jon Jay", "Kit Kerr", "Lea Lund", "Max Moss", "Nia Noor",
         "Otto Orr", "Pia Poe"]


def person(i: int, *, language: str = "en", profile: int = 0,
           rng: np.random.Generator) -> PeerFeatures:
    if profile == 0:
        return PeerFeatures(f"a{i:03d}", ("type1_diabetes",), ("monitoring",),
                            float(rng.normal(3500, 500)), int(rng.integers(30, 40)), language)
    return PeerFeatures(f"b{i:03d}", ("type2_diabetes", "hypertension"), ("being_active",),
                        float(rng.normal(8500, 400)), int(rng.integers(70, 80)), language)


def check_reasons_are_true(suggestion, people: dict[str, PeerFeatures]) -> None:
    chosen = [people[m] for m in suggestion.members]
    n = len(chosen)
    assert {p.language for p in chosen} == {suggestion.language}
    for what, value, count in suggestion.shared:
        actual = sum(
            (value in p.conditions) if what == "condition" else (value in p.behaviours)
            if what == "behaviour" else (p.activity == value) if what == "activity"
            else (p.age_band == value) for p in chosen)
        assert actual == count and 2 * count > n
        assert ("all " if count == n else f"{count} of {n} ") in suggestion.reason


def test_suggested_groups_are_8_to_15_one_language_each_with_true_reasons() -> None:
    rng = np.random.default_rng(3)
    people = ([person(i, profile=0, rng=rng) for i in range(24)]
              + [person(i, profile=1, rng=rng) for i in range(26)]
              + [person(100 + i, language="es", profile=i % 2, rng=rng) for i in range(11)]
              + [person(200 + i, language="pl", rng=rng) for i in range(5)])
    by_id = {p.patient_id: p for p in people}
    result = cluster_people(people, seed=1)

    sizes = sorted(len(g.members) for g in result.groups)
    assert all(8 <= s <= 15 for s in sizes) and sum(sizes) == 61
    placed = [m for g in result.groups for m in g.members]
    assert len(placed) == len(set(placed))
    assert set(result.unplaced) == {p.patient_id for p in people if p.language == "pl"}
    assert "fewer than 8 people who talk in Polish" in result.unplaced["a200"]
    for suggestion in result.groups:
        check_reasons_are_true(suggestion, by_id)
    english = [g for g in result.groups if g.language == "en"]
    assert len(english) == 4
    # two clearly different populations: the clustering keeps them apart
    pure = [g for g in english if len({m[0] for m in g.members}) == 1]
    assert len(pure) == 4, [g.reason for g in english]
    sedentary = next(g for g in english if g.members[0].startswith("a"))
    assert "live with type 1 diabetes" in sedentary.reason
    assert "walk under 5,000 steps a day" in sedentary.reason
    assert "are in their 30s" in sedentary.reason and "working on monitoring" in sedentary.reason
    assert sedentary.reason.startswith("All ") and "talk in English" in sedentary.reason


def test_large_populations_use_the_greedy_balanced_assignment() -> None:
    rng = np.random.default_rng(5)
    people = [person(i, profile=int(rng.integers(0, 2)), rng=rng) for i in range(700)]
    result = cluster_people(people)
    sizes = Counter(len(g.members) for g in result.groups)
    assert sum(k * v for k, v in sizes.items()) == 700 and all(8 <= k <= 15 for k in sizes)


@pytest.mark.parametrize("n", [8, 15, 16, 17, 29, 31, 100, 241])
def test_group_sizes_stay_within_bounds(n: int) -> None:
    sizes = group_sizes(n)
    assert sum(sizes) == n and all(8 <= s <= 15 for s in sizes)
    assert group_sizes(7) == []


def test_cluster_sizes_move_only_as_far_as_the_bounds_need() -> None:
    assert fit_sizes([12, 12, 13, 13]) == [12, 12, 13, 13]
    assert fit_sizes([18, 4, 10]) == [15, 8, 9]  # 33 after clipping: the 10 gives one up
    assert fit_sizes([20, 5, 7]) == [15, 8, 9]
    with pytest.raises(ValueError):
        fit_sizes([30, 2])


def test_suggestions_from_the_database_and_the_step_store(tmp_path: Path) -> None:
    engine, store = databases(tmp_path)
    for i in range(11):
        add_patient(engine, f"p{i:02d}", conditions=("type2_diabetes",), birth_year=1960)
        store.write(daily_steps(f"p{i:02d}", MONDAY - timedelta(days=14), [3000 + 100 * i] * 14))
    with Session(engine) as session:
        set_peer_preference(session, "p10", language="en", open_to_groups=False, now=MONDAY)
        result = suggest_groups(session, store, MONDAY)
        caseload = suggest_groups(session, store, MONDAY, patient_ids={"p00", "p01", "p02"})
    assert caseload.groups == () and set(caseload.unplaced) == {"p00", "p01", "p02"}
    (group,) = result.groups
    assert sorted(group.members) == [f"p{i:02d}" for i in range(10)]  # p10 said no to groups
    assert group.reason.startswith("All 10 talk in English;")
    assert "all live with type 2 diabetes" in group.reason
    assert "all walk under 5,000 steps a day" in group.reason
    assert "all are in their 60s" in group.reason
    store.close()


def _group(session: Session, n: int = 9, **kwargs) -> str:
    return form_group(session, name="Tuesday walkers", coach_id="coach-1", now=MONDAY,
                      member_ids=[f"p{i:02d}" for i in range(n)], **kwargs).id


def test_forming_and_managing_a_group(tmp_path: Path) -> None:
    engine, store = databases(tmp_path)
    with Session(engine) as session:
        with pytest.raises(GroupError):
            _group(session, n=1)  # a group is two people or more
        with pytest.raises(GroupError):
            _group(session, n=16)
        assert "8-15" in size_advice(len(members(session, _group(session, n=2))))  # advice only
        assert size_advice(9) == ""
        group_id = _group(session, n=15)
        with pytest.raises(GroupError):
            add_member(session, group_id, "p99", by="coach-1", now=MONDAY)  # full
        with pytest.raises(GroupError):
            remove_member(session, group_id, "p01", by="p02", now=MONDAY)  # not the coach
        remove_member(session, group_id, "p01", by="p01", now=MONDAY)  # leaving
        remove_member(session, group_id, "p02", by="coach-1", now=MONDAY)
        with pytest.raises(GroupError):
            add_member(session, group_id, "p99", by="p03", now=MONDAY)
        add_member(session, group_id, "p99", by="coach-1", now=MONDAY)
        add_member(session, group_id, "p01", by="coach-1", now=MONDAY)  # welcomed back
        assert len(members(session, group_id)) == 15
        assert "p02" not in members(session, group_id) and "p01" in members(session, group_id)
    store.close()


def test_weekly_prompts_respect_each_members_consent(app_store: AppStore) -> None:
    engine, store = app_store
    ids = [f"p{i:02d}" for i in range(9)]
    for pid, name in zip(ids, NAMES, strict=False):
        add_patient(engine, pid, name=name)
    # p00, p01, p02 walk 4,000 a day against a 3,500 goal; p03 walks 2,000
    for pid in ("p00", "p01", "p02"):
        store.write(daily_steps(pid, MONDAY, [4000] * 14))
    store.write(daily_steps("p03", MONDAY, [2000] * 14))
    prompts_at = MONDAY + timedelta(days=7, hours=9)
    with Session(engine) as session:
        for pid in ("p00", "p01", "p02"):
            plan = create_plan(session, store, patient_id=pid, coach_id="coach-1",
                               focus="being_active",
                               goals=[GoalDraft(GoalKind.STEPS, target=3500)], now=MONDAY)
            agree_plan(session, plan.id, role="patient", now=MONDAY)
            agree_plan(session, plan.id, role="coach", now=MONDAY)
        group_id = _group(session, challenge_kind=GoalKind.STEPS, challenge_target=100_000)
        set_consent(session, group_id, "p00", scope="achievements", granted=True, now=MONDAY)
        set_consent(session, group_id, "p00", scope="name", granted=True, now=MONDAY)
        set_consent(session, group_id, "p01", scope="achievements", granted=True, now=MONDAY)
        # p02 reached the goal too but chose to share nothing; p03 once shared her name, then not
        set_consent(session, group_id, "p03", scope="name", granted=True, now=MONDAY)
        set_consent(session, group_id, "p03", scope="name", granted=False, now=MONDAY)
        for pid in ("p00", "p03"):
            set_consent(session, group_id, pid, scope="challenge", granted=True, now=MONDAY)
        with pytest.raises(GroupError):
            set_consent(session, group_id, "p99", scope="name", granted=True, now=MONDAY)
        assert consents(session, group_id, "p03") == {"name": False, "achievements": False,
                                                      "challenge": True}

        sent = weekly_group_prompts(session, store, prompts_at)
        session.commit()
        assert weekly_group_prompts(session, store, prompts_at + timedelta(hours=2)) == []

    by_flag: dict[str, list] = {}
    for message in sent:
        by_flag.setdefault(message.flag_type, []).append(message)
    challenge, question = by_flag["group_challenge"], by_flag["group_question"]
    assert sorted(m.recipient_id for m in challenge) == ids
    assert sorted(m.recipient_id for m in question) == ids
    week = (MONDAY + timedelta(days=7, hours=9) - timedelta(days=7), prompts_at)
    expected = (store.read_series("p00", "steps", *week).values.sum()
                + store.read_series("p03", "steps", *week).values.sum())
    assert challenge[0].evidence["total_steps"] == pytest.approx(expected)
    assert challenge[0].evidence["taking_part"] == 2
    assert f"{expected:,.0f} steps" in challenge[0].body and "2 of 9 members" in challenge[0].body

    invited = sorted(m.recipient_id for m in by_flag["group_share_invitation"])
    assert invited == ["p00", "p01"]  # p02 did not consent to share achievements
    assert "Congratulations to Alice and 1 more member" in question[0].body

    # nobody who did not choose to be named is ever named, nor their id shown to others
    for message in sent:
        text = f"{message.title} {message.body} {message.why} {message.evidence}"
        for pid, name in zip(ids[1:], NAMES[1:], strict=False):
            assert name.split()[0] not in text
            if message.recipient_id != pid:
                assert pid not in text


def test_posts_are_shared_by_choice_and_coaches_moderate(app_store: AppStore) -> None:
    engine, store = app_store
    for i, name in enumerate(NAMES[:9]):
        add_patient(engine, f"p{i:02d}", name=name)
    with Session(engine) as session:
        group_id = _group(session)
        set_consent(session, group_id, "p00", scope="name", granted=True, now=MONDAY)
        first = post(session, group_id, "p00", "  A walk after lunch really helps me.  ",
                     now=MONDAY)
        second = post(session, group_id, "p01", "I check my feet every Sunday evening.",
                      now=MONDAY + timedelta(minutes=5), reply_to=first.id)
        with pytest.raises(GroupError):
            post(session, group_id, "p50", "not a member", now=MONDAY)
        with pytest.raises(GroupError):
            post(session, group_id, "p02", "x" * 501, now=MONDAY)
        with pytest.raises(GroupError):
            post(session, group_id, "p02", "   ", now=MONDAY)
        consent = session.scalars(select(SharingConsent)
                                  .where(SharingConsent.ref == second.id)).one()
        assert (consent.member_id, consent.scope, consent.granted) == ("p01", "post", True)

        feed = group_feed(session, group_id, "p05")
        assert [(p.author, p.body) for p in feed] == [
            ("Alice", "A walk after lunch really helps me."),
            ("A member", "I check my feet every Sunday evening.")]  # p01 did not share a name
        assert group_feed(session, group_id, "p01")[1].author == "You"
        with pytest.raises(GroupError):
            group_feed(session, group_id, "outsider")

        with pytest.raises(GroupError):
            moderate_post(session, second.id, moderator_id="p03", action="hide", reason="no",
                          now=MONDAY)
        with pytest.raises(GroupError):
            moderate_post(session, second.id, moderator_id="coach-1", action="hide", reason=" ",
                          now=MONDAY)
        moderate_post(session, second.id, moderator_id="coach-1", action="hide",
                      reason="Shares someone else's medical details", now=MONDAY)
        assert [p.post_id for p in group_feed(session, group_id, "p05")] == [first.id]
        own = group_feed(session, group_id, "p01")[1]
        assert own.state == "hidden"
        assert own.moderation_reason == "Shares someone else's medical details"
        assert [p.state for p in group_feed(session, group_id, "coach-1")] == ["visible", "hidden"]
        moderate_post(session, second.id, moderator_id="coach-1", action="unhide",
                      reason="Edited with the member's agreement", now=MONDAY + timedelta(hours=1))
        assert len(group_feed(session, group_id, "p05")) == 2
        assert [e.action for e in moderation_log(session, second.id)] == ["hide", "unhide"]

        with pytest.raises(GroupError):
            withdraw_post(session, first.id, author_id="p01", now=MONDAY)
        withdraw_post(session, first.id, author_id="p00", now=MONDAY + timedelta(hours=2))
        assert [p.post_id for p in group_feed(session, group_id, "coach-1")] == [second.id]
        withdrawn = session.scalars(select(SharingConsent).where(
            SharingConsent.ref == first.id).order_by(SharingConsent.id)).all()
        assert [c.granted for c in withdrawn] == [True, False]


def test_a_small_group_by_hand_with_a_coach_prompt(app_store: AppStore) -> None:
    """A clinic of two: the coach forms a group of 2, prompts it, members answer."""
    engine, store = app_store
    add_patient(engine, "p00", name="Alice Smith")
    add_patient(engine, "p01", name="Bea Jones")
    with Session(engine) as session:
        group_id = _group(session, n=2)
        prompt = post_prompt(session, group_id, "coach-1", " What helped this week? ", now=MONDAY)
        with pytest.raises(GroupError):
            post_prompt(session, group_id, "p00", "not the coach", now=MONDAY)
        with pytest.raises(GroupError):
            post_prompt(session, group_id, "coach-1", "x" * 501, now=MONDAY)
        post(session, group_id, "p00", "A walk after lunch", now=MONDAY + timedelta(minutes=5),
             prompt_id=prompt.id)
        session.commit()
        seen_by_bea = group_feed(session, group_id, "p01")
        assert [(p.author, p.body, p.by_coach) for p in seen_by_bea] == [
            ("Your coach", "What helped this week?", True),
            ("A member", "A walk after lunch", False)]
        assert group_feed(session, group_id, "coach-1")[0].author == "You"
        # the coach can hide a member's post, and the other member no longer sees it
        moderate_post(session, seen_by_bea[1].post_id, moderator_id="coach-1", action="hide",
                      reason="Off topic", now=MONDAY + timedelta(hours=1))
        assert [p.body for p in group_feed(session, group_id, "p01")] == ["What helped this week?"]
    store.close()
