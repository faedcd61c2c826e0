"""Every route that shows a patient's data to someone else writes an audit row.

Walks the route table (tests/dashboard/authz_walker.py, as the authorization matrix
does) and calls every GET route as each role over the demo household, with an open
alert, a peer group with a post, and a message in place, so that the alert queue,
caseload, groups and message pages have something of other patients to show. For each
answer it works out whose data it showed:

- a ``{patient_id}`` route that answers 200 showed that patient's data;
- any answer that holds a patient's name or device id showed that patient's data.

Each such patient, other than the caller's own record, must have an audit row by the
caller written by that request (who, whose, what, when: ``audit_log``). A patient's
reads of their own data write none. A new route that shows a list of patients, or an
alert, without ``audit_reads`` fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import pytest
from fastapi import Depends, Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from care import groups as peer
from core.appdb.accounts import AuditEvent
from core.appdb.coaching import CoachAlert, new_id
from core.appdb.plans import PeerGroup, PeerMembership
from dashboard.app import create_app
from dashboard.security import User, require_role, visible_patients
from dashboard.views import care
from devices.profiles import load_profiles
from tests.dashboard.authz_walker import Endpoint, endpoints
from tests.support.accounts import sign_in
from tests.support.demo_site import DemoSite, demo_site

ROLES = ("patient", "caregiver", "coach", "nurse", "admin")
SAMPLES = {"metric": "glucose"}
# Routes that show other people's data on purpose without an audit row, and why.
NOT_AUDITED = {
    ("GET", "/audit"): "the audit log itself (admins): who looked, not health data",
    ("GET", "/api/audit"): "the audit log itself (admins): who looked, not health data",
}
# (route, role) pairs, and why.
NOT_AUDITED_FOR = {
    ("/patients/{patient_id}/group", "patient"):
        "posts members published to their own group, names only with their consent "
        "(care.groups); an audit row would name the reader to every author",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    with demo_site(tmp_path_factory.mktemp("audit-coverage")) as made:
        seed_care_data(made)
        yield made


def engine_of(site: DemoSite) -> Engine:
    return site.accounts.engine


def seed_care_data(site: DemoSite) -> None:
    """An open coaching alert and a clinical alert for two other household patients, a peer
    group of the household with a named post by the first, and a message from the coach
    to the patient."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    other, third = [p for p in site.household if p != site.patient_id][:2]
    coach_id = site.credentials["coach"][0]
    with Session(engine_of(site)) as session:
        session.add(CoachAlert(id=new_id(), patient_id=other, flag_type="test", group="test",
                               kind="alert", audience="coach", priority="high",
                               title="Glucose high for 3 hours", body="", why="test", evidence={},
                               state="open", created_at=now, ladder=[]))
        session.add(CoachAlert(id=new_id(), patient_id=third, flag_type="test", group="test",
                               kind="clinical_alert", audience="nurse", priority="urgent",
                               title="Blood pressure crisis", body="", why="test", evidence={},
                               state="open", created_at=now, ladder=[]))
        group = PeerGroup(id=new_id(), name="Walkers", coach_id=coach_id, language="en",
                          reason="test", status="active", created_at=now)
        session.add(group)
        session.flush()
        session.add_all(PeerMembership(group_id=group.id, member_id=m, joined_at=now)
                        for m in site.household)
        session.flush()
        peer.set_consent(session, group.id, other, scope="name", granted=True, now=now)
        peer.post(session, group.id, other, "A good walk today", now=now)
        session.commit()
    care.send(engine_of(site), patient_id=site.patient_id, author_id=coach_id,
              author_name="Coach", author_role="coach", recipient_key=site.patient_id,
              body="How was the week?", now=now)


def marks(site: DemoSite) -> dict[str, list[str]]:
    """What shows that an answer holds a patient's data: their name and device id."""
    names = {p.id: p.name for p in load_profiles()} | {site.outsider: "Zed Outsider"}
    return {pid: [names[pid], f"{pid}-cgm-test"] for pid in (*site.household, site.outsider)}


