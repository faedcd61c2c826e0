"""Today at a glance in Debian's Chromium (issue 18): a CGM patient and a heart-failure
patient sign in and land on Today; the current value with its range colour, its age and the
change since the reading before; the chart drawn with its target band (the band's pixels
are read off the canvas) or target line; the 3/6/12/24-hour buttons; meals and insulin;
the vitals with their targets; dates and the chart's axis in the viewer's locale (en-GB:
"7 Dec", 24-hour clock). Screenshots at 1280 and 390 px under test-artifacts/today/, no
sideways scroll on a phone, and axe-core (vendored) finds no serious or critical
violation. Waits are on conditions only, with generous timeouts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from analytics import targets as tg
from core.appdb.account_store import AccountStore
from core.appdb.directory import PatientInfo, SqlDirectory, upsert_patient
from core.metrics import Metric
from core.readings import Reading
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from tests.support.accounts import PASSWORD
from tests.support.axe import axe_violations
from tests.support.browser import chromium, screenshot  # noqa: F401 - the fixture
from tests.support.dashboard_server import serving
from tests.support.factories import app_database

WAIT_MS = 60_000  # a loaded 2-core machine
WIDTHS = (1280, 390)


@dataclass(frozen=True)
class Site:
    url: str
    now: datetime
    store: SqliteTimeSeriesStore


def _r(pid: str, device: str, metric: Metric, value: float, at: datetime, source: str,
       unit: str) -> Reading:
    return Reading(pid, device, metric, value, at, source, value, unit)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("today")
    engine = app_database(root / "hearth.db")
    store = SqliteTimeSeriesStore(root / "timeseries.db")
    now = datetime.now(UTC).replace(microsecond=0)
    with Session(engine) as session:
        upsert_patient(session, PatientInfo("ann", "Ann Example", "Europe/London",
                                            ("type_1_diabetes",), {}))
        upsert_patient(session, PatientInfo("hal", "Hal Example", "Europe/London",
                                            ("heart_failure",), {}))
        upsert_patient(session, PatientInfo("mia", "Mia Example", "Europe/London",
                                            ("type_2_diabetes",), {}))
        session.commit()
    accounts = AccountStore(engine)
    accounts.users.add("ann", role="patient", display_name="Ann", password=PASSWORD,
                      patient_id="ann")
    accounts.users.add("hal", role="patient", display_name="Hal", password=PASSWORD,
                      patient_id="hal")
    accounts.users.add("mia", role="patient", display_name="Mia", password=PASSWORD,
                      patient_id="mia")
    # Mia: a finger-stick meter, three checks today, the newest 40 minutes old and high
    store.write([_r("mia", "mia-meter", Metric.GLUCOSE, v, now - timedelta(minutes=m), "meter",
                    "mg/dL") for v, m in ((132.0, 600), (151.0, 330), (212.0, 40))])
    # Ann: a day of CGM between 110 and 160 mg/dL (never near the band's lower edge, where
    # the test reads the band's pixels), the newest 2 minutes old and 8 above the one before
    newest = now - timedelta(minutes=2)

    def mg_dl(k: int) -> float:
        return {0: 118.0, 1: 110.0}.get(k, 135.0 + 25.0 * ((k % 24) / 12 - 1))

    store.write([_r("ann", "ann-cgm", Metric.GLUCOSE, mg_dl(k), newest - timedelta(minutes=5 * k),
                    "cgm", "mg/dL") for k in range(288)])
    morning = now - timedelta(hours=3)
    store.write([
        _r("ann", "ann-ns", Metric.CARBS, 45.0, now - timedelta(hours=2), "nightscout", "g"),
        _r("ann", "ann-ns", Metric.INSULIN, 4.5, now - timedelta(hours=2), "nightscout", "[iU]"),
        _r("ann", "ann-cuff", Metric.SYSTOLIC, 128.0, morning, "bp_cuff", "mm[Hg]"),
        _r("ann", "ann-cuff", Metric.DIASTOLIC, 81.0, morning, "bp_cuff", "mm[Hg]"),
        _r("ann", "ann-ox", Metric.SPO2, 97.0, morning, "pulse_oximeter", "%"),
        _r("ann", "ann-steps", Metric.STEPS, 4200.0, now - timedelta(minutes=30),
           "step_counter", "{steps}")])
    # Hal: heart failure, weighed each morning; 2.6 kg up on the lowest of the 3 days before
    store.write([_r("hal", "hal-scale", Metric.WEIGHT, w, now - timedelta(days=3 - d, hours=1),
                    "scale", "kg") for d, w in enumerate((80.0, 80.2, 80.1, 82.6))]
                + [_r("hal", "hal-cuff", Metric.SYSTOLIC, 142.0, morning, "bp_cuff", "mm[Hg]"),
                   _r("hal", "hal-cuff", Metric.DIASTOLIC, 88.0, morning, "bp_cuff", "mm[Hg]")])
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=accounts)
    app.state.engine = engine
    app.state.live_interval = 0.5
    try:
        with serving(app) as url:
            yield Site(url, now, store)
    finally:
        store.close()
        engine.dispose()


def _sign_in(browser: Any, site: Site, name: str, width: int, **extra: Any) -> Any:
    """A British viewer (en-GB) signs in through the form and lands on her start page."""
    extra.setdefault("locale", "en-GB")
    context = browser.new_context(viewport={"width": width, "height": 900}, **extra)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{site.url}/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf"/patients/{name}/today$"))
    page.wait_for_selector("#glance-chart[data-drawn=true] canvas")
    return page


def _no_sideways_scroll(page: Any) -> None:
    wide = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert wide[0] <= wide[1], f"the page scrolls sideways: {wide}"


def _band_pixels(page: Any, inside: float, outside: float) -> tuple[list[int], list[int]]:
    """The canvas's colour just right of the y axis at two values: inside the band and out."""
    return page.locator("#glance-chart canvas").evaluate(
        """(canvas, ys) => {
             const u = window.hearthGlance, ctx = canvas.getContext("2d");
             const x = Math.round(u.bbox.left + 3);
             return ys.map((v) => Array.from(ctx.getImageData(
               x, Math.round(u.valToPos(v, "y", true)), 1, 1).data));
           }""", [inside, outside])


