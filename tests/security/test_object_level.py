"""Object-level authorization (OWASP API1, BOLA): patient A asking for B's data.

The route-walking matrix (tests/dashboard/test_authz_matrix.py) checks every route for
every role with a plain patient id. This adds the object-level layer for the patient
account (ann) over the demo household (tests/support/demo_site.py):

- every route with ``{patient_id}``, every method, with each other patient, an
  outsider, an id that does not exist, and spellings of B's id that a lax lookup
  might accept (case, padding, encodings, traversal): 403 or 404, nothing of B's
  in the answer, and each refusal of a real id recorded with who asked for whom, in the
  log and as a ``denied:<purpose>`` row of the audit table (who, whose, which path);
- every route, with B's id smuggled in through query parameters that a handler
  might read (``patient_id``, ``patient``, ...): never B's data;
- the Nightscout API: A's uploader secret reads only A's entries (audited), and an upload
  naming B's device is stored as A's uploader, whatever the body says.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.appdb.accounts import AuditEvent
from core.provisioning import Provisioner
from dashboard.nightscout_backend import NightscoutBackend
from devices.profiles import load_profiles
from tests.dashboard.authz_walker import Endpoint, endpoints
from tests.support.accounts import session_csrf, sign_in
from tests.support.demo_site import DemoSite, demo_site

SMUGGLED = ("patient_id", "patient", "patient_ids", "pid", "id", "user", "for")


class Publisher:
    def __init__(self) -> None:
        self.topics: list[str] = []

    def publish_confirmed(self, topic: str, payload: bytes, *, timeout: float) -> None:
        self.topics.append(topic)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    with demo_site(tmp_path_factory.mktemp("bola")) as made:
        yield made


@pytest.fixture(scope="module")
def ann(site: DemoSite) -> Iterator[TestClient]:
    with TestClient(site.app) as client:
        assert sign_in(client, *site.credentials["patient"]).status_code == 303
        yield client


def others(site: DemoSite) -> list[str]:
    return [p for p in site.household if p != site.patient_id] + [site.outsider]


def their_marks(site: DemoSite) -> dict[str, list[str]]:
    """What would show that an answer holds B's data: B's device ids and name."""
    names = {p.id: p.name for p in load_profiles()} | {site.outsider: "Zed Outsider"}
    return {pid: [f"{pid}-cgm-test", names[pid]] for pid in others(site)}


def last_audit_id(site: DemoSite) -> int:
    with Session(site.accounts.engine) as session:
        return int(session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0))) or 0)


def audit_since(site: DemoSite, after: int) -> list[AuditEvent]:
    """The rows of the audit table written after row ``after``."""
    with Session(site.accounts.engine) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.id > after)))


def spellings(victim: str) -> list[str]:
    return [victim, victim.upper(), f"{victim}%20", f"%2e%2e/{victim}", f"{victim}%00",
            f"ann,{victim}"]


def patient_routes(site: DemoSite) -> list[Endpoint]:
    found, _ = endpoints(site.app)
    return [e for e in found if not e.mount and "patient_id" in e.params
            and "WEBSOCKET" not in e.methods]


def call(client: TestClient, method: str, path: str, params: dict[str, str] | None = None
         ) -> tuple[int, str]:
    if "x-csrf-token" not in client.headers:
        client.headers["X-CSRF-Token"] = session_csrf(client)  # sent on every request
    headers: dict[str, str] = {}
    with client.stream(method, path, params={**(params or {}), "metric": "glucose"},
                       headers=headers) as response:
        body = b""
        if response.status_code != 200 or "event-stream" not in response.headers.get(
                "content-type", ""):
            body = response.read()
        return response.status_code, body.decode(errors="replace")


def test_patient_a_gets_403_or_404_for_b_through_every_route(
        site: DemoSite, ann: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    routes = patient_routes(site)
    assert len(routes) >= 5
    marks = their_marks(site)
    me = site.credentials["patient"][0]
    wrong: list[str] = []
    tried = 0
    for e in routes:
        for method in e.methods:
            victims = [others(site)[0], site.outsider, "no-such-patient"]
            # A route closed to patients by role refuses before looking at the patient
            # (logged without the patient); every refusal of a patient id is audited.
            by_role = any(p.kind == "roles" and "patient" not in p.roles for p in e.policies)
            for victim in victims:
                for spelled in spellings(victim) if victim != "no-such-patient" else [victim]:
                    path = e.path.replace("{patient_id}", spelled)
                    for name in e.params:
                        path = path.replace(f"{{{name}}}", "1")
                    caplog.clear()
                    before = last_audit_id(site)
                    with caplog.at_level(logging.INFO, logger="dashboard.security"):
                        status, body = call(ann, method, path)
                    written = audit_since(site, before)
                    tried += 1
                    if status not in (403, 404):
                        wrong.append(f"{method} {path}: {status}")
                    leaked = [m for m in marks.get(victim, []) if m in body]
                    if leaked:
                        wrong.append(f"{method} {path}: the answer holds {leaked}")
                    if spelled == victim and status == 403 and not by_role and not any(
                            "denied" in r.getMessage() and victim in r.getMessage()
                            and "ann" in r.getMessage() for r in caplog.records):
                        wrong.append(f"{method} {path}: refusal not recorded")
                    if spelled == victim and status == 403 and not any(
                            (r.actor_id, r.actor_role, r.patient_id) == (me, "patient", victim)
                            and r.purpose.startswith("denied:") and r.path == path
                            for r in written):
                        wrong.append(f"{method} {path}: refusal not in the audit log")
                    if any(not r.purpose.startswith("denied:") for r in written):
                        wrong.append(f"{method} {path}: audited as a read, though refused")
    assert not wrong, "\n".join(wrong)
    assert tried > 100


def test_b_smuggled_through_query_parameters_never_shows(site: DemoSite, ann: TestClient
                                                         ) -> None:
    found, _ = endpoints(site.app)
    marks = their_marks(site)
    wrong = []
    for e in found:
        if e.mount or "GET" not in e.methods or e.path.startswith("/live") or \
                e.path in ("/logout",):
            continue
        path = e.path.replace("{patient_id}", site.patient_id)
        for name in e.params:
            path = path.replace(f"{{{name}}}", "1")
        for victim in (others(site)[0], site.outsider):
            status, body = call(ann, "GET", path, {k: victim for k in SMUGGLED})
            assert status < 500, (path, status)
            leaked = [m for m in marks[victim] if m in body]
            if leaked:
                wrong.append(f"GET {path}?patient_id={victim}...: {status}, holds {leaked}")
    assert not wrong, "\n".join(wrong)


def test_an_uploader_reads_and_writes_only_its_own_patient(site: DemoSite) -> None:
    engine = site.accounts.engine
    secret = Provisioner(engine).add(device_id="ann-bola-xdrip", patient_id=site.patient_id,
                                     kind="cgm", role="nightscout").secret
    assert secret
    publisher = Publisher()
    site.app.state.nightscout = NightscoutBackend(uploaders=Provisioner(engine),
                                                  publisher=publisher)
    try:
        headers = {"api-secret": hashlib.sha1(secret.encode()).hexdigest()}  # noqa: S324
        with TestClient(site.app, headers=headers) as uploader:
            before = last_audit_id(site)
            # find[device] is a filter within the uploader's own patient: bob's device is
            # not there, so nothing comes back (not bob's entries).
            assert uploader.get("/api/v1/entries", params={
                "count": 100_000, "find[device]": "bob-cgm-test", "patient_id": "bob"}
                                ).json() == []
            before = last_audit_id(site)
            entries: list[dict[str, Any]] = uploader.get(
                "/api/v1/entries", params={"count": 100_000, "patient_id": "bob"}).json()
            assert entries and {e["device"] for e in entries} == {f"{site.patient_id}-cgm-test"}
            # The read is audited: which uploader read whose entries (the patient sees it).
            assert [(r.actor_id, r.actor_role, r.patient_id) for r in audit_since(site, before)
                    ] == [("ann-bola-xdrip", "nightscout", site.patient_id)]
            answer = uploader.post("/api/v1/entries", json=[{
                "type": "sgv", "sgv": 120, "device": "bob-cgm-test", "patient_id": "bob",
                "date": entries[0]["date"] - 60_000}])
            assert answer.status_code == 200
            assert publisher.topics == ["hearth/v1/up/ann-bola-xdrip"]  # bound to ann, not bob
    finally:
        site.app.state.nightscout = None


def test_a_session_id_planted_before_sign_in_is_never_adopted(site: DemoSite) -> None:
    """Session fixation: the server issues its own id at sign-in, whatever the browser had."""
    with TestClient(site.app) as client:
        planted = "attacker-chosen-session-id"
        client.cookies.set("hearth_session", planted)
        answer = sign_in(client, *site.credentials["patient"])
        assert answer.status_code == 303
        issued = answer.cookies.get("hearth_session")
        assert issued and issued != planted
    with TestClient(site.app) as attacker:
        attacker.cookies.set("hearth_session", planted)
        assert attacker.get("/api/me").status_code == 401
