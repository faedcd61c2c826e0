"""Triage boards built once for all of the dashboard's server processes (the repository; the
nurse's triage view, dashboard/views/triage.py, builds them).

With `hearth dashboard --workers N` each process kept its own boards, so every 5
minutes each one built the same board for the same nurses at the same moment (5 s of
CPU each for 1,000 patients on a 2-CPU machine, while serving). Now the first process
that needs a board for a period claims it in the application database (a row with a
lease), builds it and stores it; the others wait for it and read it. A claim whose
owner died or failed is taken over when its lease runs out (or at once after a failure,
which releases it). Only the current and the previous period's boards are ever served,
so boards older than KEEP are deleted as new ones are stored (a 1,000-patient board is
about 480 kB of JSON; a day of them would be 138 MB a clinic).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.appdb.reviews import TriageBoardRecord

Payload = list[dict[str, Any]]
KEEP = timedelta(minutes=30)


# The rows' format (triage.encode_rows): a board stored by a process of an older version
# (rolling restart) is never read as one of this version, nor the other way round.
FORMAT = "rows-v2"


def key_hash(patient_ids: frozenset[str]) -> str:
    return hashlib.sha256("\n".join([FORMAT, *sorted(patient_ids)]).encode()).hexdigest()


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class SharedBoards:
    def __init__(self, engine: Engine, *, lease: timedelta = timedelta(minutes=2),
                 poll_s: float = 0.2, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 ) -> None:
        self._engine = engine
        self._lease = lease
        self._poll_s = poll_s
        self._now = now  # real time for leases, whatever clock the boards' windows follow
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def get_or_build(self, patient_ids: frozenset[str], as_of: datetime,
                     build: Callable[[], Payload]) -> Payload:
        """The stored board of these patients for ``as_of``: read, waited for while another
        process builds it, or built here (and stored) when nobody has claimed it."""
        hashed = key_hash(patient_ids)
        while True:
            found = self._read(hashed, as_of)
            if found is not None and found.payload is not None:
                loaded: Payload = json.loads(found.payload)
                return loaded
            if (found is None or _aware(found.claimed_until) <= self._now()) and \
                    self._claim(hashed, as_of, found):
                try:
                    payload = build()
                except BaseException:
                    self._release(hashed, as_of)
                    raise
                self._publish(hashed, as_of, payload)
                return payload
            time.sleep(self._poll_s)

    def _read(self, hashed: str, as_of: datetime) -> Any:
        with self._engine.connect() as conn:
            return conn.execute(select(TriageBoardRecord.payload, TriageBoardRecord.claimed_by,
                                       TriageBoardRecord.claimed_until)
                                .where(TriageBoardRecord.key_hash == hashed,
                                       TriageBoardRecord.as_of == as_of)).first()

    def _claim(self, hashed: str, as_of: datetime, stale: Any) -> bool:
        until = self._now() + self._lease
        if stale is None:
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(TriageBoardRecord).values(
                        key_hash=hashed, as_of=as_of, claimed_by=self.owner,
                        claimed_until=until, payload=None))
            except IntegrityError:
                return False  # another process claimed it first
            return True
        with self._engine.begin() as conn:
            taken = conn.execute(  # compare-and-set on the expired claim we read
                update(TriageBoardRecord)
                .where(TriageBoardRecord.key_hash == hashed, TriageBoardRecord.as_of == as_of,
                       TriageBoardRecord.claimed_by == stale.claimed_by,
                       TriageBoardRecord.payload.is_(None))
                .values(claimed_by=self.owner, claimed_until=until))
            return taken.rowcount == 1

    def _release(self, hashed: str, as_of: datetime) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(TriageBoardRecord).where(
                TriageBoardRecord.key_hash == hashed, TriageBoardRecord.as_of == as_of,
                TriageBoardRecord.claimed_by == self.owner, TriageBoardRecord.payload.is_(None)))

    def _publish(self, hashed: str, as_of: datetime, payload: Payload) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(TriageBoardRecord)
                         .where(TriageBoardRecord.key_hash == hashed,
                                TriageBoardRecord.as_of == as_of)
                         .values(payload=json.dumps(payload)))
            conn.execute(delete(TriageBoardRecord).where(TriageBoardRecord.as_of < as_of - KEEP))
