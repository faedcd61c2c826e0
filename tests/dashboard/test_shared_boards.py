"""Triage boards built once for every server process (dashboard/views/shared_boards.py):
two TriageBoards over one migrated application database stand for two processes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from core.appdb.directory import PatientInfo
from core.appdb.engine import create_schema, make_engine
from core.appdb.reviews import TriageBoardRecord
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.views.shared_boards import SharedBoards, key_hash
from dashboard.views.triage import TriageBoards, encode_rows
from tests.dashboard.views_support import NOW, fill

PATIENTS = [PatientInfo(f"s{i}", f"Shared {i}", "Europe/London", ("type_1_diabetes",), {})
            for i in range(3)]
KEY = frozenset(p.id for p in PATIENTS)


def as_json(rows: object) -> str:  # NaN (no CGM data in a half) != NaN, as text it is equal
    return json.dumps(encode_rows(rows))  # type: ignore[arg-type]


def load(key: frozenset[str]) -> list[PatientInfo]:
    return [p for p in PATIENTS if p.id in key]


class NoReads:
    """A store for a process that must not build: any read fails the test."""

    def read_series(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("this process built a board another one had built")


class Broken:
    def read_series(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("the store went away mid-build")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    create_schema(e)
    yield e
    e.dispose()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTimeSeriesStore]:
    s = SqliteTimeSeriesStore(tmp_path / "ts.db")
    fill(s, "s0", days=14, end=NOW, glucose=lambda i: 50.0 if i % 10 == 0 else 120.0)
    fill(s, "s1", days=14, end=NOW)
    fill(s, "s2", days=4, end=NOW)
    yield s
    s.close()


def boards(store: object, engine: Engine, **shared: object) -> TriageBoards:
    return TriageBoards(store, clock=lambda: NOW,  # type: ignore[arg-type]
                        shared=SharedBoards(engine, poll_s=0.02, **shared))  # type: ignore[arg-type]


def test_the_second_process_reads_the_board_the_first_built(engine: Engine, store) -> None:
    first = boards(store, engine).board(KEY, load)
    second = boards(NoReads(), engine).board(KEY, load)

    assert second.as_of == first.as_of
    assert as_json(second.rows) == as_json(first.rows)
    assert [r.bucket for r in second.rows][0] == "very_low"  # s0, the most urgent, first
    assert second.rows[0].patient == PATIENTS[0]  # today's record, names included
    with engine.connect() as conn:
        (stored,) = conn.execute(select(TriageBoardRecord)).all()
    assert stored.key_hash == key_hash(KEY) and "Shared" not in stored.payload  # ids, no names


def test_a_claim_left_by_a_dead_process_is_taken_over(engine: Engine, store) -> None:
    as_of = TriageBoards(store, clock=lambda: NOW).window_end(NOW)
    with engine.begin() as conn:
        conn.execute(insert(TriageBoardRecord).values(
            key_hash=key_hash(KEY), as_of=as_of, claimed_by="dead",
            claimed_until=datetime.now(UTC) - timedelta(seconds=1), payload=None))

    board = boards(store, engine).board(KEY, load)

    assert len(board.rows) == 3
    with engine.connect() as conn:
        (stored,) = conn.execute(select(TriageBoardRecord)).all()
    assert stored.claimed_by != "dead" and stored.payload is not None


def test_a_process_waits_for_a_board_being_built_elsewhere(engine: Engine, store) -> None:
    reference = TriageBoards(store, clock=lambda: NOW).board(KEY, load)  # not shared
    as_of = reference.as_of
    other = SharedBoards(engine)
    with engine.begin() as conn:
        conn.execute(insert(TriageBoardRecord).values(
            key_hash=key_hash(KEY), as_of=as_of, claimed_by=other.owner,
            claimed_until=datetime.now(UTC) + timedelta(minutes=2), payload=None))
    got: list[object] = []
    waiting = threading.Thread(
        target=lambda: got.append(boards(NoReads(), engine).board(KEY, load))
    )
    waiting.start()
    waiting.join(timeout=0.5)
    assert waiting.is_alive()  # still waiting: the claim is live and nothing is stored yet

    other._publish(key_hash(KEY), as_of, encode_rows(reference.rows))
    waiting.join(timeout=10)

    assert not waiting.is_alive()
    assert as_json(got[0].rows) == as_json(reference.rows)  # type: ignore[attr-defined]


def test_a_failed_build_releases_its_claim_for_the_next_process(engine: Engine, store) -> None:
    with pytest.raises(RuntimeError, match="went away"):
        boards(Broken(), engine).board(KEY, load)
    with engine.connect() as conn:
        assert conn.execute(select(TriageBoardRecord)).all() == []

    board = boards(store, engine).board(KEY, load)  # at once, not after the lease

    assert len(board.rows) == 3


def test_boards_of_past_periods_are_deleted_as_new_ones_are_stored(engine: Engine, store) -> None:
    as_of = TriageBoards(store, clock=lambda: NOW).window_end(NOW)
    with engine.begin() as conn:
        for age in (timedelta(minutes=5), timedelta(hours=1)):
            conn.execute(insert(TriageBoardRecord).values(
                key_hash=key_hash(KEY), as_of=as_of - age, claimed_by="earlier",
                claimed_until=as_of - age, payload="[]"))

    boards(store, engine).board(KEY, load)

    with engine.connect() as conn:
        kept = sorted(r.as_of for r in conn.execute(select(TriageBoardRecord.as_of)))
    assert len(kept) == 2  # this period's and the previous one (still served at a turn)
