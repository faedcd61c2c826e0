"""The demo's stories from peers (hearth/demo_seed.py, issue 21): one approved story per
condition of the household, found by search and offered by the coach's daily rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from care import stories
from coach.evaluation import CoachEvaluator
from core.appdb.coaching import CoachNudge
from core.appdb.engine import create_schema, make_engine
from core.appdb.stories import Story, story_search
from core.timeseries.sqlite import SqliteTimeSeriesStore
from devices.profiles import DEFAULT_HOUSEHOLD, load_profiles
from hearth.demo import create_demo_accounts, register_household
from hearth.demo_seed import STORIES, seed_history
from tests.care.plan_support import simulated


def test_the_demo_has_approved_stories_that_people_like_their_authors_are_offered(
        tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hearth.db'}")
    create_schema(engine)
    store = SqliteTimeSeriesStore(tmp_path / "ts.db")
    profiles = load_profiles(DEFAULT_HOUSEHOLD)
    register_household(engine, profiles)
    create_demo_accounts(engine, profiles, password="a long enough password")
    now = datetime.now(UTC)
    store.write(simulated(profiles, now - timedelta(days=14), now))
    seed_history(engine, store, profiles, now=now)

    conditions = {c for p in profiles for c in p.conditions}
    with Session(engine) as session:
        shared = session.scalars(select(Story)).all()
        assert {s.state for s in shared} == {"approved"}
        assert {s.title for s in shared} == {t for c, t, *_ in STORIES if c[0] in conditions}
        assert all(s.moderated_by == "cora" and s.moderation_reason for s in shared)
        ann = stories.patient_reader(session, "ann")
        found = stories.search(session, story_search(engine), ann, "kettle")
        assert [s.title for s in found] == ["Weighing every morning"]
    # the coach's daily rules offer a story to each patient who shares a condition with
    # another's story (never her own): Bob and Carla both live with hypertension
    CoachEvaluator(store=store, engine=engine).scheduled(now, cadence="daily")
    with Session(engine) as session:
        offered = session.scalars(select(CoachNudge).where(
            CoachNudge.flag_type == "story_offer")).all()
        by_id = {s.id: s for s in session.scalars(select(Story))}
        assert {n.patient_id for n in offered} == {"bob", "carla"}
        for nudge in offered:
            story = by_id[nudge.evidence["story_id"]]
            assert story.author_patient_id != nudge.patient_id
            assert "People like you who live with" in nudge.why
    store.close()
    engine.dispose()
