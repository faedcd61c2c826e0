"""The patient view through the real app: today, trends, units and time zone preferences."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.appdb.directory import PatientInfo
from core.metrics import Metric
from dashboard.views import figures
from dashboard.views.models import GlucoseTrends
from tests.dashboard.views_support import NOW, World, build_world, r


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """Shared by the tests that leave the data and the clock as they found them."""
    yield from build_world(tmp_path_factory.mktemp("patient"))


@pytest.fixture
def fresh_world(tmp_path: Path):
    yield from build_world(tmp_path)


def test_today_shows_current_glucose_with_arrow_freshness_and_latest_readings(world: World) -> None:
    patient = world.client("patient")
    body = patient.get("/api/patients/p1/today").json()
    g = body["glucose"]
    # the last reading is at NOW - 5 min, 100 mg/dL and flat: steady and fresh
    assert g["value"] == 100.0 and g["units"] == "mg/dL"
    assert g["arrow_label"] == "steady" and g["fresh"] is True and g["age_minutes"] == 5
    assert body["latest"]["blood_pressure"]["value"] == "129/82"
    assert body["latest"]["weight"]["value"] == "80.7"
    assert body["latest"]["spo2"]["value"] == "97"
    page = patient.get("/patients/p1/today")
    assert page.status_code == 200
    assert 'id="glucose-value"' in page.text and "Steady" in page.text


def test_a_rising_glucose_gets_an_up_arrow_and_an_old_one_is_marked_not_current(
        fresh_world: World) -> None:
    world = fresh_world
    world.store.write([r("p1", "p1-cgm", Metric.GLUCOSE, 100.0 + 12 * k,
                         NOW + timedelta(minutes=5 * k - 4), "cgm", "mg/dL") for k in range(1, 4)])
    patient = world.client("patient")
    world.clock.now = NOW + timedelta(minutes=12)
    g = patient.get("/api/patients/p1/today").json()["glucose"]
    assert g["rate_per_min"] == pytest.approx(2.4, abs=0.01)  # 12 mg/dL per 5 min
    assert g["arrow_label"] == "rising"
    world.clock.now = NOW + timedelta(minutes=29)  # 18 min old; within the session idle limit
    g = patient.get("/api/patients/p1/today").json()["glucose"]
    assert g["fresh"] is False
    assert "not current" in patient.get("/patients/p1/today").text


def test_trends_give_agp_ranges_overlays_bp_weight_and_steps(world: World) -> None:
    patient = world.client("patient")
    body = patient.get("/api/patients/p1/trends", params={"days": 14}).json()
    g = body["glucose"]
    # 2 h 55 min of 220 a day... the pattern: 10:00-12:00 (hours 8-10) and 13:00-14:00 at 220
    assert g["ranges"]["in_range"] == pytest.approx(100 * (1440 - 180) / 1440, abs=0.5)
    assert g["ranges"]["high"] == pytest.approx(100 * 180 / 1440, abs=0.5)
    assert len(g["agp"]["p50"]) == 96 and g["agp"]["p50"][0] == 100.0
    assert 1 <= len(g["days"]) <= 14
    # the older-adult targets of this patient (TIR > 50%)
    assert g["targets"][0]["goal"] == 50.0
    assert len(body["systolic"]["values"]) == 14 and len(body["weight"]["values"]) == 14
    assert [d["steps"] for d in body["steps"]][:2] == [5000.0, 5100.0]
    page = patient.get("/patients/p1/trends?days=30")
    assert page.status_code == 200 and 'aria-current="page">30 days' in page.text
    assert "vendor/uplot/uPlot.iife.min.js" in page.text and "cdn" not in page.text.lower()
    assert patient.get("/api/patients/p1/trends", params={"days": 7}).status_code == 422


def test_meter_checks_beside_a_cgm_leave_its_curve_alone_and_a_meter_alone_is_shown(
        fresh_world: World) -> None:
    world = fresh_world
    p1 = world.app.state.directory.patient("p1")

    def glucose_shown(at: datetime) -> GlucoseTrends | None:
        return figures.trends(world.store, p1, days=14, now=at, units="mg/dL", tz="Europe/London").glucose

    before = glucose_shown(NOW)
    world.store.write([r("p1", "p1-meter", Metric.GLUCOSE, 400.0, NOW - timedelta(hours=h, minutes=1),
                         "meter", "mg/dL") for h in range(1, 6)])
    after = glucose_shown(NOW)
    assert before is not None and after == before  # the meter's 400s are not in the CGM's curve
    world.clock.now = NOW + timedelta(minutes=1)  # the page of the next minute, through the app
    page = world.client("patient").get("/api/patients/p1/trends").json()["glucose"]
    assert page["readings"] == glucose_shown(world.clock.now).readings

    world.store.write([r("p9", "p9-meter", Metric.GLUCOSE, 90.0 + 10 * k, NOW - timedelta(days=k),
                         "meter", "mg/dL") for k in range(1, 4)])
    meter_only = PatientInfo("p9", "Meter Only", "Europe/London", ("type_2_diabetes",), {})
    shown = figures.trends(world.store, meter_only, days=14, now=NOW, units="mg/dL",
                           tz="Europe/London").glucose
    assert shown is not None and shown.readings == 3 and shown.mean == 110.0


def test_units_and_time_zone_are_kept_per_user_and_change_the_numbers(world: World) -> None:
    patient = world.client("patient")
    assert patient.get("/api/me/preferences").json() == {"glucose_units": "mg/dL", "timezone": None}
    page = patient.get("/settings")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    saved = patient.post("/settings", data={"glucose_units": "mmol/L", "timezone": "America/New_York",
                                            "csrf_token": token}, follow_redirects=False)
    assert saved.status_code == 303
    today = patient.get("/api/patients/p1/today").json()
    assert today["glucose"]["value"] == 5.6 and today["glucose"]["units"] == "mmol/L"
    assert today["timezone"] == "America/New_York"
    trends = patient.get("/api/patients/p1/trends").json()
    assert trends["glucose"]["agp"]["p50"][0] == 5.6 and trends["units"] == "mmol/L"
    assert "3.9-10.0 mmol/L" in patient.get("/patients/p1/trends").text
    # another user of the same patient keeps their own preference
    nurse = world.client("nurse")
    assert nurse.get("/api/patients/p1/today").json()["glucose"]["units"] == "mg/dL"
    bad = patient.put("/api/me/preferences", json={"glucose_units": "mmol/L", "timezone": "Mars/Base"},
                      headers={"X-CSRF-Token": token})
    assert bad.status_code == 422 and "time zone" in bad.text
    back = patient.put("/api/me/preferences", json={"glucose_units": "mg/dL", "timezone": None},
                       headers={"X-CSRF-Token": token})
    assert back.status_code == 200 and back.json()["glucose_units"] == "mg/dL"


def test_pages_need_sign_in_and_the_right_patient(world: World) -> None:
    anonymous = world.client()
    assert anonymous.get("/api/patients/p1/today").status_code == 401
    admin = world.client("admin")
    assert admin.get("/api/patients/p1/trends").status_code == 403
    assert admin.get("/patients/p1/today").status_code == 403
    caregiver = world.client("caregiver")  # shares readings and trends
    assert caregiver.get("/api/patients/p1/trends").status_code == 200
    assert world.client("patient").get("/home", follow_redirects=False).headers["location"] == "/patients/p1/today"


def test_caregiver_start_page_lists_who_shares(world: World) -> None:
    caregiver = world.client("caregiver")
    assert caregiver.get("/home", follow_redirects=False).headers["location"] == "/shared"
    page = caregiver.get("/shared")
    assert page.status_code == 200 and 'data-patient="p1"' in page.text
    assert world.client("coach").get("/shared").status_code == 403


def test_the_json_api_is_documented_with_response_models(world: World) -> None:
    schema = world.client().get("/openapi.json").json()
    paths = schema["paths"]
    for path, model in (("/api/patients/{patient_id}/today", "Today"),
                        ("/api/patients/{patient_id}/trends", "Trends"),
                        ("/api/nurse/triage", "TriagePage"),
                        ("/api/me/preferences", "Preferences")):
        ref = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith(f"/{model}")
    assert "application/pdf" in paths["/api/patients/{patient_id}/agp-report"]["get"]["responses"]["200"]["content"]
    assert "AlertOut" in schema["components"]["schemas"]
    assert "/live/patients/{patient_id}" in paths  # the event stream is listed too
