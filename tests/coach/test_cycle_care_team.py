"""An alert whose coach or nurse the coaching preferences do not name goes to the
patient's care team (core/appdb accounts: care teams, clinics), never to nobody."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from coach import escalation
from coach.dispatch import dispatch
from coach.rules.base import FlagRequest, Severity
from core.appdb.account_store import AccountStore
from tests.coach.coaching_support import NOW, add_patient, database

URGENT = FlagRequest("urgent_low", Severity.URGENT, "Your glucose is 48 mg/dL.",
                     {"value": 48.0}, "realtime", group="hypo")
HIGH_CLINICAL = FlagRequest("nocturnal_lows", Severity.HIGH, "Lows at night on 3 nights.",
                            {"nights": 3}, "scheduled", clinical=True)


def care_team(engine: Engine, *, team_nurse: bool) -> None:
    store = AccountStore(engine)
    store.clinics.add("north", "North clinic")
    store.care_teams.add("team-a", "Team A", clinic_id="north")
    for user, role in (("coach-b", "coach"), ("coach-a", "coach"), ("nurse-team", "nurse"),
                       ("nurse-clinic", "nurse")):
        store.users.add(user, role=role, display_name=user, password="care team test password",
                       clinic_id="north" if role == "nurse" else None)
    store.care_teams.add_member("team-a", "coach-b")
    store.care_teams.add_member("team-a", "coach-a")
    if team_nurse:
        store.care_teams.add_member("team-a", "nurse-team")
    store.care_teams.assign("team-a", "p1")
    store.clinics.register("p1", "north")


def test_the_ladder_reaches_the_care_teams_coach_and_nurse(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1")  # no coach or nurse in the preferences
    care_team(e, team_nurse=True)
    with Session(e) as session:
        dispatch(session, "p1", [URGENT], NOW)
        session.commit()
    told = []
    for minutes in (10, 25):
        with Session(e) as session:
            told += [(o.recipient_role, o.recipient_id)
                     for o in escalation.advance(session, NOW + timedelta(minutes=minutes))]
            session.commit()
    # the first coach of the team by id, then the team's nurse
    assert told == [("coach", "coach-a"), ("nurse", "nurse-team")]


def test_a_clinical_alert_without_a_team_nurse_goes_to_the_clinics_nurse(
        tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1")
    care_team(e, team_nurse=False)
    with Session(e) as session:
        out = dispatch(session, "p1", [HIGH_CLINICAL], NOW.replace(hour=12))
        session.commit()
    assert sorted((o.kind, o.recipient_id) for o in out if o.recipient_role != "patient") == [
        ("alert", "coach-a"), ("clinical_alert", "nurse-clinic")]


def test_named_people_in_the_preferences_come_first(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", coach_id="coach-own", nurse_id="nurse-own")
    care_team(e, team_nurse=True)
    with Session(e) as session:
        out = dispatch(session, "p1", [HIGH_CLINICAL], NOW.replace(hour=12))
        session.commit()
    assert sorted(o.recipient_id or "" for o in out if o.recipient_role != "patient") == [
        "coach-own", "nurse-own"]
