"""An on-disk outbox: every reading is here before it is published.

Used by the gateway (gateway/forwarder.py) and by the Nightscout API's uploads
(dashboard/upload_outbox.py); ``gateway.outbox`` re-exports it.

SQLite in WAL mode with ``synchronous=FULL``: a reading the outbox has taken
survives a power cut. A row leaves the outbox only when ingest confirms, on
``hearth/v1/ack/{device_id}``, that the message carrying it is committed (a
broker's PUBACK is not enough: Mosquitto 2.0 acknowledges before it writes to
disk). What stays unconfirmed for ``resend_after_s`` is sent again, and again
after twice as long, and so on up to ``resend_max_s`` between copies (so that
a long ingest outage does not fill the broker's queue with copies); ingest's
idempotency makes the copies harmless.

Rows of one device are numbered by a per-device sequence number (persisted in
``devices``). Readings are grouped into messages when first sent; a group keeps
its message number (``msg_seq``, the highest reading number in it) for every
re-send, so an acknowledgement of ``msg_seq`` names exactly the same readings
whenever it arrives, even after a restart of the gateway.

Disk use is bounded by ``max_readings``. When full, ``add`` refuses the whole
batch with ``OutboxFullError``: nothing is dropped, the caller holds its
readings (the device keeps them) until there is room again.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import HearthError

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    next_seq  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS readings (
    device_id  TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    entry      TEXT    NOT NULL,   -- one entry of the reading message, as JSON
    msg_seq    INTEGER,            -- NULL until first sent
    attempts   INTEGER NOT NULL DEFAULT 0,
    created    REAL    NOT NULL,
    first_sent REAL,
    last_sent  REAL,
    PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_by_message ON readings (device_id, msg_seq);
CREATE INDEX IF NOT EXISTS readings_sent ON readings (last_sent, device_id, msg_seq)
    WHERE msg_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS readings_unsent ON readings (device_id, seq) WHERE msg_seq IS NULL;
"""


class OutboxError(HearthError):
    """The outbox cannot be used."""


class OutboxFullError(OutboxError):
    """The outbox holds ``max_readings``: new readings are refused, never dropped."""


def resend_delay(attempts: int, *, after_s: float, max_s: float) -> float:
    """How long a message sent ``attempts`` times waits for its confirmation before the next."""
    return min(max_s, after_s * float(2 ** min(max(attempts - 1, 0), 30)))


@dataclass(frozen=True, slots=True)
class Batch:
    """One message to publish: a device's readings under one message number."""

    device_id: str
    msg_seq: int
    entries: tuple[dict[str, Any], ...]
    attempts: int  # including this one
    first_seq: int


@dataclass(frozen=True, slots=True)
class OutboxStats:
    readings: int
    unsent: int
    awaiting_ack: int
    max_readings: int
    oldest_created: float | None

    @property
    def full(self) -> bool:
        return self.readings >= self.max_readings


