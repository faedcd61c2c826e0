"""The patient's goals and joint record, self-assessment, peer group and sharing
settings, and the coach's group management, through the real app."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from care import plans as coach_plans
from care.goals import GoalKind
from core.appdb.coaching import CoachAlert
from tests.dashboard.views_support import NOW, World, build_world
from tests.support.accounts import csrf_from


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    gen = build_world(tmp_path_factory.mktemp("selfcare"), extra_patients=9)
    yield next(gen)
    next(gen, None)


def test_goals_plan_agreement_and_the_joint_record(world: World) -> None:
    with Session(world.engine) as session:
        plan = coach_plans.create_plan(
            session, world.store, patient_id="p1", coach_id=world.people.coach,
            focus="being_active",
            goals=[coach_plans.GoalDraft(kind=GoalKind.STEPS, target=6000.0)], now=world.clock())
        session.commit()
        plan_id = plan.id
    patient = world.client("patient")
    page = patient.get("/patients/p1/goals")
    assert "I agree to this plan" in page.text and "6000" in page.text.replace(",", "")
    token = csrf_from(page.text)
    patient.post(f"/patients/p1/plan/{plan_id}/agree", data={"csrf_token": token})
    coach = world.client("coach")
    coach.post(f"/coach/patients/p1/plan/{plan_id}/agree",
               data={"csrf_token": csrf_from(coach.get("/coach/patients/p1").text)})
    page = patient.get("/patients/p1/goals").text
    assert "Agreed by you and your coach" in page and "Plan agreed" in page
    patient.post("/patients/p1/achievements",
                 data={"csrf_token": token, "title": "Walked to the shop"})
    page = patient.get("/patients/p1/goals").text
    assert "Walked to the shop" in page
    patient.post("/patients/p1/messages", data={"csrf_token": token, "body": "Thanks, going well"})
    assert "Thanks, going well" in coach.get("/coach/patients/p1").text
    # the caregiver may read (shares goals? no: readings, trends, alerts) -> forbidden
    assert world.client("caregiver").get("/patients/p1/goals").status_code == 403
    # the coach may read the patient's goals page but not write as the patient
    assert coach.get("/patients/p1/goals").status_code == 200
    assert coach.post("/patients/p1/achievements", data={
        "csrf_token": csrf_from(coach.get("/coach").text), "title": "x"}).status_code == 403


def test_self_assessment_picks_a_start_and_flags_distress_to_the_coach(world: World) -> None:
    patient = world.client("patient")
    page = patient.get("/patients/p1/self-assessment")
    assert page.status_code == 200 and page.text.count("<fieldset") == 10  # 8 + outcomes, WHO-5
    form = {"csrf_token": csrf_from(page.text)}
    behaviours = ["healthy_eating", "being_active", "monitoring", "taking_medication",
                  "problem_solving", "healthy_coping", "reducing_risks"]
    for b in behaviours:
        form[f"rating-{b}"] = "4"
        form[f"confidence-{b}"] = "8"
    form["rating-being_active"] = "1"
    incomplete = dict(form)
    del incomplete["rating-monitoring"]
    assert patient.post("/patients/p1/self-assessment", data=incomplete).status_code == 422
    done = patient.post("/patients/p1/self-assessment", data=form | {"dds2-overwhelmed": "5",
                                                                     "dds2-failing": "5"})
    assert done.status_code == 200 and 'id="assessment-result"' in done.text
    assert "Your coach will get in touch" in done.text
    with Session(world.engine) as session:
        alerts = session.scalars(select(CoachAlert).where(
            CoachAlert.patient_id == "p1", CoachAlert.group == "self_assessment")).all()
    assert len(alerts) == 1 and alerts[0].state == "open"
    assert alerts[0].id in [a["id"] for a in world.client("coach").get("/api/alerts").json()]


def test_coach_forms_a_group_members_post_and_the_coach_moderates(world: World) -> None:
    coach = world.client("coach")
    page = coach.get("/care/groups?suggest=1")
    assert page.status_code == 200
    members = ["p1", *[f"q{i:03d}" for i in range(8)]]
    token = csrf_from(page.text)
    formed = coach.post("/care/groups", data={"csrf_token": token, "name": "Morning walkers",
                                               "reason": "All like walking", "member": members},
                        follow_redirects=False)
    assert formed.status_code == 303, formed.text
    assert coach.post("/care/groups", data={"csrf_token": token, "name": "x",
                                             "member": ["nobody"] * 8}).status_code == 403
    patient = world.client("patient")
    page = patient.get("/patients/p1/group")
    assert "Morning walkers" in page.text
    gid = page.text.split('data-group="')[1].split('"')[0]
    ptoken = csrf_from(page.text)
    patient.post(f"/patients/p1/group/{gid}/posts",
                 data={"csrf_token": ptoken, "body": "Hello all"})
    patient.post(f"/patients/p1/group/{gid}/consent", data={"csrf_token": ptoken, "name": "on"})
    feed = coach.get("/care/groups").text
    assert "Hello all" in feed and "<strong>Pat</strong>" in feed  # named: the member agreed
    post_id = feed.split('data-post="')[1].split('"')[0]
    coach.post(f"/care/groups/{gid}/posts/{post_id}/moderate",
               data={"csrf_token": token, "action": "hide", "reason": "Personal details"})
    assert "Hidden by your coach: Personal details" in patient.get("/patients/p1/group").text


def test_sharing_settings_change_what_the_caregiver_sees(world: World) -> None:
    caregiver = world.client("caregiver")
    assert caregiver.get("/api/patients/p1/trends").status_code == 200
    patient = world.client("patient")
    page = patient.get("/patients/p1/sharing")
    assert 'data-caregiver="cara"' in page.text
    patient.post("/patients/p1/sharing/cara", data={"csrf_token": csrf_from(page.text),
                                                    "scope-readings": "on", "urgent_alerts": "on"})
    assert caregiver.get("/api/patients/p1/trends").status_code == 403
    assert caregiver.get("/api/patients/p1/today").status_code == 200
    assert patient.post("/patients/p1/sharing/stranger",
                        data={"csrf_token": csrf_from(page.text)}).status_code == 404


def test_the_check_in_shows_the_last_answers_to_change(world: World) -> None:
    patient = world.client("patient")
    page = patient.get("/patients/p1/self-assessment").text
    form = {"csrf_token": csrf_from(page)}
    for b in ["healthy_eating", "being_active", "monitoring", "taking_medication",
              "problem_solving", "healthy_coping", "reducing_risks"]:
        form |= {f"rating-{b}": "3", f"confidence-{b}": "6"}
    form |= {"confidence-healthy_coping": "1", "importance-healthy_coping": "10",
             "dds2-overwhelmed": "2", "dds2-failing": "2"}
    bad = patient.post("/patients/p1/self-assessment", data=form | {"rating-monitoring": "x"})
    assert bad.status_code == 422 and "whole number" in bad.text
    world.clock.now = NOW + timedelta(minutes=5)  # after the check-in of the test above
    try:
        assert patient.post("/patients/p1/self-assessment", data=form).status_code == 200
        again = patient.get("/patients/p1/self-assessment").text
    finally:
        world.clock.now = NOW
    assert 'id="last-answers"' in again and "healthy coping" in again
    coping = again.split('id="confidence-healthy_coping"')[1].split("</select>")[0]
    assert '<option value="1" selected>' in coping
    importance = again.split('id="importance-healthy_coping"')[1].split("</select>")[0]
    assert '<option value="10" selected>' in importance
    distress = again.split('id="dds2-failing"')[1].split("</select>")[0]
    assert '<option value="2" selected>' in distress


def test_a_group_of_two_by_hand_with_a_prompt_the_members_see(world: World) -> None:
    coach = world.client("coach")
    page = coach.get("/care/groups?suggest=1").text
    token = csrf_from(page)
    alone = coach.post("/care/groups", data={"csrf_token": token, "name": "Pair",
                                              "member": ["q008"]})
    assert alone.status_code == 422 and "2-15 members" in alone.text
    assert 'id="member-q008" checked' in alone.text  # the form keeps what was ticked
    made = coach.post("/care/groups", data={"csrf_token": token, "name": "Tea and a walk",
                                             "member": ["p1", "q008"]}, follow_redirects=False)
    assert made.status_code == 303
    page = coach.get("/care/groups").text
    section = page.split("Tea and a walk")[0].rsplit('data-group="', 1)[1]
    gid = section.split('"')[0]
    assert "2 members: a small group works" in page.split(f'data-group="{gid}"')[1]
    coach.post(f"/care/groups/{gid}/prompts", data={"csrf_token": token,
                                                   "body": "Where did you walk this week?"})
    patient = world.client("patient")
    mine = patient.get("/patients/p1/group").text.split(f'data-group="{gid}"')[1]
    assert ("Your coach" in mine and "Where did you walk this week?" in mine
            and "data-prompt" in mine)
    assert world.client("patient").post(f"/care/groups/{gid}/prompts", data={
        "csrf_token": csrf_from(mine), "body": "x"}).status_code == 403


def test_the_check_in_reads_in_polish_and_urdu(world: World) -> None:
    """Issue 20: the self-assessment's cards, scales, the distress items and the result are
    in the reader's language (gettext catalogues), Urdu right to left."""
    patient = world.client("patient")
    pl = {"Accept-Language": "pl"}
    page = patient.get("/patients/p1/self-assessment", headers=pl).text
    for polish in ("Zdrowe jedzenie", "Jak idzie Ci ruch?", "Wcale nie dobrze",
                   "Poczucie przytłoczenia wymaganiami życia z cukrzycą.", "Bardzo poważny problem",
                   "Jak ważne jest to dla Ciebie teraz? (0 = wcale, 10 = bardzo)"):
        assert polish in page, polish
    assert "Healthy eating" not in page and "Not well at all" not in page
    form = {"csrf_token": csrf_from(page)}
    for b in ("healthy_eating", "being_active", "monitoring", "taking_medication",
              "problem_solving", "healthy_coping", "reducing_risks"):
        form |= {f"rating-{b}": "4", f"confidence-{b}": "8", f"importance-{b}": "5"}
    form |= {"confidence-monitoring": "2", "importance-monitoring": "9"}
    done = patient.post("/patients/p1/self-assessment", data=form, headers=pl).text
    assert "Pomiary: to jest dla Ciebie ważne (9 na 10). Tu czujesz się najmniej pewnie " \
           "(2 na 10)." in done
    assert "Zapisywać, co zauważam w swoich wynikach" in done  # a goal to choose, in Polish
    ur = patient.get("/patients/p1/self-assessment", headers={"Accept-Language": "ur"}).text
    assert 'dir="rtl"' in ur and "صحت مند کھانا" in ur and "بہت سنگین مسئلہ" in ur
