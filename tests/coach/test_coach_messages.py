"""A coach's personal message reaches the patient as a notification within her attention
policy (issue 23): the dashboard keeps the message in the thread and leaves the telling to
the coach service (no import of the coach); the dispatcher sends it live outside quiet
hours and within the daily budget (and counts it), holds it for the morning digest
otherwise, and makes a burst of messages one notification. Through the dashboard's own
send function, the real dispatcher and digest, on SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care.conversation import COACH_MESSAGE, thread
from care.messages import Outbound
from coach.dispatch import build_digest, dispatch, route_coach_messages
from coach.rules.base import FlagRequest, Severity
from core.appdb.coaching import CoachNudge
from dashboard.views import care as dashboard_care
from tests.coach.coaching_support import NOW, add_patient, database

LONDON_NIGHT = NOW.replace(hour=23, minute=30)  # quiet hours (22:00-07:00 by default)


@pytest.fixture()
def engine(tmp_path: Path) -> Engine:
    e = database(tmp_path)
    add_patient(e, "p1")
    return e


def write(engine: Engine, body: str, at: datetime, *, role: str = "coach") -> None:
    """What POST /coach/patients/{id}/messages (or the patient's) does."""
    dashboard_care.send(engine, patient_id="p1", author_id="cole" if role == "coach" else "p1",
                        author_name="Cole" if role == "coach" else "Pat", author_role=role,
                        recipient_key="p1" if role == "coach" else "team", body=body, now=at)


def tick(engine: Engine, at: datetime) -> list[Outbound]:
    with Session(engine) as session:
        out = route_coach_messages(session, at)
        session.commit()
    return out


def rows(engine: Engine) -> list[CoachNudge]:
    with Session(engine) as session:
        return list(session.scalars(select(CoachNudge).where(
            CoachNudge.flag_type == COACH_MESSAGE).order_by(CoachNudge.created_at)))


def test_a_message_in_the_day_is_told_at_once_and_counts_to_the_budget(engine: Engine) -> None:
    write(engine, "Lovely week of walking, Pat!", NOW)
    with Session(engine) as session:  # in the thread at once, whatever the telling does
        assert [m.body for m in thread(session, "p1", viewer="patient")] == [
            "Lovely week of walking, Pat!"]
    (told,) = tick(engine, NOW + timedelta(seconds=30))
    assert (told.kind, told.recipient_id, told.title) == ("nudge", "p1", "A message from Cole")
    assert "Lovely" not in told.body  # a home display is seen by the household
    (row,) = rows(engine)
    assert row.status == "sent" and row.counts_to_budget and told.ref == row.id
    assert tick(engine, NOW + timedelta(minutes=1)) == []  # told once
    # it counted: two motivational nudges more fill the budget of 3, the third waits
    flags = [FlagRequest("missed_medication", Severity.NORMAL, "Because.", {}, "realtime",
                         key=f"k{i}", group=f"g{i}") for i in range(3)]
    with Session(engine) as session:
        out = dispatch(session, "p1", flags, NOW + timedelta(minutes=2))
        session.commit()
    assert len(out) == 2


def test_over_the_budget_or_in_quiet_hours_it_waits_for_the_digest(engine: Engine) -> None:
    flags = [FlagRequest("missed_medication", Severity.NORMAL, "Because.", {}, "realtime",
                         key=f"k{i}", group=f"g{i}") for i in range(3)]
    with Session(engine) as session:
        assert len(dispatch(session, "p1", flags, NOW)) == 3  # the day's budget is spent
        session.commit()
    write(engine, "How did the weigh-ins go?", NOW + timedelta(hours=1))
    assert tick(engine, NOW + timedelta(hours=1, minutes=1)) == []
    write(engine, "Sleep well.", LONDON_NIGHT)
    assert tick(engine, LONDON_NIGHT + timedelta(minutes=1)) == []
    assert [r.status for r in rows(engine)] == ["queued", "queued"]
    with Session(engine) as session:
        morning = build_digest(session, "p1", NOW.replace(hour=7) + timedelta(days=1))
        session.commit()
    assert morning is not None
    coach_items = [i for i in morning.evidence["items"] if i["flag_type"] == COACH_MESSAGE]
    assert [i["title"] for i in coach_items] == ["A message from Cole"] * 2
    assert [r.status for r in rows(engine)] == ["digested", "digested"]


def test_a_burst_of_messages_is_one_notification_and_the_patient_s_own_are_not_told(
        engine: Engine) -> None:
    for k in range(3):
        write(engine, f"Message {k}", NOW + timedelta(seconds=k))
    write(engine, "Thanks!", NOW + timedelta(seconds=5), role="patient")
    out = tick(engine, NOW + timedelta(minutes=1))
    assert [o.title for o in out] == ["3 messages from your coach"]
    assert [r.status for r in rows(engine)] == ["sent", "merged", "merged"]
    assert sum(r.counts_to_budget for r in rows(engine)) == 1
