"""The Nightscout-compatible API end to end, in the real dashboard app: HTTP upload ->
contract message on the real Mosquitto -> real ingest -> store -> the readings API (a
signed-in nurse) and GET /api/v1/entries (the uploader's secret, no session).

Shapes checked against Nightscout's cgm-remote-monitor (lib/api/entries/index.js,
lib/api/status.js): entries carry _id, type, sgv, direction, date, dateString, device.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.appdb.account_store import AccountStore
from core.appdb.directory import SqlDirectory
from core.metrics import Metric
from core.mqtt import MqttEndpoint
from core.provisioning import Provisioner
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard import nightscout
from dashboard.app import create_app
from dashboard.nightscout_backend import ConfirmedPublisher, NightscoutBackend
from dashboard.views.records import Prefs, save_prefs
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.accounts import add_people, sign_in
from tests.support.factories import app_database, register, wait_until
from tests.support.mosquitto import MosquittoServer

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class Site:
    client: TestClient  # an uploading app: no session
    app: FastAPI
    engine: Engine
    store: SqliteTimeSeriesStore
    provisioner: Provisioner
    secret: str
    other_secret: str

    def nurse(self) -> TestClient:
        """A signed-in dashboard user who may see Ann (accounts are slow to make: on demand)."""
        nurse = TestClient(self.app)
        sign_in(nurse, add_people(self.engine, "ann").nurse)
        return nurse

    def glucose(self, patient_id: str = "ann") -> list[tuple[str, float, str]]:
        found = self.store.read(patient_id, Metric.GLUCOSE, NOW - timedelta(days=1),
                                NOW + timedelta(days=1))
        return [(r.device_id, r.value, r.source) for r in found]


@pytest.fixture
def site(mosquitto: MosquittoServer, tmp_path: Path) -> Iterator[Site]:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [])
    register(engine, "bob", [])
    provisioner = Provisioner(engine)
    secret = provisioner.add(device_id="ann-xdrip", patient_id="ann", kind="cgm",
                             role="nightscout").secret
    other = provisioner.add(device_id="bob-juggluco", patient_id="bob", kind="cgm",
                            role="nightscout").secret
    assert secret and other
    store = SqliteTimeSeriesStore(tmp_path / "timeseries.db")
    endpoint = MqttEndpoint.parse(mosquitto.url)
    ingest = IngestService(endpoint=endpoint, store=store, registry=SqlDirectory(engine),
                           settings=IngestSettings(client_id="test-ingest"))
    ingest.start()
    assert ingest.wait_connected(10)
    publisher = ConfirmedPublisher(endpoint, client_id="test-dashboard")
    assert publisher.start()
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=AccountStore(engine))
    app.state.nightscout = NightscoutBackend(provisioner, publisher)  # hearth/nightscout.py
    try:
        yield Site(TestClient(app), app, engine, store, provisioner, secret, other)
    finally:
        publisher.stop()
        ingest.stop()
        store.close()


def test_an_upload_is_stored_by_ingest_and_served_back(site: Site) -> None:
    t0 = NOW - timedelta(minutes=10)
    entries = [
        {"type": "sgv", "sgv": 100, "date": ms(t0), "direction": "Flat", "device": "xDrip-G6"},
        {"type": "sgv", "sgv": 110, "date": ms(t0 + timedelta(minutes=5))},
        {"type": "mbg", "mbg": 123, "dateString": (t0 + timedelta(minutes=7)).isoformat()},
        {"type": "sgv", "sgv": 130, "dateString": (t0 + timedelta(minutes=10)).isoformat()},
    ]
    answer = site.client.post("/api/v1/entries", json=entries,
                              headers={"api-secret": sha1(site.secret)})
    assert answer.status_code == 200, answer.text
    assert len({e["_id"] for e in answer.json()}) == 4

    wait_until(lambda: len(site.glucose()) == 4, timeout=10, message="readings stored by ingest")
    api = site.nurse().get("/api/patients/ann/readings", params={
        "metric": "glucose", "start": (t0 - timedelta(minutes=1)).isoformat(),
        "end": (t0 + timedelta(hours=1)).isoformat()})
    assert api.status_code == 200
    assert [(r["value"], r["source"], r["device_id"]) for r in api.json()["readings"]] == [
        (100.0, "cgm", "ann-xdrip"), (110.0, "cgm", "ann-xdrip"), (123.0, "meter", "ann-xdrip"),
        (130.0, "cgm", "ann-xdrip")]
    assert site.glucose() == [("ann-xdrip", 100.0, "cgm"), ("ann-xdrip", 110.0, "cgm"),
                              ("ann-xdrip", 123.0, "meter"), ("ann-xdrip", 130.0, "cgm")]
    assert site.glucose("bob") == []

    got = site.client.get("/api/v1/entries.json", params={"token": site.secret})
    assert got.status_code == 200
    docs = got.json()
    assert [(d["type"], d.get("sgv", d.get("mbg"))) for d in docs] == [
        ("sgv", 130), ("mbg", 123), ("sgv", 110), ("sgv", 100)]  # newest first
    newest = docs[0]
    assert set(newest) >= {"_id", "sgv", "direction", "dateString", "date", "type", "device"}
    assert newest["date"] == ms(t0 + timedelta(minutes=10))
    assert newest["dateString"] == (t0 + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert newest["device"] == "ann-xdrip"
    # 110 -> 130 in 5 min = 4 mg/dL/min: DoubleUp; 100 -> 110 = 2: FortyFiveUp; the first
    # came with the app's own direction, which is kept and served back.
    assert [d.get("direction") for d in docs] == ["DoubleUp", None, "FortyFiveUp", "Flat"]
    assert docs[3]["device"] == "xDrip-G6"  # the uploader's own device name, kept
    # No delta was uploaded: the change per 5 minutes from the previous sensor reading
    # (py-nightscout 1.3.3 needs one); the first has none to compare with: 0.
    assert [d.get("delta") for d in docs] == [20, None, 10, 0]
    assert docs[0]["_id"] == answer.json()[3]["_id"]  # the same id as the upload answered

    sgv = site.client.get("/api/v1/entries/sgv.json", params={
        "find[date][$gte]": str(ms(t0 + timedelta(minutes=5))), "count": "10"},
        headers={"api-secret": sha1(site.secret)}).json()
    assert [d["sgv"] for d in sgv] == [130, 110]
    assert sgv[1]["direction"] == "FortyFiveUp"  # the reading before the window still counts
    lte = site.client.get("/api/v1/entries", params={
        "find[date][$lte]": str(ms(t0 + timedelta(minutes=5))), "count": "1",
        "token": site.secret}).json()
    assert [d["sgv"] for d in lte] == [110]

    # Re-sending the same entries (an app retrying) changes nothing.
    again = site.client.post("/api/v1/entries.json", json=entries[:2],
                             headers={"api-secret": sha1(site.secret)})
    assert again.status_code == 200
    assert site.client.get("/api/v1/entries", params={"token": site.secret}).json() == docs


def test_bad_entries_get_a_400_naming_them_while_good_ones_go_in(site: Site) -> None:
    t0 = NOW - timedelta(minutes=30)
    entries = [
        {"type": "sgv", "sgv": 95, "date": ms(t0)},
        {"type": "sgv", "sgv": 5000, "date": ms(t0 + timedelta(minutes=5))},
        {"type": "hr-bpm", "bpm": 70, "date": ms(t0)},
        {"type": "sgv", "sgv": "high", "date": ms(t0)},
        {"type": "sgv", "sgv": 99, "dateString": "yesterday"},
        {"type": "sgv", "sgv": 101, "date": ms(datetime.now(UTC) + timedelta(hours=2))},
        {"type": "sgv", "sgv": 97, "date": ms(t0 + timedelta(minutes=10))},
        {"type": "sgv", "sgv": 98, "date": ms(t0 - timedelta(days=401))},  # past backfill
    ]
    answer = site.client.post("/api/v1/entries", json=entries,
                              headers={"api-secret": sha1(site.secret)})
    assert answer.status_code == 400
    body = answer.json()
    assert body["status"] == 400 and body["accepted"] == 2
    errors = body["errors"]
    assert [e.split(":")[0] for e in errors] == ["entry 1", "entry 2", "entry 3", "entry 4",
                                                "entry 5", "entry 7"]
    assert "outside the plausible range" in errors[0]
    assert "type 'hr-bpm' is not an entry type Hearth keeps (sgv, mbg, cal)" in errors[1]
    assert "sgv must be a number" in errors[2]
    assert "not ISO 8601" in errors[3]
    assert "in the future" in errors[4]
    assert "401 days old" in errors[5]  # what ingest would refuse (docs/CONTRACT.md)
    wait_until(lambda: len(site.glucose()) == 2, timeout=10, message="good entries stored")
    assert [v for _, v, _ in site.glucose()] == [95.0, 97.0]

    not_json = site.client.post("/api/v1/entries", content=b"{nope",
                                headers={"api-secret": sha1(site.secret)})
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["description"]


def test_a_wrong_or_missing_secret_is_refused(site: Site) -> None:
    entry = [{"type": "sgv", "sgv": 100, "date": ms(NOW)}]
    for headers, params in (({"api-secret": sha1("guess")}, {}), ({}, {}),
                            ({}, {"token": "guess"}), ({"api-secret": site.secret}, {})):
        posted = site.client.post("/api/v1/entries", json=entry, headers=headers, params=params)
        assert posted.status_code == 401
        assert posted.json() == {"status": 401, "message": "Unauthorized",
                                 "description": "Invalid/Missing"}
        assert site.client.get("/api/v1/entries.json", headers=headers,
                               params=params).status_code == 401
    # One uploader never sees another patient's entries.
    assert site.client.post("/api/v1/entries", json=entry,
                            headers={"api-secret": sha1(site.other_secret)}).status_code == 200
    wait_until(lambda: len(site.glucose("bob")) == 1, timeout=10, message="bob's entry stored")
    assert site.client.get("/api/v1/entries", params={"token": site.secret}).json() == []
    # A revoked uploader is refused at once.
    site.provisioner.revoke("bob-juggluco")
    assert site.client.get("/api/v1/entries", params={"token": site.other_secret}
                           ).status_code == 401


def test_status_json_has_nightscouts_shape(site: Site) -> None:
    assert site.client.get("/api/v1/status.json").status_code == 401  # api:status:read
    status = site.client.get("/api/v1/status.json", params={"token": site.secret}).json()
    assert status["status"] == "ok" and status["apiEnabled"] is True
    assert status["settings"]["units"] == "mg/dl"
    assert abs(status["serverTimeEpoch"] - ms(datetime.now(UTC))) < 60_000
    assert datetime.fromisoformat(status["serverTime"].replace("Z", "+00:00")).tzinfo


def test_without_the_backend_a_request_without_credentials_is_still_401(tmp_path: Path) -> None:
    app = FastAPI()
    app.mount("/api/v1", nightscout.create_app(app.state))
    client = TestClient(app)
    for path in ("/api/v1/entries", "/api/v1/entries/sgv.json", "/api/v1/status.json"):
        assert client.get(path).status_code == 401
    assert client.get("/api/v1/entries", params={"token": "x"}).status_code == 503


def test_the_dashboard_mounts_the_api() -> None:
    source = Path(nightscout.__file__).with_name("app.py").read_text()
    assert 'app.mount("/api/v1", nightscout.create_app(app.state))' in source


def test_find_operators_count_and_sorting_as_nightscout(site: Site) -> None:
    """``find`` as cgm-remote-monitor's lib/server/query.js builds it: equality, $gt $gte
    $lt $lte $ne $in on date, sgv, type, dateString; count=0 is no limit (MongoDB's
    limit(0)); newest first unless sort/sort$desc say otherwise."""
    t0 = NOW - timedelta(hours=2)
    entries = [{"type": "sgv", "sgv": 80 + 10 * i, "date": ms(t0 + timedelta(minutes=5 * i))}
               for i in range(12)]
    entries += [{"type": "mbg", "mbg": 140, "date": ms(t0 + timedelta(minutes=21))},
                {"type": "cal", "slope": 850.0, "intercept": 30000.0, "scale": 1,
                 "date": ms(t0 + timedelta(minutes=21))}]
    headers = {"api-secret": sha1(site.secret)}
    assert site.client.post("/api/v1/entries", json=entries, headers=headers
                            ).status_code == 200
    wait_until(lambda: len(site.glucose()) == 13, timeout=10, message="entries stored")

    def get(**params: str) -> list[dict[str, Any]]:
        answer = site.client.get("/api/v1/entries.json", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()
        return found

    assert len(get()) == 10  # Nightscout's default count
    assert len(get(count="0")) == 14  # no limit: every entry of the last 4 days
    assert [e["sgv"] for e in get(**{"find[type]": "sgv", "find[sgv][$gte]": "170"})] == [
        190, 180, 170]
    assert [e["sgv"] for e in get(**{"find[sgv][$gt]": "100", "find[sgv][$lt]": "130"})] == [
        120, 110]
    window = {"find[date][$gte]": str(ms(t0 + timedelta(minutes=20))),
              "find[date][$lte]": str(ms(t0 + timedelta(minutes=25)))}
    assert [(e["type"], e.get("sgv")) for e in get(**window)] == [
        ("sgv", 130), ("mbg", None), ("cal", None), ("sgv", 120)]
    assert {e["type"] for e in get(**window, **{"find[type][$ne]": "sgv"})} == {"mbg", "cal"}
    assert {e["type"] for e in get(**window, **{"find[type][$in]": "mbg|cal"})} == {
        "mbg", "cal"}
    iso = (t0 + timedelta(minutes=45)).isoformat()
    assert [e["sgv"] for e in get(**{"find[dateString][$gt]": iso})] == [190, 180]
    assert [e["sgv"] for e in get(**{"find[type]": "sgv", "sort": "date", "count": "2"})] == [
        80, 90]
    # Entries before the default 4-day window come back only when asked for by date.
    assert get(**{"find[date][$lt]": str(ms(t0))}) == []
    bad = site.client.get("/api/v1/entries.json", headers=headers,
                          params={"find[date][$gte]": "last tuesday"})
    assert bad.status_code == 400 and "find[date]" in bad.json()["description"]
    assert site.client.get("/api/v1/entries.json", headers=headers,
                           params={"find[sgv][$where]": "1"}).status_code == 400
    assert site.client.get("/api/v1/entries.json", headers=headers,
                           params={"count": "-1"}).status_code == 400


def test_two_uploaders_of_one_patient_make_one_reading(site: Site) -> None:
    """The same sensor reading from xDrip+ and a second uploader (a bridge, a follower
    that re-uploads) is stored once: statistics would count it twice."""
    second = site.provisioner.add(device_id="ann-bridge", patient_id="ann", kind="cgm",
                                  role="nightscout").secret
    assert second
    t0 = NOW - timedelta(minutes=15)
    same = [{"type": "sgv", "sgv": 101 + i, "date": ms(t0 + timedelta(minutes=5 * i))}
            for i in range(3)]
    assert site.client.post("/api/v1/entries", json=same,
                            headers={"api-secret": sha1(site.secret)}).status_code == 200
    wait_until(lambda: len(site.glucose()) == 3, timeout=10, message="first uploader's")
    again = site.client.post("/api/v1/entries", json=[*same, {
        "type": "sgv", "sgv": 110, "date": ms(t0 + timedelta(minutes=15))}],
        headers={"api-secret": sha1(second)})
    assert again.status_code == 200 and len(again.json()) == 4
    wait_until(lambda: len(site.glucose()) == 4, timeout=10, message="the new reading")
    assert [d for d, _, _ in site.glucose()] == ["ann-xdrip"] * 3 + ["ann-bridge"]
    served = site.client.get("/api/v1/entries", params={"token": second}).json()
    assert [e["sgv"] for e in served] == [110, 103, 102, 101]


def test_status_units_follow_the_patients_preference(site: Site) -> None:
    people = add_people(site.engine, "ann")
    status = site.client.get("/api/v1/status.json", params={"token": site.secret}).json()
    assert status["settings"]["units"] == "mg/dl"
    save_prefs(site.engine, people.patient, Prefs("mmol/L"), now=datetime.now(UTC))
    status = site.client.get("/api/v1/status.json", params={"token": site.secret}).json()
    assert status["settings"]["units"] == "mmol"
    assert status["careportalEnabled"] is True  # xDrip+ warns without it
    assert site.client.get("/api/v1/experiments/test", params={"token": site.secret}
                           ).json() == {"status": "ok"}


def test_deletes_need_a_credential_and_name_what_they_delete(site: Site) -> None:
    """Nothing there: Nightscout's answer, nothing deleted; a DELETE without an _id or a
    find is refused rather than deleting everything (the deletions themselves and the
    profiles: tests/interop/nightscout_apps/test_nightscout_changes.py)."""
    headers = {"api-secret": sha1(site.secret)}
    for path in ("/api/v1/treatments/5f3c2a4e5b6d4e7f8a9b0c1d",
                 "/api/v1/devicestatus/5f3c2a4e5b6d4e7f8a9b0c1d",
                 "/api/v1/entries/5f3c2a4e5b6d4e7f8a9b0c1d"):
        assert site.client.delete(path).status_code == 401
        nothing = site.client.delete(path, headers=headers)
        assert nothing.status_code == 200 and nothing.json()["n"] == 0
    answer = site.client.delete("/api/v1/entries", headers=headers)
    assert answer.status_code == 400 and "find" in answer.json()["description"]
    assert site.client.get("/api/v1/profile.json", headers=headers).json() == []


def test_a_large_backfill_goes_out_in_as_many_messages_as_the_contract_needs(
        site: Site) -> None:
    """xDrip+'s backfill sends days at once; with the uploader's fields kept, 2500 entries
    are more than one contract message may carry (256 kB): all of them are stored."""
    t0 = NOW - timedelta(days=9)
    entries = [{"type": "sgv", "sgv": 90 + i % 60, "date": ms(t0 + timedelta(minutes=5 * i)),
                "direction": "Flat", "delta": 1.25, "device": "xDrip-DexcomG6 G6 Native",
                "filtered": 123456.0, "unfiltered": 234567.0, "rssi": 100, "noise": 1}
               for i in range(2500)]
    answer = site.client.post("/api/v1/entries", json=entries,
                              headers={"api-secret": sha1(site.secret)})
    assert answer.status_code == 200 and len(answer.json()) == 2500
    wait_until(lambda: len(site.store.read("ann", Metric.GLUCOSE, t0, NOW)) == 2500,
               timeout=30, message="every entry of the backfill stored")
