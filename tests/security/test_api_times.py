"""Every time in every JSON answer of the API carries a zone: every GET route of the
app, as every role, over the demo data on SQLite (which gives naive datetimes back),
after a nurse's review (the triage API returned its time without a zone)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from tests.dashboard.authz_walker import endpoints
from tests.support.accounts import session_csrf, sign_in
from tests.support.dashboard_server import serving
from tests.support.demo_site import DemoSite, demo_site

TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
ZONED = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
SAMPLES = {"metric": "glucose"}


def times_without_zone(value: Any, where: str = "") -> list[str]:
    if isinstance(value, str):
        return [f"{where}={value}"] if TIME.match(value) and not ZONED.search(value) else []
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in times_without_zone(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in times_without_zone(v, f"{where}[{i}]")]
    return []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    with demo_site(tmp_path_factory.mktemp("times")) as made, serving(made.app) as url:
        yield replace(made, base_url=url)


def test_every_api_time_has_a_zone(site: DemoSite) -> None:
    found, _ = endpoints(site.app)
    routes = [e for e in found if not e.mount and "GET" in e.methods
              and e.path.startswith("/api/")]
    checked, naive = 0, []
    for role in ("nurse", "coach", "patient", "caregiver", "admin"):
        with httpx.Client(base_url=site.base_url, timeout=60) as client:
            assert sign_in(client, *site.credentials[role]).status_code == 303
            if role == "nurse":
                review = client.post(f"/api/patients/{site.patient_id}/reviews",
                                     json={"note": "reviewed"},
                                     headers={"X-CSRF-Token": session_csrf(client)})
                assert review.status_code in (200, 201), review.text
                naive += times_without_zone(review.json(), "POST reviews")
            for e in routes:
                path = e.path.replace("{patient_id}", site.patient_id)
                for name in e.params:
                    path = path.replace(f"{{{name}}}", SAMPLES.get(name, "1"))
                answer = client.get(path, params={q: SAMPLES.get(q, "1")
                                                  for q in e.required_query})
                if answer.status_code != 200 or \
                        "json" not in answer.headers.get("content-type", ""):
                    continue
                checked += 1
                naive += times_without_zone(answer.json(), f"{role} GET {path}")
    assert checked > 15
    assert naive == [], "\n".join(naive[:20])
