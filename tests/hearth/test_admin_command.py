"""`hearth admin`: provision accounts and relations, then sign in with them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from core.appdb.account_store import AccountStore
from core.appdb.directory import SqlDirectory
from core.config import get_settings
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from hearth.cli import main
from tests.support.accounts import sign_in
from tests.support.factories import app_database, register

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
    assert (result.exit_code == 0) == ok, result.output
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
    assert accounts.team_patient_ids("cora") == {"bob"}
    assert accounts.urgent_alert_caregivers("ann") == ["sam"]
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
    assert [a.id for a in AccountStore(app_database(database / "hearth.db")).accounts()] == ["sam"]
