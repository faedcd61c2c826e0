"""The joint record in Chromium (dashboard/views/record.py): the patient names an outcome,
rates it as part of a check-in (with the optional WHO-5), sees the rating in her joint
record and downloads the record as a PDF; axe-core finds no serious or critical violation
on the check-in or the record."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from care import outcomes
from care.selfassessment import CARDS
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
    with Session(engine) as session:
        outcomes.add(session, "p1", "Walk to the shops without stopping", "pat",
                     datetime.now(UTC))
        session.commit()
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=AccountStore(engine))
    app.state.engine = engine
    with serving(app) as served:
        yield served


def test_rate_at_a_check_in_see_it_in_the_record_and_download_the_pdf(
        chromium: Any, url: str, tmp_path: Any) -> None:  # noqa: F811
    context = chromium.new_context(viewport={"width": 1100, "height": 900}, bypass_csp=True,
                                   accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(f"{url}/login")
        page.fill("#username", "pat")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/patients/p1/today$"))
        page.click("#today-checkin")
        page.wait_for_url(re.compile(r"/patients/p1/self-assessment$"))
        for card in CARDS:
            page.select_option(f"#rating-{card.behaviour}", index=3)
            page.select_option(f"#confidence-{card.behaviour}", "7")
        page.get_by_label("Walk to the shops without stopping").select_option("6")
        for n, value in enumerate(("4", "3", "4", "3", "4"), start=1):
            page.select_option(f"#who5-{n}", value)
        assert axe_violations(page) == []
        page.click("#save-assessment")
        page.wait_for_selector("#checkin-rated")
        assert page.inner_text("#checkin-who5-score") == \
            "Your wellbeing score is 72 out of 100."  # (4+3+4+3+4) x 4: no prompt
        assert page.locator("#who5-prompt").count() == 0

        page.click("#checkin-rated a")
        page.wait_for_url(re.compile(r"/patients/p1/joint-record$"))
        item = page.locator("#record-outcomes li[data-outcome]")
        assert "Walk to the shops without stopping" in item.inner_text()
        assert "6 out of 10" in item.locator(".outcome-ratings").inner_text()
        assert page.locator("#record-wellbeing li[data-who5='72']").count() == 1
        assert axe_violations(page) == []

        with page.expect_download() as info:
            page.click("#record-pdf")
        download = info.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        assert saved.name.startswith("joint-record-p1-") and saved.suffix == ".pdf"
        assert saved.read_bytes().startswith(b"%PDF")
    finally:
        context.close()
