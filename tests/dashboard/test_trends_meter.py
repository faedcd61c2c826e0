"""Trends for a person with a finger-stick meter and no CGM (issue 18): her readings as
points by time of day (the standard day) and over the period, with the day's blocks in a
table, never an AGP, time in ranges or a line between readings hours apart; a CGM
wearer's checks with a meter do not enter her CGM's AGP. Through the app and in Debian's
Chromium (the charts drawn, axe-core clean)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from analytics.meter import by_time_of_day
from core.appdb.account_store import AccountStore
from core.appdb.directory import PatientInfo, SqlDirectory, upsert_patient
from core.metrics import Metric
from core.readings import to_epoch_us
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from dashboard.views import figures
from tests.dashboard.views_support import NOW, database_with_people, r
from tests.support.accounts import PASSWORD, People
from tests.support.axe import axe_violations
from tests.support.browser import sign_in

# four checks a day for 10 days, local Europe/London (winter: UTC): fasting, before lunch,
# before dinner, bedtime; a low before lunch on day 3
TIMES = ((7, 30), (12, 15), (18, 0), (22, 45))


def _meter_readings(pid: str, end: datetime) -> list[Any]:
    out = []
    for day in range(1, 11):
        midnight = (end - timedelta(days=day)).replace(hour=0, minute=0)
        for k, (h, m) in enumerate(TIMES):
            value = 62.0 if (day == 3 and k == 1) else 110.0 + 30 * k
            out.append(r(pid, f"{pid}-meter", Metric.GLUCOSE, value,
                         midnight + timedelta(hours=h, minutes=m), "meter", "mg/dL"))
    return out


def test_the_standard_day_sorts_readings_into_blocks_of_the_day() -> None:
    t = [to_epoch_us(datetime(2026, 3, 2, h, m, tzinfo=UTC)) for h, m in TIMES]
    minute, blocks = by_time_of_day(t, [62.0, 120.0, 200.0, 150.0], tz="Europe/London")
    assert minute.tolist() == [450.0, 735.0, 1080.0, 1365.0]
    assert [(b.name, b.readings) for b in blocks] == [
        ("night", 0), ("morning", 1), ("afternoon", 1), ("evening", 2)]
    morning = blocks[1]
    assert morning.below_70 == 1 and morning.percent_in_target == 0.0
    evening = blocks[3]
    assert evening.mean == 175.0 and evening.minimum == 150.0 and evening.maximum == 200.0
    assert evening.percent_in_target == 50.0  # 150 in 70-180, 200 above


@pytest.fixture(scope="module")
def meter_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("meter")
    engine, people = database_with_people(root / "app.db")
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        upsert_patient(session, PatientInfo("p1", "Mo Meter", "Europe/London",
                                            ("type2_diabetes",), {}))
        session.commit()
    store = SqliteTimeSeriesStore(root / "ts.db")
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    store.write(_meter_readings("p1", end))
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=AccountStore(engine))
    app.state.engine = engine
    yield app, store, people
    store.close()
    engine.dispose()


def test_a_meter_only_patient_gets_points_and_no_agp(meter_world: Any) -> None:
    app, store, _ = meter_world
    patient = SqlDirectory(app.state.engine).patient("p1")
    assert patient is not None
    shown = figures.trends(store, patient, days=14, now=datetime.now(UTC), units="mmol/L",
                           tz="Europe/London")
    assert shown.glucose is None  # no AGP, no time in ranges from finger-sticks
    m = shown.meter
    assert m is not None and len(m.values) == 40 and m.below_70 == 1
    assert m.readings_per_day == round(40 / 14, 1)
    assert sorted(set(m.minute_of_day)) == [450.0, 735.0, 1080.0, 1365.0]
    assert m.values[0] is not None and m.values[0] < 20  # in mmol/L
    assert [b.readings for b in m.blocks] == [0, 10, 10, 20]  # 18:00 is the evening's
    assert m.blocks[2].lowest == 3.4 and m.blocks[2].below_70 == 1  # 62 mg/dL at 12:15


def test_a_cgm_wearer_s_meter_checks_stay_out_of_her_agp_but_are_shown(
        meter_world: Any) -> None:
    from tests.dashboard.views_support import fill

    app, store, _ = meter_world
    both = PatientInfo("p2", "Both", "Europe/London", ("type1_diabetes",), {})
    fill(store, "p2", days=14, end=NOW)
    before = figures.trends(store, both, days=14, now=NOW, units="mg/dL", tz="Europe/London")
    store.write(_meter_readings("p2", NOW))
    after = figures.trends(store, both, days=14, now=NOW, units="mg/dL", tz="Europe/London")
    assert before.glucose == after.glucose and after.glucose is not None
    assert before.meter is None and after.meter is not None and len(after.meter.values) == 40


def test_the_meter_user_s_trends_page_in_chromium(chromium: Any, meter_world: Any,
                                                  tmp_path: Path) -> None:
    from tests.support.dashboard_server import serving

    app, _, people = meter_world
    with serving(app) as url:
        page = sign_in(chromium, url, People().patient, PASSWORD, width=1280)
        context = chromium.new_context(viewport={"width": 1280, "height": 900},
                                       bypass_csp=True, storage_state=page.context.storage_state())
        page.context.close()
        page = context.new_page()
        try:
            page.goto(f"{url}/home")
            with page.expect_navigation(wait_until="domcontentloaded"):
                page.get_by_role("navigation", name="Main").get_by_role(
                    "link", name="Trends", exact=True).click()
            page.wait_for_selector("#meter-day-chart[data-drawn='true']", timeout=60_000)
            page.wait_for_selector("#meter-chart[data-drawn='true']", timeout=60_000)
            assert page.locator("#agp-chart").count() == 0
            assert page.locator("#ranges-h").count() == 0
            assert "No glucose readings" not in page.inner_text("main")
            assert page.locator("#meter-lows").inner_text() == "1"
            rows = page.locator("#meter-blocks tbody tr")
            assert rows.count() == 4
            assert "no readings" in rows.nth(0).inner_text()
            # the points are points: uPlot draws no path for the series
            drawn = page.evaluate("""() => window.hearthCharts
                .filter(([p, el]) => el.id.startsWith('meter'))
                .map(([p, el]) => p.data[1].filter((v) => v != null).length)""")
            assert drawn == [40, 40]
            page.screenshot(path=str(tmp_path / "meter-trends-1280.png"), full_page=True)
            assert axe_violations(page) == []
        finally:
            context.close()
