"""The coach view through the real app: alert queue with acknowledge / snooze / resolve
(the escalation ladder stops), caseload, plan editor, messages, nudges and "not useful"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from care import alerts as care_alerts
from coach import escalation
from core.appdb.coaching import CoachAlert, CoachNudge, EscalationStep
from tests.dashboard.views_support import NOW, World, build_world
from tests.support.accounts import csrf_from

LADDER = ["patient", "caregiver", "coach", "nurse"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    gen = build_world(tmp_path_factory.mktemp("coach"), extra_patients=2)
    yield next(gen)
    next(gen, None)


def urgent_alert(world: World, alert_id: str, *, patient_id: str = "p1", minutes_ago: int = 10) -> None:
    """An urgent alert whose ladder told the patient and waits to tell the caregiver."""
    created = NOW - timedelta(minutes=minutes_ago)
    with Session(world.engine) as session:
        session.add(CoachAlert(id=alert_id, patient_id=patient_id, flag_type="glucose_very_low",
                               group="glucose_low", kind="escalation", audience="coach",
                               priority="urgent", title="Very low glucose",
                               body="Glucose 48 mg/dL.", why="Glucose below 54 mg/dL for 20 minutes.",
                               evidence={}, state="open", created_at=created, ladder=LADDER, step=0,
                               next_step_at=NOW + timedelta(minutes=5)))
        session.add(EscalationStep(alert_id=alert_id, step=0, role="patient", recipient_id=patient_id,
                                   action="notified", at=created))
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
                      data={"csrf_token": csrf_from(page.text), "back": "/coach"}, follow_redirects=False)
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
    coach = world.client("coach")
    token = csrf_from(coach.get("/coach").text)
    assert coach.post("/patients/q000/alerts/s1/snooze", data={"csrf_token": token, "snooze": "2h"},
                      follow_redirects=False).status_code == 303
    snoozed = {a["id"]: a for a in coach.get("/api/alerts").json()}["s1"]
    assert snoozed["state"] == "snoozed"
    no_note = coach.post("/patients/q000/alerts/r1/resolve", data={"csrf_token": token, "note": " "})
    assert no_note.status_code == 422
    coach.post("/patients/q000/alerts/r1/resolve", data={"csrf_token": token, "note": "Called her"},
               follow_redirects=False)
    with Session(world.engine) as session:
        resolved = session.get(CoachAlert, "r1")
        assert resolved.state == "resolved" and resolved.note == "Called her"
    # an alert can only be acted on through its own patient, and by those who see that patient
    assert coach.post("/patients/p1/alerts/s1/acknowledge", data={"csrf_token": token}).status_code == 404
    patient = world.client("patient")
    ptoken = csrf_from(patient.get("/settings").text)
    assert patient.post("/patients/q000/alerts/s1/acknowledge",
                        data={"csrf_token": ptoken}).status_code == 403
    assert patient.post("/patients/p1/alerts/u1/snooze", data={"csrf_token": ptoken}).status_code == 403


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
    coach.post("/coach/patients/q001/messages", data={"csrf_token": token, "body": "How was the walk?"})
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
        session.add(CoachNudge(id="nudge1", patient_id="p1", kind="nudge", flag_type="post_breakfast_high",
                               priority="normal", title="Breakfast", body="Try a walk after breakfast.",
                               why="Your glucose was above 180 after breakfast on 4 of the last 7 days.",
                               evidence={}, status="sent", created_at=NOW - timedelta(hours=2),
                               sent_at=NOW - timedelta(hours=2)))
        session.add(CoachNudge(id="old", patient_id="p1", kind="nudge", flag_type="x", priority="normal",
                               title="Yesterday", body="old", why="old", evidence={}, status="sent",
                               created_at=NOW - timedelta(days=1)))
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
