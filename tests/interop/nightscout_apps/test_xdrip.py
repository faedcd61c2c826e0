"""xDrip+ against Hearth, request for request.

Replayed from xDrip+'s own uploader,
https://github.com/NightscoutFoundation/xDrip/blob/master/app/src/main/java/com/eveningoutpost/dexdrip/utilitymodels/NightscoutUploader.java
(commit c2a0ba1a): ``doRESTUpload`` -> ``doStatusUpdate`` (GET status.json), then
``doRESTUploadTo``: one POST /entries with the sensor readings
(``populateV1APIBGEntry``), the blood tests (``populateV1APIMeterReadingEntry``) and,
for each calibration, an ``mbg`` plus a ``cal`` (``populateV1APICalibrationEntry``);
then ``postDeviceStatus`` (``NightscoutBatteryDevice.getUploaderJson``), then
``postTreatments`` (PUT /treatments, one object each, ``_id`` from ``uuid_to_id``; a
delete looks the ``_id`` up with ``find[uuid]`` and sends DELETE /treatments/<_id>).
A failed request makes xDrip+ send its whole queue again, so a re-send must change
nothing; the ``api-secret`` header is the SHA-1 hex of the secret in the URL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.metrics import Metric
from core.nightscout_voids import VoidedReadings, VoidFilteredStore
from tests.interop.nightscout_apps.conftest import Stack, ms, sha1, xdrip_date
from tests.support.factories import wait_until

DEVICE = "xDrip-DexcomG6"


def sgv(when: datetime, value: int, direction: str = "Flat", delta: float = 0.5
        ) -> dict[str, Any]:
    """populateV1APIBGEntry."""
    return {"device": DEVICE, "date": ms(when), "dateString": xdrip_date(when), "sgv": value,
            "delta": delta, "direction": direction, "type": "sgv",
            "filtered": value * 1000.0 + 123, "unfiltered": value * 1000.0 + 456,
            "rssi": 100, "noise": 1, "sysTime": xdrip_date(when)}


def mbg(when: datetime, value: float) -> dict[str, Any]:
    """populateV1APIMeterReadingEntry (a calibration is also sent as one)."""
    return {"device": DEVICE, "type": "mbg", "date": ms(when), "dateString": xdrip_date(when),
            "mbg": value, "sysTime": xdrip_date(when)}


def cal(when: datetime) -> dict[str, Any]:
    """populateV1APICalibrationEntry (slope 1000/slope, intercept -1000*intercept/slope)."""
    return {"device": DEVICE, "type": "cal", "date": ms(when), "dateString": xdrip_date(when),
            "slope": 1000 / 0.85, "intercept": (-25.0 * -1000) / 0.85, "scale": 1,
            "sysTime": xdrip_date(when)}


def test_xdrip_upload_sequence_with_a_mixed_batch_and_a_resend(stack: Stack) -> None:
    secret = stack.uploader("ann-xdrip")
    xdrip = stack.client(**{"api-secret": sha1(secret)})
    now = datetime.now(UTC).replace(microsecond=0)
    t = [now - timedelta(minutes=5 * (11 - i)) for i in range(12)]

    # doStatusUpdate
    status = xdrip.get("/api/v1/status.json")
    assert status.status_code == 200 and status.json()["apiEnabled"] is True

    # doRESTUploadTo: sensor readings, a blood test, a calibration (mbg + cal), one array.
    batch = [sgv(t[i], 100 + 3 * i, "FortyFiveUp", 3.0) for i in range(10)]
    batch.append(mbg(t[4] + timedelta(seconds=20), 112))  # a blood test
    batch += [mbg(t[6] + timedelta(seconds=30), 118), cal(t[6] + timedelta(seconds=30))]
    answer = xdrip.post("/api/v1/entries", json=batch)
    assert answer.status_code == 200, answer.text  # a cal never fails the batch any more
    assert len(answer.json()) == len(batch)

    glucose = stack.wait_for(Metric.GLUCOSE, 12)
    assert [(r.value, r.source) for r in glucose if r.source == "meter"] == [
        (112.0, "meter"), (118.0, "meter")]
    assert len([r for r in glucose if r.source == "cgm"]) == 10
    (calibration,) = stack.wait_for(Metric.CGM_CALIBRATION, 1)
    assert round(calibration.value, 3) == round(1000 / 0.85, 3)

    # postDeviceStatus: the phone's battery, no date (Nightscout stamps it).
    device = xdrip.post("/api/v1/devicestatus", json={
        "device": "Google Pixel 7", "uploader": {"battery": 87, "type": "PHONE"}})
    assert device.status_code == 200, device.text
    (battery,) = stack.wait_for(Metric.DEVICE_BATTERY, 1)
    assert battery.value == 87

    # postTreatments: an upsert per treatment (PUT), _id = uuid_to_id(uuid).
    uuid = "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
    treatment = {"timestamp": ms(t[8]), "eventType": "<none>", "enteredBy": "xdrip",
                 "notes": "pasta", "uuid": uuid, "carbs": 45, "insulin": 4.5,
                 "created_at": t[8].strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "sysTime": xdrip_date(t[8]), "_id": uuid.replace("-", "")[:24]}
    put = xdrip.put("/api/v1/treatments", json=treatment)
    assert put.status_code == 200, put.text
    assert stack.wait_for(Metric.CARBS, 1)[0].value == 45
    assert stack.wait_for(Metric.INSULIN, 1)[0].value == 4.5

    # The queue sent again (xDrip+ retries everything after a failure): nothing doubles.
    again = xdrip.post("/api/v1/entries", json=batch + [sgv(t[10], 131), sgv(t[11], 133)])
    assert again.status_code == 200
    assert xdrip.put("/api/v1/treatments", json=treatment).status_code == 200
    wait_until(lambda: len(stack.read(Metric.GLUCOSE)) == 14, timeout=20,
               message="the two new readings stored")
    assert len(stack.read(Metric.CGM_CALIBRATION)) == 1
    assert len(stack.read(Metric.CARBS)) == 1

    # What a follower or xDrip+'s own Nightscout follow mode reads back.
    entries = xdrip.get("/api/v1/entries.json", params={"count": "100"}).json()
    assert [e["type"] for e in entries].count("sgv") == 12
    newest = entries[0]
    assert (newest["sgv"], newest["direction"], newest["device"]) == (133, "Flat", DEVICE)
    assert newest["delta"] == 0.5 and newest["noise"] == 1 and newest["rssi"] == 100
    assert newest["date"] == ms(t[11])
    (served_cal,) = [e for e in entries if e["type"] == "cal"]
    assert served_cal["scale"] == 1 and round(served_cal["intercept"], 3) == round(
        25000 / 0.85, 3)
    # The calibration's fingerstick at the same instant is its own entry.
    assert [e["mbg"] for e in entries if e["type"] == "mbg"] == [118, 112]
    # xDrip+ finds a treatment by uuid before it deletes one (findTreatmentByUUID).
    found = xdrip.get("/api/v1/treatments.json", params={"find[uuid]": uuid}).json()
    assert [(f["_id"], f["carbs"], f["insulin"], f["notes"]) for f in found] == [
        (treatment["_id"], 45, 4.5, "pasta")]
    # postTreatments, action "delete": DELETE /treatments/<_id>; a failure here would stop
    # every later treatment upload, so it must succeed.
    deleted = xdrip.delete(f"/api/v1/treatments/{found[0]['_id']}")
    assert deleted.status_code == 200 and deleted.json()["n"] == 1
    wait_until(lambda: xdrip.get("/api/v1/treatments.json", params={
        "find[uuid]": uuid}).json() == [], timeout=20, message="the treatment gone")
    # A soft deletion: the carbs stay stored, no longer counted (core/nightscout_voids.py)
    assert [r.value for r in stack.read(Metric.CARBS)] == [45]
    counted = VoidFilteredStore(stack.store, VoidedReadings(stack.engine, refresh_s=0))
    assert counted.latest("ann", [Metric.CARBS, Metric.INSULIN]) == {}


def test_seconds_and_offset_dates_are_read_as_their_instant(stack: Stack) -> None:
    """A date in seconds (some bridges) is not 1970; xDrip's ``-0500`` form is UTC-5."""
    secret = stack.uploader("ann-bridge")
    client = stack.client(**{"api-secret": sha1(secret)})
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    posted = client.post("/api/v1/entries", json=[
        {"type": "sgv", "sgv": 101, "date": int(when.timestamp())},
        {"type": "sgv", "sgv": 102, "dateString": xdrip_date(when + timedelta(minutes=5))},
        {"type": "sgv", "sgv": 103, "date": str(ms(when + timedelta(minutes=10)))}])
    assert posted.status_code == 200, posted.text
    stored = stack.wait_for(Metric.GLUCOSE, 3)
    assert [(r.value, r.measured_at) for r in stored] == [
        (101.0, when), (102.0, when + timedelta(minutes=5)),
        (103.0, when + timedelta(minutes=10))]


