"""Playwright driving Debian's Chromium (/usr/bin/chromium, headless) against a real
dashboard server. Playwright never downloads a browser here: we launch the system one.

Fixtures: ``chromium`` (one browser per test session) and ``served_demo`` (the demo
dashboard of tests/support/demo_site.py, one account of each role, served by uvicorn
on a free port over a temporary data directory). Helpers: ``sign_in`` and ``screenshot``
(PNG files under test-artifacts/, which git ignores).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.support.demo_site import DemoSite

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


# One Playwright and one Chromium for the whole run, however many test modules import
# the fixture (each import is a separate fixture definition to pytest, and a second
# sync_playwright() inside the first one's event loop fails).
_shared: dict[str, Any] = {"users": 0}


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium (scripts/system-packages.sh installs it)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/system-packages.sh")
    if _shared["users"] == 0:
        playwright = sync_playwright().start()
        _shared["playwright"] = playwright
        _shared["browser"] = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
    _shared["users"] += 1
    try:
        yield _shared["browser"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            _shared.pop("browser").close()
            _shared.pop("playwright").stop()


@pytest.fixture(scope="module")
def served_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    """The demo dashboard (tests/support/demo_site.py) served by uvicorn on a free port."""
    from tests.support.dashboard_server import serving
    from tests.support.demo_site import demo_site

    with demo_site(tmp_path_factory.mktemp("demo-site")) as site, serving(site.app) as url:
        yield replace(site, base_url=url)


def sign_in(browser: Any, base_url: str, name: str, password: str, *,
            width: int = 1100) -> Any:
    """A new browser context signed in through the login form; returns its page."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{base_url}/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def screenshot(page: Any, name: str) -> Path:
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_./-]+', '-', name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
