"""Every page of the demo, as every role, in a real Chromium under the strict
Content-Security-Policy: nothing refused (no inline script or style slipped in), and
the scripted parts still run (charts drawn, the ranges bar shown)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import chromium, served_demo, sign_in  # noqa: F401 - fixtures
from tests.support.demo_site import DemoSite

PAGES = {
    "patient": ["/home", "/patients/{p}/today", "/patients/{p}/trends", "/patients/{p}",
                "/patients/{p}/goals", "/patients/{p}/self-assessment",
                "/patients/{p}/sharing", "/my-data/audit", "/settings"],
    "caregiver": ["/shared", "/patients/{p}", "/patients/{p}/trends"],
    "coach": ["/coach", "/coach/patients/{p}", "/patients/{p}/trends"],
    "nurse": ["/nurse", "/nurse/alerts", "/nurse/patients/{p}", "/patients/{p}"],
    "admin": ["/audit"],
}


@pytest.mark.parametrize("role", list(PAGES))
def test_pages_run_under_the_csp_with_nothing_refused(chromium: Any,  # noqa: F811
                                                      served_demo: DemoSite,  # noqa: F811
                                                      role: str) -> None:
    name, password = served_demo.credentials[role]
    page = sign_in(chromium, served_demo.base_url, name, password)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: refused.append(f"{page.url}: script error {e}"))
    try:
        assert "/login" not in page.url, f"{role} could not sign in"
        for template in PAGES[role]:
            path = template.format(p=served_demo.patient_id)
            response = page.goto(served_demo.base_url + path, wait_until="load")
            assert response is not None and response.status == 200, (role, path)
            csp = response.headers["content-security-policy"]
            assert "script-src 'self';" in csp
            if path.endswith("/trends"):
                page.wait_for_selector(".rangesbar svg rect", state="attached", timeout=30_000)
                widths = page.eval_on_selector_all(
                    ".rangesbar svg rect", "rs => rs.map(r => r.getBoundingClientRect().width)")
                assert sum(widths) > 0, "the ranges bar draws nothing"
                page.wait_for_selector("canvas", timeout=30_000)  # uPlot ran
        assert refused == []
    finally:
        page.context.close()
