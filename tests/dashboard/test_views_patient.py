"""The patient view through the real app: today, trends, units and time zone preferences."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

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
        return figures.trends(world.store, p1, days=14, now=at, units="mg/dL",
                              tz="Europe/London").glucose

    before = glucose_shown(NOW)
    world.store.write([r("p1", "p1-meter", Metric.GLUCOSE, 400.0,
                         NOW - timedelta(hours=h, minutes=1), "meter", "mg/dL")
                       for h in range(1, 6)])
    after = glucose_shown(NOW)
    assert before is not None and after == before  # the meter's 400s are not in the CGM's curve
    world.clock.now = NOW + timedelta(minutes=1)  # the page of the next minute, through the app
    page = world.client("patient").get("/api/patients/p1/trends").json()["glucose"]
    assert page["readings"] == glucose_shown(world.clock.now).readings

    world.store.write([r("p9", "p9-meter", Metric.GLUCOSE, 90.0 + 10 * k, NOW - timedelta(days=k),
                         "meter", "mg/dL") for k in range(1, 4)])
    meter_only = PatientInfo("p9", "Meter Only", "Europe/London", ("type_2_diabetes",), {})
    shown = figures.trends(world.store, meter_only, days=14, now=NOW, units="mg/dL",
                           tz="Europe/London")
    # points and the standard day, never an AGP (tests/dashboard/test_trends_meter.py)
    assert shown.glucose is None
    assert shown.meter is not None and shown.meter.values == [120.0, 110.0, 100.0]


def test_units_and_time_zone_are_kept_per_user_and_change_the_numbers(world: World) -> None:
    patient = world.client("patient")
    assert patient.get("/api/me/preferences").json() == {"glucose_units": "mg/dL", "timezone": None,
                                                          "locale": None, "weight_units": "kg"}
    page = patient.get("/settings")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    saved = patient.post("/settings", data={"glucose_units": "mmol/L",
                                            "timezone": "America/New_York",
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
    bad = patient.put("/api/me/preferences",
                      json={"glucose_units": "mmol/L", "timezone": "Mars/Base"},
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
    landing = world.client("patient").get("/home", follow_redirects=False)
    assert landing.headers["location"] == "/patients/p1/today"


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
        content = paths[path]["get"]["responses"]["200"]["content"]
        ref = content["application/json"]["schema"]["$ref"]
        assert ref.endswith(f"/{model}")
    report = paths["/api/patients/{patient_id}/agp-report"]["get"]["responses"]["200"]
    assert "application/pdf" in report["content"]
    assert "AlertOut" in schema["components"]["schemas"]
    assert "/live/patients/{patient_id}" in paths  # the event stream is listed too


# -- safety alerts, the inbox, the alarm sound, landing pages --------------------------------

def open_safety_alert(world: World, alert_id: str, *, group: str = "hypo",
                      minutes_ago: int = 3) -> None:
    """An urgent alert as coach/escalation.py opens it: kind "escalation", its ladder, the
    patient notified at step 0."""
    from sqlalchemy.orm import Session

    from core.appdb.coaching import CoachAlert, EscalationStep

    at = world.clock.now - timedelta(minutes=minutes_ago)
    with Session(world.engine) as session:
        session.add(CoachAlert(
            id=alert_id, patient_id="p1",
            flag_type="urgent_low" if group == "hypo" else "bp_crisis",
            group=group, kind="escalation", audience="coach", priority="urgent",
            title="Very low glucose" if group == "hypo" else "Very high blood pressure",
            body="Your glucose is 48 mg/dL, below 54: that is very low. Take 15 g of fast-acting "
                 "sugar now and check again in 15 minutes.",
            why="Glucose below 54 mg/dL.", evidence={}, state="open", created_at=at,
            ladder=["patient", "caregiver", "coach", "nurse"], step=0,
            next_step_at=at + timedelta(minutes=5)))
        session.add(EscalationStep(alert_id=alert_id, step=0, role="patient", recipient_id="p1",
                                   action="notified", at=at))
        session.commit()


def steps_of(world: World, alert_id: str) -> list[tuple[str, str, str | None]]:
    from sqlalchemy.orm import Session

    from care.alerts import steps

    with Session(world.engine) as session:
        return [(s.role, s.action, s.by_user) for s in steps(session, alert_id)]


def csrf(client) -> str:
    from tests.support.accounts import session_csrf

    return session_csrf(client)


def test_today_and_the_inbox_show_an_open_safety_alert_and_ok_stops_the_ladder(
        fresh_world: World) -> None:
    world = fresh_world
    patient = world.client("patient")
    assert 'data-safety-alert' not in patient.get("/patients/p1/today").text
    open_safety_alert(world, "a1")
    today = patient.get("/patients/p1/today").text
    assert 'data-safety-alert="a1"' in today and "Take 15 g of fast-acting sugar now" in today
    assert 'action="/patients/p1/safety-alerts/a1/acknowledge"' in today and ">OK</button>" in today
    assert 'data-alarm="normal"' in today  # an open urgent low sounds
    inbox = patient.get("/alerts")
    assert inbox.status_code == 200 and 'data-safety-alert="a1"' in inbox.text
    assert [a["id"] for a in patient.get("/api/me/safety-alerts").json()] == ["a1"]

    done = patient.post("/patients/p1/safety-alerts/a1/acknowledge",
                        headers={"X-CSRF-Token": csrf(patient), "Accept": "application/json"})
    assert done.status_code == 200 and done.json()["acknowledged"] is True
    assert steps_of(world, "a1") == [("patient", "notified", None),
                                     ("patient", "acknowledged", "pat")]
    today = patient.get("/patients/p1/today").text
    assert "data-safety-alert" not in today and 'data-alarm="none"' in today
    again = patient.post("/patients/p1/safety-alerts/a1/acknowledge",
                         headers={"X-CSRF-Token": csrf(patient), "Accept": "application/json"})
    assert again.json()["acknowledged"] is False  # already stopped: nothing recorded twice
    assert len(steps_of(world, "a1")) == 2
    # a form without scripts: back to the page it came from
    open_safety_alert(world, "a2")
    form = patient.post("/patients/p1/safety-alerts/a2/acknowledge",
                        data={"csrf_token": csrf(patient), "back": "/patients/p1/today"},
                        follow_redirects=False)
    assert form.status_code == 303 and form.headers["location"] == "/patients/p1/today"
    assert patient.post("/patients/p1/safety-alerts/nope/acknowledge",
                        headers={"X-CSRF-Token": csrf(patient)}).status_code == 404


def test_the_inbox_lists_alerts_and_nudges_and_other_roles_go_to_their_own_pages(
        fresh_world: World) -> None:
    from sqlalchemy.orm import Session

    from core.appdb.coaching import CoachNudge

    world = fresh_world
    with Session(world.engine) as session:
        session.add(CoachNudge(patient_id="p1", kind="nudge", flag_type="low", priority="high",
                               title="Low glucose", body="Your glucose is 65 mg/dL.",
                               why="Below 70 mg/dL.", status="sent",
                               created_at=NOW - timedelta(hours=2),
                               sent_at=NOW - timedelta(hours=2)))
        session.commit()
    page = world.client("patient").get("/alerts")
    assert page.status_code == 200 and "Your glucose is 65 mg/dL." in page.text
    assert "No open safety alerts." in page.text
    assert 'aria-current="page">Inbox' in page.text
    for role, where in (("caregiver", "/shared"), ("coach", "/coach"), ("nurse", "/nurse/alerts")):
        moved = world.client(role).get("/alerts", follow_redirects=False)
        assert moved.headers["location"] == where
    assert world.client("admin").get("/alerts").status_code == 403


def test_a_caregiver_with_the_alerts_share_sees_and_acknowledges_and_one_without_sees_none(
        fresh_world: World) -> None:
    from tests.support.accounts import PASSWORD, sign_in

    world = fresh_world
    world.accounts.users.add("cleo", role="caregiver", display_name="Cleo", password=PASSWORD)
    world.accounts.sharing.share("p1", "cleo", ("readings", "trends"), urgent_alerts=False)
    world.accounts.users.add("carl", role="caregiver", display_name="Carl", password=PASSWORD)
    open_safety_alert(world, "c1")

    cara = world.client("caregiver")  # shares readings, trends and alerts; urgent alerts on
    home = cara.get("/shared").text
    assert 'data-safety-alert="c1"' in home and "Pat Example was told: Your glucose is 48" in home
    assert 'data-safety-alert="c1"' in cara.get("/patients/p1/today").text
    assert [a["id"] for a in cara.get("/api/me/safety-alerts").json()] == ["c1"]
    reads = [e for e in world.accounts.audit_log.entries(patient_id="p1") if e.actor_id == "cara"]
    assert {e.purpose for e in reads} >= {"safety alerts"}

    for name in ("cleo", "carl"):  # readings only, and no share at all
        other = TestClient(world.app)
        assert sign_in(other, name).status_code == 303
        assert "data-safety-alert" not in other.get("/shared").text
        assert other.get("/api/me/safety-alerts").json() == []
        assert "data-safety-alert" not in other.get("/alerts/safety").text
        refused = other.post("/patients/p1/safety-alerts/c1/acknowledge",
                             headers={"X-CSRF-Token": csrf(other)})
        assert refused.status_code == 403
    cleo = TestClient(world.app)  # she may see the readings: her Today has no alert area
    sign_in(cleo, "cleo")
    assert 'id="safety-alerts"' not in cleo.get("/patients/p1/today").text

    done = cara.post("/patients/p1/safety-alerts/c1/acknowledge",
                     data={"csrf_token": csrf(cara), "back": "/shared"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/shared"
    assert steps_of(world, "c1")[-1] == ("caregiver", "acknowledged", "cara")
    assert "data-safety-alert" not in cara.get("/shared").text
    # coaches and nurses act in their own queues, not here
    assert world.client("coach").post("/patients/p1/safety-alerts/c1/acknowledge",
                                      headers={"X-CSRF-Token": csrf(world.client("coach"))}
                                      ).status_code == 403


def test_alarm_sound_may_be_quieter_never_silent_for_an_urgent_low(fresh_world: World) -> None:
    world = fresh_world
    patient = world.client("patient")
    token = csrf(patient)
    assert patient.get("/api/me/alarm").json() == {"urgent_low": "normal", "other_urgent": "normal"}
    silent = patient.put("/api/me/alarm", json={"urgent_low": "silent", "other_urgent": "normal"},
                         headers={"X-CSRF-Token": token})
    assert silent.status_code == 422 and "cannot be silent" in silent.text
    form = patient.post("/settings/alarm", data={"csrf_token": token, "urgent_low": "silent",
                                                 "other_urgent": "normal"})
    assert form.status_code == 422 and "cannot be silent" in form.text
    assert patient.put("/api/me/alarm", json={"urgent_low": "loud"},
                       headers={"X-CSRF-Token": token}).status_code == 422
    saved = patient.post("/settings/alarm", data={"csrf_token": token, "urgent_low": "quieter",
                                                  "other_urgent": "silent"}, follow_redirects=False)
    assert saved.status_code == 303
    assert patient.get("/api/me/alarm").json() == {"urgent_low": "quieter",
                                                   "other_urgent": "silent"}
    assert 'id="urgent-low-quieter"\n      checked' in patient.get("/settings").text
    open_safety_alert(world, "s1")
    assert 'data-alarm="quieter"' in patient.get("/patients/p1/today").text
    patient.post("/patients/p1/safety-alerts/s1/acknowledge", headers={"X-CSRF-Token": token})
    open_safety_alert(world, "s2", group="bp_crisis")  # not a low: silence is allowed
    assert 'data-alarm="silent"' in patient.get("/patients/p1/today").text
    assert world.client("caregiver").get("/api/me/alarm").status_code == 403
    assert "urgent_low" not in world.client("caregiver").get("/settings").text


def test_the_current_glucose_is_coloured_by_range_and_its_age_turns_stale(
        fresh_world: World) -> None:
    world = fresh_world
    patient = world.client("patient")
    page = patient.get("/patients/p1/today").text
    assert "range-in_range" in page and ">In range</span>" in page
    assert 'data-very-low="54.0"' in page and 'data-very-high="250.0"' in page  # analytics/cgm.py
    assert "age-fresh" in page and 'data-warn-min="15" data-urgent-min="30"' in page
    world.store.write([r("p1", "p1-cgm", Metric.GLUCOSE, 50.0, NOW, "cgm", "mg/dL")])
    page = patient.get("/patients/p1/today").text
    assert "range-very_low" in page and ">Very low</span>" in page
    world.clock.now = NOW + timedelta(minutes=17)
    assert "age-warn" in patient.get("/patients/p1/today").text
    world.clock.now = NOW + timedelta(minutes=31)
    page = patient.get("/patients/p1/today").text
    assert "age-urgent" in page and "no reading for over 30 min" in page


def test_each_role_lands_on_its_work_and_the_old_patients_page_is_gone(world: World) -> None:
    for role, where in (("patient", "/patients/p1/today"), ("caregiver", "/shared"),
                        ("coach", "/coach"), ("nurse", "/nurse"), ("admin", "/audit")):
        assert world.client(role).get("/", follow_redirects=False).headers["location"] == where
    anonymous = world.client().get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert anonymous.headers["location"].startswith("/login")


# -- Today at a glance (issue 18) ---------------------------------------------------------------

def _glance(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="glance-data">(.*?)</script>', page,
                      re.S)
    assert found, "no chart data on the page"
    return json.loads(found.group(1))


def _card(page: str, key: str) -> str:
    start = page.index(f'data-card="{key}"')
    return page[start:page.index("</article>", start)]


def test_today_at_a_glance_chart_band_markers_change_and_vitals_with_targets(
        fresh_world: World) -> None:
    from analytics import targets as tg
    from analytics.activity import DEFAULT_STEP_GOAL

    world = fresh_world
    world.store.write([
        r("p1", "p1-cgm", Metric.GLUCOSE, 112.0, NOW, "cgm", "mg/dL"),
        r("p1", "p1-ns", Metric.CARBS, 45.0, NOW - timedelta(hours=2), "nightscout", "g"),
        r("p1", "p1-ns", Metric.INSULIN, 4.5, NOW - timedelta(hours=2), "nightscout", "[iU]")])
    patient = world.client("patient")
    page = patient.get("/patients/p1/today", headers={"Accept-Language": "en-GB,en;q=0.8"}).text
    # the change since the reading before (100 five minutes earlier), in the value's card
    assert 'id="glucose-change"' in page and "+12 mg/dL" in page
    chart = _glance(page)
    assert chart["kind"] == "glucose" and chart["windows"] == [3, 6, 12, 24]
    assert chart["window"] == 6 and chart["locale"] == "en-GB"
    assert chart["band"] == [tg.GLUCOSE_LOW_BELOW, tg.GLUCOSE_HIGH_ABOVE]  # the one source
    assert chart["line"]["values"][-1] == 112.0 and chart["points"] is None
    assert chart["line"]["times"][0] >= (NOW - timedelta(hours=24)).timestamp()
    assert [(m["kind"], m["text"]) for m in chart["markers"]] == [("carbs", "45 g"),
                                                                 ("insulin", "4.5 U")]
    assert "15 Mar, 10:00: 45 g carbs" in page and 'data-band="70–180"' in page
    # each vital beside its target (analytics/targets.py), judged
    bp = _card(page, "blood_pressure")
    assert f"below {tg.BP_HOME_ESH[0]:.0f}/{tg.BP_HOME_ESH[1]:.0f}" in bp and "on target" in bp
    assert f"{tg.SPO2_TARGET_DEFAULT:.0f}% or more" in _card(page, "spo2")
    steps = _card(page, "steps")
    assert f"goal {DEFAULT_STEP_GOAL:,.0f} a day" in steps and "6,300" in steps
    assert "no target set" in _card(page, "weight")
    # dates in the viewer's locale, the month in words: never 3/15/26
    assert 'id="glucose-when">15 Mar, 12:00<' in page
    us = patient.get("/patients/p1/today", headers={"Accept-Language": "en-US"}).text
    assert re.search(r'id="glucose-when">Mar 15, 12:00\s?PM<', us)
    assert "3/15/26" not in us and _glance(us)["locale"] == "en-US"
    # in mmol/L the band and the change follow the viewer's units
    token = patient.get("/settings").text.split('name="csrf_token" value="')[1].split('"')[0]
    assert patient.post("/settings", data={"glucose_units": "mmol/L", "csrf_token": token},
                        follow_redirects=False).status_code == 303
    mmol = patient.get("/patients/p1/today").text
    assert _glance(mmol)["band"] == [3.9, 10.0] and "+0.7 mmol/L" in mmol


def _other_patient(world: World, pid: str, conditions: tuple[str, ...],
                   targets: dict | None = None) -> None:
    from sqlalchemy.orm import Session

    from core.appdb.directory import upsert_patient
    from tests.dashboard.views_support import join_clinic

    with Session(world.engine) as session:
        upsert_patient(session, PatientInfo(pid, pid.title(), "Europe/London", conditions,
                                            targets or {}))
        session.commit()
    join_clinic(world.engine, [pid])


def test_a_meter_user_sees_points_and_a_heart_failure_patient_her_weight_against_its_line(
        fresh_world: World) -> None:
    from analytics import targets as tg

    world = fresh_world
    _other_patient(world, "mia", ("type_2_diabetes",))
    world.store.write([r("mia", "mia-meter", Metric.GLUCOSE, v, NOW - timedelta(hours=h),
                         "meter", "mg/dL") for v, h in ((132.0, 10), (188.0, 6), (101.0, 1))])
    _other_patient(world, "hal", ("heart_failure",))
    weights = [80.0, 80.2, 80.1, 82.6]  # +2.6 kg on the 3 days before: a warning
    world.store.write([r("hal", "hal-scale", Metric.WEIGHT, w, NOW - timedelta(days=3 - d, hours=4),
                         "scale", "kg") for d, w in enumerate(weights)])
    nurse = world.client("nurse")
    page = nurse.get("/patients/mia/today").text
    chart = _glance(page)
    assert chart["line"] is None and chart["points"]["values"] == [132.0, 188.0, 101.0]
    assert chart["window"] == 24 and "Finger-stick readings as points" in page
    assert 'id="glucose-value" data-mgdl="101"' in page
    # a finger-stick an hour old: no arrow, no sensor's "not current" warning
    assert '<span id="glucose-trend">Finger-stick</span>' in page
    # (the scripts' translated words, #page-words, hold "not current" on every page)
    shown = page.split('<script type="application/json" id="page-words">')[0]
    assert 'id="glucose-arrow"' not in shown and "not current" not in shown
    page = nurse.get("/patients/hal/today").text
    assert 'id="glucose-card"' not in page  # no glucose box for a person without diabetes
    chart = _glance(page)
    assert chart["kind"] == "vital" and chart["label"] == "Weight"
    assert chart["lines"] == [{"label": "Warning above",
                               "value": 80.0 + tg.HF_GAIN_3_DAYS_KG, "colour": "#a01818"}]
    weight = _card(page, "weight")
    assert "vital-urgent" in page and "no more than 82.0 kg" in weight and "gain" in weight


def test_the_patient_sees_her_coachs_unread_messages_and_goal_news_and_a_caregiver_does_not(
        fresh_world: World) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from care.plans import GoalDraft, GoalKind, agree_plan, create_plan, update_goal
    from core.appdb.plans import Goal
    from dashboard.views.care import send

    world = fresh_world
    page = world.client("patient").get("/patients/p1/today").text
    assert "No new messages from your coach." in page
    assert 'href="/patients/p1/goals#messages"' in page
    for body in ("Well done this week", "Shall we talk on Friday?"):
        send(world.engine, patient_id="p1", author_id=world.people.coach, author_name="Cole",
             author_role="coach", recipient_key=world.people.patient, body=body,
             now=NOW - timedelta(hours=1))
    with Session(world.engine) as session:
        plan = create_plan(session, world.store, patient_id="p1", coach_id=world.people.coach,
                           focus="being_active", now=NOW - timedelta(days=2),
                           goals=[GoalDraft(GoalKind.STEPS, target=3500)])
        agree_plan(session, plan.id, role="patient", now=NOW - timedelta(days=2))
        agree_plan(session, plan.id, role="coach", now=NOW - timedelta(days=2))
        session.flush()
        goal_id = session.scalars(select(Goal.id).where(Goal.plan_id == plan.id)).one()
        update_goal(session, goal_id, now=NOW - timedelta(days=1), target=3000,
                    by=world.people.coach, role="coach", reason="A busy week at work")
        session.commit()
    page = world.client("patient").get("/patients/p1/today").text
    assert "2 new messages from your coach" in page
    assert 'id="goal-news"' in page and "A busy week at work" in page
    assert "14 Mar" in page  # the change's day, in words
    shared = world.client("caregiver").get("/patients/p1/today")
    assert shared.status_code == 200
    assert 'id="coach-messages"' not in shared.text and "A busy week" not in shared.text


def test_trends_charts_have_every_vitals_target_a_day_picker_and_judge_nothing_on_too_little(
        fresh_world: World) -> None:
    from analytics import targets as tg

    world = fresh_world
    patient = world.client("patient")
    page = patient.get("/patients/p1/trends", headers={"Accept-Language": "en-GB"}).text
    found = re.search(r'id="trends-extras">(.*?)</script>', page, re.S)
    assert found
    extras = json.loads(found.group(1))
    assert [x["value"] for x in extras["bp_lines"]] == list(tg.BP_HOME_ESH)
    assert [x["value"] for x in extras["spo2_lines"]] == [tg.SPO2_TARGET_DEFAULT,
                                                         tg.SPO2_URGENT_AT_OR_BELOW]
    assert len(extras["spo2"]["values"]) == 14 and extras["locale"] == "en-GB"
    assert "systolic target 135 mmHg" in page and "target 95 %" in page
    assert "No weight target set." in page
    # the daily overlay is one day at a time, picked by its name in the viewer's locale
    assert '<option value="2026-03-15">Sun 15 Mar' in page and 'id="daily-chart"' in page
    us = patient.get("/patients/p1/trends", headers={"Accept-Language": "en-US"}).text
    assert '<option value="2026-03-15">Sun, Mar 15' in us
    # 14 days and 100% worn: judged; with 3 days the same targets are "not judged", never met
    assert '<span class="met">met</span>' in page and "not judged" not in page
    world.clock.now = NOW + timedelta(days=11)  # only the last 3 days of data in the 14
    world.signed_in.pop("patient")  # that session has expired by then: sign in again
    short = world.client("patient").get("/patients/p1/trends").text
    assert "Not enough data for a full report" in short
    assert "not judged: not enough data yet" in short and 'class="met"' not in short


def test_a_sensor_silent_for_a_day_says_so_instead_of_an_empty_chart(fresh_world: World) -> None:
    world = fresh_world
    world.clock.now = NOW + timedelta(hours=25)
    world.signed_in.pop("patient", None)
    page = world.client("patient").get("/patients/p1/today").text
    assert "No glucose readings in the last 24 hours." in page
    assert 'id="glance-chart"' not in page and "age-urgent" in page


def test_the_glance_has_a_json_twin_and_the_messages_are_the_patients_alone(
        world: World) -> None:
    from analytics import targets as tg

    body = world.client("patient").get("/api/patients/p1/today/glance",
                                       headers={"Accept-Language": "en-US"}).json()
    assert body["locale"] == "en-US" and body["change_text"] == "±0 mg/dL"
    chart = body["chart"]
    assert chart["kind"] == "glucose" and chart["band"] == [tg.GLUCOSE_LOW_BELOW,
                                                            tg.GLUCOSE_HIGH_ABOVE]
    assert chart["line"]["values"][-1] == 100.0 and chart["markers"] == []
    bp = next(v for v in body["vitals"] if v["key"] == "blood_pressure")
    assert bp["status"] == "ok" and bp["when"].startswith("Mar ")
    assert body["unread_messages"] == 0 and body["goal_news"] == []
    shared = world.client("caregiver").get("/api/patients/p1/today/glance").json()
    assert shared["unread_messages"] is None and shared["goal_news"] is None
    assert shared["chart"]["band"] == chart["band"]
    assert world.client("patient").get("/api/patients/q000/today/glance").status_code in (403,
                                                                                        404)
    assert world.client().get("/api/patients/p1/today/glance").status_code == 401
    schema = world.client("patient").get("/openapi.json").json()
    ok = schema["paths"]["/api/patients/{patient_id}/today/glance"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/Glance")
