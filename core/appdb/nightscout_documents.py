"""What the Nightscout API changed and when: one row per change of a Nightscout document
(its revision), kept in the application database.

Entries, treatments and device status are Hearth readings (dashboard/nightscout_entries.py,
nightscout_treatments.py): a revision of one of them does not repeat the document when it
is created, only names it (``identifier``, the v1 ``_id``, the keys of its readings) and
says when the server took it (``srv_created``/``srv_modified``, Nightscout's API v3
fields, server time in epoch milliseconds). An edit or a deletion keeps the document as it
became, so that API v3's history can serve it (a deletion as ``isValid: false``); a
deletion also names the readings that no longer count (``voided_keys``: a reading deleted
as wrong is left out of the analytics, core/nightscout_voids.py, but kept and audited).

Profiles, food and client settings have no readings: their documents are kept whole here,
each change a new revision, so a pump profile's history is all there.

Revisions are only ever added. The current state of a document is its newest revision.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Engine, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.appdb.models import Base
from core.readings import to_epoch_us


class NightscoutRevision(Base):
    __tablename__ = "nightscout_revisions"
    __table_args__ = (
        Index("ix_nightscout_revisions_identity", "patient_id", "collection", "identifier"),
        Index("ix_nightscout_revisions_changed", "patient_id", "collection", "srv_modified"),
        Index("ix_nightscout_revisions_v1", "patient_id", "collection", "v1_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    collection: Mapped[str] = mapped_column(String(16))
    identifier: Mapped[str] = mapped_column(String(128))
    v1_id: Mapped[str | None] = mapped_column(String(64), default=None)
    operation: Mapped[str] = mapped_column(String(8))  # create, update, delete
    srv_created: Mapped[int] = mapped_column(BigInteger)  # epoch ms, server time
    srv_modified: Mapped[int] = mapped_column(BigInteger)
    is_valid: Mapped[bool] = mapped_column(Boolean, default=True)
    actor_id: Mapped[str] = mapped_column(String(128))  # the uploader or token
    document: Mapped[str | None] = mapped_column(Text, default=None)  # JSON, see above
    reading_keys: Mapped[str | None] = mapped_column(Text, default=None)  # JSON [[dev, metric, us]]


ReadingKey = tuple[str, str, int]  # device id, metric, epoch microseconds


@dataclass(frozen=True, slots=True)
class Revision:
    patient_id: str
    collection: str
    identifier: str
    operation: str
    srv_created: int
    srv_modified: int
    actor_id: str
    is_valid: bool = True
    v1_id: str | None = None
    document: dict[str, Any] | None = None
    keys: tuple[ReadingKey, ...] = field(default=())


def key_of(device_id: str, metric: str, when: datetime) -> ReadingKey:
    return (device_id, str(metric), to_epoch_us(when))


def _revision(row: NightscoutRevision) -> Revision:
    keys = tuple((str(d), str(m), int(t)) for d, m, t in json.loads(row.reading_keys)) \
        if row.reading_keys else ()
    return Revision(row.patient_id, row.collection, row.identifier, row.operation,
                    int(row.srv_created), int(row.srv_modified), row.actor_id,
                    bool(row.is_valid), row.v1_id,
                    json.loads(row.document) if row.document else None, keys)


class NightscoutDocuments:
    """The revisions' repository (the dashboard's Nightscout API is its only writer)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, revisions: Sequence[Revision]) -> None:
        if not revisions:
            return
        with Session(self._engine) as session, session.begin():
            session.add_all(NightscoutRevision(
                patient_id=r.patient_id, collection=r.collection, identifier=r.identifier,
                v1_id=r.v1_id, operation=r.operation, srv_created=r.srv_created,
                srv_modified=r.srv_modified, is_valid=r.is_valid, actor_id=r.actor_id,
                document=json.dumps(r.document, separators=(",", ":"))
                if r.document is not None else None,
                reading_keys=json.dumps([list(k) for k in r.keys]) if r.keys else None)
                for r in revisions)

    def current(self, patient_id: str, collection: str, identifiers: Iterable[str]
                ) -> dict[str, Revision]:
        """The newest revision of each of these documents that has one."""
        wanted = sorted(set(identifiers))
        out: dict[str, Revision] = {}
        with Session(self._engine) as session:
            for start in range(0, len(wanted), 500):
                rows = session.scalars(select(NightscoutRevision).where(
                    NightscoutRevision.patient_id == patient_id,
                    NightscoutRevision.collection == collection,
                    NightscoutRevision.identifier.in_(wanted[start:start + 500]))
                    .order_by(NightscoutRevision.id)).all()
                out.update((row.identifier, _revision(row)) for row in rows)
        return out

    def by_v1_id(self, patient_id: str, collection: str, v1_id: str) -> Revision | None:
        """The newest revision of the document a v1 client knows by ``_id``."""
        with Session(self._engine) as session:
            row = session.scalars(select(NightscoutRevision).where(
                NightscoutRevision.patient_id == patient_id,
                NightscoutRevision.collection == collection,
                NightscoutRevision.v1_id == v1_id)
                .order_by(NightscoutRevision.id.desc()).limit(1)).first()
        if row is None:
            return None
        return self.current(patient_id, collection, [row.identifier]).get(row.identifier)

    def changed(self, patient_id: str, collection: str, since_ms: float, *,
                inclusive: bool = False) -> list[Revision]:
        """The documents changed after ``since_ms`` (at it too when ``inclusive``), each as
        its newest revision, oldest change first."""
        column = NightscoutRevision.srv_modified
        bound = column >= since_ms if inclusive else column > since_ms
        with Session(self._engine) as session:
            rows = session.scalars(select(NightscoutRevision).where(
                NightscoutRevision.patient_id == patient_id,
                NightscoutRevision.collection == collection, bound)
                .order_by(NightscoutRevision.id)).all()
        newest = {row.identifier: _revision(row) for row in rows}
        return sorted(newest.values(), key=lambda r: (r.srv_modified, r.identifier))

    def documents(self, patient_id: str, collection: str) -> list[Revision]:
        """Every document of a collection kept whole (profile, food, settings), newest
        revision each, deleted ones included (``is_valid`` false)."""
        return self.changed(patient_id, collection, -1)

    def revisions(self, patient_id: str, collection: str, identifier: str) -> list[Revision]:
        """A document's whole history, oldest first."""
        with Session(self._engine) as session:
            rows = session.scalars(select(NightscoutRevision).where(
                NightscoutRevision.patient_id == patient_id,
                NightscoutRevision.collection == collection,
                NightscoutRevision.identifier == identifier)
                .order_by(NightscoutRevision.id)).all()
        return [_revision(row) for row in rows]

    def newest_change(self, patient_id: str, collection: str) -> int | None:
        with Session(self._engine) as session:
            row = session.scalars(select(NightscoutRevision.srv_modified).where(
                NightscoutRevision.patient_id == patient_id,
                NightscoutRevision.collection == collection)
                .order_by(NightscoutRevision.srv_modified.desc()).limit(1)).first()
        return int(row) if row is not None else None

    def voided(self) -> dict[tuple[str, str], set[tuple[str, int]]]:
        """``voided_keys`` of every patient: (patient, metric) -> {(device, epoch us)}."""
        out: dict[tuple[str, str], set[tuple[str, int]]] = {}
        for patient_id in self._patients_with_changes():
            for device, metric, at_us in self.voided_keys(patient_id):
                out.setdefault((patient_id, metric), set()).add((device, at_us))
        return out

    def _patients_with_changes(self) -> list[str]:
        with Session(self._engine) as session:
            return list(session.scalars(select(NightscoutRevision.patient_id).where(
                NightscoutRevision.operation != "create").distinct()))

    def voided_keys(self, patient_id: str | None = None) -> set[ReadingKey]:
        """The readings that no longer count: those of a document whose newest revision
        deleted it, and those an edit replaced (each revision names the readings the
        document is made of from then on)."""
        changed = select(NightscoutRevision.patient_id, NightscoutRevision.collection,
                         NightscoutRevision.identifier).where(
            NightscoutRevision.operation != "create").distinct()
        if patient_id is not None:
            changed = changed.where(NightscoutRevision.patient_id == patient_id)
        voided: set[ReadingKey] = set()
        with Session(self._engine) as session:
            for patient, collection, identifier in session.execute(changed).all():
                rows = session.scalars(select(NightscoutRevision).where(
                    NightscoutRevision.patient_id == patient,
                    NightscoutRevision.collection == collection,
                    NightscoutRevision.identifier == identifier)
                    .order_by(NightscoutRevision.id)).all()
                history = [_revision(row) for row in rows]
                every = {k for r in history for k in r.keys}
                now = history[-1]
                voided.update(every - set(now.keys) if now.is_valid else every)
        return voided

    def last_id(self) -> int:
        with Session(self._engine) as session:
            found = session.scalars(select(NightscoutRevision.id)
                                    .order_by(NightscoutRevision.id.desc()).limit(1)).first()
        return int(found) if found is not None else 0