@pytest.mark.parametrize("width", WIDTHS)
def test_a_cgm_patient_sees_her_value_its_age_the_chart_with_its_band_and_her_vitals(
        chromium: Any, site: Site, width: int) -> None:  # noqa: F811
    page = _sign_in(chromium, site, "ann", width)
    try:
        value = page.locator("#glucose-now")
        assert value.locator("#glucose-value").inner_text() == "118"
        assert "range-in_range" in (value.get_attribute("class") or "")
        colour = value.evaluate("(el) => getComputedStyle(el).color")
        assert colour == "rgb(30, 107, 48)"  # the in-range green of layout.css
        assert page.locator("#glucose-change").inner_text() == "+8 mg/dL"
        age = page.locator("#glucose-age")
        assert re.fullmatch(r"measured \d+ min ago", age.inner_text())
        assert "age-fresh" in (age.get_attribute("class") or "")
        when = page.locator("#glucose-when").inner_text()
        assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2}, \d{2}:\d{2}", when), when  # 7 Dec, 18:05
        # the chart: the band from analytics/targets.py, shaded on the canvas
        chart = page.locator("#glance-chart")
        low, high = tg.GLUCOSE_LOW_BELOW, tg.GLUCOSE_HIGH_ABOVE
        assert chart.get_attribute("data-band") == f"{low:.0f}–{high:.0f}"
        assert chart.get_attribute("data-hours") == "6"
        assert re.fullmatch(r"\d{2}:\d{2}", chart.get_attribute("data-from") or "")  # 24 h
        band, out = _band_pixels(page, low + 3, high * 1.7)
        assert band[3] > 0 and band[:3] != out[:3], (band, out)
        assert band[1] > band[0] and band[1] > band[2]  # greenish
        assert page.locator(".u-legend").count() == 0  # no idle "Time: --" legend
        page.get_by_role("button", name="3 h").click()
        page.wait_for_selector("#glance-chart[data-hours='3']")
        assert page.get_by_role("button", name="3 h").get_attribute("aria-pressed") == "true"
        assert page.get_by_role("button", name="6 h").get_attribute("aria-pressed") == "false"
        treatments = page.locator("#treatments").inner_text()
        assert "45 g carbs" in treatments and "4.5 U insulin" in treatments
        # the vitals beside their targets
        bp = page.locator("[data-card=blood_pressure]")
        assert f"below {tg.BP_HOME_ESH[0]:.0f}/{tg.BP_HOME_ESH[1]:.0f}" in bp.inner_text()
        assert "on target" in bp.inner_text()
        spo2 = page.locator("[data-card=spo2]").inner_text()
        assert f"{tg.SPO2_TARGET_DEFAULT:.0f}% or more" in spo2
        assert "to go" in page.locator("[data-card=steps]").inner_text()
        assert "messages from your coach" in page.locator("#coach-messages").inner_text()
        if width < 600:
            _no_sideways_scroll(page)
        screenshot(page, f"today/cgm-patient-{width}")
    finally:
        page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_heart_failure_patient_sees_her_weight_against_its_warning_line(
        chromium: Any, site: Site, width: int) -> None:  # noqa: F811
    page = _sign_in(chromium, site, "hal", width)
    try:
        assert page.locator("#glucose-card").count() == 0
        chart = page.locator("#glance-chart")
        assert chart.get_attribute("data-kind") == "vital"
        assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2}", chart.get_attribute("data-from") or "")
        assert page.locator("#glance-h").inner_text() == "Weight: the last 7 days"
        warn = 80.0 + tg.HF_GAIN_3_DAYS_KG
        assert f"warning above {warn}" in page.locator("#glance .chart-key").inner_text()
        weight = page.locator("[data-card=weight]")
        assert "vital-urgent" in (weight.get_attribute("class") or "")
        assert "gain: call your nurse" in weight.inner_text()
        assert f"no more than {warn:.1f} kg" in weight.inner_text()
        bp = page.locator("[data-card=blood_pressure]").inner_text()
        assert "142/88" in bp and "above target" in bp
        if width < 600:
            _no_sideways_scroll(page)
        screenshot(page, f"today/heart-failure-patient-{width}")
    finally:
        page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_trends_charts_to_glance_at_reached_by_clicking(chromium: Any, site: Site,  # noqa: F811
                                                        width: int) -> None:
    page = _sign_in(chromium, site, "ann", width)
    try:
        page.get_by_role("link", name="Trends").click()
        page.wait_for_url(re.compile(r"/patients/ann/trends$"))
        for chart in ("agp-chart", "daily-chart", "bp-chart", "spo2-chart", "steps-chart"):
            page.wait_for_selector(f"#{chart}[data-drawn=true] canvas")
        assert page.locator(".u-legend").count() == 0  # no idle "Time: --" legends
        ranges = page.evaluate("""() => Object.fromEntries(window.hearthCharts.map(
            ([u, el]) => [el.id, [u.scales.y.min, u.scales.y.max]]))""")
        assert ranges["steps-chart"][0] == 0  # a count starts at 0
        bp_low, bp_high = ranges["bp-chart"]
        assert bp_low < tg.BP_HOME_ESH[1] and bp_high > tg.BP_HOME_ESH[0]  # both lines shown
        assert ranges["spo2-chart"][1] <= 100
        # one day of data: the targets are not judged, and nothing says "met" beside that
        assert page.locator(".not-judged").count() >= 1 and page.locator(".met").count() == 0
        if width < 600:
            _no_sideways_scroll(page)
        screenshot(page, f"today/trends-cgm-patient-{width}")
    finally:
        page.context.close()


