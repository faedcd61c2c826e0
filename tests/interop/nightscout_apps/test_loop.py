"""Loop against Hearth, request for request.

Replayed from Loop's Nightscout client, NightscoutKit
https://github.com/LoopKit/NightscoutKit/blob/main/Sources/NightscoutKit/NightscoutClient.swift
(commit 4ec9fd12): ``checkAuth`` (GET /api/v1/experiments/test with the ``api-secret``
header, the SHA-1 hex of the secret; Loop cannot be set up unless it is 200), then
``flushEntries``, ``upload(_ treatments:)``, ``uploadDeviceStatuses`` (each a POST of an
array; ``postToNS`` refuses an answer that is not an array of as many objects, each with
an ``_id``, and re-queues the upload), ``modifyTreatments`` (PUT), and the date-range
reads ``fetchGlucose`` (``find[dateString][$gte|$lte]``), ``fetchTreatments`` and
``fetchDeviceStatus`` (``find[created_at][$gte|$lte]``), ``deleteTreatmentsById``
(DELETE /api/v1/treatments/<id>), dates from
``TimeFormat.timestampStrFromDate`` (ISO 8601 without fractions). Documents as the
models' ``dictionaryRepresentation`` build them (Models/GlucoseEntry.swift,
Models/Treatments/*.swift, Models/DeviceStatus.swift).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.metrics import Metric
from tests.interop.nightscout_apps.conftest import Stack, sha1
from tests.support.factories import wait_until

LOOP = "loop://Ann's iPhone"


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")  # ISO8601DateFormatter, no fractions


def glucose_entry(when: datetime, value: int) -> dict[str, Any]:
    return {"date": when.timestamp() * 1000, "dateString": iso(when),
            "device": "Dexcom G6 1234", "type": "sgv", "sgv": value, "trend": 4,
            "direction": "Flat", "trendRate": 0.1, "isCalibration": False}


def base(when: datetime, event: str, sync: str) -> dict[str, Any]:
    return {"created_at": iso(when), "timestamp": iso(when), "enteredBy": LOOP,
            "eventType": event, "syncIdentifier": sync}


def test_loop_setup_uploads_and_date_range_reads(stack: Stack) -> None:
    secret = stack.uploader("ann-loop")
    loop = stack.client(**{"api-secret": sha1(secret), "Content-Type": "application/json",
                           "Accept": "application/json"})
    now = datetime.now(UTC).replace(microsecond=0)

    # checkAuth: the set-up screen.
    assert loop.get("/api/v1/experiments/test").status_code == 200
    wrong = stack.client(**{"api-secret": sha1("not the secret")})
    assert wrong.get("/api/v1/experiments/test").status_code == 401  # .unauthorized

    # flushEntries
    entries = [glucose_entry(now - timedelta(minutes=5 * (6 - i)), 120 + i) for i in range(7)]
    posted = loop.post("/api/v1/entries", json=entries)
    assert posted.status_code == 200, posted.text
    assert len(posted.json()) == len(entries) and all(e["_id"] for e in posted.json())

    # upload(_ treatments:): a carb entry, an automatic bolus, a temp basal, a note.
    t_meal = now - timedelta(minutes=25)
    treatments = [
        {**base(t_meal, "Carb Correction", "carb-1"), "carbs": 40, "absorptionTime": 180,
         "foodType": "🌮", "userEnteredAt": iso(t_meal)},
        {**base(t_meal + timedelta(seconds=5), "Correction Bolus", "bolus-1"),
         "type": "normal", "insulin": 3.35, "programmed": 3.35, "unabsorbed": 0,
         "duration": 0, "automatic": True, "insulinType": "Humalog"},
        {**base(now - timedelta(minutes=20), "Temp Basal", "basal-1"), "temp": "absolute",
         "rate": 1.25, "absolute": 1.25, "duration": 30, "amount": 0.1, "automatic": True},
        {**base(now - timedelta(minutes=15), "Note", "note-1"),
         "notes": "Pump site changed; the old one was sore"},
    ]
    answer = loop.post("/api/v1/treatments", json=treatments)
    assert answer.status_code == 200, answer.text
    ids = [t["_id"] for t in answer.json()]
    assert len(ids) == len(treatments) and all(len(i) == 24 for i in ids)
    assert [r.value for r in stack.wait_for(Metric.CARBS, 1)] == [40]
    assert [r.value for r in stack.wait_for(Metric.INSULIN, 1)] == [3.35]
    events = stack.wait_for(Metric.THERAPY_EVENT, 2)
    assert [(r.context, r.value) for r in events] == [("Temp Basal", 30), ("Note", 0)]

    # uploadDeviceStatuses
    status = {"device": LOOP, "created_at": iso(now),
              "pump": {"clock": iso(now), "pumpID": "123456", "manufacturer": "Insulet",
                       "model": "Dash", "battery": {"percent": 60}, "suspended": False,
                       "bolusing": False, "reservoir": 112.5},
              "uploader": {"name": "Ann's iPhone", "timestamp": iso(now), "battery": 71},
              "loop": {"name": "Loop", "version": "3.4.1", "timestamp": iso(now),
                       "iob": {"timestamp": iso(now), "iob": 2.1},
                       "cob": {"timestamp": iso(now), "cob": 31},
                       "recommendedBolus": 0.0}}
    sent = loop.post("/api/v1/devicestatus", json=[status])
    assert sent.status_code == 200, sent.text
    assert len(sent.json()) == 1 and sent.json()[0]["_id"]
    assert stack.wait_for(Metric.DEVICE_BATTERY, 1)[0].value == 71

    # modifyTreatments: the same treatment again with its _id (nothing doubles).
    assert loop.put("/api/v1/treatments",
                    json={**treatments[0], "_id": ids[0]}).status_code == 200

    # fetchGlucose / fetchTreatments / fetchDeviceStatus for the last 40 minutes.
    interval = {"$gte": iso(now - timedelta(minutes=40)), "$lte": iso(now)}
    glucose = loop.get("/api/v1/entries", params={
        "find[dateString][$gte]": interval["$gte"], "find[dateString][$lte]": interval["$lte"],
        "count": "288"}).json()
    assert [g["sgv"] for g in glucose] == [126, 125, 124, 123, 122, 121, 120]
    assert all({"_id", "date", "sgv", "trend", "direction", "device"} <= set(g)
               for g in glucose)
    assert glucose[0]["trend"] == 4 and glucose[0]["device"] == "Dexcom G6 1234"

    read = loop.get("/api/v1/treatments", params={
        "find[created_at][$gte]": interval["$gte"], "find[created_at][$lte]": interval["$lte"]}
                    ).json()
    by_type = {t["eventType"]: t for t in read}
    assert set(by_type) == {"Carb Correction", "Correction Bolus", "Temp Basal", "Note"}
    carb = by_type["Carb Correction"]
    assert (carb["carbs"], carb["absorptionTime"], carb["enteredBy"]) == (40, 180, LOOP)
    assert carb["timestamp"] == iso(t_meal).replace("Z", ".000Z")
    assert carb["_id"] == ids[0]
    bolus = by_type["Correction Bolus"]
    assert (bolus["insulin"], bolus["type"], bolus["programmed"], bolus["duration"],
            bolus["automatic"]) == (3.35, "normal", 3.35, 0, True)
    assert by_type["Temp Basal"]["rate"] == 1.25
    assert by_type["Note"]["notes"] == "Pump site changed; the old one was sore"
    assert len(read) == 4

    # deleteTreatmentsById: the note goes; the others stay.
    note_id = by_type["Note"]["_id"]
    assert note_id == ids[3]
    assert loop.delete(f"/api/v1/treatments/{note_id}").status_code == 200
    wait_until(lambda: len(loop.get("/api/v1/treatments").json()) == 3, timeout=20,
               message="the note deleted")
    assert "Note" not in {t["eventType"] for t in loop.get("/api/v1/treatments").json()}

    statuses = loop.get("/api/v1/devicestatus", params={
        "find[created_at][$gte]": interval["$gte"], "find[created_at][$lte]": interval["$lte"]}
                        ).json()
    (served,) = statuses
    assert served["device"] == LOOP and served["uploader"]["battery"] == 71
    assert served["pump"]["battery"]["percent"] == 60
    assert served["pump"]["reservoir"] == 112.5
    assert served["loop"]["iob"]["iob"] == 2.1 and served["loop"]["cob"]["cob"] == 31
    assert served["created_at"].startswith(iso(now)[:-1])
