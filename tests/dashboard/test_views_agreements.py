"""A say over the service over HTTP (dashboard/views/agreements.py) on a real server: a late
reply from the coach is a breach the patient reads in her words on her service page; she
asks for a change; the clinic's nurse sees both in the clinic's queue (audited), answers
in writing and marks the breach seen; the clinic's page shows the month's figures without
a name; one-tap ratings and a comment published only after moderation; nobody else
writes for her, and the queue is the clinic staff's alone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.appdb.account_store import AccountStore
from core.appdb.accounts import AuditEvent
from core.appdb.agreements import ServiceComplaint
from core.appdb.delivery import InboxMessage
from core.appdb.directory import SqlDirectory
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from tests.support.accounts import People, add_people, csrf_from, sign_in
from tests.support.dashboard_server import serving
from tests.support.factories import register

NOW = datetime.now(UTC)
OTHERS = ("p2", "p3", "p4", "p5")


@dataclass
class Site:
    engine: Engine
    url: str
    people: People


def seed_message(engine: Engine, pid: str, at: datetime, *, by: str) -> int:
    with Session(engine) as s:
        row = InboxMessage(recipient_key=pid, recipient_role="coach" if by == "patient"
                           else "patient", patient_id=pid, kind="message", priority="normal",
                           flag_type="message", title="m", body="b", why="w",
                           evidence={"author_name": "Cole"}, ref="r", created_at=at)
        s.add(row)
        s.commit()
        return row.id


@pytest.fixture
def site(store: SqliteTimeSeriesStore, engine: Engine) -> Iterator[Site]:
    register(engine, "p1", [("cgm-1", "cgm")], name="Ann Example")
    for pid in OTHERS:
        register(engine, pid, [(f"cgm-{pid}", "cgm")], name=f"Person {pid}")
    people = add_people(engine, "p1", clinic_patients=OTHERS)
    start = NOW - timedelta(hours=80)  # same month as NOW unless run in its first days
    if start.month != NOW.month:
        start = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    # Ann waited three days for her coach; four others were answered within the hour.
    seed_message(engine, "p1", start, by="patient")
    seed_message(engine, "p1", start + timedelta(hours=72), by="coach")
    for pid in OTHERS:
        seed_message(engine, pid, start, by="patient")
        seed_message(engine, pid, start + timedelta(minutes=30), by="coach")
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=AccountStore(engine))
    app.state.engine = engine
    with serving(app) as url:
        yield Site(engine, url, people)


def client(site: Site, who: str) -> httpx.Client:
    c = httpx.Client(base_url=site.url, timeout=30)
    assert sign_in(c, who).status_code == 303
    return c


def test_a_late_reply_is_seen_escalated_answered_and_shown_without_a_name(site: Site) -> None:
    pat, nora = client(site, site.people.patient), client(site, site.people.nurse)
    page = pat.get("/patients/p1/service")
    assert page.status_code == 200
    assert "Your message waited 72 hours for a reply. The agreement is 48 hours." in page.text
    assert "Your coach answers your message within 48 hours." in page.text
    breach = page.text.split('data-breach="')[1].split('"')[0]
    sent = pat.post("/patients/p1/service/requests", data={
        "csrf_token": csrf_from(page.text), "breach": breach, "ask": "different_coach",
        "text": "I want a coach who answers.", "publish": "yes"}, follow_redirects=False)
    assert sent.status_code == 303
    assert "You asked for a change." in pat.get("/patients/p1/service").text

    queue = nora.get("/clinic/service")
    assert queue.status_code == 200 and "Ann Example" in queue.text
    assert "I want a coach who answers." in queue.text
    with Session(site.engine) as s:
        request_id = s.scalars(select(ServiceComplaint.id)).one()
        audited = s.scalars(select(AuditEvent.purpose).where(
            AuditEvent.actor_id == site.people.nurse, AuditEvent.patient_id == "p1")).all()
    assert "service agreement queue" in audited
    token = csrf_from(queue.text)
    assert nora.post(f"/clinic/service/requests/{request_id}/answer", data={
        "csrf_token": token, "response": "A new coach will call you this week."},
        follow_redirects=False).status_code == 303
    assert nora.post(f"/clinic/service/breaches/{breach}/seen", data={"csrf_token": token},
                     follow_redirects=False).status_code == 303
    assert 'data-breach="' not in nora.get("/clinic/service").text.split("Formal requests")[0]
    assert "A new coach will call you this week." in pat.get("/patients/p1/service").text

    clinic = pat.get("/clinics/clinic")
    assert clinic.status_code == 200
    row = clinic.text.split(f'data-month="{NOW:%Y-%m}"')[1].split('data-standard="reply"')[1]
    assert '<td class="met">4</td><td class="missed">1</td>' in row.split("</tr>")[0]
    assert "A new coach will call you this week." in clinic.text
    assert "Ann" not in clinic.text and "I want a coach who answers." not in clinic.text


def test_one_tap_ratings_and_a_comment_published_only_after_moderation(site: Site) -> None:
    pat, nora = client(site, site.people.patient), client(site, site.people.nurse)
    page = pat.get("/patients/p1/service")
    reply = page.text.split('data-rate="reply:')[1].split('"')[0]
    assert pat.post("/patients/p1/service/ratings", data={
        "csrf_token": csrf_from(page.text), "kind": "reply", "ref": reply,
        "rating": "helped", "comment": "Worth the wait in the end.", "publish": "yes"},
        follow_redirects=False).status_code == 303
    assert 'data-rated="helped"' in pat.get("/patients/p1/service").text
    assert "Worth the wait" not in pat.get("/clinics/clinic").text, "not yet moderated"
    queue = nora.get("/clinic/service")
    comment = queue.text.split('data-comment="')[1].split('"')[0]
    assert nora.post(f"/clinic/service/ratings/{comment}/moderate", data={
        "csrf_token": csrf_from(queue.text), "decision": "publish",
        "response": "Thank you for telling us."}, follow_redirects=False).status_code == 303
    clinic = pat.get("/clinics/clinic").text
    assert "Worth the wait in the end." in clinic and "Thank you for telling us." in clinic
    other = seed_message(site.engine, "p2", NOW, by="coach")
    assert pat.post("/patients/p1/service/ratings", data={
        "csrf_token": csrf_from(page.text), "kind": "reply", "ref": str(other),
        "rating": "not_helped"}, follow_redirects=False).status_code == 404


def test_only_she_acts_for_herself_and_only_clinic_staff_work_the_queue(site: Site) -> None:
    coach, cara = client(site, site.people.coach), client(site, site.people.caregiver)
    admin, pat = client(site, site.people.admin), client(site, site.people.patient)
    token = csrf_from(coach.get("/patients/p1/service").text)
    assert coach.post("/patients/p1/service/requests", data={
        "csrf_token": token, "ask": "review", "text": "x"}).status_code == 403
    assert cara.get("/patients/p1/service").status_code == 403
    assert coach.get("/clinic/service").status_code == 403
    assert pat.get("/clinic/service").status_code == 403
    assert admin.get("/clinics/clinic").status_code == 403
    assert pat.get("/patients/p2/service").status_code == 403
    assert cara.get("/clinics").status_code == 200
    with Session(site.engine) as s:
        audited = s.scalars(select(AuditEvent.purpose).where(
            AuditEvent.actor_id == site.people.coach, AuditEvent.patient_id == "p1")).all()
    assert "service agreement" in audited


def test_her_coach_records_a_limit_agreed_with_her(site: Site) -> None:
    coach, pat = client(site, site.people.coach), client(site, site.people.patient)
    page = coach.get("/patients/p1/service")
    assert coach.post("/patients/p1/service/agreement", data={
        "csrf_token": csrf_from(page.text), "reply": "24", "review": ""},
        follow_redirects=False).status_code == 303
    mine = pat.get("/patients/p1/service").text
    assert "Your coach answers your message within 24 hours." in mine
    assert "agreed with you" in mine
    assert pat.post("/patients/p1/service/agreement", data={
        "csrf_token": csrf_from(mine), "reply": "1"}).status_code == 403
    assert "Your coach answers your message within 48 hours." in pat.get(
        "/clinics/clinic").text, "the clinic's own agreement is unchanged"