def test_a_meter_user_sees_her_finger_sticks_as_points_over_the_day(
        chromium: Any, site: Site) -> None:  # noqa: F811
    page = _sign_in(chromium, site, "mia", 390)
    try:
        value = page.locator("#glucose-now")
        assert value.locator("#glucose-value").inner_text() == "212"
        assert "range-high" in (value.get_attribute("class") or "")
        assert page.locator("#glucose-change").inner_text() == "+61 mg/dL"
        # a finger-stick 40 minutes old is not a sensor gone quiet: no stale warning
        age = page.locator("#glucose-age")
        assert re.fullmatch(r"measured 4\d min ago", age.inner_text())
        assert "age-fresh" in (age.get_attribute("class") or "")
        assert page.locator("#glucose-trend").inner_text() == "Finger-stick"
        chart = page.locator("#glance-chart")
        assert chart.get_attribute("data-hours") == "24"
        assert "Finger-stick readings as points" in (chart.get_attribute("aria-label") or "")
        # points, with nothing drawn between them: the canvas at a reading and halfway to
        # the next (the dot's colour, #0b2e63, at the first only)
        at, between = page.locator("#glance-chart canvas").evaluate(
            """(canvas) => {
                 const u = window.hearthGlance, ctx = canvas.getContext("2d");
                 const xs = u.data[0], ys = u.data[1];
                 const px = (x, y) => Array.from(ctx.getImageData(
                   Math.round(u.valToPos(x, "x", true)), Math.round(u.valToPos(y, "y", true)),
                   1, 1).data);
                 return [px(xs[1], ys[1]), px((xs[1] + xs[2]) / 2, (ys[1] + ys[2]) / 2)];
               }""")
        assert at[:3] == [11, 46, 99], at
        assert between[:3] != [11, 46, 99], between
        _no_sideways_scroll(page)
        screenshot(page, "today/meter-patient-390")
    finally:
        page.context.close()


