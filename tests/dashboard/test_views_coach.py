"""The coach view through the real app: alert queue with acknowledge / snooze / resolve
(the escalation ladder stops), caseload, plan editor, messages, nudges and "not useful"."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from care import alerts as care_alerts
from coach import escalation
from core.appdb.coaching import CoachAlert, CoachNudge, EscalationStep
from core.metrics import Metric
from tests.dashboard.views_support import NOW, World, build_world, r
from tests.support.accounts import csrf_from, sign_in

LADDER = ["patient", "caregiver", "coach", "nurse"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    gen = build_world(tmp_path_factory.mktemp("coach"), extra_patients=2)
    yield next(gen)
    next(gen, None)


def urgent_alert(
    world: World, alert_id: str, *, patient_id: str = "p1", minutes_ago: int = 10
) -> None:
    """An urgent alert whose ladder told the patient and waits to tell the caregiver."""
    created = NOW - timedelta(minutes=minutes_ago)
    with Session(world.engine) as session:
        session.add(CoachAlert(id=alert_id, patient_id=patient_id, flag_type="glucose_very_low",
                               group="glucose_low", kind="escalation", audience="coach",
                               priority="urgent", title="Very low glucose",
                               body="Glucose 48 mg/dL.",
                               why="Glucose below 54 mg/dL for 20 minutes.",
                               evidence={}, state="open", created_at=created, ladder=LADDER, step=0,
                               next_step_at=NOW + timedelta(minutes=5)))
        session.add(EscalationStep(alert_id=alert_id, step=0, role="patient",
                                   recipient_id=patient_id, action="notified", at=created))
        session.commit()


def plain_alert(world: World, alert_id: str, priority: str, *, patient_id: str = "q000",
                minutes_ago: int = 60, kind: str = "alert") -> None:
    with Session(world.engine) as session:
        session.add(CoachAlert(id=alert_id, patient_id=patient_id, flag_type="tir_falling",
                               kind=kind, audience="coach", priority=priority,
                               title=f"{priority} alert", body="b", why=f"why {priority}",
                               evidence={}, state="open",
                               created_at=NOW - timedelta(minutes=minutes_ago), ladder=[]))
        session.commit()


def test_queue_is_sorted_by_priority_then_age_and_says_why(world: World) -> None:
    urgent_alert(world, "u1")
    plain_alert(world, "n1", "normal", minutes_ago=300)
    plain_alert(world, "h1", "high", minutes_ago=30)
    plain_alert(world, "h2", "high", minutes_ago=90)
    coach = world.client("coach")
    queue = coach.get("/api/alerts").json()
    assert [a["id"] for a in queue][:4] == ["u1", "h2", "h1", "n1"]
    first = queue[0]
    assert first["patient_name"] == "Pat Example" and first["age"] == "10 min"
    assert first["why"].startswith("Glucose below 54") and first["next_role"] == "caregiver"
    page = coach.get("/coach")
    assert 'data-alert="u1"' in page.text and "next: <strong>caregiver</strong>" in page.text
    # the nurse's queue shows only clinical alerts (and escalations)
    nurse_ids = [a["id"] for a in world.client("nurse").get("/api/alerts").json()]
    assert "u1" in nurse_ids and "h1" not in nurse_ids


def test_acknowledging_stops_the_escalation(world: World) -> None:
    urgent_alert(world, "u2")
    coach = world.client("coach")
    page = coach.get("/coach")
    done = coach.post("/patients/p1/alerts/u2/acknowledge",
                      data={"csrf_token": csrf_from(page.text), "back": "/coach"},
                      follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/coach"
    with Session(world.engine) as session:
        later = escalation.advance(session, NOW + timedelta(hours=2))
        session.commit()
        alert = session.get(CoachAlert, "u2")
        assert alert.state == "acknowledged" and alert.acknowledged_by == world.people.coach
        actions = [s.action for s in care_alerts.steps(session, "u2")]
    assert [m for m in later if m.ref == "u2"] == []  # no further step, however long we wait
    assert actions == ["notified", "acknowledged"]
    assert "u2" not in [a["id"] for a in coach.get("/api/alerts").json()]


def test_snooze_and_resolve_with_note(world: World) -> None:
    plain_alert(world, "s1", "high")
    plain_alert(world, "r1", "high")
    urgent_alert(world, "u-snooze")  # this test's own: it does not rely on another's u1
    coach = world.client("coach")
    token = csrf_from(coach.get("/coach").text)
    assert coach.post("/patients/q000/alerts/s1/snooze", data={"csrf_token": token, "snooze": "2h"},
                      follow_redirects=False).status_code == 303
    snoozed = {a["id"]: a for a in coach.get("/api/alerts").json()}["s1"]
    assert snoozed["state"] == "snoozed"
    no_note = coach.post("/patients/q000/alerts/r1/resolve",
                         data={"csrf_token": token, "note": " "})
    assert no_note.status_code == 422
    coach.post("/patients/q000/alerts/r1/resolve", data={"csrf_token": token, "note": "Called her"},
               follow_redirects=False)
    with Session(world.engine) as session:
        resolved = session.get(CoachAlert, "r1")
        assert resolved.state == "resolved" and resolved.note == "Called her"
    # an alert can only be acted on through its own patient, and by those who see that patient
    assert coach.post("/patients/p1/alerts/s1/acknowledge",
                      data={"csrf_token": token}).status_code == 404
    patient = world.client("patient")
    ptoken = csrf_from(patient.get("/settings").text)
    assert patient.post("/patients/q000/alerts/s1/acknowledge",
                        data={"csrf_token": ptoken}).status_code == 403
    assert patient.post("/patients/p1/alerts/u-snooze/snooze",
                        data={"csrf_token": ptoken}).status_code == 403


def test_caseload_plan_editor_and_messages(world: World) -> None:
    coach = world.client("coach")
    page = coach.get("/coach/patients/q001")
    assert page.status_code == 200 and "No plan yet" in page.text
    token = csrf_from(page.text)
    proposed = coach.post("/coach/patients/q001/plan", data={
        "csrf_token": token, "focus": "being_active", "goal-own0-include": "on",
        "goal-own0-kind": "daily_steps", "goal-own0-target": "4000", "goal-own0-days": "5",
        "goal-own0-patient_part": "Walk after lunch",
        "goal-own0-professional_part": "Check in on Fridays"}, follow_redirects=False)
    assert proposed.status_code == 303, proposed.text
    coach.post("/coach/patients/q001/messages",
               data={"csrf_token": token, "body": "How was the walk?"})
    page = coach.get("/coach/patients/q001").text
    assert "Walk after lunch" in page and "patient has not agreed yet" in page
    assert "How was the walk?" in page
    caseload = coach.get("/coach").text
    row = caseload.split('data-patient="q001"')[1].split("</tr>")[0]
    assert "15 Mar" in row and "draft" in row
    # the nurse cannot use the coach's pages
    assert world.client("nurse").get("/coach/patients/q001").status_code == 403


def test_patient_sees_todays_nudges_with_why_and_says_not_useful(world: World) -> None:
    with Session(world.engine) as session:
        session.add(CoachNudge(id="nudge1", patient_id="p1", kind="nudge",
                               flag_type="post_breakfast_high", priority="normal",
                               title="Breakfast", body="Try a walk after breakfast.",
                               why="Your glucose was above 180 after breakfast "
                                   "on 4 of the last 7 days.",
                               evidence={}, status="sent", created_at=NOW - timedelta(hours=2),
                               sent_at=NOW - timedelta(hours=2)))
        session.add(CoachNudge(id="old", patient_id="p1", kind="nudge", flag_type="x",
                               priority="normal", title="Yesterday", body="old", why="old",
                               evidence={}, status="sent", created_at=NOW - timedelta(days=1)))
        session.commit()
    patient = world.client("patient")
    page = patient.get("/patients/p1/today")
    assert "above 180 after breakfast on 4 of the last 7 days" in page.text
    assert 'data-nudge="old"' not in page.text
    answered = patient.post("/patients/p1/nudges/nudge1/feedback",
                            data={"csrf_token": csrf_from(page.text), "feedback": "not_useful"},
                            follow_redirects=False)
    assert answered.status_code == 303
    with Session(world.engine) as session:
        assert session.get(CoachNudge, "nudge1").feedback == "not_useful"
    assert "you said: not useful" in patient.get("/patients/p1/today").text


CARDS = ["healthy_eating", "being_active", "monitoring", "taking_medication", "problem_solving",
         "healthy_coping", "reducing_risks"]


def check_in(world: World, *, active_confidence: int = 2) -> None:
    patient = world.client("patient")
    form = {"csrf_token": csrf_from(patient.get("/patients/p1/self-assessment").text)}
    for b in CARDS:
        form |= {f"rating-{b}": "4", f"confidence-{b}": "8", f"importance-{b}": "5"}
    form |= {"rating-being_active": "2", "confidence-being_active": str(active_confidence),
             "importance-being_active": "9", "dds2-overwhelmed": "2", "dds2-failing": "3"}
    assert patient.post("/patients/p1/self-assessment", data=form).status_code == 200


def signed_in(world: World, name: str) -> TestClient:
    client = TestClient(world.app)
    assert sign_in(client, name).status_code == 303
    return client


def ids(html: str, attribute: str) -> list[str]:
    return [part.split('"')[0] for part in html.split(f'{attribute}="')[1:]]


def test_check_in_to_a_plan_of_three_goals_that_steps_up_in_view(world: World) -> None:
    check_in(world, active_confidence=3)
    check_in(world, active_confidence=2)  # two sittings: the chart has a line
    coach = world.client("coach")
    page = coach.get("/coach/patients/p1").text
    assert 'id="checkin-start">Being active<' in page
    areas = page.split('id="checkin-areas"')[1].split("</table>")[0]
    assert areas.count("data-area=") == 7 and "Not so well (2/5)" in areas
    assert "mean <strong>2.5</strong> of 6" in page and "below the follow-up level" in page
    assert page.count('data-chart="confidence"') == 7 and page.count('data-chart="distress"') == 1
    assert "at each check-in: 3.0, 2.0" in page  # being active's confidence over time
    assert '<option value="being_active" selected>' in page  # the draft starts where it suggests
    assessment_id = page.split('name="assessment_id" value="')[1].split('"')[0]
    token = csrf_from(page)
    goals = {"goal-own0-include": "on", "goal-own0-kind": "daily_steps",
             "goal-own0-target": "6000", "goal-own0-days": "5",
             "goal-own1-include": "on", "goal-own1-kind": "weigh_ins", "goal-own1-target": "3"}
    for n, what in ((2, "Walk to the shop"), (3, "Dance in the kitchen")):
        goals |= {f"goal-own{n}-include": "on", f"goal-own{n}-kind": "self_report",
                  f"goal-own{n}-target": "3", f"goal-own{n}-what": what,
                  f"goal-own{n}-behaviour": "being_active", f"goal-own{n}-choice": "A"}
    base = {"csrf_token": token, "assessment_id": assessment_id}
    elsewhere = coach.post("/coach/patients/p1/plan", data=base | goals | {"focus": "monitoring"})
    assert elsewhere.status_code == 422 and "say why" in elsewhere.text
    bad = coach.post("/coach/patients/p1/plan", data=base | goals | {
        "focus": "being_active", "goal-own0-target": "lots"})
    assert bad.status_code == 422 and "not a number" in bad.text
    done = coach.post("/coach/patients/p1/plan", data=base | goals | {"focus": "being_active"},
                      follow_redirects=False)
    assert done.status_code == 303, done.text

    patient = world.client("patient")
    page = patient.get("/patients/p1/goals").text
    assert "Choose one of these" in page and 'id="agree-plan"' not in page  # pick first
    plan_id = page.split("/plan/")[1].split("/")[0]
    shop = page.split('value="')[page.split('value="').index(next(
        p for p in page.split('value="') if "Walk to the shop" in p.split("</label>")[0]))]
    pick = shop.split('"')[0]
    ptoken = csrf_from(page)
    assert patient.post(f"/patients/p1/plan/{plan_id}/pick",
                        data={"csrf_token": ptoken, "goal_id": "nope"}).status_code == 404
    patient.post(f"/patients/p1/plan/{plan_id}/pick", data={"csrf_token": ptoken, "goal_id": pick})
    patient.post(f"/patients/p1/plan/{plan_id}/agree", data={"csrf_token": ptoken})
    coach.post(f"/coach/patients/p1/plan/{plan_id}/agree", data={"csrf_token": token})
    page = unescape(coach.get("/coach/patients/p1").text)
    assert page.count('data-goal="') == 3 and "Dance in the kitchen" not in page
    assert ("Met on 5 of 7 days → next week's target rises to 6,500 steps a day." in page)

    # a week of 8,000 steps a day; the coach runs the weekly evaluation on demand
    world.store.write([r("p1", "p1-steps2", Metric.STEPS, 8000.0, NOW.replace(hour=13)
                         + timedelta(days=d), "step_counter", "{steps}") for d in range(7)])
    world.clock.now = NOW + timedelta(days=7)
    try:
        # a week later both sign in again (the sessions of a week ago have expired; the
        # module's signed-in clients are left alone for the other tests)
        coach = signed_in(world, world.people.coach)
        patient = signed_in(world, world.people.patient)
        token = csrf_from(coach.get("/coach/patients/p1").text)
        evaluated = coach.post("/coach/patients/p1/evaluate", data={"csrf_token": token},
                               follow_redirects=False)
        assert evaluated.headers["location"] == "/coach/patients/p1?evaluated=2#plan"
        page = unescape(coach.get("/coach/patients/p1?evaluated=2").text)
        assert "2 finished weeks evaluated" in page
        steps = page.split("Walk 6,500 steps a day on 5 days this week")[1].split("</article>")[0]
        assert "Level <strong data-level>2</strong>" in steps
        assert 'data-change="stepped_up"' in steps
        assert "next week's target rises to 7,000 steps a day" in steps
        mine = unescape(patient.get("/patients/p1/goals").text)
        assert "Well done: you reached your goal (7 of 7 days with 6,000 steps or more" in mine
        assert "Next week's goal is one small step more: 6,500 steps a day." in mine
        assert "a fresh start this week" in mine  # the weigh-ins, missed, said kindly
        assert "Goal met" not in mine and "Walk 6,000 steps a day on 5 days this week" in mine
        # the goal in her own words: she ticks off the days of the finished week
        shop = mine.split('data-report="')[1].split('"')[0]
        ptoken = csrf_from(mine)
        days = [(NOW + timedelta(days=d)).date().isoformat() for d in (0, 2, 4, 5)]
        assert patient.post(f"/patients/p1/goals/{shop}/report", data={
            "csrf_token": ptoken, "period_index": "0", "day": ["not a day"]}).status_code == 422
        assert patient.post(f"/patients/p1/goals/{shop}/report", data={
            "csrf_token": ptoken, "period_index": "1", "day": days}).status_code == 422
        ticked = patient.post(f"/patients/p1/goals/{shop}/report", data={
            "csrf_token": ptoken, "period_index": "0", "day": days}, follow_redirects=False)
        assert ticked.status_code == 303
        mine = unescape(patient.get("/patients/p1/goals").text)
        walk = mine.split(f'data-goal="{shop}"')[1].split("</article>")[0]
        assert "Well done: you reached your goal (4 days done of the 3 planned)" in walk
        assert "Walk to the shop on 4 days this week" in walk and "data-report" not in walk
        again = coach.post("/coach/patients/p1/evaluate", data={"csrf_token": token},
                           follow_redirects=False)
        assert again.headers["location"].endswith("evaluated=0#plan")  # once per week

        # pause and retire, with reasons the patient reads
        goal_ids = ids(coach.get("/coach/patients/p1").text, "data-goal")
        weigh = goal_ids[1]
        assert coach.post(f"/coach/patients/p1/goals/{weigh}/pause",
                          data={"csrf_token": token, "reason": "Scale is broken"},
                          follow_redirects=False).status_code == 303
        assert coach.post(f"/coach/patients/p1/goals/{weigh}/pause",
                          data={"csrf_token": token}).status_code == 422  # already paused
        assert "Why: Scale is broken" in patient.get("/patients/p1/goals").text
        coach.post(f"/coach/patients/p1/goals/{weigh}/retire", data={"csrf_token": token})
        assert "Retired goals (1)" in coach.get("/coach/patients/p1").text
        assert coach.post(f"/coach/patients/p1/goals/{goal_ids[0]}",
                          data={"csrf_token": token, "target": "99999"}).status_code == 422
        assert coach.post("/coach/patients/q000/goals/" + goal_ids[0],
                          data={"csrf_token": token, "target": "5000"}).status_code == 404
    finally:
        world.clock.now = NOW
        world.signed_in.clear()  # signing in a week later ended the sessions of a week ago


def test_joint_record_confirmed_by_the_coach_and_messages_with_unread_markers(
        world: World) -> None:
    patient = world.client("patient")
    ptoken = csrf_from(patient.get("/patients/p1/goals").text)
    patient.post("/patients/p1/achievements", data={"csrf_token": ptoken,
                                                    "title": "Walked to the market"})
    coach = world.client("coach")
    page = coach.get("/coach/patients/p1").text
    entry = page.split("Walked to the market")[0].rsplit('data-achievement="', 1)[1].split('"')[0]
    token = csrf_from(page)
    assert coach.post("/coach/patients/p1/achievements/nope/confirm",
                      data={"csrf_token": token}).status_code == 404
    coach.post(f"/coach/patients/p1/achievements/{entry}/confirm",
               data={"csrf_token": token, "note": "Great effort!"})
    mine = patient.get("/patients/p1/goals").text
    item = mine.split(f'data-achievement="{entry}"')[1].split("</li>")[0]
    assert "coach ✓" in item and "Your coach: Great effort!" in item
    assert 'data-kind="check_in"' in mine  # check-ins enter the record by themselves
    coach.post("/coach/patients/p1/achievements", data={"csrf_token": token,
                                                        "title": "Booked the eye check"})
    csv_text = patient.get("/patients/p1/record.csv").text
    assert csv_text.splitlines()[0].startswith("date,kind,title")
    assert "Walked to the market" in csv_text and "Booked the eye check" in csv_text
    assert "Check-in" in csv_text
    printed = patient.get("/patients/p1/record")
    assert printed.status_code == 200 and "Booked the eye check" in printed.text
    assert world.client("caregiver").get("/patients/p1/record.csv").status_code == 403

    # a message each way, with unread markers on the caseload and on each side's page
    patient.post("/patients/p1/messages", data={"csrf_token": ptoken, "body": "Feeling good"})
    patient.post("/patients/p1/messages", data={"csrf_token": ptoken, "body": "Walked again"})
    row = coach.get("/coach").text.split('data-patient="p1"')[1].split("</tr>")[0]
    assert 'data-unread="2"' in row and "2 new" in row
    page = coach.get("/coach/patients/p1").text
    assert page.count("data-unread") == 2 and 'id="unread-count">2 new' in page
    assert "data-unread" not in coach.get("/coach/patients/p1").text  # seen once, then read
    assert 'data-unread="0"' in coach.get("/coach").text.split('data-patient="p1"')[1]
    coach.post("/coach/patients/p1/messages", data={"csrf_token": token, "body": "Lovely!"})
    mine = patient.get("/patients/p1/goals").text
    assert "1 new message from your coach" in mine and mine.count("data-unread") == 1
    assert "1 new message" not in patient.get("/patients/p1/goals").text
