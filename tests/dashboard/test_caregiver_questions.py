"""A caregiver asks peers on behalf of the person she cares for (care/questions.py
``ask_for``, dashboard/views/caregiver_questions.py), on a real server: only while that
person shares "questions" with her; the question is shown to peers as from a caregiver and
never with the person's name; the person reads it and its answers; a peer with the same
condition answers; the reads are audited under the person's id; taking the share back
stops her asking at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.appdb.account_store import AccountStore
from core.appdb.accounts import AuditEvent
from core.appdb.directory import PatientInfo, SqlDirectory, upsert_patient
from core.appdb.joint_record import CaregiverQuestion
from core.appdb.stories import PeerQuestion
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from tests.support.accounts import PASSWORD, People, add_people, csrf_from, sign_in
from tests.support.dashboard_server import serving

PEER = "peer"  # another patient with type 2 diabetes, beyond any group or clinic


@dataclass
class Site:
    engine: Engine
    url: str
    people: People
    accounts: AccountStore


@pytest.fixture
def site(store: SqliteTimeSeriesStore, engine: Engine) -> Iterator[Site]:
    with Session(engine) as session:
        upsert_patient(session, PatientInfo("p1", "Ann Example", "UTC", ["type2_diabetes"]))
        upsert_patient(session, PatientInfo("p2", "Bea Peer", "UTC", ["type2_diabetes"]))
        upsert_patient(session, PatientInfo("p3", "Cy Other", "UTC", ["copd"]))
        session.commit()
    people = add_people(engine, "p1", scopes=("readings", "questions"))
    accounts = AccountStore(engine)
    accounts.users.add(PEER, role="patient", display_name="Bea Peer", password=PASSWORD,
                       patient_id="p2")
    accounts.users.add("other", role="patient", display_name="Cy Other", password=PASSWORD,
                       patient_id="p3")
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=accounts)
    app.state.engine = engine
    with serving(app) as url:
        yield Site(engine, url, people, accounts)


@contextmanager
def client_of(site: Site, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=60) as client:
        assert sign_in(client, name, PASSWORD).status_code == 303
        yield client


def test_a_caregiver_asks_for_her_person_with_consent_shown_as_a_caregiver(site: Site) -> None:
    with client_of(site, site.people.caregiver) as cara:
        page = cara.get("/caring/questions")
        assert page.status_code == 200 and 'id="caregiver-ask"' in page.text
        assert '<option value="p1">Ann Example</option>' in page.text
        token = csrf_from(page.text)
        asked = cara.post("/caring/questions", data={
            "csrf_token": token, "patient_id": "p1", "condition": "type2_diabetes",
            "title": "Snacks for her evening walk?", "body": "What do you carry?",
            "naming": "first"})
        assert asked.status_code == 303
        qid = asked.headers["location"].rsplit("/", 1)[1]
        mine = cara.get(f"/caring/questions/{qid}")
        assert mine.status_code == 200 and "You (as a caregiver)" in mine.text
        # not for someone who gave no consent, nor about a condition they do not have
        for bad in ({"patient_id": "p3", "condition": "copd"},
                    {"patient_id": "p1", "condition": "copd"}):
            refused = cara.post("/caring/questions", data={
                "csrf_token": token, "title": "t", "body": "b", **bad})
            assert refused.status_code == 422
        assert cara.get("/questions").status_code == 403  # the patients' page is not hers
    with Session(site.engine) as s:
        question = s.get(PeerQuestion, qid)
        assert question is not None and question.asker_patient_id == "p1"
        assert s.get(CaregiverQuestion, qid) is not None
        assert s.scalar(select(PeerQuestion.id).where(PeerQuestion.asker_patient_id == "p3")) \
            is None

    with client_of(site, PEER) as bea:  # a peer with the condition: sees "a caregiver"
        listed = bea.get("/questions").text
        assert "Snacks for her evening walk?" in listed
        shown = bea.get(f"/questions/{qid}").text
        assert "Cara, a caregiver" in shown and "Ann" not in shown
        answered = bea.post(f"/questions/{qid}/answers", data={
            "csrf_token": csrf_from(shown), "body": "Glucose tablets and a banana.",
            "naming": "first"})
        assert answered.status_code == 303
    with client_of(site, "other") as cy:  # lives with COPD only: cannot read it
        assert cy.get(f"/questions/{qid}").status_code == 404
    with client_of(site, site.people.patient) as ann:  # the person it was asked for
        hers = ann.get(f"/questions/{qid}")
        assert hers.status_code == 200 and "Glucose tablets" in hers.text
    with client_of(site, site.people.caregiver) as cara:
        assert "Glucose tablets and a banana." in cara.get(f"/caring/questions/{qid}").text
    with client_of(site, site.people.coach) as coach:  # her coach reads (and may moderate)
        assert coach.get(f"/questions/{qid}").status_code == 200
        assert coach.get("/caring/questions").status_code == 403
    with Session(site.engine) as s:
        reads = set(s.execute(select(AuditEvent.actor_role, AuditEvent.purpose)
                              .where(AuditEvent.patient_id == "p1")))
    assert ("patient", "question to peers") in reads  # Bea read Ann's question
    assert ("coach", "question to peers") in reads

    # Ann takes the consent back: Cara can ask for her no more
    site.accounts.sharing.share("p1", site.people.caregiver, ["readings"], urgent_alerts=True)
    with client_of(site, site.people.caregiver) as cara:
        page = cara.get("/caring/questions")
        assert 'id="no-consent"' in page.text
        refused = cara.post("/caring/questions", data={
            "csrf_token": csrf_from(page.text), "patient_id": "p1",
            "condition": "type2_diabetes", "title": "t", "body": "b"})
        assert refused.status_code == 422
