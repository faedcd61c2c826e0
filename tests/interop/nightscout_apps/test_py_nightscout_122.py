"""py-nightscout 1.2.2, the version Home Assistant's Nightscout integration pinned, replayed
request for request against a live Hearth (uvicorn on a loopback port). 1.3.3 is the
installed client (test_py_nightscout.py runs it); a second version cannot be installed at
test time, so 1.2.2's requests and its parsing are written here from its source.

From https://github.com/marciogranzotto/py-nightscout at 007e52d (setup.py version 1.2.2):
- py_nightscout/api.py ``request_headers``: ``Content-Type`` and ``Accept:
  application/json``, ``api-secret`` = SHA-1 hex of the secret, or the secret as given when
  it starts with ``token=``; ``__get`` raises on any status >= 400 (``raise_for_status``);
- ``get_server_status``: ``GET /api/v1/status.json``; ``get_sgvs``: ``GET
  /api/v1/entries/sgv.json`` (the ``params`` argument is ignored: no query string);
  ``get_treatments``: ``GET /api/v1/treatments.json``; ``get_profiles``: ``GET
  /api/v1/profile.json``;
- py_nightscout/models.py: ``SGV`` takes ``sgv``, ``delta``, ``date``, ``direction``,
  ``device`` and replaces ``date`` with ``dateutil.parser.parse(dateString)``;
  ``Treatment`` parses ``timestamp`` (an int as milliseconds, else text) and
  ``created_at`` with dateutil; ``ServerStatus`` takes ``status``, ``version``, ``name``,
  ``apiEnabled``, ``settings``; ``ProfileDefinitionSet.new_from_json_array`` sorts the
  definitions by ``startDate``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dateutil.parser  # type: ignore[import-untyped]
import httpx

from core.metrics import Metric
from tests.interop.nightscout_apps.conftest import Stack, ms, sha1
from tests.support.dashboard_server import serving


def headers_122(api_secret: str) -> dict[str, str]:
    """api.py ``request_headers``."""
    secret = api_secret if api_secret.startswith("token=") else sha1(api_secret)
    return {"Content-Type": "application/json", "Accept": "application/json",
            "api-secret": secret}


def get_122(url: str, path: str, api_secret: str) -> Any:
    """api.py ``__get``: the path on the server, the headers, raise_for_status, json."""
    response = httpx.get(f"{url.strip('/')}{path}", headers=headers_122(api_secret),
                         timeout=30)
    response.raise_for_status()
    return response.json()


def sgv_122(doc: dict[str, Any]) -> dict[str, Any]:
    """models.py ``SGV.json_transforms`` and its attributes."""
    data = dict(doc)
    if data.get("dateString"):
        data["date"] = dateutil.parser.parse(data["dateString"])
    return {name: data.get(name) for name in ("sgv", "delta", "date", "direction", "device")}


def treatment_122(doc: dict[str, Any]) -> dict[str, Any]:
    """models.py ``Treatment.json_transforms``."""
    data = dict(doc)
    timestamp = data.get("timestamp")
    if timestamp:
        data["timestamp"] = datetime.fromtimestamp(timestamp / 1000.0, UTC) \
            if isinstance(timestamp, int) else dateutil.parser.parse(timestamp)
    if data.get("created_at"):
        data["created_at"] = dateutil.parser.parse(data["created_at"])
    return data


def test_py_nightscout_122_requests(stack: Stack) -> None:
    secret = stack.uploader("ann-xdrip")
    uploader = stack.client(**{"api-secret": sha1(secret)})
    now = datetime.now(UTC).replace(microsecond=0)
    entries = [{"type": "sgv", "sgv": 150 - 3 * i, "direction": "FortyFiveDown",
                "date": ms(now - timedelta(minutes=5 * (3 - i))), "device": "xDrip-DexcomG6"}
               for i in range(4)]
    assert uploader.post("/api/v1/entries", json=entries).status_code == 200
    assert uploader.post("/api/v1/treatments", json=[{
        "eventType": "Correction Bolus", "insulin": 1.5,
        "created_at": (now - timedelta(minutes=7)).isoformat()}]).status_code == 200
    stack.wait_for(Metric.GLUCOSE, 4)
    stack.wait_for(Metric.INSULIN, 1)

    with serving(stack.app) as url:
        status = get_122(url, "/api/v1/status.json", secret)
        sgvs = [sgv_122(d) for d in get_122(url, "/api/v1/entries/sgv.json", secret)]
        treatments = [treatment_122(d) for d in get_122(url, "/api/v1/treatments.json",
                                                        secret)]
        profiles = get_122(url, "/api/v1/profile.json", secret)
        by_token = get_122(url, "/api/v1/entries/sgv.json", f"token={secret}")
        # a wrong secret: raise_for_status raises, as Home Assistant's config flow expects
        refused = httpx.get(f"{url}/api/v1/status.json", headers=headers_122("wrong"))

    assert (status["status"], status["name"], status["apiEnabled"]) == ("ok", "Hearth", True)
    assert status["version"] and status["settings"]["units"] == "mg/dl"
    assert [s["sgv"] for s in sgvs] == [141, 144, 147, 150]
    assert sgvs[0]["date"] == now and sgvs[0]["direction"] == "FortyFiveDown"
    assert sgvs[0]["delta"] == -3 and sgvs[0]["device"] == "xDrip-DexcomG6"
    (bolus,) = treatments
    assert (bolus["eventType"], bolus["insulin"]) == ("Correction Bolus", 1.5)
    assert bolus["created_at"] == now - timedelta(minutes=7)
    assert bolus["timestamp"] == now - timedelta(minutes=7)
    assert profiles == []  # ProfileDefinitionSet of no definitions
    assert [d["sgv"] for d in by_token] == [s["sgv"] for s in sgvs]
    assert refused.status_code == 401
