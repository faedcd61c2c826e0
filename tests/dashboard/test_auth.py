"""Sign-in, sessions, CSRF, throttling and the audit log, through the real app
(FastAPI TestClient) with an injected clock."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine

from core.appdb.account_store import AccountStore
from core.appdb.directory import SqlDirectory
from core.passwords import verify_password
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from tests.dashboard.views_support import database_with_people
from tests.support.accounts import PASSWORD, People, csrf_from, session_csrf, sign_in
from tests.support.factories import cgm_series, register

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_addresses = (f"10.0.0.{i}" for i in itertools.count(1))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, People, Path]]:
    root = tmp_path_factory.mktemp("auth")
    engine, people = database_with_people(root / "app.db")  # add_people(engine, "p1")
    register(engine, "p1", [("d1", "cgm")], name="Pat One")
    register(engine, "p2", [("d2", "cgm")], name="Other Patient")
    store = SqliteTimeSeriesStore(root / "ts.db")
    store.write(cgm_series(12))
    store.close()
    yield engine, people, root
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_client(world, clock):
    engine, _, root = world
    stores = []

    def make(*, settings: DashboardSettings | None = None, base_url: str = "http://testserver",
             address: str | None = None) -> TestClient:
        store = SqliteTimeSeriesStore(root / "ts.db")
        stores.append(store)
        app = create_app(store=store, directory=SqlDirectory(engine),
                         accounts=AccountStore(engine), settings=settings, clock=clock)
        return TestClient(app, base_url=base_url, client=(address or next(_addresses), 5000))

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def people(world) -> People:
    return world[1]


@pytest.fixture
def accounts(world) -> AccountStore:
    return AccountStore(world[0])


def test_passwords_are_stored_as_argon2id_hashes(accounts: AccountStore, world) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from core.appdb.accounts import User

    with Session(world[0]) as session:
        stored = session.scalar(select(User.password_hash).where(User.id == "nora"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert verify_password(stored, PASSWORD) and not verify_password(stored, PASSWORD + "x")
    assert accounts.users.check_password("nora", "wrong password!") is None
    assert accounts.users.check_password("nobody", PASSWORD) is None


def test_the_session_cookie_is_httponly_samesite_and_secure_over_https(make_client, people) -> None:
    plain = sign_in(make_client(), people.nurse)
    assert plain.status_code == 303
    cookie = plain.headers["set-cookie"].lower()
    assert "hearth_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "path=/" in cookie and "secure" not in cookie
    over_tls = sign_in(make_client(base_url="https://testserver"), people.nurse)
    assert "; secure" in over_tls.headers["set-cookie"].lower()
    strict = make_client(settings=DashboardSettings(cookie_secure=True, cookie_samesite="strict"),
                         base_url="https://testserver")
    forced = sign_in(strict, people.nurse).headers["set-cookie"].lower()
    assert "; secure" in forced and "samesite=strict" in forced


def test_a_new_sign_in_gets_a_new_session_id(make_client, people) -> None:
    client = make_client()
    sign_in(client, people.nurse)
    first = client.cookies["hearth_session"]
    sign_in(client, people.nurse)
    assert client.cookies["hearth_session"] != first
    client.cookies.set("hearth_session", first)
    assert client.get("/api/me").status_code == 401  # the old one was closed


def test_pages_send_strangers_to_the_login_form_and_the_api_answers_401(make_client) -> None:
    client = make_client()
    page = client.get("/patients/p1", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fpatients%2Fp1"
    assert client.get("/api/patients/p1/latest").status_code == 401
    assert client.get("/healthz").status_code == 200


def test_after_sign_in_the_browser_returns_to_its_page_but_never_off_site(make_client,
                                                                         people) -> None:
    for target, landing in (("/patients/p1", "/patients/p1"), ("https://evil.example/", "/"),
                            ("//evil.example/x", "/")):
        client = make_client()
        form = {"username": people.nurse, "password": PASSWORD,
                "csrf_token": csrf_from(client.get("/login").text), "next": target}
        assert client.post("/login", data=form,
                           follow_redirects=False).headers["location"] == landing


def test_unsafe_requests_without_the_csrf_token_are_refused(make_client, people) -> None:
    client = make_client()
    sign_in(client, people.nurse)
    assert client.post("/logout", follow_redirects=False).status_code == 403
    wrong = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert wrong.status_code == 403 and "security token" in wrong.text
    assert client.get("/api/me").status_code == 200  # still signed in
    ok = client.post("/logout", headers={"X-CSRF-Token": session_csrf(client)},
                     follow_redirects=False)
    assert ok.status_code == 303


def test_the_login_form_itself_needs_its_csrf_token(make_client, people) -> None:
    client = make_client()
    client.get("/login")
    refused = client.post("/login", data={"username": people.nurse, "password": PASSWORD},
                          follow_redirects=False)
    assert refused.status_code == 403
    other = make_client()  # a token from another browser does not fit this one's cookie
    token = csrf_from(other.get("/login").text)
    forged = client.post("/login", data={"username": people.nurse, "password": PASSWORD,
                                         "csrf_token": token}, follow_redirects=False)
    assert forged.status_code == 403


def test_logout_ends_the_session_on_the_server(make_client, people) -> None:
    client = make_client()
    sign_in(client, people.nurse)
    token = client.cookies["hearth_session"]
    out = client.post("/logout", data={"csrf_token": session_csrf(client)},
                      follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    replay = make_client()
    replay.cookies.set("hearth_session", token)
    assert replay.get("/api/me").status_code == 401


def test_sessions_expire_when_idle_and_after_the_absolute_limit(make_client, people,
                                                                clock: Clock) -> None:
    client = make_client()
    sign_in(client, people.nurse)
    clock.now += timedelta(minutes=29)
    assert client.get("/api/me").status_code == 200  # activity renews the idle limit
    clock.now += timedelta(minutes=29)
    assert client.get("/api/me").status_code == 200
    clock.now += timedelta(minutes=31)
    assert client.get("/api/me").status_code == 401  # idle for longer than 30 min

    sign_in(client, people.nurse)
    for _ in range(35):  # busy all day, every 20 minutes: 11 h 40 min
        clock.now += timedelta(minutes=20)
        assert client.get("/api/me").status_code == 200
    clock.now += timedelta(minutes=19)
    assert client.get("/api/me").status_code == 200
    clock.now += timedelta(minutes=2)  # 12 h 1 min after signing in, active all along
    assert client.get("/api/me").status_code == 401


def test_a_deactivated_account_loses_its_live_session_at_once(make_client, people,
                                                             accounts: AccountStore) -> None:
    client = make_client()
    sign_in(client, people.nurse)
    assert client.get("/api/me").status_code == 200
    accounts.users.set_active(people.nurse, False)
    assert client.get("/api/me").status_code == 401
    accounts.users.set_active(people.nurse, True)
    assert client.get("/api/me").status_code == 401  # the session was ended, not paused


def test_wrong_passwords_from_one_client_meet_growing_delays_not_a_lockout(
        make_client, accounts: AccountStore, clock: Clock) -> None:
    """The guessing client waits 1 s, 2 s, 4 s ... after its free failures (refused at
    once meanwhile, with Retry-After); the owner, from another client, gets in."""
    accounts.users.add("slow-me", role="admin", display_name="Slow", password=PASSWORD)
    fast = DashboardSettings(login_account_max_delay_seconds=0.2)
    attacker = make_client(settings=fast, address="203.0.113.9")
    for _ in range(3):  # the free failures
        assert sign_in(attacker, "slow-me", "not the password").status_code == 401
    for wait in (1, 2, 4, 8):
        refused = sign_in(attacker, "slow-me", "not the password")
        assert refused.status_code == 429 and refused.headers["retry-after"] == str(wait)
        assert "Too many failed sign-in attempts for this account from this network address" \
            in refused.text
        assert f"wait {wait} second" in refused.text
        right_too = sign_in(attacker, "slow-me")  # even the right password, from there
        assert right_too.status_code == 429
        clock.now += timedelta(seconds=wait - 0.5)
        assert sign_in(attacker, "slow-me", "not the password").status_code == 429
        clock.now += timedelta(seconds=0.5)
        assert sign_in(attacker, "slow-me", "not the password").status_code == 401  # a try
    owner = make_client(settings=fast, address="198.51.100.20")
    started = time.monotonic()
    assert sign_in(owner, "slow-me").status_code == 303  # another client: in
    assert time.monotonic() - started >= 0.2  # held (7 failures), but only the cap
    assert sign_in(attacker, "slow-me", "not the password").status_code == 401  # cleared


def test_delays_grow_to_the_cap_and_end_with_the_window(make_client, accounts: AccountStore,
                                                        clock: Clock) -> None:
    accounts.users.add("capped", role="admin", display_name="Capped", password=PASSWORD)
    settings = DashboardSettings(login_max_delay_seconds=60, login_account_max_delay_seconds=0)
    client = make_client(settings=settings, address="203.0.113.10")
    waits = []
    for _ in range(12):
        response = sign_in(client, "capped", "not the password")
        if response.status_code == 429:
            waits.append(int(response.headers["retry-after"]))
            clock.now += timedelta(seconds=waits[-1])
            assert sign_in(client, "capped", "not the password").status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]  # after the 3 free failures
    clock.now += timedelta(minutes=16)  # the failures left the window
    assert sign_in(client, "capped").status_code == 303


def test_a_stranger_who_knows_a_login_name_cannot_lock_its_owner_out(
        make_client, accounts: AccountStore, people) -> None:
    """Wrong passwords for the nurse from 40 addresses (one each, under every per-client
    limit): her tries from anywhere are held a short, bounded time, and she gets in."""
    settings = DashboardSettings(login_account_max_delay_seconds=0.5)
    accounts.users.add("nell-target", role="nurse", display_name="Nell", password=PASSWORD)
    for i in range(40):
        stranger = make_client(settings=settings, address=f"192.0.2.{100 + i}")
        assert sign_in(stranger, "nell-target", f"guess {i}").status_code == 401
    started = time.monotonic()
    assert sign_in(make_client(settings=settings), "nell-target").status_code == 303
    assert 0.5 <= time.monotonic() - started < 30  # held for the cap, not locked out


def test_failed_logins_from_one_address_are_slowed_across_accounts(make_client, people,
                                                                    clock: Clock) -> None:
    client = make_client(address="192.0.2.7")
    for i in range(10):
        assert sign_in(client, f"guess-{i}", "not the password").status_code == 401
    limited = sign_in(client, people.nurse)
    assert limited.status_code == 429 and "this network address" in limited.text
    assert limited.headers["retry-after"] == "1"
    assert sign_in(make_client(address="192.0.2.8"), people.nurse).status_code == 303
    clock.now += timedelta(seconds=1)
    assert sign_in(client, people.nurse).status_code == 303  # its wait is over


def _audit(accounts: AccountStore, patient_id: str) -> list[tuple[str, str]]:
    return [(e.actor_id, e.purpose) for e in accounts.audit_log.entries(patient_id=patient_id)]


def test_reads_by_others_are_audited_and_own_reads_are_not(make_client, people,
                                                           accounts: AccountStore) -> None:
    before = len(accounts.audit_log.entries(patient_id="p1", limit=1000))
    patient = make_client()
    sign_in(patient, people.patient)
    assert patient.get("/api/patients/p1/latest").status_code == 200
    assert len(accounts.audit_log.entries(patient_id="p1", limit=1000)) == before  # own read

    nurse = make_client()
    sign_in(nurse, people.nurse)
    assert nurse.get("/api/patients/p1/latest").status_code == 200
    assert nurse.get("/api/patients/p1/fhir").status_code == 200
    assert nurse.get("/api/patients/p1/export.csv").status_code == 200
    assert nurse.get("/api/patients/p2/latest").status_code == 403  # not in her clinic
    caregiver = make_client()
    sign_in(caregiver, people.caregiver)
    glucose = {"metric": "glucose"}
    assert caregiver.get("/api/patients/p1/readings", params=glucose).status_code == 200
    assert caregiver.get("/api/patients/p1/export.csv").status_code == 403  # not shared

    rows = _audit(accounts, "p1")[: 5]
    assert rows == [(people.caregiver, "denied:CSV export"), (people.caregiver, "readings"),
                    (people.nurse, "CSV export"), (people.nurse, "FHIR export"),
                    (people.nurse, "latest readings")]
    # A refused attempt is in the log, marked refused; it showed nothing.
    assert _audit(accounts, "p2")[0] == (people.nurse, "denied:latest readings")
    entry = accounts.audit_log.entries(patient_id="p1", refused=False)[0]
    assert entry.actor_role == "caregiver" and entry.path == "/api/patients/p1/readings"
    assert not entry.refused and accounts.audit_log.entries(patient_id="p1")[0].refused


def test_who_looked_at_my_data_for_the_patient_and_the_admin(make_client, people) -> None:
    nurse = make_client()
    sign_in(nurse, people.nurse)
    nurse.get("/patients/p1")
    admin = make_client()
    sign_in(admin, people.admin)
    assert admin.get("/api/patients/p1/latest").status_code == 403  # no health data
    patient = make_client()
    sign_in(patient, people.patient)
    mine = patient.get("/api/me/audit").json()  # reads only, not the admin's refused try
    assert mine[0]["actor_name"] == "Nora" and mine[0]["purpose"] == "patient page"
    assert {row["patient_id"] for row in mine} == {"p1"}
    assert not any(row["refused"] for row in mine)
    page = patient.get("/my-data/audit")
    assert page.status_code == 200 and "Who looked at my data" in page.text and "Nora" in page.text
    assert patient.get("/api/audit").status_code == 403
    assert nurse.get("/api/me/audit").status_code == 403
    everyone = admin.get("/api/audit", params={"patient_id": "p1"}).json()
    assert (everyone[0]["actor_id"], everyone[0]["refused"]) == (people.admin, True)
    assert everyone[0]["purpose"] == "latest readings"
    assert (everyone[1]["actor_id"], everyone[1]["refused"]) == (people.nurse, False)
    page = admin.get("/audit").text
    assert "refused" in page and "Nora" in page


def test_settings_refuse_a_placeholder_secret_outside_development() -> None:
    with pytest.raises(ValidationError, match="HEARTH_DASHBOARD_SECRET_KEY"):
        DashboardSettings(environment="production")
    with pytest.raises(ValidationError):
        DashboardSettings(environment="production", secret_key="changeme")
    assert DashboardSettings(environment="production", secret_key="x" * 40).secret_key


def test_old_sessions_and_login_attempts_are_pruned(accounts: AccountStore, people) -> None:
    from datetime import timedelta as td

    later = T0 + td(days=30)
    old = accounts.sessions.open(people.admin, now=later, lifetime=td(hours=1))
    accounts.sign_ins.record("someone", "198.51.100.1", at=later, succeeded=False)
    much_later = later + td(days=2)
    accounts.sessions.open(people.admin, now=much_later, lifetime=td(hours=1))
    accounts.sign_ins.record("someone-else", "198.51.100.2", at=much_later, succeeded=False)
    assert accounts.sessions.get(old, now=later, idle=td(hours=1)) is None  # deleted, not expired
    assert accounts.sign_ins.failures(later - td(minutes=1), user_id="someone").count == 0


def test_a_hash_made_with_weaker_parameters_is_upgraded_at_sign_in(accounts: AccountStore,
                                                                   world) -> None:
    from argon2 import PasswordHasher
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from core.appdb.accounts import User

    accounts.users.add("old-hash", role="admin", display_name="Old", password=PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with Session(world[0]) as session:
        session.get(User, "old-hash").password_hash = weak
        session.commit()
    assert accounts.users.check_password("old-hash", PASSWORD) is not None
    with Session(world[0]) as session:
        upgraded = session.scalar(select(User.password_hash).where(User.id == "old-hash"))
    assert upgraded != weak and upgraded.startswith("$argon2id$") and "m=65536" in upgraded


def test_signing_out_after_the_session_expired_goes_to_the_login_form(make_client, people,
                                                                      clock: Clock) -> None:
    client = make_client()
    sign_in(client, people.nurse)
    token = session_csrf(client)
    clock.now += timedelta(hours=1)  # idle: the session is gone, the page still has its form
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert "hearth_session=" in out.headers["set-cookie"]  # the stale cookie is cleared


def test_every_response_carries_the_security_headers(make_client, people) -> None:
    client = make_client()
    for response in (client.get("/login"), client.get("/api/me"), client.get("/healthz")):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
