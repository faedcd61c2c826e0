"""The dead-letter store on both application databases (SQLite, and PostgreSQL as in
production): kept once per refused message, listed newest first and by device or code,
replay marks, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core import topics
from core.appdb.deadletters import UNREADABLE, DeadLetterStore
from core.appdb.engine import create_schema, make_engine
from core.contract import Rejection
from ingest.deadletter import dead_letter_payload

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    url = (f"sqlite:///{tmp_path / 'hearth.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    engine = make_engine(url)
    create_schema(engine)
    return engine


def letter(device_id: str, payload: bytes, code: str, *, age: timedelta = timedelta(0)
           ) -> tuple[str, bytes]:
    return topics.dead(device_id), dead_letter_payload(
        device_id=device_id, topic=topics.up(device_id), payload=payload,
        rejections=[Rejection(code, f"{code} here", 0)], received_at=NOW - age)


def test_kept_once_listed_filtered_marked_and_pruned(engine: Engine) -> None:
    store = DeadLetterStore(engine)
    binary = bytes(range(256))
    assert store.keep([letter("a", b'{"x":1}', "out_of_range", age=timedelta(days=2)),
                       letter("b", binary, "not_json", age=timedelta(days=1)),
                       letter("a", b'{"x":1}', "out_of_range"),  # the same message again
                       (topics.dead("c"), b"\xffnot a letter")], now=NOW) == 3
    listed = store.list()
    assert [x.device_id for x in listed] == ["c", "a", "b"]  # newest first
    c, a, b = listed
    assert a.times == 2 and a.last_received_at == NOW and a.received_at == NOW - timedelta(days=2)
    assert b.original() == binary and b.payload_encoding == "base64"
    assert a.original() == b'{"x":1}' and a.codes == ("out_of_range",)
    assert c.codes == (UNREADABLE,) and c.original() == b"\xffnot a letter"
    assert [x.id for x in store.list(device_id="a")] == [a.id]
    assert [x.id for x in store.list(code="not_json")] == [b.id]
    assert store.list(limit=1) == [c]

    store.mark_replayed(a.id, "1 readings stored", now=NOW)
    replayed = store.get(a.id)
    assert replayed is not None and replayed.replayed_at == NOW
    assert replayed.as_dict()["replay_outcome"] == "1 readings stored"
    assert store.get(10**9) is None

    assert store.prune(older_than=NOW - timedelta(hours=12)) == 1  # b, last seen a day ago
    assert store.count() == 2
