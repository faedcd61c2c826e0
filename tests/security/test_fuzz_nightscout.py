"""The Nightscout upload endpoint (POST /api/v1/entries) under generated bodies.

The real dashboard app, with the uploader's secret; the broker is replaced by a
publisher that records what it was given (the Publisher interface of
dashboard/nightscout_backend.py). Every body gets 200 or a 400 whose description
names each bad entry with its reason; nothing answers 5xx, and what is published
is a contract message that ingest accepts whole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from core.appdb.account_store import AccountStore
from core.appdb.directory import SqlDirectory
from core.contract import decode_message
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from dashboard.nightscout_backend import NightscoutBackend
from tests.security.fuzzing import FUZZ_HTTP, JSON, SCALARS
from tests.support.factories import app_database, register

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SECRET = "uploader secret 1234"
DEVICE = "ann-xdrip"


class Uploaders:
    def nightscout_uploader(self, api_secret_sha1: str) -> tuple[str, str] | None:
        return (DEVICE, "ann") if api_secret_sha1 == hashlib.sha1(SECRET.encode()).hexdigest() \
            else None


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish_confirmed(self, topic: str, payload: bytes, *, timeout: float) -> None:
        self.sent.append((topic, payload))


@pytest.fixture(scope="module")
def uploader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient,
                                                                         RecordingPublisher]]:
    root: Path = tmp_path_factory.mktemp("nightscout-fuzz")
    engine = app_database(root / "hearth.db")
    register(engine, "ann", [])
    store = SqliteTimeSeriesStore(root / "ts.db")
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=AccountStore(engine))
    publisher = RecordingPublisher()
    app.state.nightscout = NightscoutBackend(uploaders=Uploaders(), publisher=publisher,
                                             clock=lambda: NOW)
    with TestClient(app, headers={"api-secret": hashlib.sha1(SECRET.encode()).hexdigest()}) as c:
        yield c, publisher
    store.close()
    engine.dispose()


NOW_MS = int(NOW.timestamp() * 1000)
ENTRY = st.fixed_dictionaries(
    {"type": st.sampled_from(["sgv", "mbg", "cal", "", None]) | SCALARS},
    optional={"sgv": st.integers(0, 1000) | SCALARS, "mbg": st.integers(0, 1000) | SCALARS,
              "date": st.integers(NOW_MS - 10**9, NOW_MS + 10**9) | SCALARS,
              "dateString": st.sampled_from(["2026-11-23T11:00:00Z", "2026-11-23T11:00:00",
                                             "yesterday"]) | SCALARS,
              "direction": SCALARS, "device": SCALARS},
)


def post(client: TestClient, publisher: RecordingPublisher, body: bytes) -> None:
    before = len(publisher.sent)
    response = client.post("/api/v1/entries", content=body,
                           headers={"content-type": "application/json"})
    assert response.status_code in (200, 400), (response.status_code, response.text)
    answer: Any = response.json()
    published = publisher.sent[before:]
    accepted = 0
    for topic, payload in published:
        assert topic == f"hearth/v1/up/{DEVICE}"
        decoded = decode_message(payload, topic_device_id=DEVICE, now=NOW)
        assert not decoded.rejections  # only entries that pass the contract go out
        accepted += len(decoded.measurements)
    if response.status_code == 200:
        assert isinstance(answer, list) and len(answer) == accepted
        return
    assert answer["status"] == 400 and answer["description"].strip()
    for error in answer.get("errors", []):
        head, _, reason = error.partition(": ")
        assert head.startswith("entry ") and head[6:].isdigit() and reason.strip(), error
    assert answer.get("accepted", 0) == accepted


@FUZZ_HTTP
@given(st.binary(max_size=200))
def test_fuzz_any_bytes_are_refused_with_a_reason(uploader, body: bytes) -> None:
    post(*uploader, body)


@FUZZ_HTTP
@given(JSON)
def test_fuzz_any_json_gets_200_or_a_400_with_reasons(uploader, document: Any) -> None:
    post(*uploader, json.dumps(document).encode())


@FUZZ_HTTP
@given(st.lists(ENTRY, min_size=1, max_size=12))
def test_fuzz_entries_each_bad_one_is_named(uploader, entries: list[dict[str, Any]]) -> None:
    post(*uploader, json.dumps(entries).encode())


def test_a_good_and_a_bad_entry(uploader) -> None:
    client, publisher = uploader
    good = {"type": "sgv", "sgv": 120, "date": int((NOW - timedelta(minutes=5)).timestamp() * 1000)}
    response = client.post("/api/v1/entries", json=[good, {"type": "sgv", "sgv": "high"}])
    assert response.status_code == 400
    assert response.json()["errors"] == ["entry 1: sgv must be a number in mg/dL, got 'high'"]
    assert response.json()["accepted"] == 1
