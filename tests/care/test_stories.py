"""The lived-experience library and questions to peers (care/stories.py, care/questions.py)
on both databases: SQLite with its FTS5 search and a real PostgreSQL (tests/support/
postgres.py) with tsvector/websearch_to_tsquery, through the one StorySearch interface."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from care import questions as q
from care import stories as st
from care.groups import form_group
from core.appdb.accounts import (
    CaregiverShare,
    CareTeam,
    CareTeamMember,
    CareTeamPatient,
    Clinic,
    ClinicPatient,
)
from core.appdb.accounts import User as Account
from core.appdb.directory import PatientInfo, upsert_patient
from core.appdb.engine import create_schema, make_engine
from core.appdb.stories import (
    PostgresStorySearch,
    SqliteStorySearch,
    StorySearch,
    story_search,
)

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
PEOPLE = {  # patient id: (name, conditions, clinic)
    "ann": ("Ann Author", ("type2_diabetes", "hypertension"), "north"),
    "bea": ("Bea Peer", ("type2_diabetes",), "north"),
    "cal": ("Cal Grouped", ("type2_diabetes",), "north"),
    "dov": ("Dov Elsewhere", ("type2_diabetes",), "south"),
    "eve": ("Eve Heart", ("heart_failure",), "north"),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = (f"sqlite:///{tmp_path / 'hearth.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    made = make_engine(url)
    create_schema(made)
    with Session(made) as session:
        for pid, (name, conditions, _) in PEOPLE.items():
            upsert_patient(session, PatientInfo(pid, name, "UTC", conditions))
        session.commit()
    with Session(made) as session:  # accounts as rows: these tests never sign in
        for clinic in ("north", "south"):
            session.add(Clinic(id=clinic, name=clinic))
            session.flush()
            session.add(CareTeam(id=f"team-{clinic}", name=clinic, clinic_id=clinic))
            session.flush()
            session.add(Account(id=f"coach-{clinic}", role="coach", display_name="Coach",
                                password_hash="unused", clinic_id=clinic))
            session.flush()
            session.add(CareTeamMember(team_id=f"team-{clinic}", user_id=f"coach-{clinic}"))
        for pid, (_, _, clinic) in PEOPLE.items():
            session.add(Account(id=pid, role="patient", display_name=pid,
                                password_hash="unused", patient_id=pid))
            session.flush()
            session.add(ClinicPatient(patient_id=pid, clinic_id=clinic))
            session.add(CareTeamPatient(team_id=f"team-{clinic}", patient_id=pid))
        session.add(Account(id="cg", role="caregiver", display_name="Cara Giver",
                            password_hash="unused"))
        session.flush()
        session.add(CaregiverShare(patient_id="bea", caregiver_id="cg", scopes=["readings"]))
        session.commit()
    with Session(made) as session:
        form_group(session, name="Walkers", coach_id="coach-north", member_ids=["ann", "cal"],
                   now=NOW)
        session.commit()
    yield made
    made.dispose()


def reader(session: Session, user: str) -> st.Reader:
    if user == "cg":
        return st.reader_of(session, user_id=user, role="caregiver", patient_id=None,
                            clinic_id=None)
    if user.startswith("coach-"):
        return st.reader_of(session, user_id=user, role="coach", patient_id=None,
                            clinic_id=user.removeprefix("coach-"))
    return st.reader_of(session, user_id=user, role="patient", patient_id=user, clinic_id=None)


def approved(session: Session, search: StorySearch, *, title: str, body: str,
             audience: str = "everyone", naming: str = "first", goals: tuple[str, ...] = (),
             author: str = "ann") -> str:
    story = st.write_story(session, author_id=author, author_patient_id=author, title=title,
                           body=body, naming=naming, audience=audience, now=NOW,
                           conditions=["type2_diabetes"], situations=["at_work"], goals=goals)
    st.moderate(session, search, story.id, moderator=reader(session, "coach-north"),
                action="approve", reason="kind and safe", now=NOW)
    return story.id


def test_the_search_implementation_follows_the_database(engine: Engine) -> None:
    expected = PostgresStorySearch if engine.dialect.name == "postgresql" else SqliteStorySearch
    assert isinstance(story_search(engine), expected)


def test_write_moderate_search_and_consent(engine: Engine) -> None:
    search = story_search(engine)
    with Session(engine) as session:
        story = st.write_story(session, author_id="ann", author_patient_id="ann",
                               title="How I handle lows at work",
                               body="I keep glucose tablets in my desk drawer and tell one "
                                    "colleague what a hypo looks like.",
                               naming="first", audience="everyone", now=NOW,
                               situations=["at_work"], goals=["problem_solving"])
        session.commit()
        # pending: the author and her coach see it; peers neither find nor open it
        assert st.find_readable(session, reader(session, "bea"), story.id) is None
        assert st.search(session, search, reader(session, "bea"), "desk drawer") == []
        assert [s.id for s in st.moderation_queue(session, reader(session, "coach-north"))] \
            == [story.id]
        assert st.moderation_queue(session, reader(session, "coach-south")) == []
        with pytest.raises(st.StoryError):  # not her coach
            st.moderate(session, search, story.id, moderator=reader(session, "coach-south"),
                        action="approve", reason="fine", now=NOW)
        with pytest.raises(st.StoryError):  # a reason is required
            st.moderate(session, search, story.id, moderator=reader(session, "coach-north"),
                        action="approve", reason=" ", now=NOW)
        st.moderate(session, search, story.id, moderator=reader(session, "coach-north"),
                    action="approve", reason="a practical tip", now=NOW)
        session.commit()
        # stemming: "hypos" and "drawers" find it, in both databases
        for who in ("bea", "dov", "eve", "coach-south"):
            found = st.search(session, search, reader(session, who), "hypos drawers")
            assert [s.id for s in found] == [story.id], who
        assert st.search(session, search, reader(session, "bea"), "insulin pump") == []
        assert st.shown_author(session, story, "bea") == "Ann"
        # narrowed to her clinic: the other clinic loses it at once
        st.set_consent(session, story.id, author_id="ann", naming="anonymous",
                       audience="clinic", now=NOW)
        session.commit()
        assert st.search(session, search, reader(session, "dov"), "hypos") == []
        assert st.find_readable(session, reader(session, "dov"), story.id) is None
        assert st.find_readable(session, reader(session, "bea"), story.id) is not None
        assert st.shown_author(session, story, "bea") == "Someone who lives with it"
        # only her group
        st.set_consent(session, story.id, author_id="ann", naming="full", audience="group",
                       now=NOW)
        session.commit()
        assert st.find_readable(session, reader(session, "bea"), story.id) is None
        assert st.find_readable(session, reader(session, "cal"), story.id) is not None
        with pytest.raises(st.StoryError):
            st.set_consent(session, story.id, author_id="bea", naming="full",
                           audience="everyone", now=NOW)
        # withdrawn: out of search and the library for everyone, at once
        st.revoke(session, search, story.id, author_id="ann", now=NOW)
        session.commit()
        for who in ("bea", "cal", "dov", "coach-north"):
            assert st.search(session, search, reader(session, who), "hypos") == [], who
            assert st.library(session, reader(session, who)) == [], who
        assert st.find_readable(session, reader(session, "ann"), story.id) is not None


def test_search_ranks_and_refuses_operators(engine: Engine) -> None:
    search = story_search(engine)
    with Session(engine) as session:
        best = approved(session, search, title="Weighing every morning",
                        body="Weighing every morning before breakfast became a habit.")
        other = approved(session, search, title="Walking after dinner",
                         body="A short walk; sometimes I think about weighing myself.")
        session.commit()
        found = [s.id for s in st.search(session, search, reader(session, "bea"), "weighing")]
        assert found == [best, other]
        for hostile in ('"', "NEAR(", "weigh* OR -", "' OR 1=1 --", ""):
            st.search(session, search, reader(session, "bea"), hostile)  # never raises


def test_helped_marks_and_offers(engine: Engine) -> None:
    search = story_search(engine)
    with Session(engine) as session:
        plain = approved(session, search, title="Plain", body="A story without goals.")
        active = approved(session, search, title="Moving more", body="Ten minutes a day.",
                          goals=("being_active",))
        session.commit()
        bea = reader(session, "bea")
        assert {s.id for s in st.library(session, bea)} == {plain, active}
        assert st.mark_helped(session, bea, plain, helped=True, now=NOW)
        assert st.mark_helped(session, bea, plain, helped=True, now=NOW)  # once per reader
        assert [v.helped for v in st.views(session, bea, [st.find_readable(
            session, bea, plain)])] == [1]
        offer = st.offer_for(session, "bea", bea)
        assert offer is not None and offer.story_id == plain  # more marks, no shared goal
        assert "type2 diabetes" in offer.reason
        assert st.offer_for(session, "eve", reader(session, "eve")) is None  # heart failure
        assert st.offer_for(session, "ann", reader(session, "ann")) is None  # her own


def test_questions_answers_and_unsafe_marks(engine: Engine) -> None:
    with Session(engine) as session:
        ann = reader(session, "ann")
        question = q.ask(session, ann, condition="type2_diabetes", title="Eating out?",
                         body="What do you order at a restaurant?", naming="first", now=NOW)
        session.commit()
        # every peer with the condition, in any clinic; not a heart-failure patient
        assert q.find_readable(session, reader(session, "dov"), question.id) is not None
        assert q.find_readable(session, reader(session, "eve"), question.id) is None
        assert q.find_readable(session, reader(session, "coach-north"), question.id) is not None
        assert q.find_readable(session, reader(session, "coach-south"), question.id) is None
        with pytest.raises(q.QuestionError):
            q.answer(session, reader(session, "eve"), question.id, body="x", naming="first",
                     now=NOW)
        with pytest.raises(q.QuestionError):
            q.ask(session, ann, condition="copd", title="t", body="b", naming="first", now=NOW)
        later = NOW + timedelta(hours=1)
        reply = q.answer(session, reader(session, "dov"), question.id,
                         body="Skip your insulin when you eat out.", naming="anonymous",
                         now=later)
        session.commit()
        news = q.peer_news(session, "ann", later + timedelta(minutes=5))
        assert [(n.question_id, n.latest_answer_id, n.answers) for n in news.answers] == [
            (question.id, reply.id, 1)]
        with pytest.raises(q.QuestionError):  # another clinic's coach cannot read it
            q.mark_unsafe(session, reader(session, "coach-south"), question.id, reply.id,
                          reason="no", now=later)
        q.mark_unsafe(session, reader(session, "coach-north"), question.id, reply.id,
                      reason="Never skip insulin without your care team's advice.", now=later)
        session.commit()
        seen = q.view(session, reader(session, "bea"), question)
        assert seen.asker == "Ann"
        assert [(a.author, a.answer.unsafe_reason) for a in seen.answers] == [
            ("A peer", "Never skip insulin without your care team's advice.")]


def test_a_caregivers_story_is_for_everyone_and_moderated_by_their_peoples_coach(
        engine: Engine) -> None:
    search = story_search(engine)
    with Session(engine) as session:
        cg = reader(session, "cg")
        assert cg.conditions == {"type2_diabetes"}  # Bea's, whom she cares for
        with pytest.raises(st.StoryError):  # no clinic or group of her own
            st.write_story(session, author_id="cg", author_patient_id=None, title="t",
                           body="b", naming="first", audience="clinic", now=NOW,
                           caregiver_of=cg.conditions)
        story = st.write_story(session, author_id="cg", author_patient_id=None,
                               title="Caring without nagging",
                               body="I ask how the day went before I ask about the numbers.",
                               naming="first", audience="everyone", now=NOW,
                               caregiver_of=cg.conditions)
        session.commit()
        assert story.conditions == ["type2_diabetes"]
        assert [s.id for s in st.moderation_queue(session, reader(session, "coach-north"))] \
            == [story.id]  # Bea's coach
        assert st.moderation_queue(session, reader(session, "coach-south")) == []
        assert st.find_readable(session, reader(session, "dov"), story.id) is None  # pending
        st.moderate(session, search, story.id, moderator=reader(session, "coach-north"),
                    action="approve", reason="warm and practical", now=NOW)
        session.commit()
        found = st.search(session, search, reader(session, "dov"), "nagging")
        assert [s.id for s in found] == [story.id]
        assert st.shown_author(session, story, "dov") == "Cara"
        st.set_consent(session, story.id, author_id="cg", naming="anonymous",
                       audience="everyone", now=NOW)
        assert st.shown_author(session, story, "dov") == "A caregiver"
        with pytest.raises(st.StoryError):
            st.set_consent(session, story.id, author_id="cg", naming="first",
                           audience="group", now=NOW)
