"""Outcomes that matter to me (care/outcomes.py), against the real migrated database:
her own words, at most five active, ratings 0-10, the latest rating and the trend of the
last three, retiring keeps the record, and nobody's outcome is reachable through another
person's id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from care import outcomes
from core.appdb.outcomes import OutcomeRating, PersonalOutcome
from tests.support.factories import register

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(engine: Engine) -> Engine:
    register(engine, "p1", [("cgm-1", "cgm")])
    register(engine, "p2", [("cgm-2", "cgm")])
    return engine


def test_an_outcome_in_her_words_is_listed_without_a_rating(db: Engine) -> None:
    with Session(db) as s:
        oid = outcomes.add(s, "p1", "  walk to the shops\n without stopping ", "u1", T0)
        s.commit()
        [got] = outcomes.active(s, "p1")
    assert got.id == oid and got.text == "walk to the shops without stopping"
    assert (got.latest, got.latest_at, got.recent, got.trend) == (None, None, (), None)


def test_at_most_five_active_and_retiring_frees_a_place(db: Engine) -> None:
    with Session(db) as s:
        ids = [outcomes.add(s, "p1", f"outcome number {i}", "u1", T0 + timedelta(minutes=i))
               for i in range(outcomes.MAX_ACTIVE)]
        with pytest.raises(outcomes.OutcomeError, match="retire one"):
            outcomes.add(s, "p1", "one too many", "u1", T0)
        outcomes.add(s, "p2", "another person's list is her own", "u2", T0)
        outcomes.retire(s, "p1", ids[0], T0 + timedelta(days=1))
        outcomes.add(s, "p1", "sleep through", "u1", T0 + timedelta(days=1))
        s.commit()
        listed = [o.text for o in outcomes.active(s, "p1")]
        kept = s.scalar(select(func.count()).select_from(PersonalOutcome)
                        .where(PersonalOutcome.patient_id == "p1"))
    assert listed == [f"outcome number {i}" for i in range(1, 5)] + ["sleep through"]
    assert kept == 6, "a retired outcome stays in the record"


@pytest.mark.parametrize("text", ["", "  ", "ab", "x" * 121])
def test_too_short_or_too_long_words_are_refused(db: Engine, text: str) -> None:
    with Session(db) as s, pytest.raises(outcomes.OutcomeError):
        outcomes.add(s, "p1", text, "u1", T0)


def test_the_same_words_twice_are_refused(db: Engine) -> None:
    with Session(db) as s:
        outcomes.add(s, "p1", "Sleep through", "u1", T0)
        with pytest.raises(outcomes.OutcomeError, match="already"):
            outcomes.add(s, "p1", "sleep  through", "u1", T0)


def test_latest_rating_and_the_trend_of_the_last_three(db: Engine) -> None:
    with Session(db) as s:
        walk = outcomes.add(s, "p1", "walk to the shops", "u1", T0)
        sleep = outcomes.add(s, "p1", "sleep through", "u1", T0)
        lows = outcomes.add(s, "p1", "no night-time lows this month", "u1", T0)
        for day, score in enumerate([9, 2, 4, 6]):  # the 9 is older than the last three
            outcomes.rate(s, "p1", walk, score, T0 + timedelta(days=day))
        for day, score in enumerate([7, 5]):
            outcomes.rate(s, "p1", sleep, score, T0 + timedelta(days=day))
        outcomes.rate(s, "p1", lows, 0, T0)
        outcomes.rate(s, "p1", lows, 0, T0 + timedelta(days=1))
        s.commit()
        got = {o.id: o for o in outcomes.active(s, "p1")}
    assert (got[walk].latest, got[walk].recent, got[walk].trend) == (6, (2, 4, 6), "up")
    assert got[walk].latest_at == T0 + timedelta(days=3)
    assert (got[sleep].latest, got[sleep].recent, got[sleep].trend) == (5, (7, 5), "down")
    assert (got[lows].latest, got[lows].trend) == (0, "steady")


@pytest.mark.parametrize("score", [-1, 11])
def test_a_rating_is_0_to_10(db: Engine, score: int) -> None:
    with Session(db) as s:
        oid = outcomes.add(s, "p1", "sleep through", "u1", T0)
        with pytest.raises(outcomes.OutcomeError):
            outcomes.rate(s, "p1", oid, score, T0)
        outcomes.rate(s, "p1", oid, 0, T0)
        outcomes.rate(s, "p1", oid, 10, T0 + timedelta(hours=1))
        s.flush()
        assert s.scalar(select(func.count()).select_from(OutcomeRating)) == 2


def test_another_persons_or_a_retired_outcome_cannot_be_rated_or_retired(db: Engine) -> None:
    with Session(db) as s:
        theirs = outcomes.add(s, "p2", "garden again", "u2", T0)
        mine = outcomes.add(s, "p1", "sleep through", "u1", T0)
        outcomes.retire(s, "p1", mine, T0)
        with pytest.raises(LookupError):
            outcomes.rate(s, "p1", theirs, 5, T0)
        with pytest.raises(LookupError):
            outcomes.retire(s, "p1", theirs, T0)
        with pytest.raises(LookupError):
            outcomes.rate(s, "p1", mine, 5, T0)
        assert [o.text for o in outcomes.active(s, "p2")] == ["garden again"]
        assert outcomes.active(s, "p1") == []


def test_trend_reads_newest_against_oldest() -> None:
    assert outcomes.trend_of(()) is None and outcomes.trend_of((4,)) is None
    assert outcomes.trend_of((3, 8, 3)) == "steady"
    assert outcomes.trend_of((8, 1, 9)) == "up"
