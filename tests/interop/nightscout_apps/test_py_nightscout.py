"""py-nightscout, the Python client Home Assistant's Nightscout integration uses, run for
real against Hearth served by uvicorn on a loopback port.

Its requests, from https://github.com/marciogranzotto/py-nightscout/blob/master/py_nightscout/api.py
(1.3.3, the version pinned in pyproject.toml): ``api-secret`` = SHA-1 of the secret (or
``token=...`` as given), GET /api/v1/status.json (``get_server_status``),
/api/v1/entries/sgv.json (``get_sgvs``: every entry must carry a ``delta``, or
``mgdlTommolL(None)`` raises), /api/v1/treatments.json, /api/v1/devicestatus.json,
/api/v1/profile.json.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from py_nightscout import Api  # type: ignore[import-untyped]

from core.metrics import Metric
from tests.interop.nightscout_apps.conftest import Stack, ms, sha1
from tests.support.dashboard_server import serving


def test_py_nightscout_reads_what_xdrip_uploaded(stack: Stack) -> None:
    secret = stack.uploader("ann-xdrip")
    uploader = stack.client(**{"api-secret": sha1(secret)})
    now = datetime.now(UTC).replace(microsecond=0)
    # A sensor reading without the app's delta, as Juggluco sends them, among xDrip+'s.
    entries = [{"type": "sgv", "sgv": 120 + 2 * i, "direction": "Flat",
                "date": ms(now - timedelta(minutes=5 * (5 - i))),
                **({"delta": 2.0} if i % 2 else {})} for i in range(6)]
    assert uploader.post("/api/v1/entries", json=entries).status_code == 200
    assert uploader.post("/api/v1/treatments", json=[{
        "eventType": "Meal Bolus", "carbs": 30, "insulin": 3,
        "created_at": (now - timedelta(minutes=20)).isoformat()}]).status_code == 200
    assert uploader.post("/api/v1/devicestatus", json={
        "device": "Pixel", "uploader": {"battery": 55}}).status_code == 200
    stack.wait_for(Metric.GLUCOSE, 6)
    stack.wait_for(Metric.DEVICE_BATTERY, 1)

    async def client_session(url: str) -> dict[str, Any]:
        api = Api(url, api_secret=secret)
        token_api = Api(url, api_secret=f"token={secret}")
        return {"status": await api.get_server_status(), "sgvs": await api.get_sgvs(),
                "treatments": await api.get_treatments(),
                "devices": await api.get_latest_devices_status(),
                "profiles": await api.get_profiles(),
                "by_token": await token_api.get_sgvs()}

    with serving(stack.app) as url:
        # a thread of its own: the suite's Playwright browser may hold an event loop in the
        # main thread, where asyncio.run refuses to start another
        with ThreadPoolExecutor(max_workers=1) as pool:
            got = pool.submit(asyncio.run, client_session(url)).result(timeout=120)

    assert got["status"].status == "ok" and got["status"].apiEnabled is True
    sgvs = got["sgvs"]
    assert [s.sgv for s in sgvs] == [130, 128, 126, 124, 122, 120]
    assert [s.delta for s in sgvs] == [2.0, 2.0, 2.0, 2.0, 2.0, 0]  # uploaded or computed;
    # the first has nothing to compare with
    assert sgvs[0].direction == "Flat" and sgvs[0].sgv_mmol == round(130 / 18, 1)
    assert sgvs[0].date == now
    (meal,) = got["treatments"]
    assert (meal.eventType, meal.carbs, meal.insulin) == ("Meal Bolus", 30, 3)
    assert got["devices"]["Pixel"].uploader.battery == 55  # by the uploaded device
    assert got["profiles"] is not None
    assert [s.sgv for s in got["by_token"]] == [s.sgv for s in sgvs]
