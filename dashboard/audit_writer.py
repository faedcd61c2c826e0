"""Audit rows written in bulk: one transaction for every request waiting (a group commit).

Every read of someone else's data is audited before the page is sent
(dashboard/security.py ``audit_reads``).  Written one request at a time through the
ORM's unit of work, the 50 rows of a triage page cost about 5 ms of CPU, and under
20 concurrent requests the pool's SQLite connections queued for the database's one
write lock inside SQLite's busy handler, which sleeps up to 100 ms between tries:
triage pages waited seconds behind each other's audit rows (docs/DASHBOARD.md).

Here one thread of the process writes at a time, so its connections never wait in
the busy handler for each other, with one multi-row INSERT (core/appdb/audit_log.py
AuditLog.record, SQLAlchemy Core: a quarter of the ORM's CPU), and it writes every
row that arrived while the previous transaction was committing, so 20 waiting
requests cost one commit.  A request returns only once its own rows are committed
(nothing is sent unaudited); if the transaction fails, every request whose rows were
in it raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.appdb.audit_log import AuditEntry

Insert = Callable[[list[AuditEntry]], None]


@dataclass(slots=True)
class _Waiting:
    entries: Sequence[AuditEntry]
    done: bool = False
    error: BaseException | None = field(default=None)


class AuditWriter:
    """Group commit: ``write`` blocks until the caller's rows are committed."""

    def __init__(self, write: Insert) -> None:
        self._write = write
        self._queue: list[_Waiting] = []
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.transactions = 0  # how many commits (for tests and the benchmark)

    def write(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        mine = _Waiting(entries)
        with self._queue_lock:
            self._queue.append(mine)
        with self._write_lock:  # whoever holds it writes everything queued so far
            if not mine.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    self._write([e for waiting in batch for e in waiting.entries])
                    self.transactions += 1
                except BaseException as exc:  # every request in the batch must fail
                    for waiting in batch:
                        waiting.error = exc
                finally:
                    for waiting in batch:
                        waiting.done = True
        if mine.error is not None:
            raise mine.error
