"""AndroidAPS's NSClient v3 against a live Hearth (uvicorn on a loopback port, the real
Mosquitto, ingest and SQLite stores): each request as AndroidAPS sends it.

From https://github.com/nightscout/AndroidAPS (master, April 2026):
- core/nssdk/src/main/kotlin/app/aaps/core/nssdk/networking/NightscoutRemoteService.kt:
  the paths and queries (``v3/status``, ``v3/lastModified``, ``v3/entries?sort$desc=date&
  type=sgv``, ``v3/entries?sort=date&date$gt=&limit=``, ``v3/{col}/history/{from}``,
  ``v3/treatments?sort=created_at&created_at$gt=&limit=``, ``POST``/``PATCH``/``DELETE``,
  ``v3/food?limit=``, ``v3/profile?sort$desc=date&limit=1``), relative to ``https://<host>/api/``;
- .../networking/NSAuthInterceptor.kt and NightscoutAuthRefreshService.kt: every request
  carries ``Date: <ms>`` and ``Authorization: Bearer <jwt>`` (empty at first); a 401 or 403
  fetches ``/api/v2/authorization/request/<access token>`` and retries with its ``token``;
- .../NSAndroidClientImpl.kt: ``app = "AAPS"`` on each created document; a 200 or 201
  answer's ``identifier``, ``isDeduplication``, ``lastModified``; history's ``ETag``
  ``W/"<ms>"`` read with ``substring(3, length - 1)``;
- .../localmodel/ApiPermissions.kt: uploads only with ``crud`` on all six collections;
- plugins/sync/.../nsclientV3/extensions/GlucoseValueExtension.kt, BolusExtension.kt,
  CarbsExtension.kt, TemporaryBasalExtension.kt, DeviceStatusExtension.kt and
  core/nssdk/.../mapper/TreatmentMapper.kt, SvgMapper.kt: the documents (Gson leaves nulls
  out; ``duration`` in minutes beside ``durationInMilliseconds``; the device status's
  battery as ``uploaderBattery``);
- plugins/sync/.../nsclientV3/NSClientV3Plugin.kt: a 400 is logged as FAIL and the queue
  goes on; 200/201/404 are success.
Server semantics: cgm-remote-monitor lib/api3 (generic/*/operation.js, shared/
operationTools.js: the identifier is UUID v5 of ``device_date[_eventType]`` in the
namespace "NightscoutRocks!").
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from core.metrics import Metric
from tests.interop.nightscout_apps.conftest import Stack, ms
from tests.support.dashboard_server import serving

NAMESPACE = uuid.UUID(bytes=b"NightscoutRocks!")


class AapsClient:
    """NSAuthInterceptor: Bearer JWT, refreshed from the access token on a 401/403."""

    def __init__(self, base: str, access_token: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=f"{base}/api/", timeout=30)
        self.access_token = access_token
        self.jwt = ""
        self.refreshes = 0

    def _headers(self) -> dict[str, str]:
        # OkHttp trims header values: before the first refresh it sends "Bearer"
        return {"Date": str(ms(datetime.now(UTC))),
                "Authorization": f"Bearer {self.jwt}".strip()}

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = self.http.request(method, path, json=body, headers=self._headers())
        if response.status_code in (401, 403):
            # Retrofit: "/api/v2/..." with a leading slash is from the host's root
            refreshed = self.http.get(
                f"{self.base}/api/v2/authorization/request/{self.access_token}")
            if refreshed.status_code != 200:
                return response
            self.refreshes += 1
            self.jwt = refreshed.json()["token"]
            response = self.http.request(method, path, json=body, headers=self._headers())
        return response


def sgv(when: datetime, value: float, direction: str = "Flat") -> dict[str, Any]:
    """GV.toNSSvgV3() -> toRemoteEntry(), app set by createSgv (nulls left out by Gson)."""
    return {"type": "sgv", "date": ms(when), "device": "G6-Native", "direction": direction,
            "isValid": True, "isReadOnly": False, "filtered": value * 1000.0,
            "unfiltered": 0.0, "units": "mg/dl", "sgv": value, "utcOffset": 60,
            "app": "AAPS"}


def test_androidaps_nsclient_v3_uploads_and_reads_back(stack: Stack) -> None:
    secret = stack.uploader("ann-aaps")
    now = datetime.now(UTC).replace(microsecond=0)
    t = [now - timedelta(minutes=5 * (3 - i)) for i in range(4)]
    with serving(stack.app) as url:
        aaps = AapsClient(url, secret)
        # LoadStatusWorker: the first request has no JWT yet -> 401 -> refresh -> retry
        status = aaps.call("GET", "v3/status")
        assert status.status_code == 200 and aaps.refreshes == 1
        result = status.json()["result"]
        assert result["apiVersion"].startswith("3.") and result["version"]
        assert result["apiPermissions"] == dict.fromkeys(
            ("devicestatus", "entries", "food", "profile", "settings", "treatments"), "crud")
        assert aaps.call("GET", "v3/lastModified").json()["result"]["collections"] == {}

        # DataSyncSelectorV3: glucose values, boluses, carbs, temp basals, device status
        before = ms(datetime.now(UTC)) - 1  # srvModified is the server's time of taking it
        created = [aaps.call("POST", "v3/entries", sgv(when, 110 + 5 * i))
                   for i, when in enumerate(t)]
        assert [r.status_code for r in created] == [201] * 4
        ids = [r.json()["identifier"] for r in created]
        assert ids[0] == str(uuid.uuid5(NAMESPACE, f"G6-Native_{ms(t[0])}"))
        assert created[0].json()["lastModified"] >= before
        bolus = {"date": ms(t[1]), "identifier": None, "utcOffset": 60, "isValid": True,
                 "isReadOnly": False, "eventType": "Meal Bolus", "pumpId": 4711,
                 "pumpType": "ACCU_CHEK_INSIGHT", "pumpSerial": "33013206", "insulin": 4.5,
                 "type": "NORMAL", "isBasalInsulin": False, "app": "AAPS"}
        bolus = {k: v for k, v in bolus.items() if v is not None}
        carbs = {"date": ms(t[1]) + 2000, "utcOffset": 60, "isValid": True, "isReadOnly": False,
                 "eventType": "Carb Correction", "carbs": 10.0, "app": "AAPS",
                 "notes": "juice"}
        temp = {"date": ms(t[2]), "utcOffset": 60, "isValid": True, "isReadOnly": False,
                "eventType": "Temp Basal", "duration": 30, "durationInMilliseconds": 1800000,
                "absolute": 0.4, "rate": 0.4, "type": "NORMAL", "app": "AAPS"}
        answers = [aaps.call("POST", "v3/treatments", doc) for doc in (bolus, carbs, temp)]
        assert [a.status_code for a in answers] == [201, 201, 201]
        bolus_id, carbs_id, temp_id = (a.json()["identifier"] for a in answers)
        assert bolus_id == str(uuid.uuid5(NAMESPACE, f"undefined_{ms(t[1])}_Meal Bolus"))
        status_doc = {"date": ms(t[3]), "device": "openaps://samsung SM-G970F",
                      "pump": {"clock": t[3].isoformat(), "reservoir": 120.5,
                               "battery": {"percent": 75}, "status": {"status": "normal"}},
                      "openaps": {"iob": {"iob": 1.2, "time": t[3].isoformat()},
                                  "suggested": {"COB": 10, "bg": 125}},
                      "uploaderBattery": 64, "isCharging": False,
                      "configuration": {"pump": "ACCU_CHEK_INSIGHT", "version": "3.3.1"},
                      "app": "AAPS"}
        assert aaps.call("POST", "v3/devicestatus", status_doc).status_code == 201

        stack.wait_for(Metric.GLUCOSE, 4)
        stack.wait_for(Metric.THERAPY_EVENT, 1)
        stack.wait_for(Metric.DEVICE_BATTERY, 1)
        stored = stack.read(Metric.GLUCOSE)
        assert [r.value for r in stored] == [110, 115, 120, 125]
        assert {r.device_id for r in stored} == {"ann-aaps"}
        assert [r.value for r in stack.wait_for(Metric.INSULIN, 1)] == [4.5]
        assert [r.value for r in stack.wait_for(Metric.CARBS, 1)] == [10]

        # The same glucose value sent again (AAPS re-syncs after a reinstall): 200, deduplicated
        again = aaps.call("POST", "v3/entries", sgv(t[0], 110))
        assert again.status_code == 200 and again.json()["isDeduplication"] is True
        assert again.json()["identifier"] == ids[0]

        # LoadBgWorker: the newest first, then newer than a date, then history
        newest = aaps.call("GET", "v3/entries?sort$desc=date&type=sgv").json()["result"]
        assert [e["sgv"] for e in newest] == [125, 120, 115, 110]
        assert [e["identifier"] for e in newest] == ids[::-1]
        assert newest[0]["direction"] == "Flat" and newest[0]["utcOffset"] == 60
        assert newest[0]["srvModified"] >= before and newest[0]["isValid"] is True
        assert newest[0]["srvModified"] >= newest[1]["srvModified"]  # uploaded in order
        newer = aaps.call("GET", f"v3/entries?sort=date&date$gt={ms(t[1])}&limit=500")
        assert [e["sgv"] for e in newer.json()["result"]] == [120, 125]
        # history is by the server's time of each change, not the readings' own
        changed = aaps.call("GET", f"v3/entries/history/{before}?limit=500")
        assert [e["sgv"] for e in changed.json()["result"]] == [110, 115, 120, 125]
        etag = changed.headers["ETag"]
        newest_change = int(etag[3:len(etag) - 1])  # NSAndroidClientImpl's parsing
        assert newest_change == max(e["srvModified"] for e in changed.json()["result"])
        assert aaps.call("GET", f"v3/entries/history/{newest_change}").json()["result"] == []

        # LoadTreatmentsWorker: first load by created_at, then history
        iso = (t[0]).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # dateUtil.toISOString
        first = aaps.call("GET", f"v3/treatments?sort=created_at&created_at$gt={iso}&limit=500")
        treatments = first.json()["result"]
        assert [(d["eventType"], d["identifier"]) for d in treatments] == [
            ("Meal Bolus", bolus_id), ("Carb Correction", carbs_id), ("Temp Basal", temp_id)]
        by_type = {d["eventType"]: d for d in treatments}
        assert by_type["Meal Bolus"]["insulin"] == 4.5
        assert by_type["Carb Correction"]["carbs"] == 10
        assert by_type["Carb Correction"]["notes"] == "juice"
        assert by_type["Temp Basal"]["duration"] == 30
        assert by_type["Temp Basal"]["date"] == ms(t[2])
        history = aaps.call("GET", f"v3/treatments/history/{before}?limit=500")
        assert len(history.json()["result"]) == 3

        # LoadDeviceStatusWorker, LoadFoodsWorker, LoadProfileStoreWorker
        statuses = aaps.call("GET", f"v3/devicestatus/history/{before}").json()["result"]
        assert statuses[0]["uploaderBattery"] == 64
        assert statuses[0]["pump"]["reservoir"] == 120.5
        assert statuses[0]["device"] == "openaps://samsung SM-G970F"
        assert aaps.call("GET", "v3/food?limit=1000").json() == {"status": 200, "result": []}
        assert aaps.call("GET", "v3/profile?sort$desc=date&limit=1").json()["result"] == []
        assert aaps.call("GET", f"v3/profile/history/{ms(t[0])}?limit=10").status_code == 200
        modified = aaps.call("GET", "v3/lastModified").json()["result"]["collections"]
        assert set(modified) == {"entries", "treatments", "devicestatus"}
        assert all(before <= m <= ms(datetime.now(UTC)) for m in modified.values())

        # A treatment invalidated in AAPS: DELETE, then it is gone from every read
        # (edits, entry deletions and profiles: test_nightscout_changes.py)
        assert aaps.call("DELETE", f"v3/treatments/{carbs_id}").status_code == 200
        left = aaps.call("GET", f"v3/treatments?sort=created_at&created_at$gt={iso}&limit=500")
        assert [d["eventType"] for d in left.json()["result"]] == ["Meal Bolus", "Temp Basal"]
        assert aaps.call("DELETE", f"v3/treatments/{uuid.uuid4()}").status_code == 404

        # What AAPS uploaded is what every other client reads (v1)
        v1 = httpx.get(f"{url}/api/v1/entries.json", params={"token": secret}).json()
        assert [e["sgv"] for e in v1] == [125, 120, 115, 110]

        # Revoking the uploader ends its JWT at once
        stack.provisioner.revoke("ann-aaps")
        refused = aaps.http.get("v3/status", headers=aaps._headers())
        assert refused.status_code == 401
        assert refused.json() == {"status": 401,
                                  "message": "Missing or bad access token or JWT"}
        assert aaps.call("GET", "v3/status").status_code == 401  # its refresh is refused too


def test_v3_follower_token_reads_and_may_not_write(stack: Stack) -> None:
    secret = stack.uploader("ann-aaps")
    now = datetime.now(UTC).replace(microsecond=0)
    with serving(stack.app) as url:
        uploader = AapsClient(url, secret)
        assert uploader.call("POST", "v3/entries", sgv(now, 140)).status_code == 201
        stack.wait_for(Metric.GLUCOSE, 1)
        made = httpx.post(f"{url}/api/v2/authorization/subjects",
                          params={"token": secret}, json={"name": "Mum", "roles": ["readable"]})
        follower = AapsClient(url, made.json()["accessToken"])
        status = follower.call("GET", "v3/status").json()["result"]
        assert set(status["apiPermissions"].values()) == {"r"}
        assert [e["sgv"] for e in follower.call("GET", "v3/entries").json()["result"]] == [140]
        refused = follower.call("POST", "v3/entries", sgv(now + timedelta(minutes=5), 150))
        assert refused.status_code == 403
        assert refused.json()["message"] == "Missing permission api:entries:create"
        # no credential at all, an unknown collection, a bad query
        assert httpx.get(f"{url}/api/v3/entries").status_code == 401
        assert follower.call("GET", "v3/nothing").status_code == 404
        assert follower.call("GET", "v3/entries?limit=0").json() == {
            "status": 400, "message": "Parameter limit out of tolerance"}
        assert follower.call("GET", "v3/entries?date$like=1").status_code == 400
