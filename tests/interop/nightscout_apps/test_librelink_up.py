"""nightscout-librelink-up (the LibreLinkUp bridge) against a live Hearth, in both its modes,
each request as the bridge sends it.

From https://github.com/timoschlueter/nightscout-librelink-up (main, February 2026):
- src/nightscout/apiv1.ts: headers ``api-secret: <NIGHTSCOUT_API_TOKEN>``, ``User-Agent:
  FreeStyle LibreLink Up NightScout Uploader``, ``Content-Type: application/json``;
  ``lastEntry``: ``GET /api/v1/entries?count=1`` and ``resp.data.pop()``;
  ``uploadEntries``: ``POST /api/v1/entries`` with ``[{type: "sgv", sgv, direction,
  device, date: <ms>, dateString: <ISO>}]``, and anything but 200 is a failure;
- src/nightscout/apiv3.ts: before each call ``GET /api/v2/authorization/request/<token>``
  for a JWT; ``lastEntry``: ``GET /api/v3/entries?limit=1&sort$desc=date`` (an empty result
  throws); ``uploadEntries``: one ``POST /api/v3/entries`` per entry, all at once
  (``Promise.all``), ``{type: "sgv", sgv, direction, device, date, app}``, each must be 201;
- src/config.ts and README.md: ``NIGHTSCOUT_API_TOKEN`` is the SHA-1 hex of the access
  token in both modes; device ``nightscout-librelink-up`` (v1) or ``freestyle-libre``
  (v3), app ``librelinkup-to-nightscout-script``; ``ALL_DATA`` skips ``lastEntry``;
- src/index.ts ``createFormattedMeasurements``: the current measurement and the graph's
  history, only those newer than the last entry; src/helpers/helpers.ts
  ``mapTrendArrow``: 1 SingleDown ... 5 SingleUp, else ``NOT COMPUTABLE``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from core.metrics import Metric
from tests.interop.nightscout_apps.conftest import Stack, ms, sha1
from tests.support.dashboard_server import serving

AGENT = "FreeStyle LibreLink Up NightScout Uploader"
ARROWS = {1: "SingleDown", 2: "FortyFiveDown", 3: "Flat", 4: "FortyFiveUp", 5: "SingleUp"}


def measurements(now: datetime, values: list[int], arrow: int) -> list[dict[str, Any]]:
    """createFormattedMeasurements: the graph's history every 15 minutes (no arrow), and the
    current measurement last with its arrow."""
    out: list[dict[str, Any]] = [
        {"date": now - timedelta(minutes=15 * (len(values) - 1 - i)), "sgv": v}
        for i, v in enumerate(values[:-1])]
    out.append({"date": now, "sgv": values[-1], "direction": ARROWS.get(arrow,
                                                                         "NOT COMPUTABLE")})
    return out


def newer(found: list[dict[str, Any]], last_ms: int | None) -> list[dict[str, Any]]:
    return [m for m in found if last_ms is None or ms(m["date"]) > last_ms]


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class BridgeV1:
    def __init__(self, base: str, api_token: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30, headers={
            "api-secret": api_token, "User-Agent": AGENT, "Content-Type": "application/json"})

    def last_entry(self) -> dict[str, Any] | None:
        resp = self.http.get("/api/v1/entries?count=1")
        assert resp.status_code == 200
        data = resp.json()
        return data.pop() if data else None

    def upload(self, entries: list[dict[str, Any]]) -> int:
        body = [{"type": "sgv", "sgv": e["sgv"], "direction": e.get("direction"),
                 "device": "nightscout-librelink-up", "date": ms(e["date"]),
                 "dateString": iso(e["date"])} for e in entries]
        # JSON.stringify leaves out undefined (a graph item's direction)
        body = [{k: v for k, v in doc.items() if v is not None} for doc in body]
        return self.http.post("/api/v1/entries", json=body).status_code


class BridgeV3:
    def __init__(self, base: str, api_token: str) -> None:
        self.base, self.token = base, api_token
        self.headers = {"User-Agent": AGENT, "Content-Type": "application/json"}

    def jwt(self) -> str:
        resp = httpx.get(f"{self.base}/api/v2/authorization/request/{self.token}",
                         headers={**self.headers, "Accept": "application/json"}, timeout=30)
        assert resp.status_code == 200 and resp.json()["token"]
        token: str = resp.json()["token"]
        return token

    def last_entry(self) -> dict[str, Any]:
        resp = httpx.get(f"{self.base}/api/v3/entries?limit=1&sort$desc=date",
                         headers={**self.headers, "Authorization": f"Bearer {self.jwt()}"},
                         timeout=30)
        assert resp.status_code == 200 and resp.json()["result"]
        entry: dict[str, Any] = resp.json()["result"].pop()
        return entry

    def upload(self, entries: list[dict[str, Any]]) -> list[int]:
        auth = {**self.headers, "Authorization": f"Bearer {self.jwt()}"}
        docs = [{"type": "sgv", "sgv": e["sgv"], "direction": e.get("direction"),
                 "device": "freestyle-libre", "date": ms(e["date"]),
                 "app": "librelinkup-to-nightscout-script"} for e in entries]
        docs = [{k: v for k, v in doc.items() if v is not None} for doc in docs]
        with ThreadPoolExecutor(max_workers=len(docs)) as pool:  # Promise.all
            return list(pool.map(lambda d: httpx.post(f"{self.base}/api/v3/entries", json=d,
                                                      headers=auth, timeout=30).status_code,
                                 docs))


def test_librelink_up_v1_mode(stack: Stack) -> None:
    secret = stack.uploader("ann-libre")
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    with serving(stack.app) as url:
        bridge = BridgeV1(url, sha1(secret))
        # first run: an empty site, everything the graph holds goes up
        assert bridge.last_entry() is None
        first = measurements(now, [101, 104, 108, 112], arrow=4)
        assert bridge.upload(newer(first, None)) == 200
        stack.wait_for(Metric.GLUCOSE, 4)
        # five minutes later: the same history plus a new current measurement
        last = bridge.last_entry()
        assert last is not None and last["sgv"] == 112 and last["date"] == ms(now)
        assert last["direction"] == "FortyFiveUp"
        second = measurements(now + timedelta(minutes=5), [104, 108, 112, 115], arrow=3)
        second = second[:-2] + [first[-1]] + second[-1:]  # the graph now holds the old current
        todo = newer(second, last["date"])
        assert [m["sgv"] for m in todo] == [115]
        assert bridge.upload(todo) == 200
        stored = stack.wait_for(Metric.GLUCOSE, 5)
    assert [r.value for r in stored] == [101, 104, 108, 112, 115]
    assert {r.device_id for r in stored} == {"ann-libre"}


def test_librelink_up_v3_mode(stack: Stack) -> None:
    secret = stack.uploader("ann-libre")
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    with serving(stack.app) as url:
        bridge = BridgeV3(url, sha1(secret))  # the token's SHA-1, as its README says
        # ALL_DATA=true for the first run (lastEntry throws on an empty site)
        first = measurements(now, [150, 146, 141, 137], arrow=2)
        assert bridge.upload(first) == [201, 201, 201, 201]
        stack.wait_for(Metric.GLUCOSE, 4)
        last = bridge.last_entry()
        assert last["sgv"] == 137 and last["date"] == ms(now)
        assert last["direction"] == "FortyFiveDown" and last["device"] == "freestyle-libre"
        later = measurements(now + timedelta(minutes=5), [141, 137, 133], arrow=1)
        todo = newer(later, last["date"])
        assert bridge.upload(todo) == [201]
        stored = stack.wait_for(Metric.GLUCOSE, 5)
        # read back by any client
        v1 = httpx.get(f"{url}/api/v1/entries.json", params={"token": secret}).json()
    assert [r.value for r in stored] == [150, 146, 141, 137, 133]
    assert [e["sgv"] for e in v1] == [133, 137, 141, 146, 150]
    assert v1[0]["direction"] == "SingleDown"
