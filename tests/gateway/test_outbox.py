"""The on-disk outbox: durable, ordered per device, forgets only on confirmation, bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.outbox import Outbox, OutboxError, OutboxFullError


def _entry(i: int) -> dict[str, object]:
    return {"metric": "weight", "value": 70 + i / 10, "unit": "kg",
            "time": f"2026-11-01T00:{i // 60:02d}:{i % 60:02d}Z"}


def _take(outbox: Outbox, *, now: float, per_message: int = 3, resend: float = 10.0,
          limit: int = 100) -> list:
    return outbox.take_due(now=now, resend_after_s=resend, max_messages=limit,
                           max_per_message=per_message)


def test_sequence_numbers_are_per_device_and_survive_a_reopen(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", max_readings=100)
    assert outbox.add([("a", _entry(0)), ("b", _entry(0)), ("a", _entry(1))], now=1) == [0, 0, 1]
    outbox.close()
    outbox = Outbox(tmp_path / "o.db", max_readings=100)
    assert len(outbox) == 3
    assert outbox.add([("a", _entry(2))], now=2) == [2]
    outbox.close()


def test_readings_are_batched_in_order_and_leave_only_when_confirmed(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", max_readings=100)
    outbox.add([("a", _entry(i)) for i in range(7)], now=0)
    batches = _take(outbox, now=1)
    assert [(b.first_seq, b.msg_seq, len(b.entries)) for b in batches] == [(0, 2, 3), (3, 5, 3),
                                                                           (6, 6, 1)]
    assert [e["value"] for b in batches for e in b.entries] == [70 + i / 10 for i in range(7)]
    assert _take(outbox, now=2) == []  # sent, not yet due again
    assert outbox.confirm("a", [5]) == 3
    assert outbox.confirm("a", [5]) == 0  # a repeated acknowledgement changes nothing
    assert outbox.confirm("b", [2]) == 0  # another device's numbers are its own
    assert len(outbox) == 4
    stats = outbox.stats()
    assert (stats.readings, stats.unsent, stats.awaiting_ack) == (4, 0, 4)
    outbox.close()


def test_unconfirmed_messages_are_resent_whole_after_the_timeout_even_after_a_restart(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "o.db", max_readings=100)
    outbox.add([("a", _entry(i)) for i in range(5)], now=0)
    first = _take(outbox, now=100)
    outbox.add([("a", _entry(5))], now=101)
    outbox.close()
    outbox = Outbox(tmp_path / "o.db", max_readings=100)  # the gateway restarts
    due = _take(outbox, now=105)
    assert [(b.first_seq, b.msg_seq) for b in due] == [(5, 5)]  # only the new reading
    again = _take(outbox, now=111)
    # The same groups under the same numbers, oldest first, counting attempts.
    assert [(b.first_seq, b.msg_seq, b.entries) for b in again] == [
        (b.first_seq, b.msg_seq, b.entries) for b in first
    ]
    assert {b.attempts for b in again} == {2}
    assert outbox.confirm("a", [b.msg_seq for b in first]) == 5
    outbox.close()


def test_a_full_outbox_refuses_the_whole_batch_and_never_drops(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", max_readings=5)
    outbox.add([("a", _entry(i)) for i in range(4)], now=0)
    with pytest.raises(OutboxFullError):
        outbox.add([("a", _entry(4)), ("a", _entry(5))], now=0)
    assert len(outbox) == 4
    assert outbox.room == 1
    [batch] = _take(outbox, now=1, per_message=10)
    assert batch.msg_seq == 3  # the refused readings took no sequence numbers
    outbox.confirm("a", [batch.msg_seq])
    assert outbox.add([("a", _entry(4)), ("a", _entry(5))], now=2) == [4, 5]
    outbox.close()


def test_one_gateway_process_per_outbox(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", max_readings=5)
    with pytest.raises(OutboxError, match="in use"):
        Outbox(tmp_path / "o.db", max_readings=5)
    outbox.close()
    Outbox(tmp_path / "o.db", max_readings=5).close()


def test_the_database_is_durable_wal_with_full_sync(tmp_path: Path) -> None:
    import sqlite3

    outbox = Outbox(tmp_path / "o.db", max_readings=5)
    outbox.add([("a", _entry(0))], now=0)
    db = sqlite3.connect(tmp_path / "o.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT count(*) FROM readings").fetchone()[0] == 1
    db.close()
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    outbox.close()


def test_resends_back_off_exponentially_up_to_a_cap(tmp_path: Path) -> None:
    from gateway.outbox import resend_delay

    assert [resend_delay(n, after_s=10, max_s=60) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]
    outbox = Outbox(tmp_path / "o.db", max_readings=10)
    outbox.add([("a", _entry(0))], now=0)

    def due(at: float) -> list[int]:
        return [b.attempts for b in outbox.take_due(now=at, resend_after_s=10, resend_max_s=25,
                                                   max_messages=5, max_per_message=5)]

    assert due(0) == [1]
    assert due(9) == [] and due(10) == [2]  # 10 s after the first sending
    assert due(29) == [] and due(30) == [3]  # then 20 s
    assert due(54) == [] and due(55) == [4]  # then capped at 25 s
    assert due(79) == [] and due(80) == [5]
    outbox.close()


def test_a_wall_clock_that_goes_back_does_not_strand_unconfirmed_messages(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", max_readings=10)
    outbox.add([("a", _entry(0))], now=0)
    assert len(_take(outbox, now=1_800_000_000)) == 1  # sent with the clock far ahead
    [again] = _take(outbox, now=1_000_000)  # NTP puts it right: due now, not in 25 years
    assert again.attempts == 2
    outbox.close()
