"""Issue 20 through the real dispatcher and escalation ladder (SQLite): nudges step back for
a disengaged person and a human task takes their place, safety messages never do; the
heart-failure rapid gain reaches opted-in caregivers on their own channels; the advocate
is on the urgent ladder after the caregiver, and not twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from care import advocates
from care import alerts as care_alerts
from care.messages import Outbound
from coach import escalation
from coach.dispatch import dispatch
from coach.rules.base import FlagRequest, Severity
from core.appdb import engagement as rows
from core.appdb.accounts import CaregiverShare, CareTeam, CareTeamMember, CareTeamPatient, User
from core.appdb.coaching import CoachFlag
from core.appdb.outreach import OutreachTask
from tests.coach.coaching_support import NOW, add_patient, database, nudges, summary

TREND = FlagRequest("bp_above_target", Severity.NORMAL, "Your BP average is above target.",
                    {"avg": 141}, "scheduled", group="bp_above_target", key="week:10")
HIGH = FlagRequest("prolonged_high", Severity.HIGH, "High for 4 hours.", {"hours": 4},
                   "scheduled", group="prolonged_high", key="day:1")
URGENT = FlagRequest("urgent_low", Severity.URGENT, "Your glucose is 48 mg/dL.",
                     {"value": 48.0}, "realtime", group="hypo", key="episode:1")
LOW = FlagRequest("low", Severity.HIGH, "Your glucose is 62 mg/dL: take 15 g of sugar.",
                  {"value": 62.0}, "realtime", group="hypo", key="low:1")
HF = FlagRequest("hf_weight_gain", Severity.HIGH, "Your weight is up 2.2 kg in 3 days.",
                 {"gain_kg": 2.2}, "realtime", group="hf_weight", key="day:5", clinical=True)


def disengage(engine, pid: str = "p1", *, at=NOW) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        rows.save_state(session, patient_id=pid, day=at.date(), state="disengaged", points=6,
                        score=0.75, evidence=["No reading from any device for 9 days."],
                        signals={}, now=at)
        session.commit()


def run(engine, flags: list[FlagRequest], at=NOW) -> list[Outbound]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        out = dispatch(session, "p1", flags, at)
        session.commit()
    return out


def test_a_disengaged_person_gets_a_person_not_more_nudges(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", coach_id="coach-1", nurse_id="nurse-1")
    disengage(e)
    out = run(e, [TREND, HIGH])
    # no nudge to the patient; the coach's alert about the high still goes
    assert summary(out) == [("alert", "coach", "prolonged_high", "high")]
    assert nudges(e) == []
    with Session(e) as session:
        outcomes = sorted(session.scalars(select(CoachFlag.outcome)))
        assert outcomes == ["held", "held+coach"]
        task = session.scalars(select(OutreachTask)).one()
        assert (task.state, task.held_nudges, task.opened_by) == ("open", 2, "system")
        assert "No reading from any device for 9 days." in task.reason
    # safety messages are never held: the low's advice and the urgent ladder go out
    out = run(e, [LOW], NOW + timedelta(minutes=5))
    assert ("nudge", "patient", "low", "high") in summary(out)
    out = run(e, [URGENT], NOW + timedelta(minutes=10))
    assert summary(out) == [("escalation", "patient", "urgent_low", "urgent")]
    # a stale "disengaged" (older than two days) holds nothing: nudges resume
    later = NOW + timedelta(days=3)
    out = run(e, [FlagRequest("missed_medication", Severity.NORMAL, "A dose was missed.", {},
                              "scheduled", group="missed_medication", key="dose:1")], later)
    assert summary(out) == [("nudge", "patient", "missed_medication", "normal")]


def test_an_engaged_person_is_nudged_as_before(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1")
    with Session(e) as session:
        rows.save_state(session, patient_id="p1", day=NOW.date(), state="slipping", points=2,
                        score=0.25, evidence=["x"], signals={}, now=NOW)
        session.commit()
    assert summary(run(e, [TREND])) == [("nudge", "patient", "bp_above_target", "normal")]


def caregivers(e, pid: str = "p1", **opted: bool) -> None:  # type: ignore[no-untyped-def]
    with Session(e) as session:
        for uid, urgent in opted.items():
            session.add(User(id=uid, display_name=uid, role="caregiver", password_hash="x"))
            session.flush()
            session.add(CaregiverShare(patient_id=pid, caregiver_id=uid, scopes=["alerts"],
                                       urgent_alerts=urgent, created_at=NOW))
        session.commit()


def test_the_heart_failure_gain_reaches_opted_in_caregivers(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", conditions=["heart_failure"])
    caregivers(e, dora=True, eve=False)
    out = run(e, [HF])
    to_carers = [o for o in out if o.recipient_role == "caregiver"]
    assert [(o.recipient_id, o.kind, o.priority) for o in to_carers] == [("dora", "alert", "high")]
    assert to_carers[0].body.startswith("For the person you care for: Your weight is up 2.2 kg")
    assert ("nudge", "patient", "hf_weight_gain", "high") in summary(out)  # she hears first


def coach_team(e, *coaches: str) -> None:  # type: ignore[no-untyped-def]
    with Session(e) as session:
        session.add(CareTeam(id="t", name="T"))
        for uid in coaches:
            session.add(User(id=uid, display_name=uid.title(), role="coach", password_hash="x"))
        session.flush()
        session.add(CareTeamPatient(team_id="t", patient_id="p1"))
        for uid in coaches:
            session.add(CareTeamMember(team_id="t", user_id=uid))
        session.commit()


def tick(e, minutes: float) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    with Session(e) as session:
        out = escalation.advance(session, NOW + timedelta(minutes=minutes))
        session.commit()
    return [(o.recipient_role, o.recipient_id) for o in out]


def test_the_advocate_is_reached_after_the_caregiver_and_may_acknowledge(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", coach_id="cole", nurse_id="nora")
    coach_team(e, "cole", "amir")
    caregivers(e, dora=True)
    with Session(e) as session:
        named = advocates.name_advocate(session, "p1", "amir", reason="lives alone, 3 conditions",
                                        by="nora", now=NOW)
        session.commit()
    assert (named.role, named.name) == ("coach", "Amir")
    out = run(e, [URGENT])
    assert out[0].evidence["ladder"] == ["patient", "caregiver", "advocate", "coach", "nurse"]
    assert tick(e, 10) == [("caregiver", "dora")]
    assert tick(e, 20) == [("coach", "amir")]  # the advocate, reached as the coach they are
    with Session(e) as session:
        assert care_alerts.acknowledge(session, out[0].ref, "amir", NOW + timedelta(minutes=22),
                                       role="coach")
        session.commit()
        steps = [(s.role, s.action) for s in care_alerts.steps(session, out[0].ref)]
    # dora, opted in, heard at once (step 0) and again at the caregiver step (issue 20)
    assert steps == [("patient", "notified"), ("caregiver", "notified"), ("caregiver", "notified"),
                     ("advocate", "notified"), ("coach", "acknowledged")]
    assert tick(e, 60) == []


def test_an_advocate_already_on_the_ladder_takes_no_second_step(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", coach_id="cole", nurse_id="nora")
    coach_team(e, "cole")
    caregivers(e, dora=True, eve=False)
    with Session(e) as session:
        advocates.name_advocate(session, "p1", "cole", reason="", by="nora", now=NOW)
        session.commit()
    assert run(e, [URGENT])[0].evidence["ladder"] == ["patient", "caregiver", "coach", "nurse"]
    # a family advocate without the patient's opt-in to urgent alerts is not on the ladder
    with Session(e) as session:
        advocates.name_advocate(session, "p1", "eve", reason="daughter", by="nora", now=NOW)
        session.commit()
    second = FlagRequest("urgent_low", Severity.URGENT, "48 mg/dL.", {"value": 48.0},
                         "realtime", group="hypo", key="episode:2")
    assert run(e, [second])[0].evidence["ladder"] == ["patient", "caregiver", "coach", "nurse"]
    with Session(e) as session:
        try:
            advocates.name_advocate(session, "p1", "stranger", reason="", by="nora", now=NOW)
        except ValueError as error:
            assert "active coach or caregiver" in str(error)
        else:
            raise AssertionError("a stranger was named advocate")
