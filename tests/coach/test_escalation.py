"""The urgent ladder: patient -> caregiver (if opted in) -> coach -> nurse until someone
acknowledges; one acknowledgement stops it; every step recorded. Opted-in caregivers (care
partners) hear at once, beside the patient, on their own channels (issue 20)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from care import alerts as care_alerts
from care.messages import Outbound
from coach import escalation
from coach.dispatch import dispatch
from coach.rules.base import FlagRequest, Severity
from core.appdb.coaching import CoachAlert
from tests.coach.coaching_support import NOW, add_patient, alerts, database

URGENT = FlagRequest("urgent_low", Severity.URGENT, "Your glucose is 48 mg/dL.",
                     {"value": 48.0}, "realtime", group="hypo", key="episode:1")


def start(engine: Engine, at: datetime = NOW, partners: tuple[str, ...] = ()) -> str:
    with Session(engine) as session:
        out = dispatch(session, "p1", [URGENT], at)
        session.commit()
    assert [(o.kind, o.recipient_role, o.recipient_id) for o in out] == [
        ("escalation", "patient", "p1"), *[("escalation", "caregiver", c) for c in partners]]
    return out[0].ref


def tick(engine: Engine, minutes: float) -> list[tuple[str, str | None]]:
    with Session(engine) as session:
        out: list[Outbound] = escalation.advance(session, NOW + timedelta(minutes=minutes))
        session.commit()
    return [(o.recipient_role, o.recipient_id) for o in out]


def ack(engine: Engine, alert_id: str, by: str, minutes: float, role: str) -> bool:
    with Session(engine) as session:
        done = care_alerts.acknowledge(session, alert_id, by, NOW + timedelta(minutes=minutes),
                                      role=role)
        session.commit()
    return done


def recorded(engine: Engine, alert_id: str) -> list[tuple[int, str, str]]:
    with Session(engine) as session:
        return [(s.step, s.role, s.action) for s in care_alerts.steps(session, alert_id)]


def test_nobody_acknowledges_so_the_nurse_is_reached(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", coach_id="coach-1", nurse_id="nurse-1")
    alert_id = start(e)
    assert tick(e, 5) == []
    assert tick(e, 10) == [("coach", "coach-1")]  # patient 10 min
    assert tick(e, 20) == []
    assert tick(e, 25) == [("nurse", "nurse-1")]  # coach 15 min
    assert tick(e, 120) == []  # the ladder ends with the nurse
    assert recorded(e, alert_id) == [(0, "patient", "notified"), (1, "coach", "notified"),
                                     (2, "nurse", "notified")]
    assert alerts(e)[0].state == "open"


def test_caregiver_only_when_opted_in(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", caregiver_id="carer-1")
    alert_id = start(e, partners=("carer-1",))
    assert tick(e, 10) == [("caregiver", "carer-1")]  # the reminder: nobody has acknowledged
    assert tick(e, 20) == [("coach", None)]  # no named coach: delivery resolves the team's
    assert recorded(e, alert_id)[:3] == [(0, "patient", "notified"), (0, "caregiver", "notified"),
                                         (1, "caregiver", "notified")]


def test_one_acknowledgement_stops_the_ladder(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", caregiver_id="carer-1")
    alert_id = start(e, partners=("carer-1",))
    assert tick(e, 10) == [("caregiver", "carer-1")]
    assert ack(e, alert_id, "carer-1", 12, "caregiver")
    assert tick(e, 60) == []
    assert not ack(e, alert_id, "coach-1", 61, "coach")  # already acknowledged
    assert recorded(e, alert_id) == [(0, "patient", "notified"), (0, "caregiver", "notified"),
                                     (1, "caregiver", "notified"),
                                     (1, "caregiver", "acknowledged")]
    a = alerts(e)[0]
    assert (a.state, a.acknowledged_by) == ("acknowledged", "carer-1")


def test_patient_acknowledging_at_once_keeps_everyone_else_out(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1")
    alert_id = start(e)
    assert ack(e, alert_id, "p1", 2, "patient")
    assert tick(e, 100) == []
    assert recorded(e, alert_id) == [(0, "patient", "notified"), (0, "patient", "acknowledged")]


def test_configurable_intervals(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", escalation_minutes={"patient": 3, "coach": 4})
    start(e)
    assert tick(e, 3) == [("coach", None)]
    assert tick(e, 7) == [("nurse", None)]


def test_after_acknowledgement_the_same_low_is_quiet_and_a_new_one_starts_a_new_ladder(
    tmp_path: Path,
) -> None:
    e = database(tmp_path)
    add_patient(e, "p1")
    first = start(e)
    ack(e, first, "p1", 1, "patient")
    with Session(e) as session:
        assert dispatch(session, "p1", [URGENT], NOW + timedelta(minutes=20)) == []
        # no cool-down holds a new episode back: ten minutes after the first one
        out = dispatch(session, "p1", [replace(URGENT, key="episode:2")],
                       NOW + timedelta(minutes=21))
        session.commit()
    assert [(o.kind, o.recipient_role) for o in out] == [("escalation", "patient")]
    assert out[0].ref != first


def test_snooze_pauses_and_resumes(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1")
    alert_id = start(e)
    with Session(e) as session:
        assert care_alerts.snooze(session, alert_id, NOW + timedelta(minutes=40), "coach-1",
                                 NOW + timedelta(minutes=5))
        session.commit()
    assert tick(e, 30) == []
    assert tick(e, 40) == [("coach", None)]
    assert [s[2] for s in recorded(e, alert_id)] == ["notified", "snoozed", "unsnoozed",
                                                    "notified"]


def test_resolve_closes_it(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1")
    alert_id = start(e)
    with Session(e) as session:
        assert care_alerts.resolve(session, alert_id, "nurse-1", NOW + timedelta(minutes=1),
                                  note="called, fine")
        session.commit()
        a = session.get(CoachAlert, alert_id)
        assert a is not None and (a.state, a.note) == ("resolved", "called, fine")
    assert tick(e, 60) == []


def test_escalation_messages_say_why(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1")
    start(e)
    with Session(e) as session:
        out = escalation.advance(session, NOW + timedelta(minutes=10))
        session.commit()
    (msg,) = out
    assert msg.kind == "escalation" and msg.priority == "urgent"
    assert "Nobody has acknowledged it yet." in msg.body and msg.evidence["value"] == 48.0
    assert msg.evidence["ladder"] == ["patient", "coach", "nurse"] and msg.evidence["step"] == 1


def test_caregiver_opted_in_on_the_sharing_page(tmp_path: Path) -> None:
    from core.appdb.accounts import CaregiverShare, User

    e = database(tmp_path)
    add_patient(e, "p1")
    add_patient(e, "p2")
    with Session(e) as session:
        for uid in ("carer-1", "carer-2"):
            session.add(User(id=uid, display_name=uid, role="caregiver", password_hash="x"))
        session.flush()
        session.add(CaregiverShare(patient_id="p1", caregiver_id="carer-1", scopes=["glucose"],
                                   urgent_alerts=True, created_at=NOW))
        session.add(CaregiverShare(patient_id="p2", caregiver_id="carer-2", scopes=["glucose"],
                                   urgent_alerts=False, created_at=NOW))
        session.commit()
    start(e, partners=("carer-1",))
    assert tick(e, 10) == [("caregiver", "carer-1")]
    with Session(e) as session:  # sharing data without urgent alerts is no opt-in
        out = dispatch(session, "p2", [URGENT], NOW)
        session.commit()
        assert out[0].evidence["ladder"] == ["patient", "coach", "nurse"]


def test_an_urgent_low_reaches_the_care_partners_at_once_and_their_ok_is_recorded(
        tmp_path: Path) -> None:
    """Issue 20: like Dexcom Follow, the caregivers the patient opted in hear an urgent low
    at the same moment as she does, on their own channels (their own message, not the
    ladder's later step), and the first OK from any of them is theirs in the ladder."""
    from core.appdb.accounts import CaregiverShare, User

    e = database(tmp_path)
    add_patient(e, "p1", caregiver_id="carer-1", coach_id="coach-1")
    with Session(e) as session:
        session.add(User(id="carer-2", display_name="carer-2", role="caregiver",
                         password_hash="x"))
        session.flush()
        session.add(CaregiverShare(patient_id="p1", caregiver_id="carer-2", scopes=["alerts"],
                                   urgent_alerts=True, created_at=NOW))
        session.commit()
    with Session(e) as session:
        out = dispatch(session, "p1", [URGENT], NOW)
        session.commit()
    partner = [o for o in out if o.recipient_role == "caregiver"]
    assert [o.recipient_id for o in partner] == ["carer-1", "carer-2"]
    alert_id = out[0].ref
    for o in partner:
        assert o.kind == "escalation" and o.priority == "urgent" and o.urgent
        assert o.body.startswith("Urgent, for the person you care for: ")
        assert o.evidence["alert_id"] == alert_id and o.evidence["value"] == 48.0
        # its own delivery reference: the ladder's caregiver step (ref = the alert id)
        # is not swallowed as a duplicate of this one
        assert o.ref == f"{alert_id}:partner"
    assert ack(e, alert_id, "carer-2", 1, "caregiver")
    assert tick(e, 30) == []  # the ladder stopped: nobody else is called
    assert recorded(e, alert_id) == [
        (0, "patient", "notified"), (0, "caregiver", "notified"), (0, "caregiver", "notified"),
        (0, "caregiver", "acknowledged")]
    a = alerts(e)[0]
    assert (a.state, a.acknowledged_by) == ("acknowledged", "carer-2")


def test_a_second_low_after_an_unacknowledged_first_reaches_the_care_partner_too(
        tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", caregiver_id="carer-1")
    first = start(e, partners=("carer-1",))
    assert tick(e, 10) == [("caregiver", "carer-1")]  # nobody answered the first
    with Session(e) as session:
        out = dispatch(session, "p1", [replace(URGENT, key="episode:2")],
                       NOW + timedelta(minutes=12))
        session.commit()
    assert [(o.recipient_role, o.recipient_id) for o in out] == [
        ("patient", "p1"), ("caregiver", "carer-1")]
    second = out[0].ref
    assert second != first and out[1].ref == f"{second}:partner"
    assert ack(e, second, "carer-1", 13, "caregiver")
    assert recorded(e, second)[-1] == (0, "caregiver", "acknowledged")
    assert [a.state for a in sorted(alerts(e), key=lambda a: a.created_at)] == [
        "open", "acknowledged"]
