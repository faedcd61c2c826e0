"""The group-commit audit writer: requests that wait together share one transaction, each
returns only once its own rows are stored, and a failed transaction fails all of them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.appdb.account_store import AccountStore
from core.appdb.accounts import AuditEvent
from core.appdb.audit_log import AuditEntry, AuditLog
from dashboard.audit_writer import AuditWriter
from tests.support.factories import app_database, wait_until

AT = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def entries(actor: str, n: int) -> list[AuditEntry]:
    return [AuditEntry(AT, actor, "nurse", f"p{i:03d}", "triage", "/nurse") for i in range(n)]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return app_database(tmp_path / "app.db")


def test_rows_are_stored_as_the_account_store_reads_them(engine: Engine) -> None:
    writer = AuditWriter(AuditLog(engine).record)
    writer.write(entries("nora", 3) + [AuditEntry(AT, "nora", "nurse", "p9", "x" * 80, "/" * 400)])
    log = AccountStore(engine).audit_log.entries(limit=10)
    assert sorted(e.patient_id for e in log) == ["p000", "p001", "p002", "p9"]
    long = next(e for e in log if e.patient_id == "p9")
    assert (len(long.purpose), len(long.path)) == (64, 300)  # AuditLog.record's limits
    assert long.at == AT and long.actor_id == "nora"


def test_requests_waiting_together_share_one_transaction(engine: Engine) -> None:
    release = threading.Event()
    calls: list[int] = []

    def write(rows: list[AuditEntry]) -> None:
        calls.append(len(rows))
        if len(calls) == 1:
            release.wait(10)  # the first transaction is slow; nine requests queue behind it
        AuditLog(engine).record(rows)

    writer = AuditWriter(write)
    first = threading.Thread(target=writer.write, args=(entries("a", 50),))
    first.start()
    wait_until(lambda: calls == [50], timeout=10, message="the first transaction")
    others = [threading.Thread(target=writer.write, args=(entries(f"n{k}", 50),))
              for k in range(9)]
    for t in others:
        t.start()

    def queued() -> int:
        return len(writer._queue)
    wait_until(lambda: queued() == 9, timeout=10, message="nine waiting requests")
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert calls == [50, 450] and writer.transactions == 2
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 500


def test_a_failed_transaction_fails_every_request_in_it_and_stores_none(engine: Engine) -> None:
    release = threading.Event()
    calls: list[int] = []

    def write(rows: list[AuditEntry]) -> None:
        calls.append(len(rows))
        if len(calls) == 1:
            release.wait(10)
            AuditLog(engine).record(rows)
            return
        raise RuntimeError("disk full")

    writer = AuditWriter(write)
    errors: list[BaseException] = []

    def request(actor: str) -> None:
        try:
            writer.write(entries(actor, 5))
        except RuntimeError as exc:
            errors.append(exc)

    first = threading.Thread(target=request, args=("ok",))
    first.start()
    wait_until(lambda: calls == [5], timeout=10, message="the first transaction")
    failing = [threading.Thread(target=request, args=(f"n{k}",)) for k in range(3)]
    for t in failing:
        t.start()

    def queued() -> int:
        return len(writer._queue)
    wait_until(lambda: queued() == 3, timeout=10, message="three waiting requests")
    release.set()
    for t in [first, *failing]:
        t.join(10)
    assert len(errors) == 3 and all(str(e) == "disk full" for e in errors)
    assert {e.actor_id for e in AccountStore(engine).audit_log.entries(limit=100)} == {"ok"}
    with pytest.raises(RuntimeError):  # not stuck: the next request has its own transaction
        writer.write(entries("later", 1))
    assert calls[-1] == 1
