"""The peer rules (coach/rules/peer_stories.py) through the real engine and dispatcher with a
hand-built context: a story offered as a role model with its reason, at most one a week,
within the daily budget, lowered by "not useful" like any nudge; answers from peers."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from care.alerts import record_feedback
from care.questions import AnswerNews, PeerNews
from care.stories import Offer
from coach.context import PatientContext
from coach.dispatch import dispatch
from coach.rules.base import FlagRequest, Severity
from coach.safety import flag_class
from tests.coach.coaching_support import NOW, add_patient, database, nudges, run, summary

OFFER = Offer("s1", "Weighing every morning", "Carla",
              "People like you who live with heart failure and are working on monitoring: "
              "a story from someone who has been there.", ("heart_failure",), ("monitoring",))
ANSWERS = (AnswerNews("q1", "Swimming and lows?", "a2", 2),)


@pytest.fixture()
def engine(tmp_path: Path) -> Engine:
    made = database(tmp_path)
    add_patient(made, "p1", conditions=["heart_failure"])
    return made


def ctx(*, offer: Offer | None = OFFER, last: datetime | None = None,
        answers: tuple[AnswerNews, ...] = (), at: datetime = NOW) -> PatientContext:
    return PatientContext("p1", at, tz="Europe/London", peers=PeerNews(offer, last, answers))


def test_both_are_motivational() -> None:
    assert flag_class("story_offer") == flag_class("peer_answer") == "motivational"


def test_a_story_is_offered_with_its_reason_once_a_week(engine: Engine) -> None:
    out = run(engine, ctx(), names=["story_offer"])
    assert summary(out) == [("nudge", "patient", "story_offer", "normal")]
    (sent,) = nudges(engine)
    assert sent.why == OFFER.reason and sent.evidence["story_id"] == "s1"
    assert "Weighing every morning" in sent.body and sent.counts_to_budget
    # the next days: the last offer is recent, nothing new (every_days = 7)
    assert run(engine, ctx(last=NOW, at=NOW + timedelta(days=6)), names=["story_offer"]) == []
    week = run(engine, ctx(offer=Offer("s2", "Another", "A", "People like you…", (), ()),
                           last=NOW, at=NOW + timedelta(days=7, minutes=1)),
               names=["story_offer"])
    assert [o.evidence["story_id"] for o in week] == ["s2"]


def test_an_offer_respects_the_daily_budget_and_not_useful(engine: Engine) -> None:
    with Session(engine) as session:  # three motivational nudges already today
        dispatch(session, "p1", [FlagRequest("missed_medication", Severity.NORMAL, "x", {},
                                             "scheduled", group=f"m{i}", key=f"k{i}")
                                 for i in range(3)], NOW - timedelta(hours=2))
        session.commit()
    assert run(engine, ctx(), names=["story_offer"]) == []  # queued for the digest
    queued = [n for n in nudges(engine) if n.flag_type == "story_offer"]
    assert [n.status for n in queued] == ["queued"]
    with Session(engine) as session:
        record_feedback(session, queued[0].id, useful=False, by_user="p1", now=NOW)
        session.commit()
    later = NOW + timedelta(days=8)  # a new day's budget, but "not useful" lowers the type
    out = run(engine, ctx(offer=Offer("s3", "T", "A", "People like you…", (), ()),
                          last=NOW, at=later), names=["story_offer"])
    assert out == [] and nudges(engine)[-1].priority == "low"


def test_answers_from_peers_are_one_nudge_for_the_newest(engine: Engine) -> None:
    out = run(engine, ctx(offer=None, answers=ANSWERS), names=["peer_answer", "story_offer"])
    assert summary(out) == [("nudge", "patient", "peer_answer", "normal")]
    assert "2 new answers" in out[0].body and out[0].evidence["answer_id"] == "a2"
    # the same newest answer is never told twice
    assert run(engine, ctx(offer=None, answers=ANSWERS, at=NOW + timedelta(days=1)),
               names=["peer_answer"]) == []
