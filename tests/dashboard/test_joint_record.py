"""The joint record of achievements over HTTP (dashboard/views/record.py) on a real server:
the patient rates her outcomes and fills in the WHO-5 at a check-in, sees both in her
record and on Today, exports the record as PDF and as a validated FHIR Bundle and shares
it with her care team; her coach reads it (audited) and sees the WHO-5 on the caseload
page; a caregiver sees only what the patient shares with her; nobody else reads it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care import outcomes, wellbeing
from care import plans as coach_plans
from care.goals import GoalKind
from care.selfassessment import CARDS
from core.appdb.account_store import AccountStore
from core.appdb.accounts import AuditEvent
from core.appdb.audit_log import REFUSED
from core.appdb.coaching import CoachAlert
from core.appdb.delivery import InboxMessage
from core.appdb.directory import SqlDirectory
from core.appdb.plans import Goal
from core.interop.fhir import schema_problems
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from tests.support.accounts import PASSWORD, People, add_people, csrf_from, sign_in
from tests.support.dashboard_server import serving
from tests.support.factories import reading, register

NOW = datetime.now(UTC)


@dataclass
class Site:
    engine: Engine
    url: str
    people: People
    store: SqliteTimeSeriesStore


@pytest.fixture
def site(store: SqliteTimeSeriesStore, engine: Engine) -> Iterator[Site]:
    register(engine, "p1", [("cgm-1", "cgm")], name="Ann Example")
    register(engine, "p3", [("cgm-3", "cgm")], name="Out Sider")  # no one's team
    people = add_people(engine, "p1", scopes=("goals",))  # the caregiver: goals only
    store.write([reading(patient_id="p1", device_id="cgm-1", value=v,
                         at=NOW - timedelta(hours=i)) for i, v in enumerate((100, 150, 200, 60))])
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=AccountStore(engine))
    app.state.engine = engine
    with serving(app) as url:
        yield Site(engine, url, people, store)


@contextmanager
def client_of(site: Site, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=60) as client:
        assert sign_in(client, name, PASSWORD).status_code == 303
        yield client


def checkin_form(page: str, extra: dict[str, str]) -> dict[str, str]:
    form = {"csrf_token": csrf_from(page)}
    for card in CARDS:
        form[f"rating-{card.behaviour}"] = "3"
        form[f"confidence-{card.behaviour}"] = "7"
    return form | extra


def test_a_check_in_rates_outcomes_and_the_who5_and_the_record_shows_them(site: Site) -> None:
    with Session(site.engine) as s:
        walk = outcomes.add(s, "p1", "Walk to the shops", "pat", NOW - timedelta(days=9))
        outcomes.rate(s, "p1", walk, 4, NOW - timedelta(days=8))
        plan = coach_plans.create_plan(
            s, site.store, patient_id="p1", coach_id=site.people.coach, focus="being_active",
            goals=[coach_plans.GoalDraft(kind=GoalKind.STEPS, target=6000.0)], now=NOW)
        for goal in s.scalars(select(Goal).where(Goal.plan_id == plan.id)):
            goal.status = "active"  # as once both sides agreed
        s.commit()
        assert plan.coach_id == site.people.coach
    with client_of(site, site.people.patient) as pat:
        page = pat.get("/patients/p1/self-assessment").text
        assert f'name="outcome-{walk}"' in page and 'name="who5-5"' in page
        assert wellbeing.ITEMS[0] in page  # the instrument's own words
        # half a WHO-5 is refused with a reason, and nothing is stored
        half = pat.post("/patients/p1/self-assessment",
                        data=checkin_form(page, {"who5-1": "3", f"outcome-{walk}": "6"}))
        assert half.status_code == 422 and "all five wellbeing questions" in half.text
        # WHO-5 raw 1+1+2+1+1 = 6 -> 24/100: at or under 28, the gentle prompt
        who5 = {"who5-1": "1", "who5-2": "1", "who5-3": "2", "who5-4": "1", "who5-5": "1"}
        done = pat.post("/patients/p1/self-assessment",
                        data=checkin_form(page, {f"outcome-{walk}": "7", **who5}))
        assert done.status_code == 200, done.text[-500:]
        assert 'id="checkin-rated"' in done.text and "You rated 1 outcome." in done.text
        assert "Your wellbeing score is 24 out of 100." in done.text
        assert 'id="who5-prompt" data-level="very_low"' in done.text

        record = pat.get("/patients/p1/joint-record")
        assert record.status_code == 200
        section = record.text.split('id="record-outcomes"')[1].split("</section>")[0]
        assert "Walk to the shops" in section and "4 out of 10" in section
        assert section.index("4 out of 10") < section.index("7 out of 10")
        wb = record.text.split('id="record-wellbeing"')[1].split("</section>")[0]
        assert 'data-who5="24"' in wb and "Topp" in wb and "North Zealand" in wb
        readings = record.text.split('id="record-readings"')[1].split("</section>")[0]
        assert 'data-metric="glucose"' in readings and "50% in 70–180 mg/dL" in readings

        today = pat.get("/patients/p1/today").text
        mine = today.split('id="my-outcomes"')[1].split("</section>")[0]
        assert "latest: 7 out of 10" in mine and "24 out of 100" in mine

        pdf = pat.get("/patients/p1/joint-record.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF") and len(pdf.content) > 1000

        fhir = pat.get("/patients/p1/joint-record.fhir.json")
        assert fhir.status_code == 200
        found = fhir.json()
        assert schema_problems(found) == [] and Bundle.model_validate(found)
        kinds = [e["resource"]["resourceType"] for e in found["entry"]]
        assert kinds.count("Goal") == 2  # the plan's steps goal and her own outcome
        own_goal = next(e["resource"] for e in found["entry"]
                        if e["resource"].get("expressedBy"))
        assert own_goal["description"]["text"] == "Walk to the shops"
        scores = sorted(e["resource"]["valueInteger"] for e in found["entry"]
                        if e["resource"].get("code", {}).get("text", "").startswith("How well"))
        assert scores == [4, 7] and len(own_goal["outcomeReference"]) == 2
        steps = next(e["resource"] for e in found["entry"]
                     if e["resource"]["resourceType"] == "Goal" and e is not own_goal
                     and not e["resource"].get("expressedBy"))
        assert steps["achievementStatus"]["coding"][0]["code"] == "in-progress"
        who5_obs = [e["resource"] for e in found["entry"]
                    if e["resource"].get("code", {}).get("text", "").startswith("WHO-5")]
        assert [o["valueInteger"] for o in who5_obs] == [24]
        assert [c["valueInteger"] for c in who5_obs[0]["component"]] == [1, 1, 2, 1, 1]
        assert json.dumps(found).count("Ann Example") == 1  # the Patient, once

        shared = pat.post("/patients/p1/joint-record/share",
                          data={"csrf_token": csrf_from(record.text)})
        assert shared.status_code == 303 and shared.headers["location"].endswith("shared=1")
    with Session(site.engine) as s:
        alert = s.scalars(select(CoachAlert).where(CoachAlert.flag_type == "who5_low")).one()
        assert alert.patient_id == "p1" and alert.evidence["percent"] == 24
        message = s.scalars(select(InboxMessage).where(InboxMessage.patient_id == "p1")).one()
        assert message.recipient_key == site.people.coach
        assert "/patients/p1/joint-record" in message.body

    with client_of(site, site.people.coach) as coach:
        home = coach.get("/coach").text
        row = home.split('data-patient="p1"')[1].split("</tr>")[0]
        assert 'data-who5="24"' in row and "24/100" in row
        caseload = coach.get("/coach/patients/p1").text
        assert "24/100" in caseload.split('id="coach-who5"')[1].split("</p>")[0]
        assert "shared my joint record" in caseload
        seen = coach.get("/patients/p1/joint-record")
        assert seen.status_code == 200 and 'data-who5="24"' in seen.text
        assert 'id="share-record"' not in seen.text and 'id="who5-prompt"' not in seen.text
        assert coach.get("/patients/p3/joint-record").status_code == 403
        assert coach.get("/patients/p1/joint-record.pdf").status_code == 200
        assert coach.post("/patients/p1/joint-record/share",
                          data={"csrf_token": csrf_from(seen.text)}).status_code == 403
    with Session(site.engine) as s:
        reads = set(s.execute(select(AuditEvent.actor_role, AuditEvent.purpose)
                              .where(AuditEvent.patient_id == "p1")))
    assert ("coach", "joint record") in reads and ("coach", "joint record export") in reads


def test_a_caregiver_sees_only_what_is_shared_and_no_one_else_reads_it(site: Site) -> None:
    with Session(site.engine) as s:
        walk = outcomes.add(s, "p1", "Sleep through", "pat", NOW)
        outcomes.rate(s, "p1", walk, 5, NOW)
        wellbeing.record(s, "p1", (4, 4, 4, 4, 4), by="pat", coach_id=None, now=NOW)
        s.commit()
    with client_of(site, site.people.caregiver) as cara:
        page = cara.get("/patients/p1/joint-record")
        assert page.status_code == 200  # the "goals" share
        for private in ('id="record-outcomes"', 'id="record-wellbeing"', "Sleep through",
                        'id="record-readings"'):
            assert private not in page.text, private
        assert cara.get("/patients/p1/joint-record.pdf").status_code == 403  # no "export"
        assert cara.get("/patients/p1/joint-record.fhir.json").status_code == 403
        assert cara.get("/patients/p3/joint-record").status_code == 403
    with client_of(site, site.people.admin) as admin:
        assert admin.get("/patients/p1/joint-record").status_code == 403
    with client_of(site, site.people.patient) as pat:
        assert pat.get("/patients/p3/joint-record").status_code == 403
        assert pat.get("/patients/p3/joint-record.pdf").status_code == 403
        mine = pat.get("/patients/p1/joint-record").text
        assert 'data-who5="80"' in mine and 'id="who5-prompt"' not in mine  # 80: no prompt
    with Session(site.engine) as s:
        reads = set(s.execute(select(AuditEvent.actor_role, AuditEvent.purpose)
                              .where(AuditEvent.patient_id == "p1")))
    assert ("caregiver", "joint record") in reads
    assert ("caregiver", f"{REFUSED}joint record export") in reads
