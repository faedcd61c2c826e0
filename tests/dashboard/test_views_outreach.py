"""The outreach pages (issue 20, dashboard/views/outreach.py): the "needs outreach" bucket on
the nurse's triage, the coach's page and its own page, ordered by clinical risk x
disengagement; recording a contact closes the loop; naming an advocate; the team's
activity for an advocate; the caregiver's page of the people they care for. Every read
is audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from care import outreach
from core.appdb import engagement as rows
from core.appdb.accounts import AuditEvent
from core.appdb.coaching import CoachAlert
from core.appdb.outreach import OutreachContact, OutreachTask
from tests.dashboard.views_support import NOW, World, add_patient, build_world, join_clinic
from tests.support.accounts import session_csrf


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path)


def disengaged(world: World, pid: str, score: float, words: str) -> None:
    with Session(world.engine) as session:
        rows.save_state(session, patient_id=pid, day=NOW.date(), state="disengaged",
                        points=score * 8, score=score, evidence=[words], signals={}, now=NOW)
        session.commit()


def order(html: str) -> list[str]:
    section = html.split('id="needs-outreach"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<tr data-patient="([^"]+)"', section)


def test_the_bucket_is_ordered_by_risk_times_disengagement_everywhere(world: World) -> None:
    # p1 (Pat) meets her targets (triage level 0) and is the more disengaged; q1 has
    # diabetes and no glucose readings at all (triage "watch", level 1): risk x
    # disengagement puts q1 first ((1 + 1) x 0.5 = 1.0 against (0 + 1) x 0.9 = 0.9).
    add_patient(world.engine, "q1", "Quinn Quiet")
    join_clinic(world.engine, ["q1"])
    disengaged(world, "p1", 0.9, "Opened 0 of 6 messages sent.")
    disengaged(world, "q1", 0.5, "No reading from any device for 9 days.")
    nurse = world.client("nurse").get("/nurse")
    assert nurse.status_code == 200
    assert order(nurse.text) == ["q1", "p1"]
    assert re.findall(r'data-priority="([^"]+)"', nurse.text) == ["1.0", "0.9"]
    assert "No reading from any device for 9 days." in nurse.text
    assert order(world.client("coach").get("/coach").text) == ["q1", "p1"]
    assert order(world.client("nurse").get("/outreach").text) == ["q1", "p1"]
    with Session(world.engine) as session:
        audited = set(session.scalars(select(AuditEvent.patient_id).where(
            AuditEvent.purpose == "outreach list")))
    assert audited == {"p1", "q1"}


def test_recording_a_contact_closes_the_loop(world: World) -> None:
    disengaged(world, "p1", 0.6, "No reading from any device for 9 days.")
    with Session(world.engine) as session:
        outreach.open_task(session, "p1", reason="Disengaged.", by="system", now=NOW)
        session.commit()
    coach = world.client("coach")
    page = coach.get("/patients/p1/outreach")
    assert page.status_code == 200 and 'id="record-contact"' in page.text
    token = session_csrf(coach)
    answer = coach.post("/patients/p1/outreach", headers={"X-CSRF-Token": token}, data={
        "contacted": "Pat and her son", "method": "phone", "outcome": "no answer",
        "next_step": "Try again after lunch",
        "next_due": (NOW + timedelta(days=1)).date().isoformat()}, follow_redirects=False)
    assert answer.status_code == 303
    with Session(world.engine) as session:
        task = session.scalars(select(OutreachTask)).one()
        assert task.state == "open" and task.first_contact_at is not None
    done = coach.post("/patients/p1/outreach", headers={"X-CSRF-Token": token}, data={
        "contacted": "Pat", "method": "phone", "outcome": "reached",
        "note": "Her cuff's batteries were flat; new ones on the way."}, follow_redirects=False)
    assert done.status_code == 303
    with Session(world.engine) as session:
        assert session.scalars(select(OutreachTask)).one().state == "done"
        assert [c.outcome for c in session.scalars(
            select(OutreachContact).order_by(OutreachContact.id))] == ["no answer", "reached"]
    # still recorded disengaged, but the loop is closed: off the list for a week
    assert order(world.client("nurse").get("/nurse").text) == []
    assert "Nobody needs outreach now." in world.client("nurse").get("/nurse").text
    shown = coach.get("/patients/p1/outreach").text
    assert "Her cuff&#39;s batteries were flat" in shown and "No open outreach task." in shown
    bad = coach.post("/patients/p1/outreach", headers={"X-CSRF-Token": token}, data={
        "contacted": "Pat", "method": "pigeon", "outcome": "reached"})
    assert bad.status_code == 422 and "method must be one of" in bad.text


def test_an_advocate_is_named_and_sees_what_the_team_does(world: World) -> None:
    nurse = world.client("nurse")
    named = nurse.post("/patients/p1/advocate", headers={"X-CSRF-Token": session_csrf(nurse)},
                       data={"advocate_id": "cara", "reason": "her daughter"},
                       follow_redirects=False)
    assert named.status_code == 303
    with Session(world.engine) as session:
        outreach.record_contact(session, patient_id="p1", by_user="cole", by_name="Cole",
                                by_role="coach", contacted="Pat", method="video",
                                outcome="reached", now=NOW)
        session.add(CoachAlert(id="a1", patient_id="p1", flag_type="urgent_low", kind="escalation",
                               audience="coach", priority="urgent", title="Very low glucose",
                               body="48 mg/dL", why="w", evidence={}, state="open",
                               created_at=NOW, ladder=["patient"], step=0))
        session.commit()
    page = world.client("caregiver").get("/patients/p1/team")
    assert page.status_code == 200
    assert "Advocate:" in page.text and "Cara" in page.text
    assert "Cole (coach) contacted Pat by video: reached." in page.text
    assert "Urgent alert: Very low glucose (open)." in page.text
    stranger = nurse.post("/patients/p1/advocate", headers={"X-CSRF-Token": session_csrf(nurse)},
                          data={"advocate_id": "adam"})
    assert stranger.status_code == 422


def test_the_caregiver_page_lists_each_person_with_their_state(world: World) -> None:
    disengaged(world, "p1", 0.6, "Has not signed in for 40 days.")
    with Session(world.engine) as session:
        session.add(CoachAlert(id="a2", patient_id="p1", flag_type="urgent_low", kind="escalation",
                               audience="coach", priority="urgent", title="Very low glucose",
                               body="48 mg/dL", why="w", evidence={}, state="open",
                               created_at=NOW, ladder=["patient", "caregiver"], step=1))
        session.commit()
    page = world.client("caregiver").get("/caring")
    assert page.status_code == 200
    assert 'data-alert="a2"' in page.text and "/safety-alerts/a2/acknowledge" in page.text
    assert 'data-state="disengaged"' in page.text and "Has not signed in for 40 days." in page.text
    assert "You receive their safety alerts on your own channels" in page.text
    assert world.client("coach").get("/caring").status_code == 403


def test_a_caregiver_acknowledges_a_heart_failure_gain_sent_to_her(world: World) -> None:
    from core.appdb.delivery import InboxMessage

    with Session(world.engine) as session:  # what coach/dispatch.py's caregiver copy leaves
        row = InboxMessage(recipient_key="cara", recipient_role="caregiver", patient_id="p1",
                           kind="alert", priority="high", flag_type="hf_weight_gain",
                           title="Weight going up", body="For the person you care for: up "
                           "2.2 kg in 3 days.", why="w", evidence={}, ref="f1:care",
                           created_at=NOW)
        session.add(row)
        session.commit()
        message_id = row.id
    cara = world.client("caregiver")
    assert f'data-told="{message_id}"' in cara.get("/caring").text
    done = cara.post(f"/caring/messages/{message_id}/seen",
                     headers={"X-CSRF-Token": session_csrf(cara)}, follow_redirects=False)
    assert done.status_code == 303
    assert f'data-told="{message_id}"' not in cara.get("/caring").text
    with Session(world.engine) as session:
        assert session.get(InboxMessage, message_id).read_at is not None  # type: ignore[union-attr]
    coach = world.client("coach")
    assert coach.post(f"/caring/messages/{message_id}/seen",
                      headers={"X-CSRF-Token": session_csrf(coach)}).status_code == 403
    assert cara.post("/caring/messages/999999/seen",
                     headers={"X-CSRF-Token": session_csrf(cara)}).status_code == 404
