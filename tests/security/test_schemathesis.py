"""schemathesis against the dashboard's OpenAPI schema, as every role and anonymously.

The real app on a real uvicorn server over the demo household (tests/support/demo_site.py).
Each role signs in through the login form; its requests carry the session cookie and
the session's CSRF token (X-CSRF-Token), as the dashboard's own scripts do. For every
operation, generated requests (path and query values, bodies) must get no 5xx answer
and every answer the schema documents must match it. The Nightscout sub-application
is checked the same way against its own schema with an uploader's secret.

    HYPOTHESIS_PROFILE=thorough .venv/bin/python -m pytest tests/security/test_schemathesis.py
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from core.provisioning import Provisioner
from dashboard.nightscout_backend import NightscoutBackend
from tests.security.fuzzing import EXAMPLES, PROFILE
from tests.support.accounts import CSRF
from tests.support.dashboard_server import serving
from tests.support.demo_site import DemoSite, demo_site

ROLES = ("patient", "caregiver", "coach", "nurse", "admin")
CHECKS = [not_a_server_error, response_schema_conformance]
# Per operation and caller: 3 in CI (x ~17 operations x 6 callers), 80 when thorough.
# CI draws the same examples every run (derandomized): the app changes under other
# people's hands every day, and a red build must mean a change, not a new draw;
# the thorough profile explores.
PER_OPERATION = settings(max_examples=max(3, EXAMPLES // 60), deadline=None, database=None,
                         derandomize=PROFILE != "thorough",
                         suppress_health_check=list(HealthCheck))
# Signing out and signing in are run last, anonymously (they end sessions and count
# towards the login throttle). Live updates are server-sent event streams that never
# end; the route matrix (tests/dashboard/test_authz_matrix.py) checks their statuses.
LAST = {("POST", "/logout"), ("POST", "/login")}
STREAMS = ("/live/",)


class RecordingPublisher:
    def publish_confirmed(self, topic: str, payload: bytes, *, timeout: float) -> None:
        """The broker's PUBACK, at once (ingest is not part of this test)."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoSite, str, str]]:
    with demo_site(tmp_path_factory.mktemp("schemathesis")) as site:
        engine = site.accounts.engine
        secret = Provisioner(engine).add(device_id="ann-fuzz-xdrip", patient_id=site.patient_id,
                                         kind="cgm", role="nightscout").secret
        assert secret
        site.app.state.nightscout = NightscoutBackend(uploaders=Provisioner(engine),
                                                      publisher=RecordingPublisher())
        with serving(site.app) as url:
            yield site, url, secret


def session_for(url: str, who: str | None, site: DemoSite
                ) -> tuple[requests.Session, dict[str, str]]:
    session = requests.Session()
    if who is None:
        return session, {}
    name, password = site.credentials[who]
    token = CSRF.search(session.get(f"{url}/login").text)
    assert token
    answer = session.post(f"{url}/login", allow_redirects=False,
                          data={"username": name, "password": password,
                                "csrf_token": token.group(1)})
    assert answer.status_code == 303, (who, answer.status_code)
    csrf = session.get(f"{url}/api/me").json()["csrf_token"]
    return session, {"X-CSRF-Token": csrf}


Failures = dict[tuple[str, str, str], str]


def run(schema: Any, url: str, session: requests.Session, headers: dict[str, str], *,
        patients: list[str], only: set[tuple[str, str]] | None = None,
        skip: set[tuple[str, str]] = frozenset()) -> tuple[int, Failures]:
    """Every operation's generated requests; (calls made, failures by operation and check)."""
    calls, failures = 0, {}

    def exercise(operation: Any, key: tuple[str, str]) -> None:
        @PER_OPERATION
        @given(case=operation.as_strategy(), patient=st.sampled_from([None, *patients]))
        def check(case: Any, patient: str | None) -> None:
            nonlocal calls
            if patient and "patient_id" in (case.path_parameters or {}):
                case.path_parameters["patient_id"] = patient  # a real id as often as not
            calls += 1
            try:
                case.call_and_validate(base_url=url, session=session, headers=headers,
                                       checks=CHECKS)
            except (AssertionError, FailureGroup) as exc:
                for failure in getattr(exc, "exceptions", [exc]):
                    failures.setdefault((*key, type(failure).__name__), str(failure)[:2000])

        check()

    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in skip or (only is not None and key not in only) or \
                any(operation.path.startswith(s) for s in STREAMS):
            continue
        exercise(operation, key)
    return calls, failures


def judge(failures: Failures) -> None:
    """Every failure counts, 422 bodies included (no tolerated class of violation)."""
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


@pytest.mark.parametrize("who", [*ROLES, None])
def test_no_5xx_and_no_schema_violation_for_any_role(served, who: str | None) -> None:
    site, url, _ = served
    schema = schemathesis.openapi.from_dict(site.app.openapi())
    session, headers = session_for(url, who, site)
    patients = [*site.household, site.outsider]
    calls, failures = run(schema, url, session, headers, patients=patients, skip=LAST)
    if who is None:
        more, also = run(schema, url, session, headers, patients=patients, only=LAST)
        calls, failures = calls + more, {**failures, **also}
    assert calls > 50
    judge(failures)


def test_the_nightscout_api_with_an_uploaders_secret(served) -> None:
    site, url, secret = served
    mount = site.app.routes[[getattr(r, "path", "") for r in site.app.routes].index("/api/v1")]
    schema = schemathesis.openapi.from_dict(mount.app.openapi())
    session = requests.Session()
    headers = {"api-secret": hashlib.sha1(secret.encode()).hexdigest()}  # noqa: S324
    calls, failures = run(schema, f"{url}/api/v1", session, headers, patients=[])
    assert calls > 20
    judge(failures)


# 422s that handlers raise with a reason (not FastAPI's own validation): each body must
# match the documented HTTPValidationError, with the reason in ``msg``.
HANDLER_422 = [
    ("PUT", "/api/me/preferences", {}, {}, {"glucose_units": "mg/dL", "timezone": ""},
     "unknown time zone"),
    ("GET", "/api/patients/{patient_id}/fhir", {"patient_id": "ann"},
     {"start": "2024-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, None, "at most"),
    ("GET", "/api/patients/{patient_id}/readings", {"patient_id": "ann"},
     {"metric": "glucose", "start": "2026-03-01T02:00:00Z", "end": "2026-03-01T01:00:00Z"},
     None, "start must be before end"),
    ("GET", "/api/patients/{patient_id}/trends", {"patient_id": "ann"}, {"days": 15}, None,
     "days must be"),
    ("GET", "/api/nurse/triage", {}, {"bucket": "nonsense"}, None, "bucket must be one of"),
]


@pytest.mark.parametrize(("method", "path", "path_parameters", "query", "body", "reason"),
                         HANDLER_422, ids=[f"{m} {p}" for m, p, *_ in HANDLER_422])
def test_a_handlers_422_matches_the_documented_shape(served, method: str, path: str,
                                                     path_parameters: dict[str, str],
                                                     query: dict[str, Any], body: Any,
                                                     reason: str) -> None:
    site, url, _ = served
    schema = schemathesis.openapi.from_dict(site.app.openapi())
    session, headers = session_for(url, "nurse", site)
    kwargs: dict[str, Any] = {"path_parameters": path_parameters, "query": query}
    if body is not None:
        kwargs["body"] = body
    case = schema[path][method].Case(**kwargs)
    response = case.call_and_validate(base_url=url, session=session, headers=headers,
                                      checks=CHECKS)  # raises on a schema violation
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(reason in d["msg"] for d in detail), detail
