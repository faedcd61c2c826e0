"""Followers with read-only tokens, never the uploader's write secret.

Replayed: xDrip+'s Nightscout follow mode,
https://github.com/NightscoutFoundation/xDrip/blob/master/app/src/main/java/com/eveningoutpost/dexdrip/cgm/nsfollow/NightscoutFollow.java
(commit c2a0ba1a): ``getEntries`` (GET /api/v1/entries.json?count=10&rr=<ms>),
``getEntriesSince`` (``find[date][$gt]``), ``getTreatments``, ``getDeviceStatus``
(devicestatus.json?count=1), each with ``api-secret`` = SHA-1 hex of the secret in the
follower's URL, which here is the follower's token. The other token forms and the JWT
exchange are Nightscout's (cgm-remote-monitor ``lib/authorization/index.js``:
``?token=``, ``Authorization: Bearer``; ``lib/api2/index.js``:
``/api/v2/authorization/request/:accessToken``); ``/pebble`` and ``/api/v2/properties``
as ``lib/server/pebble.js`` and ``lib/api2/properties.js`` serve them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from core.appdb.account_store import AccountStore
from core.logs import scrub
from core.metrics import Metric
from tests.interop.nightscout_apps.conftest import Stack, ms, sha1
from tests.support.factories import wait_until


def test_a_follower_reads_with_its_own_token_and_loses_it_when_revoked(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = stack.uploader("ann-xdrip")
    stack.uploader("bob-xdrip", patient_id="bob")
    uploader = stack.client(**{"api-secret": sha1(secret)})
    now = datetime.now(UTC).replace(microsecond=0)
    posted = uploader.post("/api/v1/entries", json=[
        {"type": "sgv", "sgv": 150 - 2 * i, "date": ms(now - timedelta(minutes=5 * (3 - i))),
         "direction": "FortyFiveDown", "device": "xDrip-DexcomG6"} for i in range(4)])
    assert posted.status_code == 200
    assert uploader.post("/api/v1/devicestatus", json={
        "device": "Pixel", "uploader": {"battery": 64}}).status_code == 200
    stack.wait_for(Metric.GLUCOSE, 4)
    stack.wait_for(Metric.DEVICE_BATTERY, 1)

    # The patient's uploader makes a token for Mum (Nightscout's admin path).
    made = uploader.post("/api/v2/authorization/subjects",
                         json={"name": "Mum", "roles": ["readable"]})
    assert made.status_code == 200, made.text
    token, token_id = made.json()["accessToken"], made.json()["_id"]
    assert token.startswith("mum-") and len(token) > 30
    listed = uploader.get("/api/v2/authorization/subjects").json()
    assert [(s["_id"], s["name"], s["roles"]) for s in listed] == [
        (token_id, "Mum", ["readable"])]
    assert all("accessToken" not in s for s in listed)  # shown once only
    assert uploader.post("/api/v2/authorization/subjects",
                         json={"name": "Dad", "roles": ["admin"]}).status_code == 400

    # xDrip+ follow mode: api-secret = SHA-1 of the token in the follower's URL.
    follower = stack.client(**{"api-secret": sha1(token)})
    first = follower.get("/api/v1/entries.json", params={"count": "10", "rr": "17"})
    assert first.status_code == 200
    assert [e["sgv"] for e in first.json()] == [144, 146, 148, 150]
    since = follower.get("/api/v1/entries.json", params={
        "count": "24", "find[date][$gt]": str(ms(now - timedelta(minutes=6))), "rr": "18"})
    assert [e["sgv"] for e in since.json()] == [144, 146]
    assert follower.get("/api/v1/treatments").status_code == 200
    (status,) = follower.get("/api/v1/devicestatus.json", params={"count": "1"}).json()
    assert status["uploader"]["battery"] == 64

    # Every other form Nightscout accepts for a token.
    for client, params in ((stack.client(), {"token": token}),
                           (stack.client(Authorization=f"Bearer {token}"), {}),
                           (stack.client(**{"api-secret": f"token={token}"}), {})):
        got = client.get("/api/v1/entries/current.json", params=params)
        assert got.status_code == 200 and [e["sgv"] for e in got.json()] == [144]

    # A JWT for the token (AndroidAPS, Nightscout's own web client), then Bearer <JWT>.
    issued = stack.client().get(f"/api/v2/authorization/request/{token}")
    assert issued.status_code == 200
    jwt = issued.json()["token"]
    assert issued.json()["sub"] == token_id and issued.json()["exp"] > issued.json()["iat"]
    by_jwt = stack.client(Authorization=f"Bearer {jwt}")
    assert [e["sgv"] for e in by_jwt.get("/api/v1/entries.json").json()][:1] == [144]
    assert stack.client().get("/api/v2/authorization/request/not-a-token").status_code == 401

    # Watch faces and widgets.
    props = follower.get("/api/v2/properties/bgnow,delta,direction,upbat").json()
    assert props["bgnow"]["last"] == 144 and props["delta"]["mgdl"] == -2
    assert props["direction"]["value"] == "FortyFiveDown" and props["upbat"]["level"] == 64
    pebble = stack.client().get("/pebble", params={"token": token, "count": "2"})
    assert pebble.status_code == 200, pebble.text
    bgs = pebble.json()["bgs"]
    assert [(b["sgv"], b["trend"]) for b in bgs] == [("144", 5), ("146", 5)]
    assert bgs[0]["bgdelta"] == -2 and bgs[0]["battery"] == "64"

    # Read-only: no upload, no token management.
    refused = follower.post("/api/v1/entries", json=[{"type": "sgv", "sgv": 300,
                                                     "date": ms(now)}])
    assert refused.status_code == 401
    assert follower.post("/api/v1/treatments", json=[{"eventType": "Note", "notes": "x",
                                                      "created_at": now.isoformat()}]
                         ).status_code == 401
    assert follower.get("/api/v2/authorization/subjects").status_code == 401
    assert [r.value for r in stack.read(Metric.GLUCOSE)] == [150, 148, 146, 144]
    # Ann's follower sees nothing of Bob's.
    bob = stack.client(**{"api-secret": sha1(stack.secrets["bob-xdrip"])})
    assert bob.post("/api/v1/entries", json=[{"type": "sgv", "sgv": 99, "date": ms(now)}]
                    ).status_code == 200
    wait_until(lambda: len(stack.read(Metric.GLUCOSE, "bob")) == 1, timeout=20,
               message="bob's reading")
    assert 99 not in [e["sgv"] for e in follower.get("/api/v1/entries.json").json()]

    # Every read audited under the token's id, the path without the token.
    log = AccountStore(stack.engine).audit_log.entries(patient_id="ann", limit=200)
    follower_reads = [e for e in log if e.actor_id == token_id]
    assert len(follower_reads) >= 8
    assert {e.actor_role for e in follower_reads} == {"ns-follower"}
    assert not any(token in e.path or token in e.purpose for e in log)
    assert any(e.purpose == f"Nightscout token issued: {token_id}" for e in log)

    # Revoked: refused at once, its JWT too.
    assert uploader.delete(f"/api/v2/authorization/subjects/{token_id}").status_code == 200
    assert follower.get("/api/v1/entries.json").status_code == 401
    assert stack.client().get("/api/v1/entries", params={"token": token}).status_code == 401
    assert by_jwt.get("/api/v1/entries.json").status_code == 401
    assert stack.client().get(f"/api/v2/authorization/request/{token}").status_code == 401
    assert uploader.delete(f"/api/v2/authorization/subjects/{token_id}").status_code == 404

    # No token, no secret, no JWT in any of Hearth's log lines (httpx's lines are the test
    # client's own, the app's side of a phone; uvicorn's access log is scrubbed by
    # core/logs.py, tested there).
    for record in caplog.records:
        if record.name.startswith("httpx"):
            continue
        text = record.getMessage()
        assert token not in text and jwt not in text and secret not in text
    access = f'127.0.0.1:5 - "GET /api/v2/authorization/request/{token} HTTP/1.1" 200'
    assert token not in scrub(access)  # what uvicorn's access log would have written
