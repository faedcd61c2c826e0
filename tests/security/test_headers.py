"""Browser protections on every response: a strict Content-Security-Policy, HSTS and
``Secure`` cookies whenever the dashboard is not explicitly in development."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.appdb.account_store import AccountStore
from core.appdb.directory import SqlDirectory
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from tests.dashboard.views_support import database_with_people
from tests.support.accounts import PASSWORD, People, csrf_from, sign_in
from tests.support.factories import register

PRODUCTION = DashboardSettings(environment="production", secret_key="k" * 48)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, People, Path]]:
    root = tmp_path_factory.mktemp("headers")
    engine, people = database_with_people(root / "app.db")
    register(engine, "p1", [("d1", "cgm")], name="Pat One")
    yield engine, people, root
    engine.dispose()


@pytest.fixture
def make_client(world):
    engine, _, root = world
    stores = []

    def make(settings: DashboardSettings | None = None,
             base_url: str = "http://testserver") -> TestClient:
        store = SqliteTimeSeriesStore(root / "ts.db")
        stores.append(store)
        app = create_app(store=store, directory=SqlDirectory(engine),
                         accounts=AccountStore(engine), settings=settings)  # type: ignore[arg-type]
        return TestClient(app, base_url=base_url)

    yield make
    for store in stores:
        store.close()


def _directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def test_every_kind_of_response_carries_a_strict_csp(make_client, world) -> None:
    people: People = world[1]
    client = make_client()
    anonymous = [client.get("/login"), client.get("/api/me"), client.get("/healthz"),
                 client.get("/static/views/views.css"), client.get("/no-such-page"),
                 client.get("/api/v1/entries.json")]  # a mounted sub-application too
    sign_in(client, people.nurse)
    pages = [client.get("/nurse"), client.get("/patients/p1/trends"),
             client.get("/api/patients/p1/latest")]
    for response in anonymous + pages:
        policy = _directives(response.headers["content-security-policy"])
        assert policy["default-src"] == ["'none'"], response.url
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"] and policy["form-action"] == ["'self'"]
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
        assert not any("unsafe" in v or "http" in v for vs in policy.values() for v in vs)
        assert response.headers["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in response.headers  # development


def test_pages_have_no_inline_script_or_style_the_policy_would_block(make_client,
                                                                     world) -> None:
    people: People = world[1]
    for who in (people.patient, people.nurse, people.coach):
        client = make_client()
        sign_in(client, who)
        for path in ("/home", "/patients/p1/today", "/patients/p1/trends", "/nurse",
                     "/coach", "/patients/p1/goals", "/settings", "/login"):
            html = client.get(path).text
            assert " style=" not in html and "<style" not in html, (who, path)
            assert " onclick=" not in html and "javascript:" not in html, (who, path)
            for tag in html.split("<script")[1:]:
                opening = tag.split(">", 1)[0]
                assert "src=" in opening or 'type="application/json"' in opening, (who, path)


def test_production_sends_hsts_and_secure_cookies_even_over_plain_http(make_client,
                                                                       world) -> None:
    people: People = world[1]
    client = make_client(PRODUCTION)
    page = client.get("/login")
    assert page.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    login_cookie = page.headers["set-cookie"].lower()
    assert login_cookie.startswith("hearth_login_csrf=") and "; secure" in login_cookie
    # A browser sends a Secure cookie over https only; send it by hand over http here.
    nonce = page.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
    signed_in = client.post("/login", data={"username": people.nurse, "password": PASSWORD,
                                            "csrf_token": csrf_from(page.text)},
                            headers={"cookie": f"hearth_login_csrf={nonce}"},
                            follow_redirects=False)
    assert signed_in.status_code == 303
    session = [c.lower() for c in signed_in.headers.get_list("set-cookie")
               if c.startswith("hearth_session=")]
    assert session and "; secure" in session[0] and "httponly" in session[0]
    assert client.get("/healthz").headers["strict-transport-security"]


def test_development_over_https_still_marks_cookies_secure_and_can_be_forced_off(
        make_client, world) -> None:
    people: People = world[1]
    tls = sign_in(make_client(base_url="https://testserver"), people.nurse)
    assert "; secure" in tls.headers["set-cookie"].lower()
    plain = sign_in(make_client(), people.nurse)
    assert "secure" not in plain.headers["set-cookie"].lower()  # explicit development
    off = DashboardSettings(environment="production", secret_key="k" * 48, cookie_secure=False)
    assert "secure" not in make_client(off).get("/login").headers["set-cookie"].lower()


def test_api_viewers_get_their_own_narrow_exception(make_client) -> None:
    client = make_client()
    docs = client.get("/docs")
    policy = _directives(docs.headers["content-security-policy"])
    assert "https://cdn.jsdelivr.net" in policy["script-src"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["connect-src"] == ["'self'"]
    assert "cdn.jsdelivr.net" not in client.get("/openapi.json").headers[
        "content-security-policy"]
