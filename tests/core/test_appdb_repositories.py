"""The account repositories (core/appdb/: users, clinics, care_teams, sharing, sessions,
sign_ins, audit_log) over one database, and the rule that keeps data access behind them:
no code outside a repository reaches into another object's private engine
(docs/ARCHITECTURE.md, "Data access")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.appdb.account_store import AccountStore
from core.appdb.audit_log import REFUSED, AuditEntry
from core.appdb.users import AccountError
from tests.support.factories import app_database, register

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PASSWORD = "lantern-orchard-42"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return app_database(tmp_path / "hearth.db")


def test_each_repository_keeps_its_concept(engine: Engine) -> None:
    accounts = AccountStore(engine)
    for pid in ("ann", "bob"):
        register(engine, pid, [])
    accounts.clinics.add("north", "North clinic")
    accounts.users.add("ann", role="patient", display_name="Ann", password=PASSWORD,
                       patient_id="ann")
    accounts.users.add("cole", role="coach", display_name="Cole", password=PASSWORD,
                       clinic_id="north")
    accounts.users.add("sam", role="caregiver", display_name="Sam", password=PASSWORD)
    accounts.care_teams.add("team", "Team", clinic_id="north")
    accounts.care_teams.add_member("team", "cole")
    accounts.care_teams.assign_many("team", ["ann", "bob"])
    accounts.clinics.register_many(["ann"], "north")
    accounts.sharing.share("ann", "sam", ["readings", "alerts"], urgent_alerts=True)

    assert [a.id for a in accounts.users.all()] == ["ann", "cole", "sam"]
    assert accounts.users.check_password("cole", PASSWORD) is not None
    assert accounts.users.check_password("cole", "wrong") is None
    assert accounts.care_teams.patients_of_member("cole") == {"ann", "bob"}
    assert accounts.care_teams.members_for("bob") == ["cole"]
    assert accounts.clinics.patient_ids("north") == {"ann"}
    assert [s.patient_id for s in accounts.sharing.with_caregiver("sam")] == ["ann"]
    assert accounts.sharing.urgent_alert_caregivers("ann") == ["sam"]
    with pytest.raises(AccountError, match="not a caregiver"):
        accounts.sharing.share("ann", "cole", ["readings"])
    with pytest.raises(AccountError, match="only a coach or nurse"):
        accounts.care_teams.add_member("team", "sam")

    token = accounts.sessions.open("cole", now=NOW, lifetime=timedelta(hours=8))
    found = accounts.sessions.get(token, now=NOW + timedelta(minutes=5), idle=timedelta(hours=1))
    assert found is not None and found.account.id == "cole"
    accounts.users.set_active("cole", False)  # a disabled account's sessions end
    assert accounts.sessions.get(token, now=NOW, idle=timedelta(hours=1)) is None

    for minutes in (1, 2, 3):
        accounts.sign_ins.record("ann", "192.0.2.7", at=NOW + timedelta(minutes=minutes),
                                 succeeded=False)
    failures = accounts.sign_ins.failures(NOW, user_id="ann", address="192.0.2.7")
    assert (failures.count, failures.first, failures.last) == (
        3, NOW + timedelta(minutes=1), NOW + timedelta(minutes=3))
    accounts.sign_ins.record("ann", "192.0.2.7", at=NOW + timedelta(minutes=4), succeeded=True)
    assert accounts.sign_ins.failures(NOW, user_id="ann").count == 0

    accounts.audit_log.record([AuditEntry(NOW, "cole", "coach", "ann", "readings", "/p/ann"),
                               AuditEntry(NOW + timedelta(seconds=1), "sam", "caregiver", "bob",
                                          f"{REFUSED}trends", "/p/bob")])
    assert [e.actor_id for e in accounts.audit_log.entries()] == ["sam", "cole"]
    assert [e.actor_id for e in accounts.audit_log.entries(refused=False)] == ["cole"]


PRIVATE_ENGINE = re.compile(r'(?<!self)\._engine\b|"_engine"')


def test_no_code_reaches_into_another_objects_private_engine() -> None:
    """A view or service gets the application database from its wiring
    (dashboard: app.state.engine, set by create_app), never from a repository's inside."""
    found = [f"{path.relative_to(REPO)}:{n}"
             for package in ("analytics", "bench", "care", "coach", "core", "dashboard",
                             "devices", "gateway", "hearth", "ingest", "tests")
             for path in sorted((REPO / package).rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if PRIVATE_ENGINE.search(line) and path.name != Path(__file__).name]
    assert found == []
