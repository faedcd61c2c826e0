"""Pages in the person's language in Debian's Chromium (docs/I18N.md): a patient chooses
Urdu on her settings page and the pages come back right to left (``<html lang="ur"
dir="rtl">``), the layout mirrored (the brand at the right, the navigation running right
to left, headings at the right edge), her glucose reading and its units still reading
left to right digit by digit, and a coach's message composed in English said in Urdu with
the same numbers. A browser that asks for Polish gets Polish on the sign-in page before
anyone has chosen; English otherwise. Screenshots under test-artifacts/i18n/; axe-core
(vendored) finds no serious or critical violation. Waits are on conditions only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from core import i18n
from core.appdb.account_store import AccountStore
from core.appdb.accounts import User
from core.appdb.coaching import CoachNudge
from core.appdb.directory import PatientInfo, SqlDirectory, upsert_patient
from core.i18n import say
from core.metrics import Metric
from core.passwords import hash_password
from core.readings import Reading
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from tests.support.accounts import PASSWORD
from tests.support.axe import axe_violations
from tests.support.browser import chromium, screenshot  # noqa: F401 - the fixture
from tests.support.dashboard_server import serving
from tests.support.factories import app_database

WAIT_MS = 60_000  # a loaded 2-core machine
LOW = ("Your glucose reading was {lowest} mg/dL, below 70. Take 15 g of fast-acting sugar "
       "and check again in 15 minutes.")  # coach/rules/low.py, a meter's low


@dataclass(frozen=True)
class Site:
    url: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("rtl")
    engine = app_database(root / "hearth.db")
    store = SqliteTimeSeriesStore(root / "timeseries.db")
    now = datetime.now(UTC).replace(microsecond=0)
    with Session(engine) as session:
        upsert_patient(session, PatientInfo("sara", "Sara Example", "Europe/London",
                                            ("type_2_diabetes",), {}))
        session.commit()
    with Session(engine) as session:  # the account, as `hearth admin add-user` writes it
        session.add(User(id="sara", display_name="Sara", role="patient",
                         password_hash=hash_password(PASSWORD), patient_id="sara"))
        session.commit()
    store.write([Reading("sara", "sara-meter", Metric.GLUCOSE, v, now - timedelta(minutes=m),
                         "meter", v, "mg/dL") for v, m in ((148.0, 300), (128.0, 20))])
    with Session(engine) as session:  # what the coach stored: English, composed by the rule
        session.add(CoachNudge(
            patient_id="sara", kind="nudge", flag_type="low", priority="high",
            title="Low glucose", body=say(LOW, lowest="62"), why=say(LOW, lowest="62"),
            status="sent", created_at=now - timedelta(minutes=30),
            sent_at=now - timedelta(minutes=30)))
        session.commit()
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=AccountStore(engine))
    app.state.engine = engine
    try:
        with serving(app) as url:
            yield Site(url)
    finally:
        store.close()
        engine.dispose()


def _page(browser: Any, locale: str, width: int = 1280) -> Any:
    # bypass_csp: only so that axe-core (tests/support/axe.py) can be injected
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=locale,
                                  bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return page


def _sign_in(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/login")
    page.fill("#username", "sara")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/patients/sara/today$"))


def _box(page: Any, selector: str) -> dict[str, float]:
    box: dict[str, float] = page.locator(selector).first.bounding_box()
    return box


def _char_lefts(page: Any, selector: str) -> list[float]:
    """The left edge of each character of an element's text, in reading order."""
    lefts: list[float] = page.locator(selector).first.evaluate(
        """(el) => {
             const node = el.firstChild, out = [];
             for (let i = 0; i < node.textContent.length; i++) {
               const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 1);
               out.push(r.getBoundingClientRect().left);
             }
             return out;
           }""")
    return lefts


def test_a_patient_who_chooses_urdu_gets_mirrored_pages_with_legible_readings(
        chromium: Any, site: Site) -> None:  # noqa: F811
    page = _page(chromium, "en-GB")
    try:
        _sign_in(page, site)
        assert page.locator("html").get_attribute("dir") == "ltr"
        page.goto(f"{site.url}/settings")
        page.select_option("#locale", "ur")
        page.click("#save-settings")
        page.wait_for_url(re.compile(r"/settings\?saved=1$"))
        html = page.locator("html")
        assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ur", "rtl")
        assert page.locator("#locale").input_value() == "ur"  # saved, and shown as chosen
        assert page.locator("h1").inner_text() == i18n.gettext("ur", "Settings")

        page.goto(f"{site.url}/patients/sara/today")
        page.wait_for_selector("#glucose-value")
        assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ur", "rtl")
        width = page.evaluate("() => document.documentElement.clientWidth")
        # mirrored: the brand at the right, the navigation running right to left, the
        # heading against the right edge
        brand = _box(page, ".brand")
        assert brand["x"] > width / 2, brand
        first, second = (_box(page, f".main-nav a:nth-child({n})") for n in (1, 2))
        assert first["x"] > second["x"], (first, second)
        assert page.locator(".main-nav a").first.inner_text() == i18n.gettext("ur", "Today")
        h1 = _box(page, "h1")
        assert width - (h1["x"] + h1["width"]) < width / 4, h1
        assert page.locator("h1").evaluate("(el) => getComputedStyle(el).direction") == "rtl"
        # the reading: digits left to right, then its units to their right
        assert page.locator("#glucose-value").inner_text() == "128"
        lefts = _char_lefts(page, "#glucose-value")
        assert lefts == sorted(lefts) and len(set(lefts)) == 3, lefts
        assert _box(page, "#glucose-units")["x"] > _box(page, "#glucose-value")["x"]
        # the coach's message, stored in English, said in Urdu with its numbers
        nudge = page.locator("#nudges li").first.inner_text()
        urdu = i18n.localise(say(LOW, lowest="62"), "ur")
        assert urdu != say(LOW, lowest="62") and urdu in nudge
        assert "62" in nudge and "15" in nudge and "mg/dL" in nudge
        assert i18n.gettext("ur", "Low glucose") in nudge
        screenshot(page, "i18n/today-ur-1280")
        assert axe_violations(page) == []
    finally:
        page.context.close()


def test_a_phone_in_urdu_does_not_scroll_sideways(chromium: Any, site: Site) -> None:  # noqa: F811
    page = _page(chromium, "ur-PK", width=390)
    try:
        _sign_in(page, site)  # saved as Urdu by the test before, or Urdu from the browser
        page.wait_for_selector("#glucose-value")
        assert page.locator("html").get_attribute("dir") == "rtl"
        wide = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert wide[0] <= wide[1], wide
        screenshot(page, "i18n/today-ur-390")
    finally:
        page.context.close()


def test_before_anyone_chooses_the_browser_language_decides(
        chromium: Any, site: Site) -> None:  # noqa: F811
    for locale, lang in (("pl-PL", "pl"), ("ur-PK", "ur"), ("de-DE", "en")):
        page = _page(chromium, locale)
        try:
            page.goto(f"{site.url}/login")
            html = page.locator("html")
            assert html.get_attribute("lang") == lang
            assert html.get_attribute("dir") == i18n.direction(lang)
            assert page.locator("h1").inner_text() == i18n.gettext(lang, "Sign in")
        finally:
            page.context.close()