class Outbox:
    """One process at a time: a lock file next to the database refuses a second one."""

    def __init__(self, path: Path, *, max_readings: int) -> None:
        if max_readings < 1:
            raise ValueError("max_readings must be at least 1")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_readings = max_readings
        self._lock_file = self._take_lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA journal_size_limit=67108864")
        self._db.executescript(SCHEMA)
        self._mutex = threading.Lock()
        self._count = self._scalar("SELECT count(*) FROM readings")

    def _take_lock(self) -> int:
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutboxError(f"outbox {self.path} is in use by another process") from None
        return fd

    def close(self) -> None:
        with self._mutex:
            self._db.close()
        os.close(self._lock_file)

    def _scalar(self, sql: str, *args: Any) -> int:
        row = self._db.execute(sql, args).fetchone()
        return int(row[0] or 0)

    # -- taking readings in -------------------------------------------------

    @property
    def room(self) -> int:
        return max(0, self.max_readings - self._count)

    def add(self, items: Sequence[tuple[str, dict[str, Any]]], *, now: float) -> list[int]:
        """Store (device_id, entry) pairs durably, in one transaction; their sequence numbers.

        All or nothing: raises OutboxFullError if they do not all fit.
        """
        if not items:
            return []
        with self._mutex:
            if self._count + len(items) > self.max_readings:
                raise OutboxFullError(
                    f"outbox holds {self._count} of {self.max_readings} readings; "
                    f"{len(items)} more do not fit"
                )
            seqs = self._add_locked(items, now)
            self._count += len(items)
            return seqs

    def _add_locked(self, items: Sequence[tuple[str, dict[str, Any]]], now: float) -> list[int]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            next_seq: dict[str, int] = {}
            seqs: list[int] = []
            rows = []
            for device_id, entry in items:
                if device_id not in next_seq:
                    row = db.execute(
                        "SELECT next_seq FROM devices WHERE device_id = ?", (device_id,)
                    ).fetchone()
                    next_seq[device_id] = int(row[0]) if row else 0
                seq = next_seq[device_id]
                next_seq[device_id] = seq + 1
                seqs.append(seq)
                rows.append((device_id, seq, json.dumps(entry, separators=(",", ":")), now))
            db.executemany(
                "INSERT INTO readings (device_id, seq, entry, created) VALUES (?, ?, ?, ?)", rows
            )
            db.executemany(
                "INSERT INTO devices (device_id, next_seq) VALUES (?, ?) "
                "ON CONFLICT (device_id) DO UPDATE SET next_seq = excluded.next_seq",
                list(next_seq.items()),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return seqs

    # -- sending ------------------------------------------------------------

    def devices(self) -> list[str]:
        with self._mutex:
            rows = self._db.execute("SELECT device_id FROM devices ORDER BY device_id").fetchall()
        return [r[0] for r in rows]

    def take_due(
        self,
        *,
        now: float,
        resend_after_s: float,
        max_messages: int,
        max_per_message: int,
        devices: Iterable[str] | None = None,
        resend_max_s: float | None = None,
    ) -> list[Batch]:
        """The messages to publish now, oldest first per device, marked as sent.

        First the groups still unconfirmed ``resend_delay`` after their last
        sending (in message order), then readings never sent, grouped into
        messages of at most ``max_per_message``. ``devices`` limits the choice
        (to those whose acknowledgements the gateway is subscribed to).
        """
        allowed = None if devices is None else set(devices)
        with self._mutex:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                batches = self._resends(now, resend_after_s, resend_max_s or resend_after_s,
                                        max_messages, allowed)
                room = max_messages - len(batches)
                if room > 0:
                    batches += self._new_groups(room, max_per_message, allowed)
                self._mark_sent(batches, now)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return batches

    def _resends(self, now: float, after_s: float, max_s: float, limit: int,
                 allowed: set[str] | None) -> list[Batch]:
        # A group's rows are always marked together: they share last_sent and attempts.
        # A send time in the future means the wall clock went back (a gateway without a
        # real-time clock, corrected by NTP after boot): such a message is due at once.
        candidates = self._db.execute(
            "SELECT device_id, msg_seq, last_sent, attempts FROM readings "
            "INDEXED BY readings_sent WHERE msg_seq IS NOT NULL "
            "AND (last_sent <= ? OR last_sent > ?)",
            (now - after_s, now),
        ).fetchall()
        groups = sorted({
            (device_id, msg_seq)
            for device_id, msg_seq, last_sent, attempts in candidates
            if last_sent > now
            or last_sent + resend_delay(attempts, after_s=after_s, max_s=max_s) <= now
        })
        out: list[Batch] = []
        for device_id, msg_seq in groups:
            if allowed is not None and device_id not in allowed:
                continue
            if len(out) >= limit:
                break
            out.append(self._group(device_id, msg_seq))
        return out

    def _group(self, device_id: str, msg_seq: int) -> Batch:
        rows = self._db.execute(
            "SELECT seq, entry, attempts FROM readings WHERE device_id = ? AND msg_seq = ? "
            "ORDER BY seq",
            (device_id, msg_seq),
        ).fetchall()
        return Batch(
            device_id=device_id,
            msg_seq=msg_seq,
            entries=tuple(json.loads(r[1]) for r in rows),
            attempts=max(r[2] for r in rows) + 1,
            first_seq=rows[0][0],
        )

    def _new_groups(self, limit: int, per_message: int, allowed: set[str] | None) -> list[Batch]:
        devices = [r[0] for r in self._db.execute(
            "SELECT device_id FROM devices ORDER BY device_id").fetchall()]
        out: list[Batch] = []
        for device_id in devices:
            if allowed is not None and device_id not in allowed:
                continue
            rows = self._db.execute(
                "SELECT seq, entry FROM readings INDEXED BY readings_unsent "
                "WHERE device_id = ? AND msg_seq IS NULL ORDER BY seq LIMIT ?",
                (device_id, per_message * (limit - len(out))),
            ).fetchall()
            for start in range(0, len(rows), per_message):
                chunk = rows[start : start + per_message]
                out.append(
                    Batch(
                        device_id=device_id,
                        msg_seq=chunk[-1][0],
                        entries=tuple(json.loads(r[1]) for r in chunk),
                        attempts=1,
                        first_seq=chunk[0][0],
                    )
                )
            if len(out) >= limit:
                break
        return out[:limit]

    def _mark_sent(self, batches: list[Batch], now: float) -> None:
        self._db.executemany(
            "UPDATE readings SET msg_seq = ?, attempts = attempts + 1, "
            "first_sent = coalesce(first_sent, ?), last_sent = ? "
            "WHERE device_id = ? AND seq BETWEEN ? AND ? "
            "AND (msg_seq IS NULL OR msg_seq = ?)",
            [
                (b.msg_seq, now, now, b.device_id, b.first_seq, b.msg_seq, b.msg_seq)
                for b in batches
            ],
        )

    def all_due(self) -> int:
        """Make every unconfirmed message due at once (the broker has lost its state)."""
        with self._mutex:
            cursor = self._db.execute(
                "UPDATE readings SET last_sent = 0 WHERE msg_seq IS NOT NULL AND last_sent > 0")
            return cursor.rowcount

    def unsend(self, batch: Batch) -> None:
        """The client refused the message: make it due again at once (order kept by msg_seq)."""
        with self._mutex:
            self._db.execute(
                "UPDATE readings SET last_sent = 0 WHERE device_id = ? AND msg_seq = ?",
                (batch.device_id, batch.msg_seq),
            )

    # -- confirmation -------------------------------------------------------

    def confirm(self, device_id: str, msg_seqs: Iterable[int]) -> int:
        """Ingest has committed these messages: forget their readings. Returns how many."""
        wanted = [(device_id, int(s)) for s in msg_seqs]
        if not wanted:
            return 0
        with self._mutex:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                before = db.total_changes
                db.executemany(
                    "DELETE FROM readings WHERE device_id = ? AND msg_seq = ?", wanted
                )
                removed = db.total_changes - before
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._count -= removed
        return removed

    # -- looking in ---------------------------------------------------------

    def stats(self) -> OutboxStats:
        with self._mutex:
            row = self._db.execute(
                "SELECT count(*), sum(msg_seq IS NULL), min(created) FROM readings"
            ).fetchone()
        total, unsent = int(row[0]), int(row[1] or 0)
        return OutboxStats(
            readings=total,
            unsent=unsent,
            awaiting_ack=total - unsent,
            max_readings=self.max_readings,
            oldest_created=row[2],
        )

    def __len__(self) -> int:
        return self._count
