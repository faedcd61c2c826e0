"""The views in a real browser (Debian's Chromium, headless, driven by Playwright through
tests/support/browser.py):
switch units and see the values change, live readings without a reload, acknowledge an
alert and see the escalation stop, screenshots of each main page (test-artifacts/), and a
basic accessibility check (labels, contrast of the main text, keyboard focus)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from care import alerts as care_alerts
from coach import escalation
from core.appdb.coaching import CoachAlert, EscalationStep
from core.metrics import Metric
from tests.dashboard.views_support import NOW, World, build_world, r
from tests.support.accounts import PASSWORD
from tests.support.browser import screenshot
from tests.support.browser import sign_in as browser_sign_in
from tests.support.dashboard_server import serving


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    gen = build_world(tmp_path_factory.mktemp("browser"), extra_patients=3)
    yield next(gen)
    next(gen, None)


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    with serving(world.app) as url:
        yield url


@pytest.fixture
def browser(chromium):  # the Playwright fixture of tests/support/browser.py
    return chromium


_signed_in: dict[tuple[str, str], dict] = {}  # (server, name) -> the browser's storage state


def sign_in(browser, base_url: str, name: str, *, width: int = 1100):
    """A new browser context signed in as ``name``: through the login form the first time
    per server, then with that session's cookie (an Argon2 verification saved), landing
    where the form lands."""
    state = _signed_in.get((base_url, name))
    if state is None:
        page = browser_sign_in(browser, base_url, name, PASSWORD, width=width)
        _signed_in[(base_url, name)] = page.context.storage_state()
        return page
    context = browser.new_context(viewport={"width": width, "height": 900}, storage_state=state)
    page = context.new_page()
    page.goto(f"{base_url}/")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, f"the saved session of {name} was refused"
    return page


def shot(page, name: str) -> None:
    screenshot(page, f"views/{name}")


def test_switch_units_and_see_the_values_change(world: World, browser, base_url: str) -> None:
    page = sign_in(browser, base_url, world.people.patient, width=360)  # a phone
    page.goto(f"{base_url}/patients/p1/today")
    assert page.inner_text("#glucose-value") == "100"
    assert page.inner_text("#glucose-units") == "mg/dL"
    shot(page, "patient-today-360px")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scroll
    page.goto(f"{base_url}/settings")
    page.check("#units-mmol")
    page.click("#save-settings")
    page.wait_for_url("**/settings?saved=1")
    shot(page, "patient-settings")
    page.goto(f"{base_url}/patients/p1/today")
    assert page.inner_text("#glucose-value") == "5.6"
    assert page.inner_text("#glucose-units") == "mmol/L"
    page.goto(f"{base_url}/patients/p1/trends")
    page.wait_for_selector("#agp-chart canvas")
    assert "mmol/L" in page.inner_text("#mean-glucose")
    shot(page, "patient-trends-360px")
    page.set_viewport_size({"width": 1100, "height": 900})
    page.reload()
    page.wait_for_selector("#daily-chart canvas")
    assert page.locator("#bp-chart canvas").count() == 1
    assert page.locator("#steps-chart canvas").count() == 1
    shot(page, "patient-trends")
    page.goto(f"{base_url}/settings")  # back to mg/dL for the other tests
    page.check("#units-mgdl")
    page.click("#save-settings")
    page.context.close()


def test_a_new_reading_appears_without_a_reload(world: World, browser, base_url: str) -> None:
    page = sign_in(browser, base_url, world.people.patient)
    page.goto(f"{base_url}/patients/p1/today")
    assert page.inner_text("#glucose-value") == "100"
    page.evaluate("window.__same_page = true")
    page.wait_for_selector("[data-live-ready]", state="attached")  # its first poll is taken
    world.store.write([
        r("p1", "p1-cgm", Metric.GLUCOSE, 150.0, NOW - timedelta(minutes=1), "cgm", "mg/dL"),
        r("p1", "p1-scale", Metric.WEIGHT, 79.2, NOW - timedelta(minutes=1), "scale", "kg")])
    # Functions, not expression strings: Playwright evals a string in the page, which the
    # Content-Security-Policy refuses (no 'unsafe-eval').
    page.wait_for_function("() => document.getElementById('glucose-value').textContent === '150'",
                           timeout=10_000)
    page.wait_for_function("() => document.querySelector('[data-card=weight] .value span')"
                           ".textContent === '79.2'",
                           timeout=10_000)
    assert page.evaluate("window.__same_page") is True  # not reloaded
    assert "rising" in page.inner_text("#glucose-trend").lower()
    page.context.close()


def test_acknowledge_an_alert_and_see_the_escalation_stop(
    world: World, browser, base_url: str
) -> None:
    with Session(world.engine) as session:
        session.add(CoachAlert(id="esc1", patient_id="p1", flag_type="glucose_very_low",
                               group="low", kind="escalation", audience="coach",
                               priority="urgent", title="Very low glucose",
                               body="Glucose 48 mg/dL.",
                               why="Glucose below 54 mg/dL for 20 minutes.", evidence={},
                               state="open",
                               created_at=NOW - timedelta(minutes=10),
                               ladder=["patient", "caregiver", "coach", "nurse"], step=0,
                               next_step_at=NOW + timedelta(minutes=5)))
        session.add(EscalationStep(alert_id="esc1", step=0, role="patient", recipient_id="p1",
                                   action="notified", at=NOW - timedelta(minutes=10)))
        session.commit()
    page = sign_in(browser, base_url, world.people.coach)
    page.goto(f"{base_url}/coach")
    alert = page.locator('[data-alert="esc1"]')
    assert "next: caregiver" in alert.locator(".escalation").inner_text()
    shot(page, "coach-alerts-and-caseload")
    alert.get_by_role("button", name="Acknowledge").click()
    page.wait_for_load_state("networkidle")
    assert page.locator('[data-alert="esc1"]').count() == 0
    with Session(world.engine) as session:
        assert session.get(CoachAlert, "esc1").state == "acknowledged"
        later = escalation.advance(session, NOW + timedelta(hours=3))
        session.commit()
        assert [m for m in later if m.ref == "esc1"] == []  # the ladder has stopped
        assert [s.action for s in care_alerts.steps(session, "esc1")] == [
            "notified", "acknowledged"]
    page.goto(f"{base_url}/coach/patients/p1")
    shot(page, "coach-patient-detail")
    page.context.close()


def test_nurse_pages(world: World, browser, base_url: str) -> None:
    page = sign_in(browser, base_url, world.people.nurse)
    page.goto(f"{base_url}/nurse")
    assert page.locator("#triage tbody tr").count() == 4
    shot(page, "nurse-triage")
    page.select_option("#bucket", "no_data")
    page.click("form[role=search] button")
    page.wait_for_load_state("networkidle")
    assert page.locator("#triage tbody tr").count() == 3
    page.goto(f"{base_url}/nurse/patients/p1")
    page.fill("#note", "Reviewed with the family")
    page.click("#mark-reviewed")
    page.wait_for_load_state("networkidle")
    assert "Nora" in page.inner_text("#last-review")
    with page.expect_download() as download:
        page.click("#agp-pdf")
    assert download.value.suggested_filename.endswith(".pdf")
    shot(page, "nurse-review")
    page.goto(f"{base_url}/nurse/alerts")
    shot(page, "nurse-alerts")
    page.context.close()


# -- accessibility -----------------------------------------------------------------------

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 80))"""

