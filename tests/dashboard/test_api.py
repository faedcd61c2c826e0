from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.appdb.account_store import AccountStore
from core.appdb.directory import SqlDirectory
from core.metrics import Metric
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from tests.dashboard.views_support import database_with_people
from tests.support.accounts import sign_in
from tests.support.factories import T0, cgm_series, reading, register


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    """One app and one signed-in nurse for the module: every test here only reads."""
    tmp_path: Path = tmp_path_factory.mktemp("api")
    engine, people = database_with_people(tmp_path / "app.db")
    register(engine, "p1", [("d1", "cgm")], timezone="Europe/London", name="Pat One")
    store = SqliteTimeSeriesStore(tmp_path / "ts.db")
    store.write(cgm_series(24))
    store.write([reading(metric=Metric.WEIGHT, value=70.5, device_id="scale", source="scale",
                         unit="kg")])
    client = TestClient(create_app(store=store, directory=SqlDirectory(engine),
                                   accounts=AccountStore(engine)))
    sign_in(client, people.nurse)
    yield client
    store.close()


def test_readings_in_a_range_with_start_inclusive_and_end_exclusive(client) -> None:
    r = client.get("/api/patients/p1/readings", params={
        "metric": "glucose", "start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()})
    assert r.status_code == 200
    body = r.json()
    assert body["unit"] == "mg/dL"
    assert [x["time"] for x in body["readings"]][:2] == ["2026-03-01T00:00:00Z",
                                                        "2026-03-01T00:05:00Z"]
    assert len(body["readings"]) == 12


def test_latest_has_each_metric(client) -> None:
    body = client.get("/api/patients/p1/latest").json()
    assert body["weight"]["value"] == 70.5
    assert body["glucose"]["time"] == "2026-03-01T01:55:00Z"


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"metric": "glucose", "start": "2026-03-01T02:00:00Z", "end": "2026-03-01T01:00:00Z"},
         422, "start must be before end"),
        ({"metric": "glucose", "start": "2026-03-01T00:00:00", "end": "2026-03-01T01:00:00Z"},
         422, "time zone"),
        ({"metric": "sugar"}, 422, "glucose"),
        ({"metric": "glucose", "start": "2020-01-01T00:00:00Z", "end": "2026-03-01T01:00:00Z"},
         422, "at most"),
        ({"metric": "glucose", "end": "0001-01-01T00:00:00+01:00"}, 422, "calendar"),
    ],
)
def test_bad_queries_get_clear_errors(client, params: dict, status: int, words: str) -> None:
    r = client.get("/api/patients/p1/readings", params=params)
    assert r.status_code == status
    # The shape the OpenAPI schema documents for 422 (HTTPValidationError), with a reason.
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail
    assert all(isinstance(d["loc"], list) and isinstance(d["type"], str) for d in detail)
    assert any(words in d["msg"] for d in detail)


def test_an_unknown_patient_is_forbidden_like_anyone_elses_on_every_route(client) -> None:
    # 403 whether or not the patient exists: ids cannot be probed (dashboard/security.py).
    readings = client.get("/api/patients/nobody/readings", params={"metric": "glucose"})
    assert readings.status_code == 403
    assert client.get("/api/patients/nobody/latest").status_code == 403
    assert client.get("/patients/nobody").status_code == 403


def test_pages_and_openapi(client) -> None:
    assert "Pat One" in client.get("/").text
    page = client.get("/patients/p1").text
    assert 'data-metric="glucose"' in page and 'data-metric="weight"' in page
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/patients/{patient_id}/readings" in paths
