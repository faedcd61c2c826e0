"""Size and JSON-depth limits on every HTTP body, through a real server: every unsafe
route of the app and of its self-authenticated mounts (Nightscout) answers a body
nested 100,000 deep with 422 and an oversized one with 413 (declared or chunked),
never 500; ordinary bodies still go through."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from dashboard.app import create_app
from dashboard.limits import json_depth_exceeds
from dashboard.settings import DashboardSettings
from tests.dashboard.authz_walker import UNSAFE, endpoints
from tests.support.accounts import session_csrf, sign_in
from tests.support.dashboard_server import serving
from tests.support.demo_site import DemoSite, demo_site

DEEP = b"[" * 100_000 + b"]" * 100_000
LIMIT = 512 * 1024  # above DEEP (200 kB)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    with demo_site(tmp_path_factory.mktemp("limits")) as made:
        state = made.app.state
        app = create_app(store=state.store, directory=state.directory,
                         accounts=state.accounts,
                         settings=DashboardSettings(max_body_bytes=LIMIT))
        with serving(app) as url:
            yield replace(made, app=app, base_url=url)


@pytest.fixture(scope="module")
def nurse(site: DemoSite) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.base_url, timeout=60) as client:
        assert sign_in(client, *site.credentials["nurse"]).status_code == 303
        client.headers["X-CSRF-Token"] = session_csrf(client)
        yield client


def _unsafe_paths(site: DemoSite) -> list[tuple[str, str]]:
    found, _ = endpoints(site.app)
    calls = []
    for e in found:
        for method in sorted(UNSAFE.intersection(e.methods)):
            path = e.path
            for name in e.params:
                path = path.replace(f"{{{name}}}", site.patient_id if name == "patient_id"
                                    else "1")
            calls.append((method, path))
    assert len(calls) > 20 and any(p.startswith("/api/v1/") for _, p in calls)
    return calls


def test_a_body_nested_100000_deep_is_422_on_every_route(site: DemoSite, nurse) -> None:
    wrong = []
    for method, path in _unsafe_paths(site):
        for content_type in ("application/json", "text/plain"):
            answer = nurse.request(method, path, content=DEEP,
                                   headers={"content-type": content_type})
            if answer.status_code != 422 or "nested deeper than 32" not in answer.text:
                wrong.append(f"{method} {path} ({content_type}): {answer.status_code}")
    assert not wrong, "\n".join(wrong)


def test_an_oversized_body_is_413_declared_or_chunked(site: DemoSite, nurse) -> None:
    big = b'{"x": "' + b"a" * (LIMIT + 10) + b'"}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 4096):
            yield big[start:start + 4096]

    wrong = []
    for method, path in _unsafe_paths(site):
        declared = nurse.request(method, path, content=big,
                                 headers={"content-type": "application/json"})
        chunked = nurse.request(method, path, content=chunks(),
                                headers={"content-type": "application/json"})
        for how, answer in (("declared", declared), ("chunked", chunked)):
            if answer.status_code != 413 or "larger than this server accepts" not in answer.text:
                wrong.append(f"{method} {path} ({how}): {answer.status_code}")
    assert not wrong, "\n".join(wrong)
    assert declared.headers["content-security-policy"]  # the security headers too


def test_ordinary_bodies_still_go_through(site: DemoSite, nurse) -> None:
    assert nurse.get("/api/me").status_code == 200
    prefs = nurse.get("/api/me/preferences").json()
    assert nurse.put("/api/me/preferences", json=prefs).status_code == 200
    nested = {"a": [[[[{"b": [1, 2, {"c": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}]}]]]]}
    answer = nurse.put("/api/me/preferences", json=prefs | {"extra": nested})
    assert answer.status_code != 422 or "nested deeper" not in answer.text
    # Nightscout: a deep-enough but legal upload reaches the API (401: wrong secret)
    upload = httpx.post(f"{site.base_url}/api/v1/entries", json=[{"type": "sgv", "sgv": 100}],
                        headers={"api-secret": "0" * 40})
    assert upload.status_code in (401, 503)


@pytest.mark.parametrize(("body", "deeper_than_3"), [
    (b"[[[]]]", False), (b"[[[[]]]]", True), (b'{"a": "[[[[[[[["}', False),
    (b'{"a": "\\"[[[[[[", "b": [[1]]}', False), (b'{"a": {"b": {"c": {"d": 1}}}}', True),
    (b"   \n[1, [2, [3]]]", False),
])
def test_depth_is_counted_outside_strings(body: bytes, deeper_than_3: bool) -> None:
    assert json_depth_exceeds(body, 3) is deeper_than_3