# WCAG 2.x relative luminance and contrast ratio, the background found by walking up to
# the first ancestor with an opaque background colour.
LOW_CONTRAST = """() => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0.99) {
        if (c.length >= 3 && !(c.length === 4 && c[3] === 0)) return c.slice(0, 3);
      }
    }
    return [255, 255, 255]; };
  const bad = [];
  const texts = 'main p, main li, main td, main th, main a, main h1, main h2, main h3, '
    + 'main label, main button, header a, header span';
  for (const el of document.querySelectorAll(texts)) {
    if (!el.offsetParent || !el.textContent.trim()) continue;
    const fg = rgb(getComputedStyle(el).color).slice(0, 3), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    if (ratio < 4.5) {
      bad.push(el.tagName + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
    }
  }
  return bad; }"""


def focus_path(page, presses: int) -> list[str]:
    """What Tab after Tab focuses, from the top of a freshly loaded page."""
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("""() => { const e = document.activeElement;
            return (e.id || '') + '|' + (e.textContent || e.value || '').trim().slice(0, 40); }"""))
    return seen


PAGES = {
    "patient": ["/patients/p1/today", "/patients/p1/trends", "/settings", "/patients/p1/goals",
                "/patients/p1/self-assessment", "/patients/p1/group", "/patients/p1/sharing"],
    "caregiver": ["/shared"],
    "coach": ["/coach", "/coach/patients/p1", "/care/groups?suggest=1"],
    "nurse": ["/nurse", "/nurse/patients/p1", "/nurse/alerts"],
}


@pytest.mark.parametrize("role", sorted(PAGES))
def test_every_input_is_labelled_and_main_text_has_contrast(world: World, browser, base_url: str,
                                                            role: str) -> None:
    page = sign_in(browser, base_url, getattr(world.people, role))
    for path in PAGES[role]:
        page.goto(f"{base_url}{path}")
        page.wait_for_load_state("networkidle")
        assert page.evaluate(UNLABELLED) == [], path
        assert page.evaluate(LOW_CONTRAST) == [], path
        assert page.locator("html[lang]").count() == 1, path
        assert page.locator("main h1").count() == 1, path
        shot(page, f"{role}{path.replace('/', '-').replace('?', '-')}")
    page.context.close()


def test_keyboard_reaches_the_main_controls(world: World, browser, base_url: str) -> None:
    page = sign_in(browser, base_url, world.people.patient)
    page.goto(f"{base_url}/settings")
    path = focus_path(page, 40)
    assert any(p.startswith("timezone|") for p in path)
    assert any(p.startswith("save-settings|") for p in path)
    assert any(p.startswith("units-") for p in path)
    # the skip link is the first stop and takes the focus to the content
    page.reload()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.context.close()
    nurse = sign_in(browser, base_url, world.people.nurse)
    nurse.goto(f"{base_url}/nurse")
    path = focus_path(nurse, 30)
    assert any(p.startswith("q|") for p in path) and any(p.startswith("bucket|") for p in path)
    assert any("|Pat Example" in p for p in path)  # the patient links of the list
    nurse.context.close()
