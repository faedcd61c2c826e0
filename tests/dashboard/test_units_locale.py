"""Weight in kg or lb and dates in the person's saved language, the same on Today, Trends
and the nurse's review (issue 18, "locale done once ... units by preference"). Readings and
the clinical lines stay in kg underneath (the heart-failure warning is 2 kg in 3 days
whatever the viewer reads). Through the app, and in Debian's Chromium by clicking from
the settings page to Today."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel import Locale
from sqlalchemy.orm import Session

from core.appdb.directory import PatientInfo, upsert_patient
from core.metrics import KG_PER_LB, Metric
from dashboard.views import glance
from tests.dashboard.views_support import NOW, World, build_world
from tests.support.accounts import PASSWORD, People
from tests.support.browser import sign_in


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from build_world(tmp_path_factory.mktemp("units"))


def _token(client: Any) -> str:
    page = client.get("/settings")
    assert 'name="csrf_token"' in page.text, (page.status_code, page.url)
    return str(page.text.split('name="csrf_token" value="')[1].split('"')[0])


def _save(client: Any, **fields: str) -> None:
    data = {"glucose_units": "mg/dL", "csrf_token": _token(client), **fields}
    assert client.post("/settings", data=data, follow_redirects=False).status_code == 303


def test_weight_in_lb_on_today_trends_and_review_the_rules_still_in_kg(world: World) -> None:
    with Session(world.engine) as session:  # heart failure with a target weight of 80 kg
        upsert_patient(session, PatientInfo("p1", "Pat Example", "Europe/London",
                                            ("heart_failure",), {"weight_kg": 80.0}))
        session.commit()
    patient, nurse = world.client("patient"), world.client("nurse")
    _save(patient, weight_units="lb")
    assert patient.get("/api/me/preferences").json()["weight_units"] == "lb"
    newest_kg = 80.0 + 13 * 0.05  # the last weigh-in of views_support.fill
    lb = round(newest_kg / KG_PER_LB, 1)

    today = patient.get("/api/patients/p1/today").json()
    assert today["latest"]["weight"] == {**today["latest"]["weight"], "value": f"{lb:.1f}",
                                         "unit": "lb"}
    page = patient.get("/patients/p1/today").text
    card = page.split('data-card="weight"')[1].split("</article>")[0]
    assert f"<span>{lb:.1f}</span> <small>lb</small>" in card
    # heart failure: the warning line in lb, its 2 kg in lb (4.4), the rule itself in kg
    line_kg = 80.0 + 10 * 0.05 + 2  # lowest of the 3 days before the newest, + 2 kg
    assert f"no more than {line_kg / KG_PER_LB:.1f} lb (a gain over 4.4 lb in 3 days" in card
    assert " kg" not in card

    trends = patient.get("/api/patients/p1/trends").json()
    assert trends["weight_units"] == "lb"
    assert trends["weight"]["values"][-1] == lb
    html = patient.get("/patients/p1/trends").text
    assert f"target {round(80 / KG_PER_LB, 1)} lb" in html  # the chart's key

    # the nurse keeps her own units (kg): the same patient, her review in kg
    review = nurse.get("/api/nurse/patients/p1/charts").json()
    assert review["weight_units"] == "kg" and review["weight"]["values"][-1] == round(newest_kg, 1)
    assert review["weight_target_kg"] == 80.0
    _save(nurse, weight_units="lb")
    review = nurse.get("/api/nurse/patients/p1/charts").json()
    assert review["weight_units"] == "lb" and review["weight_target_kg"] == round(80 / KG_PER_LB, 1)
    alert_lb = review["weight_alert_kg"]
    assert alert_lb is not None and abs(alert_lb * KG_PER_LB - (80.0 + 10 * 0.05 + 2)) < 0.1
    assert f"{alert_lb:.1f} lb" in nurse.get("/nurse/patients/p1").text
    _save(nurse, weight_units="kg")
    _save(patient, weight_units="kg")
    with Session(world.engine) as session:
        upsert_patient(session, PatientInfo("p1", "Pat Example", "Europe/London",
                                            ("type_1_diabetes",), {"older_adult": True}))
        session.commit()


def test_a_refused_unit_changes_nothing(world: World) -> None:
    patient = world.client("patient")
    bad = patient.post("/settings", data={"glucose_units": "mg/dL", "weight_units": "stone",
                                          "csrf_token": _token(patient)})
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    assert patient.get("/api/me/preferences").json()["weight_units"] == "kg"


def test_the_saved_language_decides_the_format_of_dates() -> None:
    at = datetime(2026, 12, 6, 8, 5, tzinfo=UTC)
    gb, us = "en-GB,en;q=0.8", "en-US,en;q=0.9"
    # nothing saved: the browser's
    assert glance.day_time(at, "UTC", glance.viewer_locale(us)) == "Dec 6, 8:05\u202fAM"
    # English saved: the browser's region for English, else British
    assert glance.viewer_locale(us, saved="en") == Locale.parse("en_US")
    assert glance.viewer_locale("pl-PL", saved="en") == Locale.parse("en_GB")
    assert glance.day_time(at, "UTC", glance.viewer_locale(None, saved="en")) == "6 Dec, 08:05"
    # Polish saved: Polish dates, whatever the browser says
    pl = glance.viewer_locale(gb, saved="pl")
    assert pl.language == "pl"
    assert glance.local_text(at, "UTC", pl, "%d %b %Y") == "6 gru 2026"
    assert glance.local_text(at, "UTC", glance.viewer_locale(gb), "%d %b") == "6 Dec"
    assert glance.local_text(at, "Europe/Warsaw", pl, "%H:%M") == "09:05"


def test_pages_write_dates_in_the_saved_language(world: World) -> None:
    patient = world.client("patient")
    _save(patient, locale="pl")
    try:
        page = patient.get("/patients/p1/today", headers={"Accept-Language": "en-GB"}).text
        when = page.split('id="glucose-when">')[1].split("<")[0]
        at = datetime.fromisoformat(patient.get("/api/patients/p1/today").json()["glucose"]["time"])
        expected = glance.day_time(at, "Europe/London", Locale.parse("pl"))
        assert when == expected and "mar" in when  # 15 mar, 12:00 (not "15 Mar")
    finally:
        _save(patient, locale="")


def test_settings_to_today_in_chromium(chromium: Any, world: World, tmp_path: Path) -> None:
    from tests.support.dashboard_server import serving

    world.clock.now = datetime.now(UTC)  # the server's clock for a live browser
    try:
        with serving(world.app) as url:
            page = sign_in(chromium, url, People().patient, PASSWORD, width=390)
            try:
                nav = page.get_by_role("navigation", name="Main")
                with page.expect_navigation(wait_until="domcontentloaded"):
                    nav.get_by_role("link", name="Settings", exact=True).click()
                page.check("#weight-lb")
                with page.expect_navigation(wait_until="domcontentloaded"):
                    page.click("#save-settings")
                assert page.locator("#weight-lb").is_checked()
                with page.expect_navigation(wait_until="domcontentloaded"):
                    nav.get_by_role("link", name="Today", exact=True).click()
                card = page.locator("[data-card='weight']")
                card.wait_for(timeout=60_000)
                assert card.locator("small").first.inner_text() == "lb"
                page.screenshot(path=str(tmp_path / "today-lb-390.png"), full_page=True)
            finally:
                page.context.close()
    finally:
        world.clock.now = NOW
        world.signed_in.pop("patient", None)  # its session ended when the clock jumped
        _save(world.client("patient"), weight_units="kg")


def test_fill_has_weights_every_morning(world: World) -> None:
    """The data the tests above rest on: 14 morning weigh-ins up to NOW."""
    series = world.store.read_series("p1", Metric.WEIGHT, NOW - timedelta(days=15), NOW)
    assert len(series) == 14
