"""`hearth admin`: provision accounts and relations, then sign in with them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from core.appdb.account_store import AccountStore
from core.appdb.directory import SqlDirectory
from core.config import get_settings
from core.contract import encode_message
from core.mqtt import MqttEndpoint
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from hearth.cli import main
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.accounts import sign_in
from tests.support.factories import app_database, publisher, register, wait_until
from tests.support.mosquitto import MosquittoServer

PASSWORD = "a long enough password"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HEARTH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HEARTH_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [], name="Ann")
    register(engine, "bob", [], name="Bob")
    engine.dispose()
    yield tmp_path
    get_settings.cache_clear()


def admin(*args: str, input: str | None = None, ok: bool = True) -> str:  # noqa: A002
    result = CliRunner().invoke(main, ["admin", *args], input=input)
    assert (result.exit_code == 0) == ok, (result.output, result.exception)
    return result.output


def test_provision_a_clinic_and_sign_in_as_its_nurse(database: Path) -> None:
    admin("add-clinic", "riverside", "Riverside Health Centre")
    assert "nurse account nina created" in admin(
        "add-user", "Nina", "--role", "nurse", "--name", "Nina Osei", "--clinic", "riverside",
        "--password-stdin", input=PASSWORD + "\n")
    admin("add-user", "ann", "--role", "patient", "--name", "Ann", "--patient", "ann",
          input=f"{PASSWORD}\n{PASSWORD}\n")  # the hidden prompt, asked twice
    admin("add-user", "cora", "--role", "coach", "--name", "Cora", "--password-stdin",
          input=PASSWORD + "\n")
    admin("add-user", "sam", "--role", "caregiver", "--name", "Sam", "--password-stdin",
          input=PASSWORD + "\n")
    admin("add-team", "care", "Care team", "--clinic", "riverside")
    admin("add-member", "care", "cora")
    assert "1 patient(s) assigned to care" in admin("assign", "care", "bob")
    admin("register", "ann", "riverside")
    assert "ann shares readings, alerts with sam (and urgent alerts)" in admin(
        "share", "ann", "sam", "--scope", "readings", "--scope", "alerts", "--urgent-alerts")
    assert "2 device(s) bound to ann" in admin("bind-devices", "ann", "ann-cgm:cgm",
                                               "ann-scale:scale")
    listing = admin("list-users")
    assert "nina" in listing and "clinic=riverside" in listing and "patient=ann" in listing

    engine = app_database(database / "hearth.db")
    accounts = AccountStore(engine)
    assert accounts.care_teams.patients_of_member("cora") == {"bob"}
    assert accounts.sharing.urgent_alert_caregivers("ann") == ["sam"]
    assert [d.device_id for d in SqlDirectory(engine).devices_of("ann")] == ["ann-cgm", "ann-scale"]
    store = SqliteTimeSeriesStore(database / "ts.db")
    client = TestClient(create_app(store=store, directory=SqlDirectory(engine), accounts=accounts))
    assert sign_in(client, "nina", PASSWORD).status_code == 303
    assert client.get("/api/patients/ann/latest").status_code == 200
    assert client.get("/api/patients/bob/latest").status_code == 403  # not her clinic's
    store.close()
    engine.dispose()


def test_mistakes_get_a_clear_message_and_no_account(database: Path) -> None:
    assert "a patient account needs --patient" in admin(
        "add-user", "x", "--role", "patient", "--name", "X", "--password-stdin",
        input=PASSWORD + "\n", ok=False)
    assert "at least 10 characters" in admin(
        "add-user", "y", "--role", "admin", "--name", "Y", "--password-stdin", input="short\n",
        ok=False)
    assert "no clinic 'nowhere'" in admin(
        "add-user", "z", "--role", "nurse", "--name", "Z", "--clinic", "nowhere",
        "--password-stdin", input=PASSWORD + "\n", ok=False)
    admin("add-user", "sam", "--role", "caregiver", "--name", "Sam", "--password-stdin",
          input=PASSWORD + "\n")
    assert "only a coach or nurse joins a care team" in admin(
        "add-team", "t", "T") + admin("add-member", "t", "sam", ok=False)
    assert "exists already" in admin("add-user", "sam", "--role", "admin", "--name", "S",
                                     "--password-stdin", input=PASSWORD + "\n", ok=False)
    assert "DEVICE_ID:KIND" in admin("bind-devices", "ann", "nokind", ok=False)
    assert [a.id for a in AccountStore(app_database(database / "hearth.db")).users.all()] == ["sam"]


def test_a_clinic_starts_without_the_simulator(database: Path, mosquitto: MosquittoServer) -> None:
    """add-patient with its devices, clinic and team; a login for her; her meter's reading
    goes through the real broker and ingest; her nurse, her coach and she see it."""
    admin("add-clinic", "northside", "Northside Surgery")
    admin("add-team", "north-care", "North care team", "--clinic", "northside")
    admin("add-user", "nora", "--role", "nurse", "--name", "Nora", "--clinic", "northside",
          "--password-stdin", input=PASSWORD + "\n")
    admin("add-user", "colm", "--role", "coach", "--name", "Colm", "--password-stdin",
          input=PASSWORD + "\n")
    admin("add-member", "north-care", "colm")
    out = admin("add-patient", "eve", "--name", " Eve Stone ", "--timezone", "America/Chicago",
                "--condition", "type2_diabetes", "--condition", "hypertension",
                "--target", "glucose_low=70", "--target", "glucose_high=180",
                "--target", "bp_systolic=130", "--target", "medication_times=20:00,08:00",
                "--target", "older_adult=yes", "--birth-year", "1950",
                "--device", "eve-meter:glucose_meter", "--device", "eve-cuff:bp_cuff",
                "--clinic", "northside", "--team", "north-care")
    assert out.strip() == ("patient eve created (America/Chicago; type2_diabetes, hypertension); "
                           "2 device(s) bound; registered at northside; assigned to north-care")
    admin("add-user", "eve", "--role", "patient", "--name", "Eve", "--patient", "eve",
          "--password-stdin", input=PASSWORD + "\n")

    engine = app_database(database / "hearth.db")
    directory = SqlDirectory(engine)
    eve = directory.patient("eve")
    assert eve is not None and eve.display_name == "Eve Stone"
    assert eve.timezone == "America/Chicago"
    assert eve.conditions == ("type2_diabetes", "hypertension")
    assert eve.targets == {"glucose_low": 70, "glucose_high": 180, "bp_systolic": 130,
                           "medication_times": ["08:00", "20:00"], "older_adult": True}
    assert {(d.device_id, d.kind) for d in directory.devices_of("eve")} == {
        ("eve-meter", "glucose_meter"), ("eve-cuff", "bp_cuff")}

    store = SqliteTimeSeriesStore(database / "ts.db")
    ingest = IngestService(endpoint=MqttEndpoint.parse(mosquitto.url), store=store,
                           registry=directory, settings=IngestSettings(client_id="admin-test"))
    ingest.start()
    try:
        assert ingest.wait_connected(30)
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        with publisher(mosquitto.url) as paced:
            paced.publish("hearth/v1/up/eve-meter", encode_message(
                device_id="eve-meter", seq=1, readings=[{
                    "metric": "glucose", "value": 6.1, "unit": "mmol/L", "source": "meter",
                    "time": at.isoformat(), "context": "fasting"}]))
        wait_until(lambda: store.count() == 1, timeout=30, message="eve's reading stored")
    finally:
        ingest.stop()
    accounts = AccountStore(engine)
    assert accounts.care_teams.patients_of_member("colm") == {"eve"}
    app = create_app(store=store, directory=directory, accounts=accounts)
    for who in ("nora", "colm", "eve"):
        client = TestClient(app)
        assert sign_in(client, who, PASSWORD).status_code == 303
        latest = client.get("/api/patients/eve/latest")
        assert latest.status_code == 200, (who, latest.text)
        assert latest.json()["glucose"]["value"] == pytest.approx(6.1 * 18.0182, abs=0.5)
    store.close()
    engine.dispose()


@pytest.mark.parametrize(("args", "message"), [
    (("Eve!", "--name", "E", "--timezone", "UTC"), "a patient id is 1-64 lower-case"),
    (("eve", "--name", "  ", "--timezone", "UTC"), "a name of 1-200 characters"),
    (("eve", "--name", "E", "--timezone", "Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
    (("eve", "--name", "E", "--timezone", "UTC", "--condition", "diabetes"),
     "unknown condition 'diabetes'; one of type1_diabetes"),
    (("eve", "--name", "E", "--timezone", "UTC", "--target", "weight_kg=6800"),
     "weight_kg=6800 is outside 20-400"),
    (("eve", "--name", "E", "--timezone", "UTC", "--target", "bp_systolic=high"),
     "bp_systolic must be a number, not 'high'"),
    (("eve", "--name", "E", "--timezone", "UTC", "--target", "glucose_high"),
     "write KEY=VALUE"),
    (("eve", "--name", "E", "--timezone", "UTC", "--target", "hba1c=7"),
     "unknown target 'hba1c'"),
    (("eve", "--name", "E", "--timezone", "UTC", "--target", "glucose_low=150",
      "--target", "glucose_high=140"), "glucose_low must be below glucose_high"),
    (("eve", "--name", "E", "--timezone", "UTC", "--target", "medication_times=8am"),
     "24-hour HH:MM"),
    (("eve", "--name", "E", "--timezone", "UTC", "--birth-year", "1850"),
     "1850 is not a birth year"),
    (("eve", "--name", "E", "--timezone", "UTC", "--device", "eve-x:toaster"),
     "unknown device kind 'toaster'"),
    (("eve", "--name", "E", "--timezone", "UTC", "--device", "eve/x:cgm"),
     "'eve/x' is not a device id"),
    (("eve", "--name", "E", "--timezone", "UTC", "--device", "eve-x"), "write DEVICE_ID:KIND"),
    (("eve", "--name", "E", "--timezone", "UTC", "--device", "d:cgm", "--device", "d:cgm"),
     "a device is listed twice"),
    (("eve", "--name", "E", "--timezone", "UTC", "--clinic", "nowhere"), "no clinic 'nowhere'"),
    (("eve", "--name", "E", "--timezone", "UTC", "--team", "nobody"), "no care team 'nobody'"),
    (("ann", "--name", "Ann again", "--timezone", "UTC"), "patient 'ann' exists already"),
])
def test_add_patient_refuses_bad_input_and_writes_nothing(
        database: Path, args: tuple[str, ...], message: str) -> None:
    assert message in admin("add-patient", *args, ok=False)
    engine = app_database(database / "hearth.db")
    assert {p.id for p in SqlDirectory(engine).patients()} == {"ann", "bob"}
    assert SqlDirectory(engine).devices_of("eve") == []
    engine.dispose()


def test_add_patient_does_not_take_another_patients_device(database: Path) -> None:
    admin("bind-devices", "ann", "ann-cgm:cgm")
    assert "device 'ann-cgm' is bound to patient 'ann'" in admin(
        "add-patient", "eve", "--name", "Eve", "--timezone", "UTC", "--device",
        "eve-cuff:bp_cuff", "--device", "ann-cgm:cgm", ok=False)
    engine = app_database(database / "hearth.db")
    directory = SqlDirectory(engine)
    assert directory.patient("eve") is None
    assert [(d.device_id, d.patient_id) for d in directory.devices_of("ann")] == [("ann-cgm",
                                                                                    "ann")]
    assert directory.binding("eve-cuff") is None
    engine.dispose()
