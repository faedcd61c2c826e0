"""Changes to Nightscout documents against a live Hearth (uvicorn on a loopback port, the
real Mosquitto, ingest and SQLite stores): API v3 edits and soft deletions with
``srvModified`` as the server's time and history that lists deletions, API v1 deletions,
socket.io's ``dbUpdate``/``dbRemove`` acknowledgements, and profiles and food kept.

Requests as the apps send them:
- AndroidAPS (https://github.com/nightscout/AndroidAPS, master, April 2026)
  core/nssdk/src/main/kotlin/app/aaps/core/nssdk/networking/NightscoutRemoteService.kt
  (``PATCH v3/treatments/{identifier}``, ``DELETE v3/entries/{identifier}``, ``POST
  v3/profile``, ``GET v3/profile?sort$desc=date&limit=1``, ``GET v3/{col}/history/{from}``)
  and core/nssdk/.../NSAndroidClientImpl.kt ``updateTreatment``/``updateSvg`` (``date``
  and ``utcOffset`` left out of an edit; ``isValid: false`` sent as DELETE; 200 and 404
  are success), ``createProfileStore`` (``app = "AAPS"``);
  plugins/sync/.../nsclient/services/NSClientService.kt ``dbUpdate`` ``{collection, _id,
  data}`` with NSUpdateAck, which takes ``{result: "success"}``.
- Loop's NightscoutKit (https://github.com/LoopKit/NightscoutKit) ``uploadProfile``
  ``POST /api/v1/profile`` and xDrip+'s ``DELETE /api/v1/treatments/<_id>``.
Server semantics: cgm-remote-monitor (master, April 2026) lib/api3/generic/update/
operation.js and patch/operation.js (410 for a deleted document, 412 when
``If-Unmodified-Since`` is older than its last change), update/validate.js (``Field {0}
cannot be modified by the client``), delete/operation.js (``isValid: false``,
``srvModified`` now), history/operation.js (by ``srvModified``, deletions included),
lib/server/websocket.js (``dbUpdate``/``dbRemove`` answered ``{result: 'success'}``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import socketio  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.appdb.accounts import AuditEvent
from core.appdb.nightscout_documents import NightscoutDocuments
from core.metrics import Metric
from core.nightscout_voids import VoidedReadings, VoidFilteredStore
from tests.interop.nightscout_apps.conftest import Stack, ms, sha1
from tests.interop.nightscout_apps.test_androidaps_socketio import WAIT, Events, run
from tests.interop.nightscout_apps.test_androidaps_v3 import AapsClient, sgv
from tests.support.dashboard_server import serving
from tests.support.factories import wait_until


def audit_actions(stack: Stack) -> list[str]:
    with Session(stack.engine) as session:
        return list(session.scalars(select(AuditEvent.purpose)))


def test_v3_edits_and_soft_deletions_with_server_times(stack: Stack) -> None:
    secret = stack.uploader("ann-aaps")
    now = datetime.now(UTC).replace(microsecond=0)
    old = now - timedelta(hours=3)  # readings uploaded late: srvModified is not their time
    with serving(stack.app) as url:
        aaps = AapsClient(url, secret)
        before = ms(datetime.now(UTC)) - 1
        temp = {"date": ms(old), "utcOffset": 60, "isValid": True, "isReadOnly": False,
                "eventType": "Temporary Target", "duration": 60, "targetTop": 80,
                "targetBottom": 80, "units": "mg/dl", "reason": "Eating Soon", "app": "AAPS"}
        created = aaps.call("POST", "v3/treatments", temp)
        assert created.status_code == 201
        temp_id = created.json()["identifier"]
        assert created.json()["lastModified"] >= before > ms(old)
        entries = [aaps.call("POST", "v3/entries", sgv(old + timedelta(minutes=5 * i), v))
                   for i, v in enumerate((120, 39 * 9, 124))]  # 351: a sensor glitch
        assert [e.status_code for e in entries] == [201, 201, 201]
        glitch_id = entries[1].json()["identifier"]
        stack.wait_for(Metric.THERAPY_EVENT, 1)
        stack.wait_for(Metric.GLUCOSE, 3)

        stored = aaps.call("GET", f"v3/treatments/{temp_id}")
        assert stored.status_code == 200
        first = stored.json()["result"]
        assert first["srvCreated"] == first["srvModified"] >= before
        assert first["date"] == ms(old) and first["duration"] == 60

        # an edit against an older copy: 412; a change of an immutable field: 400
        stale = format_datetime(datetime.fromtimestamp(before / 1000 - 60, UTC), usegmt=True)
        conflict = aaps.http.patch(f"v3/treatments/{temp_id}", json={"duration": 30},
                                   headers={**aaps._headers(), "If-Unmodified-Since": stale})
        assert conflict.status_code == 412
        moved = aaps.call("PATCH", f"v3/treatments/{temp_id}", {"eventType": "Note"})
        assert moved.json() == {"status": 400,
                                "message": "Field eventType cannot be modified by the client"}

        # AAPS ends the temporary target early: PATCH without date and utcOffset
        edit = {k: v for k, v in temp.items() if k not in ("date", "utcOffset")}
        edit.update(duration=25, identifier=temp_id)
        patched = aaps.http.patch(f"v3/treatments/{temp_id}", json=edit, headers={
            **aaps._headers(), "If-Unmodified-Since": format_datetime(datetime.now(UTC),
                                                                      usegmt=True)})
        assert patched.status_code == 200
        # the edit is readings again (Hearth's model): a therapy event of 25 minutes
        events = stack.wait_for(Metric.THERAPY_EVENT, 2)
        assert sorted(r.value for r in events) == [25, 60]
        edited = aaps.call("GET", f"v3/treatments/{temp_id}").json()["result"]
        assert edited["duration"] == 25 and edited["date"] == ms(old)
        assert edited["srvCreated"] == first["srvCreated"]
        assert edited["srvModified"] > first["srvModified"]
        listed = aaps.call("GET", "v3/treatments?sort$desc=date").json()["result"]
        assert [(d["identifier"], d["duration"]) for d in listed] == [(temp_id, 25)]
        v1 = httpx.get(f"{url}/api/v1/treatments.json", params={"token": secret}).json()
        assert [(d["eventType"], d["duration"]) for d in v1] == [("Temporary Target", 25)]

        # history by the server's time: the edit is there, the readings' own time is not
        changed = aaps.call("GET", f"v3/treatments/history/{first['srvModified']}")
        assert [(d["identifier"], d["duration"]) for d in changed.json()["result"]] == [
            (temp_id, 25)]

        # a reading deleted as wrong (AAPS: updateSvg with isValid false -> DELETE)
        mark = aaps.call("GET", "v3/lastModified").json()["result"]["collections"]["entries"]
        assert aaps.call("DELETE", f"v3/entries/{glitch_id}").status_code == 200
        left = aaps.call("GET", "v3/entries?sort$desc=date").json()["result"]
        assert [e["sgv"] for e in left] == [124, 120]
        assert aaps.call("GET", f"v3/entries/{glitch_id}").status_code == 410
        gone = aaps.call("GET", f"v3/entries/history/{mark}").json()["result"]
        assert [(e["identifier"], e["isValid"], e["sgv"]) for e in gone] == [
            (glitch_id, False, 351)]
        assert gone[0]["srvModified"] > mark
        assert aaps.call("PATCH", f"v3/entries/{glitch_id}", {"sgv": 125}).status_code == 410
        v1_entries = httpx.get(f"{url}/api/v1/entries.json",
                               params={"token": secret, "count": "10"}).json()
        assert [e["sgv"] for e in v1_entries] == [124, 120]

        # kept and audited, and no longer counted by the analytics' store
        raw = stack.read(Metric.GLUCOSE)
        assert [r.value for r in raw] == [120, 351, 124]
        voids = VoidedReadings(stack.engine, refresh_s=0)
        counted = VoidFilteredStore(stack.store, voids)
        span = (now - timedelta(days=1), now + timedelta(hours=1))
        assert list(counted.read_series("ann", Metric.GLUCOSE, *span).values) == [120, 124]
        assert [r.value for r in counted.read("ann", Metric.GLUCOSE, *span)] == [120, 124]
        assert sorted(r.value for r in counted.read("ann", Metric.THERAPY_EVENT, *span)) == [25]
        assert "Nightscout v3 entries deleted" in audit_actions(stack)

        # the treatment deleted: history lists it as deleted; nothing else shows it
        assert aaps.call("DELETE", f"v3/treatments/{temp_id}").status_code == 200
        assert aaps.call("GET", "v3/treatments").json()["result"] == []
        history = aaps.call("GET", f"v3/treatments/history/{before}").json()["result"]
        assert [(d["identifier"], d["isValid"], d["duration"]) for d in history] == [
            (temp_id, False, 25)]
        assert counted.read("ann", Metric.THERAPY_EVENT, *span) == []
        revisions = NightscoutDocuments(stack.engine).revisions("ann", "treatments", temp_id)
        assert [r.operation for r in revisions] == ["create", "update", "delete"]
        assert all(r.actor_id == "ann-aaps" for r in revisions)


def test_v1_deletions_of_entries_treatments_and_device_status(stack: Stack) -> None:
    secret = stack.uploader("ann-xdrip")
    xdrip = stack.client(**{"api-secret": sha1(secret)})
    now = datetime.now(UTC).replace(microsecond=0)
    entries = [{"type": "sgv", "sgv": v, "direction": "Flat", "device": "xDrip-G6",
                "date": ms(now - timedelta(minutes=5 * (3 - i)))}
               for i, v in enumerate((101, 102, 103, 104))]
    posted = xdrip.post("/api/v1/entries", json=entries).json()
    treatment = xdrip.post("/api/v1/treatments", json=[{
        "eventType": "Carb Correction", "carbs": 15, "created_at": now.isoformat(),
        "enteredBy": "xdrip"}]).json()
    status = xdrip.post("/api/v1/devicestatus", json=[{
        "device": "xDrip-phone", "created_at": now.isoformat(),
        "uploader": {"battery": 80}}]).json()
    stack.wait_for(Metric.GLUCOSE, 4)
    stack.wait_for(Metric.CARBS, 1)
    stack.wait_for(Metric.DEVICE_BATTERY, 1)

    # xDrip+'s PUT upsert (NightscoutUploader.doRESTtreatmentUpload: _id from its uuid):
    # the same treatment with other carbs is an edit, not a repeat
    meal = {"_id": "5f3c2a4e5b6d4e7f8a9b0c1d", "eventType": "Carb Correction", "carbs": 20,
            "timestamp": ms(now - timedelta(minutes=30)), "enteredBy": "xdrip",
            "uuid": "6a1f4e0c-0000-4000-8000-000000000001"}
    assert xdrip.put("/api/v1/treatments", json=[meal]).status_code == 200
    stack.wait_for(Metric.CARBS, 2)
    assert xdrip.put("/api/v1/treatments", json=[{**meal, "carbs": 25}]).status_code == 200
    stack.wait_for(Metric.CARBS, 3)
    served = {d["_id"]: d["carbs"] for d in xdrip.get("/api/v1/treatments.json").json()}
    assert served[meal["_id"]] == 25
    counting = VoidFilteredStore(stack.store, VoidedReadings(stack.engine, refresh_s=0))
    span = (now - timedelta(days=1), now + timedelta(hours=1))
    assert sorted(r.value for r in counting.read("ann", Metric.CARBS, *span)) == [15, 25]
    assert xdrip.put("/api/v1/treatments", json=[{**meal, "carbs": 25}]).status_code == 200
    book = NightscoutDocuments(stack.engine)  # the same again: a repeat, no revision
    kept = book.by_v1_id("ann", "treatments", meal["_id"])
    assert kept is not None
    assert [r.operation for r in book.revisions("ann", "treatments", kept.identifier)] == [
        "create", "update"]

    # by _id (Loop, xDrip+), by type and find (Nightscout's /entries/:spec), unknown: n 0
    assert xdrip.delete(f"/api/v1/entries/{posted[0]['_id']}").json()["n"] == 1
    found = xdrip.delete("/api/v1/entries/sgv",
                         params={"find[sgv][$gte]": "103", "find[date][$gte]": str(
                             ms(now - timedelta(hours=1)))}).json()
    assert found == {"n": 2, "ok": 1, "deletedCount": 2}
    assert xdrip.delete("/api/v1/entries/0123456789abcdef01234567").json()["n"] == 0
    refused = xdrip.delete("/api/v1/entries")
    assert refused.status_code == 400 and "find" in refused.json()["description"]
    assert [e["sgv"] for e in xdrip.get("/api/v1/entries.json").json()] == [102]
    assert xdrip.delete(f"/api/v1/treatments/{treatment[0]['_id']}").json()["n"] == 1
    assert [d["_id"] for d in xdrip.get("/api/v1/treatments.json").json()] == [meal["_id"]]
    assert xdrip.delete(f"/api/v1/devicestatus/{status[0]['_id']}").json()["n"] == 1
    assert xdrip.get("/api/v1/devicestatus.json").json() == []
    # a follower may not delete
    made = xdrip.post("/api/v2/authorization/subjects",
                      json={"name": "Mum", "roles": ["readable"]}).json()
    follower = stack.client(**{"api-secret": sha1(made["accessToken"])})
    assert follower.delete(f"/api/v1/entries/{posted[1]['_id']}").status_code == 401

    counted = VoidFilteredStore(stack.store, VoidedReadings(stack.engine, refresh_s=0))
    assert [r.value for r in counted.latest("ann", [Metric.GLUCOSE]).values()] == [102]
    newest = counted.newest_values(["ann"], [Metric.GLUCOSE], now - timedelta(hours=1))
    assert newest == {("ann", Metric.GLUCOSE): (ms(now - timedelta(minutes=10)) * 1000,
                                                102.0)}
    assert [r.value for r in counted.latest("ann", [Metric.CARBS]).values()] == [25]
    assert len(stack.read(Metric.GLUCOSE)) == 4  # every reading is still stored
    assert "Nightscout entries deleted (2)" in audit_actions(stack)


def test_profiles_and_food_are_kept_with_history(stack: Stack) -> None:
    secret = stack.uploader("ann-loop")
    now = datetime.now(UTC).replace(microsecond=0)
    loop = stack.client(**{"api-secret": sha1(secret)})
    # NightscoutKit ProfileSet.dictionaryRepresentation, as Loop uploads it
    profile = {"defaultProfile": "Default", "startDate": now.isoformat(), "mills": ms(now),
               "units": "mg/dL", "enteredBy": "Loop", "loopSettings": {"dosingEnabled": True},
               "store": {"Default": {"dia": 6, "timezone": "Europe/London",
                                     "basal": [{"time": "00:00", "value": 0.8,
                                                "timeAsSeconds": 0}],
                                     "carbratio": [{"time": "00:00", "value": 10,
                                                    "timeAsSeconds": 0}],
                                     "sens": [{"time": "00:00", "value": 45,
                                               "timeAsSeconds": 0}],
                                     "target_low": [{"time": "00:00", "value": 100}],
                                     "target_high": [{"time": "00:00", "value": 110}],
                                     "units": "mg/dL"}}}
    saved = loop.post("/api/v1/profile", json=profile)
    assert saved.status_code == 200
    profile_id = saved.json()[0]["_id"]
    read = loop.get("/api/v1/profile.json").json()
    assert [(p["_id"], p["store"]["Default"]["basal"][0]["value"]) for p in read] == [
        (profile_id, 0.8)]
    changed = {**profile, "_id": profile_id}
    changed["store"]["Default"]["basal"][0]["value"] = 0.9
    assert loop.put("/api/v1/profile", json=changed).status_code == 200
    read = loop.get("/api/v1/profile.json").json()
    assert [(p["_id"], p["store"]["Default"]["basal"][0]["value"]) for p in read] == [
        (profile_id, 0.9)]
    book = NightscoutDocuments(stack.engine)
    (kept,) = book.documents("ann", "profile")
    history = book.revisions("ann", "profile", kept.identifier)
    assert [r.document["store"]["Default"]["basal"][0]["value"]  # type: ignore[index]
            for r in history] == [0.8, 0.9]

    with serving(stack.app) as url:
        aaps = AapsClient(url, stack.uploader("ann-aaps"))
        store = {"date": ms(now) + 1000, "created_at": (now + timedelta(seconds=1)).isoformat(),
                 "defaultProfile": "AAPS", "startDate": (now + timedelta(seconds=1)).isoformat(),
                 "store": {"AAPS": {"dia": 5, "basal": [{"time": "00:00", "value": 1.0}]}},
                 "app": "AAPS", "units": "mg/dl"}
        created = aaps.call("POST", "v3/profile", store)
        assert created.status_code == 201
        last = aaps.call("GET", "v3/profile?sort$desc=date&limit=1").json()["result"]
        assert [p["defaultProfile"] for p in last] == ["AAPS"]
        assert last[0]["identifier"] == created.json()["identifier"]
        since = aaps.call("GET", f"v3/profile/history/{ms(now) - 1}?limit=10").json()
        # both, by the server's time: Loop's through v1 and AAPS's
        assert {p["defaultProfile"] for p in since["result"]} == {"AAPS", "Default"}
        again = aaps.call("POST", "v3/profile", store)  # the same document: replaced
        assert again.status_code == 200 and again.json()["isDeduplication"] is True
        food = aaps.call("POST", "v3/food", {"name": "apple", "carbs": 15, "portion": 1,
                                            "unit": "pcs", "app": "AAPS",
                                            "created_at": now.isoformat()})
        assert food.status_code == 201
        foods = aaps.call("GET", "v3/food?limit=1000").json()["result"]
        assert [(f["name"], f["carbs"]) for f in foods] == [("apple", 15)]
        assert httpx.get(f"{url}/api/v1/food.json", params={"token": secret}).json()[0][
            "name"] == "apple"
        lm = aaps.call("GET", "v3/lastModified").json()["result"]["collections"]
        assert {"profile", "food"} <= set(lm)

        async def follower(url: str) -> Any:  # NSClient v1's full dataUpdate carries them
            client = socketio.AsyncClient(reconnection=False)
            events = Events(client)
            await client.connect(url, transports=["polling", "websocket"])
            await client.call("authorize", {"client": "Android_AAPS", "history": 1,
                                            "secret": sha1(secret)}, timeout=WAIT)
            (full,) = await events.wait("dataUpdate")
            await client.disconnect()
            return full

        full = run(follower(url))
    assert [p["defaultProfile"] for p in full["profiles"]] == ["AAPS", "Default"]
    assert full["profiles"][1]["store"]["Default"]["basal"][0]["value"] == 0.9
    assert [f["name"] for f in full["food"]] == ["apple"]


def test_socketio_db_update_and_remove_are_acknowledged(stack: Stack) -> None:
    secret = stack.uploader("ann-aaps")
    now = datetime.now(UTC).replace(microsecond=0)
    bolus_at = now - timedelta(minutes=2)
    bolus = {"eventType": "Correction Bolus", "insulin": 2.0,
             "created_at": bolus_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
             "date": ms(bolus_at), "type": "NORMAL", "isValid": True}
    carbs = {"eventType": "Carb Correction", "carbs": 12,
             "created_at": now.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "date": ms(now)}

    async def aaps(url: str) -> dict[str, Any]:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(url, transports=["polling", "websocket"])
        await client.call("authorize", {"client": "Android_AAPS", "history": 1,
                                        "secret": sha1(secret)}, timeout=WAIT)
        (added,) = await client.call("dbAdd", {"collection": "treatments", "data": bolus},
                                     timeout=WAIT)
        (added_carbs,) = await client.call("dbAdd", {"collection": "treatments",
                                                     "data": carbs}, timeout=WAIT)
        await asyncio.to_thread(stack.wait_for, Metric.CARBS, 1)
        await asyncio.to_thread(stack.wait_for, Metric.INSULIN, 1)
        # NSClientService.dbUpdate: the changed fields; NSUpdateAck wants "success"
        updated = await client.call("dbUpdate", {
            "collection": "treatments", "_id": added["_id"],
            "data": {**bolus, "insulin": 1.5, "notes": "corrected"}}, timeout=WAIT)
        # the edit is a reading before the next change is made on it
        await asyncio.to_thread(stack.wait_for, Metric.INSULIN, 2)
        unset = await client.call("dbUpdateUnset", {
            "collection": "treatments", "_id": added["_id"], "data": {"notes": 1}},
            timeout=WAIT)
        invalid = await client.call("dbUpdate", {
            "collection": "treatments", "_id": added_carbs["_id"],
            "data": {**carbs, "isValid": False}}, timeout=WAIT)
        wrong = await client.call("dbUpdate", {"collection": "nothing", "_id": "x",
                                               "data": {}}, timeout=WAIT)
        missing = await client.call("dbUpdate", {"collection": "treatments",
                                                 "data": {}}, timeout=WAIT)
        removed = await client.call("dbRemove", {"collection": "treatments",
                                                 "_id": added["_id"]}, timeout=WAIT)
        await client.disconnect()
        return {"updated": updated, "unset": unset, "invalid": invalid, "wrong": wrong,
                "missing": missing,
                "removed": removed, "id": added["_id"]}

    with serving(stack.app) as url:
        got = run(aaps(url))
        assert got["updated"] == got["unset"] == got["invalid"] == got["removed"] == {
            "result": "success"}
        assert got["wrong"] == {"result": "Wrong collection"}
        assert got["missing"] == {"result": "Missing _id"}
    insulin = stack.wait_for(Metric.INSULIN, 3)
    assert sorted(r.value for r in insulin) == [1.5, 1.5, 2.0]  # each edit became readings
    counted = VoidFilteredStore(stack.store, VoidedReadings(stack.engine, refresh_s=0))
    span = (now - timedelta(days=1), now + timedelta(hours=1))
    # the bolus edited then removed, the carbs invalidated: nothing of them counts
    wait_until(lambda: counted.read("ann", Metric.INSULIN, *span) == [], timeout=20,
               message="the removed bolus no longer counts")
    assert counted.read("ann", Metric.CARBS, *span) == []
    client = stack.client(**{"api-secret": sha1(secret)})
    assert client.get("/api/v1/treatments.json").json() == []
    history = NightscoutDocuments(stack.engine).changed("ann", "treatments", 0)
    assert sorted((r.operation, r.is_valid) for r in history) == [
        ("delete", False), ("delete", False)]
    bolus_history = [r for r in history if r.v1_id == got["id"]]
    (last,) = bolus_history
    assert last.document is not None and last.document["insulin"] == 1.5
    assert "notes" not in last.document  # dbUpdateUnset removed them
    revisions = NightscoutDocuments(stack.engine).revisions("ann", "treatments",
                                                            last.identifier)
    assert [r.operation for r in revisions] == ["create", "update", "update", "delete"]
    assert revisions[1].document is not None
    assert revisions[1].document["notes"] == "corrected"
