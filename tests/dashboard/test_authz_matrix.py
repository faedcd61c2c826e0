"""Every route of the app, for every role, against the matrix of docs/DESIGN.md §4.

The walker (authz_walker.py) reads the policy each route declares; a route that
declares none fails ``test_every_route_declares_who_may_use_it``. The matrix test
then calls every route as each role (and anonymously) on a real server over the demo
data, and checks the answer against what §4 says, written out here independently:

- the patient account (``ann``) sees only ann; the caregiver sees what ann shared
  with them (hearth/demo.py DEMO_SHARE scopes), nothing of bob or the outsider;
- the coach and the nurse see the household (care team, clinic), not the outsider;
- the admin sees no one's health data;
- anonymous callers get 401 (or 403 from the CSRF check for unsafe methods);
- a route declared ``patient_access(..., self_only=True)`` is for the patient alone;
- a home display's routes (``display_device``) answer no account at all, only a paired
  display's device cookie (tests/dashboard/test_display.py).

A route that refuses more than it declares fails here too: declare the restriction
(``self_only``, ``require_role``) so that the walker, the docs and the test see it.

Who may ACT: every unsafe route must declare its permission in dashboard/security.py
``STATE_CHANGES`` (the walker fails otherwise); the matrix applies the declared roles and
``self_only``; the alert actions are then played for real on alerts of every kind, as
every role, against a table written out here from the rules (docs/SECURITY.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends

from dashboard.app import create_app
from dashboard.security import (
    CurrentUser,
    PatientAccess,
    patient_access,
    public,
    require_role,
)
from hearth.demo import DEMO_SHARE
from tests.dashboard.authz_walker import UNSAFE, Endpoint, endpoints, unguarded
from tests.support.accounts import csrf_from, session_csrf, sign_in
from tests.support.dashboard_server import serving
from tests.support.demo_site import DemoSite, demo_site

ROLES = ("patient", "caregiver", "coach", "nurse", "admin")
WHO = (None, *ROLES)  # None: not signed in
# Values for path parameters other than patient_id, and for required query parameters.
SAMPLES = {"metric": "glucose"}


def may_see(role: str, patient: str, scope: str, site: DemoSite) -> bool:
    """docs/DESIGN.md §4, for the demo accounts (independent of dashboard/security.py)."""
    if patient == site.outsider or role == "admin":
        return False
    if role == "patient":
        return patient == site.patient_id
    if role == "caregiver":
        return patient == site.patient_id and scope in DEMO_SHARE
    return role in ("coach", "nurse")  # the whole household is in their team and clinic


def expected(e: Endpoint, who: str | None, patient: str | None, site: DemoSite,
             method: str = "GET") -> bool:
    kinds = e.kinds
    if who is None:
        return kinds == {"public"}
    acts = e.acts(method) if method in UNSAFE else None
    if acts is not None and not acts.public:
        if acts.roles and who not in acts.roles:
            return False
        if acts.self_only and not (who == "patient" and patient == site.patient_id):
            return False
    for policy in e.policies:
        if policy.kind == "display":  # a paired home display's device cookie, no account
            return False
        if policy.kind == "roles" and who not in policy.roles:
            return False
        if policy.kind == "patient" and not may_see(who, patient or "", policy.scope, site):
            return False
        if policy.self_only and not (who == "patient" and patient == site.patient_id):
            return False
    return True


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    with demo_site(tmp_path_factory.mktemp("authz")) as made:
        yield made


@pytest.fixture(scope="module")
def clients(site: DemoSite) -> Iterator[dict[str | None, httpx.Client]]:
    with serving(site.app) as url:
        made: dict[str | None, httpx.Client] = {}
        for who in WHO:
            # a role's first PDF imports matplotlib: about 12 s at load 35 on 2 cores
            client = httpx.Client(base_url=url, timeout=90)
            if who is not None:
                assert sign_in(client, *site.credentials[who]).status_code == 303, who
            made[who] = client
        yield made
        for client in made.values():
            client.close()


def test_every_route_declares_who_may_use_it(site: DemoSite) -> None:
    assert unguarded(site.app) == []


def test_a_route_that_forgets_the_check_is_caught(site: DemoSite) -> None:
    state = site.app.state
    app = create_app(store=state.store, directory=state.directory, accounts=state.accounts)
    assert unguarded(app) == []

    @app.get("/api/rogue")
    def rogue() -> dict[str, str]:
        return {"secret": "everyone's data"}

    @app.get("/api/patients/{patient_id}/rogue-notes")
    def rogue_notes(patient_id: str, user: CurrentUser) -> dict[str, str]:
        return {"note": patient_id}  # signed in, but no check of WHOSE data

    @app.get("/api/patients/{patient_id}/rogue-staff",
             dependencies=[Depends(require_role("nurse"))])
    def rogue_staff(patient_id: str) -> dict[str, str]:
        return {"note": patient_id}  # a role, but any patient of any clinic

    @app.post("/api/patients/{patient_id}/rogue-close",
              dependencies=[Depends(require_role("coach"))])
    def rogue_close(access: Annotated[PatientAccess, Depends(patient_access("alerts"))]) -> None:
        """Sees the right patient, but nobody declared who may make this change."""

    app.mount("/rogue-files", app=lambda scope, receive, send: None)  # type: ignore[arg-type]
    problems = unguarded(app)
    assert any(p.startswith("POST /api/patients/{patient_id}/rogue-close: declares no "
                            "permission to act") for p in problems)
    assert any(p.startswith("GET /api/rogue:") and "no access policy" in p for p in problems)
    assert any("/rogue-notes" in p and "no patient_access" in p for p in problems)
    assert any("/rogue-staff" in p and "no patient_access" in p for p in problems)
    assert any(p.startswith("mount /rogue-files") for p in problems)
    assert len(problems) == 5, problems


def test_an_undeclared_state_change_is_refused_at_run_time(site: DemoSite) -> None:
    """Fail closed: until its line is in STATE_CHANGES, a new unsafe route answers 403."""
    from fastapi.testclient import TestClient

    state = site.app.state
    app = create_app(store=state.store, directory=state.directory, accounts=state.accounts)
    changed: list[str] = []

    @app.post("/api/rogue-change", dependencies=[Depends(public)])
    def rogue_change() -> dict[str, str]:
        changed.append("yes")
        return {"done": "yes"}

    client = TestClient(app)
    assert sign_in(client, *site.credentials["nurse"]).status_code == 303
    refused = client.post("/api/rogue-change", headers={"X-CSRF-Token": session_csrf(client)})
    assert refused.status_code == 403 and "STATE_CHANGES" in refused.text
    assert changed == []


def _cases(e: Endpoint, site: DemoSite) -> list[str | None]:
    if "patient_id" in e.params:
        others = [p for p in site.household if p != site.patient_id]
        return [site.patient_id, others[0], site.outsider]
    return [None]


def _url(e: Endpoint, patient: str | None) -> tuple[str, dict[str, str]]:
    path = e.path
    for name in e.params:
        value = patient if name == "patient_id" else SAMPLES.get(name, "1")
        path = path.replace(f"{{{name}}}", str(value))
    query = {name: SAMPLES.get(name, "1") for name in e.required_query}
    return path, query


def _csrf(client: httpx.Client, who: str | None, path: str = "/login") -> str:
    """The token a browser would send: the session's, or the anonymous form's (the login
    page's; the home display page's for its own routes, whose cookie is its own)."""
    if who:
        return session_csrf(client)
    return csrf_from(client.get("/display/" if path.startswith("/display/") else "/login").text)


def _call(client: httpx.Client, method: str, path: str, query: dict[str, str],
          csrf: str | None) -> int:
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    # Streamed so that a live-update route (server-sent events) answers with its status
    # and is then closed, instead of being read for ever.
    with client.stream(method, path, params=query, headers=headers) as response:
        return response.status_code


def test_every_route_for_every_role_matches_the_matrix(site: DemoSite, clients) -> None:
    found, _ = endpoints(site.app)
    checked, wrong = 0, []
    tokens: dict[str, str] = {}  # a session's CSRF token stays the same until it ends
    # Signing out last, so that the other calls keep their sessions.
    routes = sorted((e for e in found if not e.mount and "WEBSOCKET" not in e.methods),
                    key=lambda e: e.path == "/logout")
    for e in routes:
        for method in e.methods:
            for patient in _cases(e, site):
                path, query = _url(e, patient)
                for who in WHO:
                    client = clients[who]
                    unsafe = method not in ("GET", "OPTIONS")
                    csrf = None
                    if unsafe:
                        csrf = tokens.get(who) if who else None
                        if csrf is None:
                            csrf = _csrf(client, who, path)
                            if who:
                                tokens[who] = csrf
                    status = _call(client, method, path, query, csrf)
                    allowed = expected(e, who, patient, site, method)
                    denied = {401, 403} if who is None else {403}
                    ok = (status not in (401, 403) and status < 500) if allowed else \
                        status in denied
                    if not ok:
                        wrong.append(f"{who or 'anonymous'} {method} {path}: {status}, "
                                     f"expected {'allowed' if allowed else 'forbidden'}")
                    checked += 1
                    # Only a call that went through can have ended the session (sign-out).
                    if unsafe and who and status < 400 and \
                            client.get("/api/me").status_code == 401:
                        sign_in(client, *site.credentials[who])  # the call signed it out
                        tokens.pop(who, None)
    assert not wrong, "\n".join([
        *wrong, "A route that refuses more than it declares: declare it, e.g. "
        "patient_access(..., self_only=True) or require_role(...) (docs/SECURITY.md)."])
    assert checked > 50


def test_self_authenticated_mounts_refuse_requests_without_their_credentials(
        site: DemoSite, clients) -> None:
    found, _ = endpoints(site.app)
    mounted = [e for e in found if e.mount]
    for e in mounted:
        path, _ = _url(e, site.patient_id)
        for method in e.methods:
            for who in (None, "nurse"):  # a dashboard session is not their credential
                status = _call(clients[who], method, path, {}, None)
                # 503: the mount is not wired to its backend here, and says so before any data
                assert status in (401, 403, 503), f"{who} {method} {path}: {status}"


# -- who may act on an alert: every action, every kind, every role, for real ---------------

ALERT_KINDS = ("escalation", "clinical_alert", "alert")
CARE_TEAM = {"coach", "nurse"}
# Written out from docs/SECURITY.md ("Who may act"), independently of dashboard/security.py:
# the urgent safety alerts (escalation) may be acknowledged by the patient herself and the
# caregiver she opted in to urgent alerts; closing or snoozing anything is the care
# team's; the coach's own alerts (kind "alert", e.g. a distress alert) are the coach's.
MAY_ACT = {
    ("acknowledge", "escalation"): {"patient", "caregiver", *CARE_TEAM},
    ("acknowledge", "clinical_alert"): CARE_TEAM,
    ("acknowledge", "alert"): {"coach"},
    **{(action, kind): CARE_TEAM for action in ("snooze", "resolve")
       for kind in ("escalation", "clinical_alert")},
    ("snooze", "alert"): {"coach"},
    ("resolve", "alert"): {"coach"},
}
DONE = {"acknowledge": "acknowledged", "snooze": "snoozed", "resolve": "resolved"}


def _open_alert(site: DemoSite, alert_id: str, kind: str, patient_id: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from core.appdb.coaching import CoachAlert

    with Session(site.accounts.engine) as session:
        session.add(CoachAlert(
            id=alert_id, patient_id=patient_id, flag_type="glucose_very_low", group="hypo",
            kind=kind, audience="coach", priority="urgent", title="t", body="b", why="w",
            evidence={}, state="open", created_at=datetime.now(UTC),
            ladder=["patient", "caregiver", "coach", "nurse"], step=0))
        session.commit()


def _state(site: DemoSite, alert_id: str) -> str:
    from sqlalchemy.orm import Session

    from core.appdb.coaching import CoachAlert

    with Session(site.accounts.engine) as session:
        alert = session.get(CoachAlert, alert_id)
        assert alert is not None
        return alert.state


def _act(client: httpx.Client, path: str, token: str) -> int:
    return client.post(path, data={"csrf_token": token, "note": "seen, called her",
                                   "back": "/home"}, follow_redirects=False).status_code


def test_every_alert_action_for_every_kind_and_role(site: DemoSite, clients) -> None:
    wrong: list[str] = []
    tokens = {who: session_csrf(clients[who]) for who in ROLES}
    n = 0
    for (action, kind), allowed_roles in MAY_ACT.items():
        for who in ROLES:
            n += 1
            alert_id = f"act-{n}"
            _open_alert(site, alert_id, kind, site.patient_id)
            status = _act(clients[who], f"/patients/{site.patient_id}/alerts/{alert_id}/{action}",
                          tokens[who])
            state = _state(site, alert_id)
            allowed = who in allowed_roles
            if allowed != (status == 303) or (state == DONE[action]) != allowed or \
                    (not allowed and status != 403):
                wrong.append(f"{who} {action} {kind}: {status}, state {state}, "
                             f"expected {'allowed' if allowed else 'forbidden'}")
    assert not wrong, "\n".join(wrong)


def test_the_safety_alert_ok_button_follows_the_same_rules(site: DemoSite, clients) -> None:
    wrong: list[str] = []
    for kind in ALERT_KINDS:
        for who in ROLES:
            alert_id = f"ok-{kind}-{who}"
            _open_alert(site, alert_id, kind, site.patient_id)
            status = _act(clients[who], f"/patients/{site.patient_id}/safety-alerts/{alert_id}"
                          "/acknowledge", session_csrf(clients[who]))
            allowed = kind == "escalation" and who in ("patient", "caregiver")
            done = _state(site, alert_id) == "acknowledged"
            if allowed != (status == 303) or done != allowed or \
                    (not allowed and status not in (403, 404)):
                wrong.append(f"{who} OK on {kind}: {status}, acknowledged={done}")
    assert not wrong, "\n".join(wrong)


def test_only_a_caregiver_opted_in_to_urgent_alerts_acknowledges_them(site: DemoSite,
                                                                      clients) -> None:
    caregiver = site.credentials["caregiver"][0]
    cara = clients["caregiver"]
    site.accounts.sharing.share(site.patient_id, caregiver, DEMO_SHARE, urgent_alerts=False)
    try:
        for n, path in enumerate(("/patients/{p}/alerts/{a}/acknowledge",
                                  "/patients/{p}/safety-alerts/{a}/acknowledge")):
            alert_id = f"optout-{n}"
            _open_alert(site, alert_id, "escalation", site.patient_id)
            url = path.format(p=site.patient_id, a=alert_id)
            assert _act(cara, url, session_csrf(cara)) == 403, url
            assert _state(site, alert_id) == "open"
    finally:
        site.accounts.sharing.share(site.patient_id, caregiver, DEMO_SHARE, urgent_alerts=True)
    _open_alert(site, "optin", "escalation", site.patient_id)
    assert _act(cara, f"/patients/{site.patient_id}/alerts/optin/acknowledge",
                session_csrf(cara)) == 303


def test_a_patient_never_acts_on_someone_elses_alert(site: DemoSite, clients) -> None:
    other = next(p for p in site.household if p != site.patient_id)
    _open_alert(site, "not-hers", "escalation", other)
    patient = clients["patient"]
    for path in (f"/patients/{other}/alerts/not-hers/acknowledge",
                 f"/patients/{site.patient_id}/alerts/not-hers/acknowledge",
                 f"/patients/{other}/safety-alerts/not-hers/acknowledge"):
        assert _act(patient, path, session_csrf(patient)) in (403, 404), path
    assert _state(site, "not-hers") == "open"


# -- shared content: a real story and question, every role (issue 21) ----------------------

def _story(site: DemoSite, story_id: str, audience: str, state: str = "approved") -> None:
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from core.appdb.stories import Story

    now = datetime.now(UTC)
    author = site.credentials["patient"][0]
    with Session(site.accounts.engine) as session:
        session.add(Story(id=story_id, author_id=author, author_patient_id=site.patient_id,
                          title="t", body="b", conditions=[], situations=[], goals=[],
                          naming="first", audience=audience, state=state, created_at=now,
                          updated_at=now))
        session.commit()


def test_a_story_is_read_by_its_consent_for_every_role(site: DemoSite, clients) -> None:
    """The author; her coach (moderation, whatever the audience); then the audience:
    "clinic" = the clinic's staff and patients (the caregiver is in no clinic), "everyone"
    = every role but admin; pending = the author and her coach only. Refused is 404."""
    cases = {
        ("clinic", "approved"): {"patient": 200, "caregiver": 404, "coach": 200, "nurse": 200},
        ("everyone", "approved"): {"patient": 200, "caregiver": 200, "coach": 200, "nurse": 200},
        ("everyone", "pending"): {"patient": 200, "caregiver": 404, "coach": 200, "nurse": 404},
        ("group", "approved"): {"patient": 200, "caregiver": 404, "coach": 200, "nurse": 404},
    }
    wrong = []
    for n, ((audience, state), expected_status) in enumerate(cases.items()):
        story_id = f"consent-{n}"
        _story(site, story_id, audience, state)
        for who in WHO:
            status = _call(clients[who], "GET", f"/stories/{story_id}", {}, None)
            want = 401 if who is None else 403 if who == "admin" else expected_status[who]
            if status != want:
                wrong.append(f"{who} {audience}/{state}: {status}, expected {want}")
    assert not wrong, "\n".join(wrong)


# -- a say over the service: a real clinic page, request and breach, every role (issue 21) ---

def test_the_service_agreement_routes_for_every_role_on_real_items(site: DemoSite,
                                                                   clients) -> None:
    """The clinic's anonymised page: everyone signed in but admin. A formal request of the
    patient: only she raises it; only her clinic's nurse answers it or marks its breach
    seen (the coach, the caregiver, the admin and the patient herself are refused)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy.orm import Session

    from care import agreements
    from core.appdb.delivery import InboxMessage
    from hearth.demo import DEMO_CLINIC

    now = datetime.now(UTC)
    with Session(site.accounts.engine) as session:
        session.add(InboxMessage(recipient_key=site.patient_id, recipient_role="coach",
                                 patient_id=site.patient_id, kind="message", priority="normal",
                                 flag_type="message", title="m", body="b", why="w",
                                 evidence={}, ref="r", created_at=now - timedelta(days=30)))
        session.flush()
        agreements.measure(session, now, patient_ids=[site.patient_id])
        session.commit()
        breach = agreements.breaches_of(session, site.patient_id, now)[-1].id
    wrong = []
    for who in WHO:
        status = _call(clients[who], "GET", f"/clinics/{DEMO_CLINIC[0]}", {}, None)
        want = 401 if who is None else 403 if who == "admin" else 200
        if status != want:
            wrong.append(f"{who} clinic page: {status}, expected {want}")
    for who in ROLES:
        raised = clients[who].post(
            f"/patients/{site.patient_id}/service/requests", follow_redirects=False,
            data={"csrf_token": session_csrf(clients[who]), "ask": "review",
                  "text": f"asked as {who}", "breach": str(breach)}).status_code
        if raised != (303 if who == "patient" else 403):
            wrong.append(f"{who} raises a request: {raised}")
    with Session(site.accounts.engine) as session:
        request_id = agreements.requests_of(session, site.patient_id)[0].id
    for who in ("patient", "caregiver", "coach", "admin", "nurse"):  # the nurse last
        token = session_csrf(clients[who])
        answered = clients[who].post(f"/clinic/service/requests/{request_id}/answer",
                                     data={"csrf_token": token, "response": "We will."},
                                     follow_redirects=False).status_code
        seen = clients[who].post(f"/clinic/service/breaches/{breach}/seen",
                                 data={"csrf_token": token},
                                 follow_redirects=False).status_code
        want = 303 if who == "nurse" else 403
        if (answered, seen) != (want, want):
            wrong.append(f"{who} answers / marks seen: {answered} / {seen}, expected {want}")
    assert not wrong, "\n".join(wrong)


