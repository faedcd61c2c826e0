"""Outcomes that matter to me in Chromium (dashboard/views/outcomes.py): the patient
names an outcome through the form, rates it on her Today page, sees the latest rating and
the trend there, and axe-core finds no serious or critical violation on either page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from core.appdb.account_store import AccountStore
from core.appdb.directory import SqlDirectory
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from tests.support.accounts import PASSWORD, add_people
from tests.support.axe import axe_violations
from tests.support.browser import chromium  # noqa: F401 - the fixture
from tests.support.dashboard_server import serving
from tests.support.factories import register

WAIT_MS = 60_000  # a loaded 2-core machine


@pytest.fixture
def url(store: SqliteTimeSeriesStore, engine: Engine) -> Iterator[str]:
    register(engine, "p1", [("cgm-1", "cgm")], name="Ann Example")
    add_people(engine, "p1")
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=AccountStore(engine))
    app.state.engine = engine
    with serving(app) as served:
        yield served


def test_name_rate_on_today_and_no_serious_axe_violation(chromium: Any,  # noqa: F811
                                                          url: str) -> None:
    context = chromium.new_context(viewport={"width": 1100, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(f"{url}/login")
        page.fill("#username", "pat")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/patients/p1/today$"))
        page.click("#my-outcomes a[href='/patients/p1/outcomes']")
        page.wait_for_url(re.compile(r"/patients/p1/outcomes$"))
        page.get_by_label("What matters to you?").fill("Walk to the shops without stopping")
        page.click("#add-outcome button[type=submit]")
        page.wait_for_selector("#outcome-list li[data-outcome]")
        assert axe_violations(page) == []

        page.goto(f"{url}/patients/p1/today")
        item = page.locator("#my-outcomes li[data-outcome]")
        for score in ("4", "8"):
            item.locator("select[name=score]").select_option(score)
            item.get_by_role("button", name="Save my rating").click()
            latest = f"latest: {score} out of 10"
            page.wait_for_selector(f"#my-outcomes .outcome-latest:text('{latest}')")
        assert page.locator("#my-outcomes [data-trend]").get_attribute("data-trend") == "up"
        assert page.locator("#my-outcomes .outcome-recent").inner_text().endswith("4 → 8")
        assert axe_violations(page) == []
    finally:
        context.close()
