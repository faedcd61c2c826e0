"""AndroidAPS's NSClient v1 (socket.io) against a live Hearth: uvicorn on a loopback port, the
real Mosquitto, ingest and SQLite stores, and python-socketio's own client speaking the
socket.io protocol (Engine.IO 4, as AndroidAPS's io.socket client and Nightscout's server).

From https://github.com/nightscout/AndroidAPS (master, April 2026),
plugins/sync/src/main/kotlin/app/aaps/plugins/sync/nsclient/services/NSClientService.kt:
``IO.socket(nsURL, forceNew)``; on connect ``emit("authorize", {client: "Android_AAPS",
history: nsHours, status: true, from: latestDateInReceivedData, secret: sha1(API secret)},
NSAuthAck)`` (acks/NSAuthAck.kt reads ``read``, ``write``, ``write_treatment``); listens
for ``dataUpdate`` (``delta`` present or not; ``sgvs`` read by NsIncomingDataProcessor's
``NSSgv``: ``mgdl``, ``mills``, oldest first), ``alarm``, ``urgent_alarm``,
``clear_alarm``; ``dbAdd`` ``{collection, data}`` with NSAddAck (an array whose first
element has ``_id``; ``{result: "Not ..."}`` otherwise); ``dbUpdate`` with NSUpdateAck
(``result == "success"``). The documents: plugins/sync/.../nsclient/extensions/
BolusExtension.kt (``BS.toJson``) and core/objects/.../GlucoseValueExtension.kt
(``GV.toJson``). Server side: cgm-remote-monitor lib/server/websocket.js (``connected``
before ``dataUpdate`` before the authorize answer; an unknown secret is disconnected).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import socketio  # type: ignore[import-untyped]
from sqlalchemy.orm import Session

from core.appdb.coaching import CoachAlert
from core.metrics import Metric
from tests.interop.nightscout_apps.conftest import Stack, ms, sha1
from tests.support.dashboard_server import serving

WAIT = 60.0  # seconds: the server polls every 5 s; a loaded 2-core machine is slow


class Events:
    """What the client received, by event name, with a way to wait for one."""

    def __init__(self, client: Any) -> None:
        self.got: dict[str, list[Any]] = {}
        self.changed = asyncio.Event()
        for name in ("connected", "dataUpdate", "alarm", "urgent_alarm", "clear_alarm",
                     "disconnect"):
            client.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        async def record(*args: Any) -> None:
            self.got.setdefault(name, []).append(args[0] if args else None)
            self.changed.set()
        return record

    async def wait(self, name: str, count: int = 1) -> list[Any]:
        async def enough() -> None:
            while len(self.got.get(name, [])) < count:
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(enough(), WAIT)
        return self.got[name]


def run(coroutine: Any) -> Any:
    # a thread of its own: a session-wide Playwright browser may hold the main thread's loop
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=300)


def test_androidaps_nsclient_v1_over_socketio(stack: Stack) -> None:
    secret = stack.uploader("ann-aaps")
    xdrip = stack.client(**{"api-secret": sha1(stack.uploader("ann-xdrip"))})
    now = datetime.now(UTC).replace(microsecond=0)
    history = [{"type": "sgv", "sgv": 100 + i, "direction": "Flat", "device": "xDrip-G6",
                "date": ms(now - timedelta(minutes=5 * (4 - i)))} for i in range(4)]
    assert xdrip.post("/api/v1/entries", json=history).status_code == 200
    stack.wait_for(Metric.GLUCOSE, 4)

    async def aaps(url: str) -> dict[str, Any]:
        client = socketio.AsyncClient(reconnection=False)
        events = Events(client)
        await client.connect(url, transports=["polling", "websocket"])
        auth = await client.call("authorize", {
            "client": "Android_AAPS", "history": 24, "status": True, "from": 0,
            "secret": sha1(secret)}, timeout=WAIT)
        await events.wait("connected")
        (full,) = await events.wait("dataUpdate")
        bolus_at = now - timedelta(minutes=2)
        bolus = {"eventType": "Meal Bolus", "insulin": 3.5,
                 "created_at": bolus_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                 "date": ms(bolus_at), "type": "NORMAL", "notes": None, "isValid": True,
                 "isSMB": False, "pumpId": 4711, "pumpType": "ACCU_CHEK_INSIGHT",
                 "pumpSerial": "33013206"}
        added = await client.call("dbAdd", {"collection": "treatments", "data": bolus},
                                  timeout=WAIT)
        sgv_at = now - timedelta(seconds=30)
        sgv = {"device": "AndroidAPS-DexcomG6", "date": ms(sgv_at),
               "dateString": sgv_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "isValid": True,
               "sgv": 121.0, "direction": "FortyFiveUp", "type": "sgv"}
        added_sgv = await client.call("dbAdd", {"collection": "entries", "data": sgv},
                                      timeout=WAIT)
        update = await client.call("dbUpdate", {"collection": "treatments",
                                                "_id": added[0]["_id"], "data": bolus},
                                   timeout=WAIT)
        # what was added comes back to every listener as a delta dataUpdate
        delta_sgvs: list[Any] = []
        while not any(s["mgdl"] == 121 for s in delta_sgvs):
            updates = await events.wait("dataUpdate", len(events.got["dataUpdate"]) + 1)
            delta_sgvs += [s for u in updates[1:] for s in u.get("sgvs", [])]
        # an urgent care alert: urgent_alarm; answered on the dashboard: clear_alarm
        with Session(stack.engine) as session:
            session.add(CoachAlert(id="alert-low-1", patient_id="ann", flag_type="urgent_low",
                                   kind="alert", audience="coach", priority="urgent",
                                   title="Urgent low", body="Glucose 50 mg/dL",
                                   why="below 54 mg/dL"))
            session.add(CoachAlert(id="alert-high-1", patient_id="ann",
                                   flag_type="prolonged_high", kind="alert", audience="coach",
                                   priority="high", title="High for 3 hours",
                                   body="Glucose above 250 mg/dL", why="prolonged high"))
            session.commit()
        (urgent,) = await events.wait("urgent_alarm")
        (alarm,) = await events.wait("alarm")
        with Session(stack.engine) as session:
            alert = session.get(CoachAlert, "alert-low-1")
            assert alert is not None
            alert.state = "acknowledged"
            session.commit()
        (cleared,) = await events.wait("clear_alarm")
        # AndroidAPS dismisses every alarm on clear_alarm: the open one is announced again
        again = (await events.wait("alarm", 2))[1]
        updates = list(events.got["dataUpdate"])
        await client.disconnect()
        return {"auth": auth, "full": full, "added": added, "added_sgv": added_sgv,
                "update": update, "updates": updates, "urgent": urgent, "alarm": alarm,
                "cleared": cleared, "again": again}

    with serving(stack.app) as url:
        got = run(aaps(url))

    assert got["auth"] == {"read": True, "write": True, "write_treatment": True}
    full = got["full"]
    assert "delta" not in full and full["status"]["status"] == "ok"
    assert [s["mgdl"] for s in full["sgvs"]] == [100, 101, 102, 103]  # oldest first
    assert [s["mills"] for s in full["sgvs"]] == [h["date"] for h in history]
    assert full["sgvs"][0]["direction"] == "Flat" and full["sgvs"][0]["device"] == "xDrip-G6"
    assert got["added"][0]["_id"] and got["added"][0]["insulin"] == 3.5
    assert got["added_sgv"][0]["_id"]
    # websocket.js answers "success" (NSUpdateAck marks it synced); the edit itself is
    # test_nightscout_changes.py's
    assert got["update"] == {"result": "success"}
    assert all(u.get("delta") is True for u in got["updates"][1:])
    assert got["urgent"]["level"] == 2 and got["urgent"]["title"] == "Urgent low"
    assert got["alarm"]["level"] == 1 and got["alarm"]["title"] == "High for 3 hours"
    assert got["cleared"]["clear"] is True
    assert got["again"]["title"] == "High for 3 hours"
    # what AAPS added is stored like any upload, under its own uploader
    assert [r.value for r in stack.wait_for(Metric.INSULIN, 1)] == [3.5]
    stored = stack.wait_for(Metric.GLUCOSE, 5)
    assert [(r.value, r.device_id) for r in stored][-1] == (121, "ann-aaps")


def test_socketio_follower_reads_and_strangers_are_disconnected(stack: Stack) -> None:
    secret = stack.uploader("ann-xdrip")
    uploader = stack.client(**{"api-secret": sha1(secret)})
    now = datetime.now(UTC).replace(microsecond=0)
    assert uploader.post("/api/v1/entries", json=[{"type": "sgv", "sgv": 130,
                                                   "date": ms(now)}]).status_code == 200
    stack.wait_for(Metric.GLUCOSE, 1)
    made = uploader.post("/api/v2/authorization/subjects",
                         json={"name": "Mum", "roles": ["readable"]})
    token = made.json()["accessToken"]

    async def follower(url: str) -> dict[str, Any]:
        client = socketio.AsyncClient(reconnection=False)
        events = Events(client)
        await client.connect(url)
        auth = await client.call("authorize", {"client": "web", "token": token,
                                               "history": 1}, timeout=WAIT)
        (full,) = await events.wait("dataUpdate")
        refused = await client.call("dbAdd", {"collection": "entries", "data": {
            "type": "sgv", "sgv": 99, "date": ms(now)}}, timeout=WAIT)
        await client.disconnect()

        stranger = socketio.AsyncClient(reconnection=False)
        stranger_events = Events(stranger)
        await stranger.connect(url)
        await stranger.emit("authorize", {"client": "web", "secret": sha1("not a secret")})
        await stranger_events.wait("disconnect")
        return {"auth": auth, "full": full, "refused": refused,
                "stranger_data": stranger_events.got.get("dataUpdate")}

    with serving(stack.app) as url:
        got = run(follower(url))
    assert got["auth"] == {"read": True, "write": False, "write_treatment": False}
    assert [s["mgdl"] for s in got["full"]["sgvs"]] == [130]
    assert got["refused"] == {"result": "Not authorized"}
    assert got["stranger_data"] is None
    assert len(stack.read(Metric.GLUCOSE)) == 1


def test_androidaps_nsclient_v3_websockets(stack: Stack) -> None:
    """NSClient v3's optional websockets, plugins/sync/.../nsclientV3/services/
    NSClientV3Service.kt: ``IO.socket(<url>/storage)`` and ``IO.socket(<url>/alarm)``;
    ``emit("subscribe", {accessToken, collections: [devicestatus, entries, profile,
    treatments, foods, settings]})`` and ``{accessToken}``, acks read with
    ``optBoolean("success")``; ``create``/``update`` events ``{colName, doc}`` (the doc's
    ``srvModified`` read with ``getLong``); ``alarm``/``urgent_alarm``/``clear_alarm`` on
    /alarm. Server side: cgm-remote-monitor lib/api3/storageSocket.js, alarmSocket.js."""
    secret = stack.uploader("ann-aaps")
    xdrip = stack.client(**{"api-secret": sha1(stack.uploader("ann-xdrip"))})
    result: dict[str, Any] = {}

    async def aaps(url: str) -> dict[str, Any]:
        client = socketio.AsyncClient(reconnection=False)
        events = Events(client)
        for name in ("create", "delete", "urgent_alarm"):
            client.on(name, events._recorder(f"{name}@ns"), namespace="/alarm"
                      if name == "urgent_alarm" else "/storage")
        await client.connect(url, namespaces=["/storage", "/alarm"])
        storage = await client.call("subscribe", {
            "accessToken": secret, "collections": ["devicestatus", "entries", "profile",
                                                   "treatments", "foods", "settings"]},
            namespace="/storage", timeout=WAIT)
        alarm = await client.call("subscribe", {"accessToken": secret}, namespace="/alarm",
                                  timeout=WAIT)
        bad = await client.call("subscribe", {"accessToken": "wrong"}, namespace="/alarm",
                                timeout=WAIT)
        # a reading taken after the subscription (storage events are what is new)
        taken = datetime.now(UTC) + timedelta(seconds=1)
        result["taken"] = ms(taken)
        assert xdrip.post("/api/v1/entries", json=[{
            "type": "sgv", "sgv": 111, "direction": "Flat", "device": "xDrip-G6",
            "date": ms(taken)}]).status_code == 200
        (created,) = await events.wait("create@ns")
        # deleted through API v3 by another client: a ``delete`` event
        identifier = created["doc"]["identifier"]
        gone = await asyncio.to_thread(httpx.delete, f"{url}/api/v3/entries/{identifier}",
                                       params={"token": secret}, timeout=30)
        assert gone.status_code == 200
        (deleted,) = await events.wait("delete@ns")
        with Session(stack.engine) as session:
            session.add(CoachAlert(id="alert-low-2", patient_id="ann", flag_type="urgent_low",
                                   kind="alert", audience="coach", priority="urgent",
                                   title="Urgent low", body="Glucose 50 mg/dL",
                                   why="below 54 mg/dL"))
            session.commit()
        (urgent,) = await events.wait("urgent_alarm@ns")
        await client.disconnect()
        return {**result, "storage": storage, "alarm": alarm, "bad": bad,
                "created": created, "deleted": deleted, "urgent": urgent}

    with serving(stack.app) as url:
        got = run(aaps(url))
    assert got["storage"] == {"success": True, "collections": [
        "devicestatus", "entries", "profile", "treatments", "settings"]}
    assert got["alarm"] == {"success": True, "message": "Subscribed for alarms"}
    assert got["bad"]["success"] is False
    assert got["created"]["colName"] == "entries"
    doc = got["created"]["doc"]
    assert (doc["sgv"], doc["date"]) == (111, got["taken"])
    assert isinstance(doc["srvModified"], int)  # the server's time of taking it
    assert doc["identifier"] and doc["device"] == "xDrip-G6"
    assert got["deleted"] == {"colName": "entries", "identifier": doc["identifier"]}
    assert got["urgent"]["level"] == 2 and got["urgent"]["title"] == "Urgent low"