def test_a_caregivers_question_is_read_by_the_same_rule_for_every_role(site: DemoSite,
                                                                       clients) -> None:
    """A question the caregiver asked for ann (care/questions.py ``ask_for``): ann, her
    coach and her clinic's nurse read it on /questions/{id}; the caregiver reads it on her
    own page /caring/questions/{id}; the admin neither. Refused is 403 (not the role's
    page) or 404 (the role's page, not theirs to read)."""
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from core.appdb.joint_record import CaregiverQuestion
    from core.appdb.stories import PeerQuestion

    caregiver = site.credentials["caregiver"][0]
    with Session(site.accounts.engine) as session:
        session.add(PeerQuestion(id="cg-q", asker_id=caregiver, asker_patient_id=site.patient_id,
                                 condition="type1_diabetes", title="t", body="b",
                                 naming="anonymous", state="open", created_at=datetime.now(UTC)))
        session.flush()
        session.add(CaregiverQuestion(question_id="cg-q", caregiver_id=caregiver,
                                      patient_id=site.patient_id))
        session.commit()
    want = {"/questions/cg-q": {"patient": 200, "caregiver": 403, "coach": 200, "nurse": 200,
                                "admin": 403},
            "/caring/questions/cg-q": {"patient": 403, "caregiver": 200, "coach": 403,
                                       "nurse": 403, "admin": 403}}
    wrong = []
    for path, statuses in want.items():
        for who in WHO:
            status = _call(clients[who], "GET", path, {}, None)
            expected_status = 401 if who is None else statuses[who]
            if status != expected_status:
                wrong.append(f"{who} {path}: {status}, expected {expected_status}")
    assert not wrong, "\n".join(wrong)
