"""The clinic's service agreement (care/agreements.py) and one-tap ratings with the clinic's
anonymised page (care/ratings.py), against the real migrated database, SQLite and
PostgreSQL: each standard measured from the rows Hearth already writes (messages, alerts
and their ladders, plan changes and reviews, audited reads of a question, formal
requests), breaches in the patient's words, the clinic's queue, formal requests with
their answer deadline, ratings of her own interactions only, moderation, and small counts
withheld on the clinic page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care import agreements, ratings
from core.appdb.account_store import AccountStore
from core.appdb.accounts import AuditEvent
from core.appdb.agreements import ServiceMeasure
from core.appdb.coaching import CoachAlert, EscalationStep
from core.appdb.delivery import InboxMessage
from core.appdb.engine import create_schema, make_engine
from core.appdb.plans import Goal, GoalChange, Plan
from core.appdb.reviews import PatientReview
from core.appdb.stories import PeerQuestion
from tests.support.factories import register

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The same rules on both application databases (PostgreSQL: tests/support/postgres.py)."""
    url = (f"sqlite:///{tmp_path / 'hearth.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    made = make_engine(url)
    create_schema(made)
    yield made
    made.dispose()


@pytest.fixture
def db(engine: Engine) -> Engine:
    accounts = AccountStore(engine)
    accounts.clinics.add("north", "North clinic")
    accounts.clinics.add("south", "South clinic")
    for pid in ("p1", "p2", "p3", "p4", "p5", "p6"):
        register(engine, pid, [(f"cgm-{pid}", "cgm")], name=f"Name of {pid}")
        accounts.clinics.register(pid, "south" if pid == "p6" else "north")
    return engine


def message(s: Session, pid: str, at: datetime, *, by: str) -> int:
    row = InboxMessage(recipient_key=pid, recipient_role="coach" if by == "patient" else
                       "patient", patient_id=pid, kind="message", priority="normal",
                       flag_type="message", title="m", body="b", why="w", evidence={},
                       ref="r", created_at=at)
    s.add(row)
    s.flush()
    return row.id


def measures(s: Session, standard: str) -> list[ServiceMeasure]:
    return list(s.scalars(select(ServiceMeasure).where(ServiceMeasure.standard == standard)
                          .order_by(ServiceMeasure.started_at)))


def test_a_late_reply_is_a_breach_in_her_words_and_an_early_one_is_met(db: Engine) -> None:
    with Session(db) as s:
        message(s, "p1", T0, by="patient")
        message(s, "p1", T0 + 2 * HOUR, by="patient")  # the clock runs from the first
        message(s, "p1", T0 + 72 * HOUR, by="coach")  # three days: the agreement is 48 h
        message(s, "p2", T0, by="patient")
        message(s, "p2", T0 + 5 * HOUR, by="coach")
        assert agreements.measure(s, T0 + 80 * HOUR) == 1
        s.commit()
        [late, on_time] = sorted(measures(s, "reply"), key=lambda m: m.patient_id)
        assert (late.patient_id, late.breached_at is not None) == ("p1", True)
        assert (on_time.patient_id, on_time.breached_at) == ("p2", None)
        [breach] = agreements.breaches_of(s, "p1", T0 + 80 * HOUR)
    assert breach.text == ("Your message waited 72 hours for a reply. The agreement is 48 "
                           "hours.")
    assert (breach.waiting, breach.waited, breach.limit) == (False, 72, 48)


def test_a_message_still_unanswered_past_the_limit_is_a_breach_while_it_waits(
        db: Engine) -> None:
    with Session(db) as s:
        message(s, "p1", T0, by="patient")
        assert agreements.measure(s, T0 + 47 * HOUR) == 0
        assert agreements.measure(s, T0 + 50 * HOUR) == 1
        assert agreements.measure(s, T0 + 60 * HOUR) == 0, "one breach per case"
        [waiting] = agreements.breaches_of(s, "p1", T0 + 60 * HOUR)
        assert waiting.waiting and waiting.text.startswith(
            "Your message has waited 60 hours so far.")
        message(s, "p1", T0 + 61 * HOUR, by="coach")
        agreements.measure(s, T0 + 62 * HOUR)
        [done] = agreements.breaches_of(s, "p1", T0 + 62 * HOUR)
    assert (done.waiting, done.waited) == (False, 61)


def test_the_clinic_publishes_its_own_limit_for_cases_that_start_after(db: Engine) -> None:
    with Session(db) as s:
        message(s, "p1", T0, by="patient")
        agreements.measure(s, T0 + HOUR)
        agreements.set_limit(s, "north", "reply", 24, by="nora", now=T0 + HOUR)
        with pytest.raises(agreements.AgreementError):
            agreements.set_limit(s, "north", "reply", 0, by="nora", now=T0)
        message(s, "p2", T0 + 2 * HOUR, by="patient")
        agreements.measure(s, T0 + 30 * HOUR)
        limits = {m.patient_id: m.limit_value for m in measures(s, "reply")}
        assert agreements.agreement(s, "north")["reply"] == 24
        assert agreements.agreement(s, "south")["reply"] == 48, "the default elsewhere"
    assert limits == {"p1": 48, "p2": 24}


def alert(s: Session, alert_id: str, kind: str, at: datetime,
          acknowledged: datetime | None) -> None:
    s.add(CoachAlert(id=alert_id, patient_id="p1", flag_type="glucose_very_low", group="hypo",
                     kind=kind, audience="coach", priority="urgent", title="t", body="b",
                     why="w", evidence={}, state="acknowledged" if acknowledged else "open",
                     created_at=at, acknowledged_at=acknowledged, ladder=[], step=0))
    s.flush()


def test_an_urgent_alert_is_timed_from_when_the_care_team_was_told(db: Engine) -> None:
    minute = timedelta(minutes=1)
    with Session(db) as s:
        alert(s, "own", "clinical_alert", T0, T0 + 45 * minute)  # 45 > 30: late
        alert(s, "ladder", "escalation", T0, T0 + 40 * minute)
        s.add(EscalationStep(alert_id="ladder", step=2, role="coach", action="notified",
                             at=T0 + 20 * minute))  # told at 20, seen at 40: in time
        alert(s, "hers", "escalation", T0, T0 + 50 * minute)  # she saw it: never the team's
        agreements.measure(s, T0 + 2 * HOUR)
        got = {m.ref: m.breached_at is not None for m in measures(s, "urgent_ack")}
    assert got == {"alert:own": True, "alert:ladder": False}


def test_the_plan_review_gap_and_the_question_read_by_a_coach(db: Engine) -> None:
    day = timedelta(days=1)
    with Session(db) as s:
        s.add(Plan(id="plan1", patient_id="p1", focus="being_active", status="agreed",
                   created_at=T0, coach_agreed_at=T0))
        s.flush()
        s.add(Goal(id="g", plan_id="plan1", patient_id="p1", behaviour="being_active",
                   kind="steps", target=1, unit="steps", step=1, target_min=1, target_max=2,
                   patient_part="p", professional_part="c"))
        s.flush()
        s.add(GoalChange(goal_id="g", patient_id="p1", at=T0 + 20 * day, by="cole",
                         role="coach", change="edited", text="t"))
        s.add(GoalChange(goal_id="g", patient_id="p1", at=T0 + 21 * day, by="p1",
                         role="patient", change="edited", text="t"))  # hers: not a review
        s.add(PatientReview(patient_id="p1", reviewer_id="nora", reviewer_name="Nora",
                            reviewed_at=T0 + 60 * day))  # 40 days after: more than 4 weeks
        s.add(PeerQuestion(id="q1", asker_id="pat", asker_patient_id="p1",
                           condition="type_2_diabetes", title="t", body="b",
                           naming="anonymous", created_at=T0))
        s.add(PeerQuestion(id="q2", asker_id="pat", asker_patient_id="p1",
                           condition="type_2_diabetes", title="t", body="b",
                           naming="anonymous", created_at=T0))
        s.add(AuditEvent(at=T0 + 3 * HOUR, actor_id="cole", actor_role="coach",
                         patient_id="p1", purpose="question to peers", path="/questions/q1"))
        s.flush()
        agreements.measure(s, T0 + 61 * day)
        reviews = [(m.done_at is not None, m.breached_at is not None)
                   for m in measures(s, "review")]
        questions = {m.ref: m.breached_at is not None for m in measures(s, "question_review")}
    assert reviews == [(True, False), (True, True), (False, False)]
    assert questions == {"question:q1": False, "question:q2": True}


def test_a_formal_request_has_its_answer_deadline_and_an_answer_in_writing(
        db: Engine) -> None:
    with Session(db) as s:
        message(s, "p1", T0, by="patient")
        message(s, "p2", T0, by="patient")
        agreements.measure(s, T0 + 72 * HOUR)
        [mine] = agreements.breaches_of(s, "p1", T0 + 72 * HOUR)
        [hers] = agreements.breaches_of(s, "p2", T0 + 72 * HOUR)
        with pytest.raises(LookupError):
            agreements.raise_request(s, "p1", ask="review", text="x", publish=False,
                                     measure_id=hers.id, now=T0)
        with pytest.raises(agreements.AgreementError):
            agreements.raise_request(s, "p1", ask="fire everyone", text="x", publish=False,
                                     measure_id=None, now=T0)
        asked = agreements.raise_request(
            s, "p1", ask="different_coach", text=" Please give me a coach who answers. ",
            publish=True, measure_id=mine.id, now=T0 + 72 * HOUR)
        assert asked.respond_by == T0 + 72 * HOUR + timedelta(days=10)
        assert agreements.breaches_of(s, "p1", T0 + 72 * HOUR)[0].request_id == asked.id
        queue = agreements.clinic_queue(s, "north", T0 + 72 * HOUR)
        assert {b.patient_id for b in queue} == {"p1", "p2"}
        assert [r.id for r in agreements.clinic_requests(s, "north")] == [asked.id]
        assert agreements.clinic_requests(s, "south") == []
        with pytest.raises(LookupError):
            agreements.answer_request(s, asked.id, "south", by="x", response="no",
                                      now=T0)
        agreements.answer_request(s, asked.id, "north", by="nora", response="A new coach "
                                  "starts on Monday.", now=T0 + 12 * 24 * HOUR)  # 9 days
        agreements.mark_seen(s, mine.id, "north", by="nora", now=T0 + 80 * HOUR)
        assert [b.patient_id for b in agreements.clinic_queue(s, "north", T0)] == ["p2"]
        agreements.measure(s, T0 + 13 * 24 * HOUR)
        [request] = measures(s, "request_answer")
    assert (request.done_at is not None, request.breached_at) == (True, None)


def test_she_rates_her_own_interactions_in_one_tap_and_no_one_elses(db: Engine) -> None:
    with Session(db) as s:
        reply = message(s, "p1", T0, by="coach")
        other = message(s, "p2", T0, by="coach")
        [item] = ratings.rateable(s, "p1", T0 + HOUR)
        assert (item.kind, item.ref, item.rating) == ("reply", str(reply), None)
        ratings.rate(s, "p1", kind="reply", ref=str(reply), rating="helped", now=T0 + HOUR)
        ratings.rate(s, "p1", kind="reply", ref=str(reply), rating="neutral",
                     comment="Kind and quick.", publish=True, now=T0 + 2 * HOUR)
        with pytest.raises(LookupError):
            ratings.rate(s, "p1", kind="reply", ref=str(other), rating="helped", now=T0)
        with pytest.raises(ratings.RatingError):
            ratings.rate(s, "p1", kind="reply", ref=str(reply), rating="5 stars", now=T0)
        assert ratings.rateable(s, "p1", T0 + 3 * HOUR)[0].rating == "neutral"
        [pending] = ratings.comments_to_moderate(s, "north")
        assert ratings.comments_to_moderate(s, "south") == []
        ratings.moderate(s, pending.id, "north", publish=True, response="Thank you.",
                         now=T0 + 3 * HOUR)
        report = ratings.clinic_report(s, "north", T0 + 3 * HOUR)
    [published] = report.published
    assert (published.text, published.rating, published.response) == (
        "Kind and quick.", "neutral", "Thank you.")
    assert published.month == "2026-12"


def test_the_clinic_page_withholds_counts_under_five_and_names_no_one(db: Engine) -> None:
    with Session(db) as s:
        for n, pid in enumerate(("p1", "p2", "p3", "p4")):  # four replies in time
            message(s, pid, T0 + n * HOUR, by="patient")
            message(s, pid, T0 + (n + 1) * HOUR, by="coach")
        message(s, "p5", T0, by="patient")
        agreements.measure(s, T0 + 60 * HOUR)  # p5 still waiting past 48 h: missed
        full = ratings.clinic_report(s, "north", T0 + 60 * HOUR)
        rated = {pid: message(s, pid, T0 + 70 * HOUR, by="coach") for pid in ("p1", "p2")}
        for pid, ref in rated.items():
            ratings.rate(s, pid, kind="reply", ref=str(ref), rating="helped",
                         now=T0 + 71 * HOUR)
        small = ratings.clinic_report(s, "north", T0 + 72 * HOUR)
        south = ratings.clinic_report(s, "south", T0 + 72 * HOUR)
    december = full.months[0]
    assert december.label == "2026-12" and [m.label for m in full.months][-1] == "2026-07"
    assert december.standards["reply"].shown
    assert december.standards["reply"].parts == {"met": 4, "missed": 1}
    assert not small.months[0].ratings.shown, "two ratings: withheld"
    assert small.months[0].ratings.total == 2
    assert not south.months[0].standards["reply"].shown
    assert "Name of" not in repr(full) + repr(small)


def test_a_limit_written_with_her_replaces_the_clinics_for_her_alone(db: Engine) -> None:
    with Session(db) as s:
        agreements.set_personal_limit(s, "p1", "reply", 24, by="cole", now=T0)
        with pytest.raises(agreements.AgreementError):
            agreements.set_personal_limit(s, "p1", "reply", 999, by="cole", now=T0)
        message(s, "p1", T0, by="patient")
        message(s, "p2", T0, by="patient")
        assert agreements.measure(s, T0 + 30 * HOUR) == 1  # hers: 24 h; p2's: the clinic's
        assert agreements.agreement(s, "north", "p1")["reply"] == 24
        assert agreements.agreement(s, "north", "p2")["reply"] == 48
        asked = agreements.raise_request(s, "p1", ask="review", text="please", publish=False,
                                         measure_id=None, now=T0)
        assert asked.respond_by == T0 + timedelta(days=10), "the clinic's, not changed"
        agreements.set_personal_limit(s, "p1", "reply", None, by="cole", now=T0)
        assert agreements.agreement(s, "north", "p1")["reply"] == 48
        limits = {m.patient_id: (m.limit_value, m.breached_at is not None)
                  for m in measures(s, "reply")}
    assert limits == {"p1": (24, True), "p2": (48, False)}