def last_audit_id(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0))) or 0)


def audit_since(engine: Engine, after: int) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.id > after)))


def url_of(e: Endpoint, patient: str | None) -> tuple[str, dict[str, str]]:
    path = e.path
    for name in e.params:
        path = path.replace(f"{{{name}}}", patient if name == "patient_id" else
                            SAMPLES.get(name, "1"))
    return path, {name: SAMPLES.get(name, "1") for name in e.required_query}


def get(client: TestClient, path: str, params: dict[str, str]) -> tuple[int, str]:
    with client.stream("GET", path, params=params, follow_redirects=False) as response:
        if "event-stream" in response.headers.get("content-type", ""):
            return response.status_code, ""  # a live stream: its first read is audited
        return response.status_code, response.read().decode(errors="replace")


def unaudited(app_site: DemoSite, client: TestClient, user_id: str, role: str,
              own: str | None, routes: list[Endpoint]) -> tuple[list[str], int]:
    """(the problems, how many answers showed someone else's data) for one caller."""
    engine = engine_of(app_site)
    seen = marks(app_site)
    problems, shown_others = [], 0
    for e in routes:
        if ("GET", e.path) in NOT_AUDITED or (e.path, role) in NOT_AUDITED_FOR:
            continue
        patient = app_site.patient_id if "patient_id" in e.params else None
        path, query = url_of(e, patient)
        before = last_audit_id(engine)
        status, body = get(client, path, query)
        rows = [r for r in audit_since(engine, before) if r.actor_id == user_id]
        if any(r.patient_id == own for r in rows):
            problems.append(f"{role} GET {path}: the patient's own read was audited")
        if status != 200:
            continue
        shown = {pid for pid, ms in seen.items() if any(m in body for m in ms)}
        if patient is not None:
            shown.add(patient)
        shown.discard(own or "")
        audited = {r.patient_id for r in rows if not r.purpose.startswith("denied:")}
        shown_others += bool(shown)
        if shown - audited:
            problems.append(f"{role} GET {path}: showed {sorted(shown - audited)} "
                            "with no audit row")
    return problems, shown_others


def get_routes(app_site: DemoSite) -> list[Endpoint]:
    found, _ = endpoints(app_site.app)
    return [e for e in found if not e.mount and "GET" in e.methods]


@pytest.mark.parametrize("role", ROLES)
def test_every_route_that_shows_someone_elses_data_audits_it(site: DemoSite, role: str) -> None:
    name, password = site.credentials[role]
    own = site.patient_id if role == "patient" else None
    with TestClient(site.app) as client:
        assert sign_in(client, name, password).status_code == 303
        problems, shown = unaudited(site, client, name, role, own, get_routes(site))
    assert not problems, "\n".join(problems)
    if role in ("caregiver", "coach", "nurse"):
        assert shown >= 5, f"{role} saw too little for the test to mean anything"


def test_a_route_that_forgets_to_audit_is_caught(site: DemoSite) -> None:
    state = site.app.state
    app = create_app(store=state.store, directory=state.directory, accounts=state.accounts)

    @app.get("/api/rogue-caseload")
    def rogue(request: Request,
              user: Annotated[User, Depends(require_role("coach"))]) -> list[str]:
        return [p.display_name for p in visible_patients(request, user)]  # no audit_reads

    rogue_site = DemoSite(app=app, accounts=site.accounts, credentials=site.credentials,
                          patient_id=site.patient_id, household=site.household,
                          outsider=site.outsider)
    routes = [e for e in get_routes(rogue_site) if e.path in ("/api/rogue-caseload", "/coach")]
    assert len(routes) == 2
    name, password = site.credentials["coach"]
    with TestClient(app) as client:
        assert sign_in(client, name, password).status_code == 303
        problems, _ = unaudited(rogue_site, client, name, "coach", None, routes)
    assert len(problems) == 1 and problems[0].startswith("coach GET /api/rogue-caseload"), problems
