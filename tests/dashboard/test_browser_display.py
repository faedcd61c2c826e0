"""The home display in Chromium, through the real stack (issue 20): the patient makes a
code on her page by clicking, the display is set up by typing it, a low reading through
Mosquitto, ingest and the coach appears on the display live with its advice, OK stops the
ladder, and with the network gone the display still shows the last values and their age,
then reconnects by itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core import topics
from core.appdb.coaching import CoachAlert
from tests.dashboard.test_browser_alerts import WAIT_MS, Stack, glucose, stack  # noqa: F401
from tests.support.accounts import PASSWORD
from tests.support.axe import axe_violations
from tests.support.browser import sign_in
from tests.support.factories import publisher, wait_until


def accessibility_problems(chromium: Any, url: str, device: Any) -> list[dict[str, Any]]:
    """axe-core on the display as the device shows it now (its cookies, in a context that
    may inject the checker: the device's own context keeps the Content-Security-Policy)."""
    checker = chromium.new_context(bypass_csp=True, viewport={"width": 800, "height": 1280})
    try:
        checker.add_cookies(device.context.cookies())
        page = checker.new_page()
        page.goto(f"{url}/display/")
        page.locator("#screen:not([hidden])").wait_for(timeout=WAIT_MS)
        return axe_violations(page)
    finally:
        checker.close()


def test_a_display_set_up_by_code_shows_a_low_live_acknowledges_it_and_works_offline(
        stack: Stack, chromium: Any, record_property: Any) -> None:  # noqa: F811
    now = datetime.now(UTC).replace(microsecond=0)
    with publisher(stack.broker) as cgm:
        cgm.publish(topics.up("cgm-1"), glucose(1, 110, now - timedelta(minutes=5)))
        wait_until(lambda: stack.store.count() == 1, timeout=30, message="first reading stored")

    patient = sign_in(chromium, stack.url, stack.people.patient, PASSWORD)
    patient.click("a[href='/patients/p1/sharing']")  # the nav's "Sharing"
    patient.click("a[href='/patients/p1/displays']")
    patient.click("text=Make a code")
    code = patient.get_attribute(".pairing-code", "data-code")
    assert code and len(code.replace("-", "")) == 8

    device = chromium.new_context(viewport={"width": 800, "height": 1280}).new_page()
    try:
        device.goto(f"{stack.url}/display/")
        device.locator("#pairing").wait_for(timeout=WAIT_MS)
        device.fill("#code", code.lower())  # as typed: case and dash do not matter
        device.fill("#name", "Kitchen")
        device.click("#pair-form button[type=submit]")
        device.wait_for_function(
            "() => document.getElementById('state-word').textContent === 'In range'",
            timeout=WAIT_MS)
        assert device.inner_text("#reading-value") == "110"
        device.wait_for_function("() => document.getElementById('display').dataset.live === 'true'",
                                 timeout=WAIT_MS)

        with publisher(stack.broker) as cgm:
            sent = time.monotonic()
            cgm.publish(topics.up("cgm-1"), glucose(2, 48, datetime.now(UTC)))
        device.locator("#alert:not([hidden])").wait_for(timeout=WAIT_MS)
        record_property("urgent_low_to_home_display_page_s", round(time.monotonic() - sent, 2))
        assert device.inner_text("#state-word") == "Very low"
        assert "15 g of fast-acting sugar" in device.inner_text("#alert-advice")
        assert accessibility_problems(chromium, stack.url, device) == []
        device.click("#alert-ok")
        device.wait_for_function(
            "() => document.getElementById('alert').dataset.acknowledged === 'true'",
            timeout=WAIT_MS)
        with Session(stack.engine) as session:
            alert = session.query(CoachAlert).filter_by(patient_id="p1", kind="escalation").one()
            assert alert.state == "acknowledged"
            assert str(alert.acknowledged_by).startswith("display:")

        # offline: the page and its last state come from the device itself
        device.wait_for_function(
            "() => document.getElementById('display').dataset.offlineReady === 'true'",
            timeout=WAIT_MS)
        device.context.set_offline(True)
        device.reload()
        device.wait_for_function(
            "() => document.getElementById('connection').dataset.live === 'false'",
            timeout=WAIT_MS)
        assert device.inner_text("#reading-value") == "48"
        assert "ago" in device.inner_text("#reading-age") or \
            "just now" in device.inner_text("#reading-age")
        device.context.set_offline(False)
        with publisher(stack.broker) as cgm:
            cgm.publish(topics.up("cgm-1"), glucose(3, 75, datetime.now(UTC)))
        device.wait_for_function(
            "() => document.getElementById('reading-value').textContent === '75'",
            timeout=WAIT_MS)
        device.wait_for_function(
            "() => document.getElementById('connection').dataset.live === 'true'",
            timeout=WAIT_MS)
    finally:
        device.context.close()
        patient.context.close()
