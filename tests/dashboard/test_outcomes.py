"""Outcomes that matter to me over HTTP (dashboard/views/outcomes.py) on a real server:
the patient names, rates and retires her own outcomes and sees them with their latest
rating and trend on Today; her coach sees them on the caseload page and her nurse on the
outcomes page (both audited); nobody else writes them, and no one outside her care team
reads them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care import outcomes
from core.appdb.account_store import AccountStore
from core.appdb.accounts import AuditEvent
from core.appdb.directory import SqlDirectory
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from tests.support.accounts import PASSWORD, People, add_people, csrf_from, sign_in
from tests.support.dashboard_server import serving
from tests.support.factories import register

NOW = datetime.now(UTC)


@dataclass
class Site:
    engine: Engine
    url: str
    people: People


@pytest.fixture
def site(store: SqliteTimeSeriesStore, engine: Engine) -> Iterator[Site]:
    register(engine, "p1", [("cgm-1", "cgm")], name="Ann Example")
    register(engine, "p3", [("cgm-3", "cgm")], name="Out Sider")  # no one's team
    people = add_people(engine, "p1")
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=AccountStore(engine))
    app.state.engine = engine
    with serving(app) as url:
        yield Site(engine, url, people)


@contextmanager
def client_of(site: Site, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        assert sign_in(client, name, PASSWORD).status_code == 303
        yield client


def post(client: httpx.Client, path: str, data: dict[str, str], page: str) -> httpx.Response:
    token = csrf_from(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token})


def outcome_ids(html: str) -> list[str]:
    return re.findall(r'data-outcome="([0-9a-f]+)"', html)


def test_the_patient_names_rates_and_sees_them_on_today(site: Site) -> None:
    page = "/patients/p1/outcomes"
    with client_of(site, site.people.patient) as pat:
        assert "No outcomes yet" in pat.get(page).text
        added = post(pat, page, {"text": "Walk to the shops without stopping"}, page)
        assert added.status_code == 303 and added.headers["location"] == page
        post(pat, page, {"text": "Sleep through"}, page)
        [walk, sleep] = outcome_ids(pat.get(page).text)
        for score in ("3", "5", "7"):
            rated = post(pat, f"{page}/{walk}/rate",
                         {"score": score, "back": "/patients/p1/today"}, page)
            assert rated.status_code == 303
            assert rated.headers["location"] == "/patients/p1/today"
        today = pat.get("/patients/p1/today")
        assert today.status_code == 200
        section = today.text.split('id="my-outcomes"')[1].split("</section>")[0]
        assert "Walk to the shops without stopping" in section and "Sleep through" in section
        assert "latest: 7 out of 10" in section and 'data-trend="up"' in section
        assert "3 → 5 → 7" in section and "not rated yet" in section
        assert f'action="/patients/p1/outcomes/{walk}/rate"' in section

        retired = post(pat, f"{page}/{sleep}/retire", {}, page)
        assert retired.status_code == 303
        assert outcome_ids(pat.get(page).text) == [walk]


def test_refusals_are_shown_and_nothing_is_stored(site: Site) -> None:
    page = "/patients/p1/outcomes"
    with client_of(site, site.people.patient) as pat:
        for i in range(outcomes.MAX_ACTIVE):
            assert post(pat, page, {"text": f"outcome {i}"}, page).status_code == 303
        full = pat.get(page).text
        assert 'id="outcomes-full"' in full and 'id="add-outcome"' not in full
        refused = post(pat, page, {"text": "one too many"}, page)
        assert refused.status_code == 422 and "retire one" in refused.text
        first = outcome_ids(full)[0]
        assert post(pat, f"{page}/{first}/rate", {"score": "11"}, page).status_code == 422
        assert post(pat, f"{page}/nosuch/rate", {"score": "5"}, page).status_code == 404
        assert post(pat, f"{page}/nosuch/retire", {}, page).status_code == 404
    with Session(site.engine) as s:
        listed = outcomes.active(s, "p1")
    assert len(listed) == outcomes.MAX_ACTIVE and all(o.latest is None for o in listed)


def test_the_care_team_reads_them_audited_and_no_one_else_writes(site: Site) -> None:
    with Session(site.engine) as s:
        walk = outcomes.add(s, "p1", "Walk to the shops", "pat", NOW)
        outcomes.add(s, "p3", "Not in your caseload", "x", NOW)
        outcomes.rate(s, "p1", walk, 6, NOW)
        s.commit()
    page = "/patients/p1/outcomes"
    with client_of(site, site.people.coach) as coach:
        caseload = coach.get("/coach/patients/p1")
        assert caseload.status_code == 200
        section = caseload.text.split('id="outcomes"')[1].split("</section>")[0]
        assert "Walk to the shops" in section and "latest: 6 out of 10" in section
        assert "/rate" not in section, "the coach reads; only the patient rates"
        listed = coach.get(page)
        assert listed.status_code == 200 and "Walk to the shops" in listed.text
        assert 'id="add-outcome"' not in listed.text
        token = csrf_from(listed.text)
        for path, data in ((page, {"text": "coach's words"}),
                           (f"{page}/{walk}/rate", {"score": "1"}),
                           (f"{page}/{walk}/retire", {})):
            assert coach.post(path, data={**data, "csrf_token": token}).status_code == 403
        assert coach.get("/patients/p3/outcomes").status_code == 403
    with client_of(site, site.people.nurse) as nurse:
        assert "Walk to the shops" in nurse.get(page).text
    with client_of(site, site.people.caregiver) as cara:
        assert cara.get(page).status_code == 403
    with client_of(site, site.people.patient) as pat:
        assert pat.get("/patients/p3/outcomes").status_code == 403
        token = csrf_from(pat.get(page).text)
        assert pat.post("/patients/p3/outcomes",
                        data={"text": "someone else's", "csrf_token": token}).status_code == 403
    with Session(site.engine) as s:
        assert [o.latest for o in outcomes.active(s, "p1")] == [6]
        assert [o.text for o in outcomes.active(s, "p3")] == ["Not in your caseload"]
        reads = set(s.execute(select(AuditEvent.actor_role, AuditEvent.purpose)
                              .where(AuditEvent.patient_id == "p1")))
    assert ("coach", "outcomes that matter to them") in reads
    assert ("nurse", "outcomes that matter to them") in reads
