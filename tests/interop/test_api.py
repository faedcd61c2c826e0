"""The FHIR and CSV export endpoints: content, authorisation (403 for an invisible patient),
ranges."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from core.appdb.account_store import AccountStore
from core.metrics import Metric
from dashboard.app import create_app
from tests.interop.conftest import MONTH_START, Household
from tests.support.accounts import add_people, sign_in

WEEK = {"start": MONTH_START.isoformat(), "end": "2026-03-08T00:00:00+00:00"}


@pytest.fixture(scope="module")
def client(month: Household) -> TestClient:
    people = add_people(month.engine, "bob", clinic_patients=[p.id for p in month.profiles])
    client = TestClient(create_app(store=month.store, directory=month.directory,
                                   accounts=AccountStore(month.engine)))
    sign_in(client, people.nurse)
    return client


def test_fhir_endpoint_returns_a_validated_bundle_as_fhir_json(client, month) -> None:
    r = client.get("/api/patients/bob/fhir", params=WEEK)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    bundle = r.json()
    assert bundle["resourceType"] == "Bundle"
    observations = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert observations
    times = [o["resource"]["effectiveDateTime"] for o in observations]
    assert min(times) >= "2026-03-01T00:00:00Z" and max(times) < "2026-03-08T00:00:00Z"


@pytest.mark.parametrize("path", ["/api/patients/nobody/fhir", "/api/patients/nobody/export.csv"])
def test_a_patient_the_visitor_cannot_see_is_forbidden(client, path: str) -> None:
    r = client.get(path, params=WEEK)
    assert r.status_code == 403
    assert "may not see" in r.text


@pytest.mark.parametrize("path", ["/api/patients/bob/fhir", "/api/patients/bob/export.csv"])
@pytest.mark.parametrize(("params", "words"), [
    ({"start": "2026-03-08T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, "start must be before end"),
    ({"start": "2026-03-01T00:00:00", "end": "2026-03-08T00:00:00Z"}, "time zone"),
    ({"start": "2020-01-01T00:00:00Z", "end": "2026-03-08T00:00:00Z"}, "at most 400 days"),
    ({"end": "0001-01-01T00:00:00+01:00"}, "outside the supported calendar"),
    ({"end": "0001-01-02T00:00:00Z"}, "outside the supported calendar"),
])
def test_bad_periods_get_clear_errors(client, path: str, params: dict, words: str) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 422
    assert words in r.text


def test_csv_export_has_one_row_per_reading_with_the_original_unit(client, month) -> None:
    r = client.get("/api/patients/bob/export.csv", params=WEEK)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    expected = [x for x in month.readings if x.patient_id == "bob"
                and MONTH_START <= x.measured_at < MONTH_START.replace(day=8)]
    assert len(rows) == len(expected)
    glucose = [row for row in rows if row["metric"] == "glucose"]
    assert glucose and all(row["original_unit"] == "mmol/L" for row in glucose)
    assert all(row["unit"] == "mg/dL" and row["source"] == "meter" for row in glucose)
    first = glucose[0]
    assert float(first["value"]) == pytest.approx(
        float(first["original_value"]) * 18.0156, abs=1e-3
    )
    assert [row["time"] for row in rows] == sorted(row["time"] for row in rows)


def test_csv_export_of_chosen_metrics_only(client) -> None:
    r = client.get("/api/patients/bob/export.csv",
                   params={**WEEK, "metric": [str(Metric.SYSTOLIC), str(Metric.DIASTOLIC)]})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and {row["metric"] for row in rows} == {"systolic", "diastolic"}
    assert {row["unit"] for row in rows} == {"mm[Hg]"}