def test_a_new_reading_joins_the_open_chart_and_its_change_is_written_again(
        chromium: Any, site: Site) -> None:  # noqa: F811 - after the tests above: it adds one
    page = _sign_in(chromium, site, "ann", 1280)
    try:
        page.wait_for_selector("#glucose-value")
        assert page.locator("#glucose-change").inner_text() == "+8 mg/dL"
        at = datetime.now(UTC).replace(microsecond=0)
        site.store.write([_r("ann", "ann-cgm", Metric.GLUCOSE, 109.0, at, "cgm", "mg/dL")])
        page.wait_for_selector("#glance-chart[data-latest='109']")
        assert page.locator("#glucose-value").inner_text() == "109"
        assert page.locator("#glucose-change").inner_text() == "\u22129 mg/dL"
        points = page.evaluate("() => window.hearthGlance.data[1].filter((v) => v != null).length")
        assert points == 289
    finally:
        page.context.close()


@pytest.mark.parametrize("name", ["ann", "hal", "mia"])
def test_axe_core_finds_no_serious_violation_on_today(chromium: Any, site: Site,  # noqa: F811
                                                      name: str) -> None:
    page = _sign_in(chromium, site, name, 1280, bypass_csp=True)
    try:
        assert axe_violations(page) == []
    finally:
        page.context.close()


def test_axe_core_is_vendored() -> None:
    js = Path(__file__).resolve().parents[1] / "support" / "vendor" / "axe-core" / "axe.min.js"
    assert js.read_text(encoding="utf-8")[:20].startswith("/*! axe v4.14.1")


def test_the_live_age_ticks_in_polish(chromium: Any, site: Site) -> None:  # noqa: F811
    """Issue 18: the page scripts write in the viewer's language (views/layout.html
    #page-words, static/views/words.js): under Polish the age the browser ticks on, its
    stale warnings and the range word are Polish, not the scripts' English."""
    page = _sign_in(chromium, site, "ann", 390, locale="pl-PL")
    try:
        assert page.locator("html").get_attribute("lang") == "pl"
        age = page.locator("#glucose-age")
        assert re.fullmatch(r"zmierzono (\d+ min temu|przed chwilą)", age.inner_text()), \
            age.inner_text()
        assert page.locator("#glucose-range").inner_text() == "W zakresie"
        # the reading is made 20, then 40 minutes old: the script's next tick says so
        for minutes, expected in ((20, "zmierzono 20 min temu – nieaktualne"),
                                  (40, "zmierzono 40 min temu – nieaktualne: brak pomiaru od "
                                       "ponad 30 min")):
            age.evaluate("(el, m) => { el.dataset.measured = new Date(Date.now() - m * 60000"
                         " - 5000).toISOString(); }", minutes)
            page.wait_for_function("(t) => document.getElementById('glucose-age')"
                                   ".textContent === t", arg=expected)
        assert "age-urgent" in (age.get_attribute("class") or "")
        assert "min ago" not in page.locator("main").inner_text()
    finally:
        page.context.close()