def test_xdrip_queue_drains_through_a_calibration_and_an_outage(stack: Stack) -> None:
    """xDrip+'s queue, as UploaderTask.java and UploaderQueue.getPendingbyType run it
    (https://github.com/NightscoutFoundation/xDrip/blob/master/app/src/main/java/com/eveningoutpost/dexdrip/utilitymodels/UploaderTask.java):
    every cycle sends the oldest 300 pending items of each type in one POST and marks
    them done only on success. A calibration that made the POST fail used to stay at the
    head of the queue for ever; 12 hours of 5-minute cycles with a calibration after one
    hour and a two-hour outage must all arrive, every answer a 200."""
    secret = stack.uploader("ann-xdrip")
    xdrip = stack.client(**{"api-secret": sha1(secret)})
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=12)
    pending: dict[str, list[Any]] = {"BgReading": [], "BloodTest": [], "Calibration": []}
    outage = range(60, 84)  # cycles without a network: nothing is sent
    statuses = []
    for cycle in range(144):
        now = start + timedelta(minutes=5 * cycle)
        pending["BgReading"].append(sgv(now, 90 + cycle % 80))
        if cycle == 12:  # a fingerstick calibration: an mbg and a cal
            pending["Calibration"].append(now - timedelta(seconds=40))
        if cycle in outage:
            continue
        batch = [*pending["BgReading"][:300], *pending["BloodTest"][:300]]
        for when in pending["Calibration"][:300]:
            batch += [mbg(when, 104), cal(when)]
        answer = xdrip.post("/api/v1/entries", json=batch)
        statuses.append(answer.status_code)
        if answer.status_code == 200:  # up.completed(THIS_QUEUE) for every item sent
            for kind in pending:
                del pending[kind][:300]
    assert set(statuses) == {200} and len(statuses) == 144 - len(outage)
    assert not any(pending.values())
    glucose = stack.wait_for(Metric.GLUCOSE, 145)
    assert len([r for r in glucose if r.source == "cgm"]) == 144
    assert [r.value for r in glucose if r.source == "meter"] == [104]
    assert len(stack.read(Metric.CGM_CALIBRATION)) == 1
