"""The Nightscout API's record of changes (core/appdb/nightscout_documents.py) applied to
the documents it builds from Hearth's readings.

- **Server times.** Each document an app creates through the API is recorded when the
  server takes it: its ``srvCreated`` and ``srvModified`` are that time, not the reading's
  (cgm-remote-monitor ``lib/api3/generic/create/insert.js``); an edit or a deletion sets
  ``srvModified`` again (``update/replace.js``, ``patch/operation.js``,
  ``delete/operation.js`` ``markAsDeleted``). A document with no record (a reading a
  device sent over MQTT, or one stored before this record existed) keeps Nightscout's own
  fallback, its ``date`` (``generic/setup.js``).
- **Edits.** The edited document becomes readings again (a microsecond-offset time, so the
  store's key stays unique, the same millisecond for the apps) and the readings it
  replaces no longer count (core/nightscout_voids.py); the API serves the edited document.
- **Deletions** are soft: the document is kept in the record with ``isValid: false``,
  which API v3's history serves, and hidden from every other read; its readings no longer
  count in Hearth's analytics, and stay stored and audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from starlette.datastructures import State

from core.appdb.nightscout_documents import NightscoutDocuments, ReadingKey, Revision, key_of
from core.metrics import Metric
from core.readings import Reading, to_epoch_us
from dashboard.nightscout_entries import epoch_ms
from dashboard.nightscout_v3_docs import calculate_identifier

KEYS = "_keys"  # a built document's readings (private: never served)
V1_ID = "_v1_id"


def ledger(parent: State) -> NightscoutDocuments | None:
    engine: Engine | None = getattr(parent, "engine", None)
    return NightscoutDocuments(engine) if engine is not None else None


def server_ms(parent: State) -> int:
    backend = getattr(parent, "nightscout", None)
    now: datetime = backend.clock() if backend is not None else datetime.now(UTC)
    return epoch_ms(now)


def identifier_of(doc: dict[str, Any]) -> str:
    """A document's API v3 identifier: its own, else Nightscout's computed one."""
    sent = doc.get("identifier")
    if isinstance(sent, str) and sent:
        return sent
    probe = {k: v for k, v in doc.items() if k != "_id"}
    if "date" not in probe and isinstance(doc.get("mills"), int | float):
        probe["date"] = doc["mills"]
    return calculate_identifier(probe)


def reading_from(device_id: str, patient_id: str, made: dict[str, Any]) -> Reading:
    """A contract reading (as the converters make them) as the reading ingest will store."""
    return Reading(patient_id=patient_id, device_id=device_id, metric=Metric(made["metric"]),
                   value=float(made["value"]), measured_at=made["time"],
                   source=made["source"], original_value=float(made["value"]),
                   original_unit=made["unit"], context=made.get("context"),
                   status=tuple(made.get("status", ())))


def attach_keys(docs: list[dict[str, Any]], readings: Iterable[Reading],
                families: dict[str, tuple[Metric, ...]] | None = None) -> None:
    """Each built document's readings (``_keys``): those at its millisecond, of its kind,
    of its device when one of them is (one per time across uploaders is one document)."""
    by_ms: dict[int, list[Reading]] = {}
    for r in readings:
        by_ms.setdefault(epoch_ms(r.measured_at), []).append(r)
    for doc in docs:
        when = doc.get("date", doc.get("mills"))
        found = by_ms.get(int(when), []) if isinstance(when, int | float) else []
        if families is not None:
            wanted = families.get(str(doc.get("type")), ())
            found = [r for r in found if r.metric in wanted and (
                r.metric != Metric.GLUCOSE or (r.source == "cgm") == (doc.get("type") == "sgv"))]
        own = [r for r in found if r.device_id == doc.get("device")]
        doc[KEYS] = [key_of(r.device_id, r.metric, r.measured_at) for r in (own or found)]


ENTRY_FAMILIES = {"sgv": (Metric.GLUCOSE, Metric.CGM_STATUS), "mbg": (Metric.GLUCOSE,),
                  "cal": (Metric.CGM_CALIBRATION,)}


def record_created(parent: State, patient_id: str, actor_id: str, collection: str,
                   created: list[tuple[dict[str, Any], list[ReadingKey]]]) -> None:
    """What an upload created: a revision for each document not recorded before (or
    deleted before: sending it again brings it back, as Nightscout's de-duplication
    replaces it); a repeat of a stored document changes nothing."""
    book = ledger(parent)
    if book is None or not created:
        return
    now = server_ms(parent)
    ids = {identifier_of(doc): (doc, keys) for doc, keys in created}
    known = book.current(patient_id, collection, ids)
    fresh = []
    for identifier, (doc, keys) in ids.items():
        before = known.get(identifier)
        if before is not None and before.is_valid:
            continue
        fresh.append(Revision(patient_id, collection, identifier, "create", now, now, actor_id,
                              v1_id=doc.get("_id") if isinstance(doc.get("_id"), str) else None,
                              keys=tuple(keys)))
    book.record(fresh)


def overlay(parent: State, patient_id: str, collection: str, docs: list[dict[str, Any]], *,
            v3: bool, deleted: bool = False) -> list[dict[str, Any]]:
    """Built documents with the record applied: edited ones as edited, deleted ones left
    out (``deleted``: kept, with ``isValid: false``), one per identifier; for API v3 with
    ``srvModified`` and ``srvCreated`` the server's times where it took the document."""
    book = ledger(parent)
    if book is None or not docs:
        return docs
    ids = [identifier_of(d) for d in docs]
    revisions = book.current(patient_id, collection, ids)
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, Any]] = set()
    for doc, identifier in zip(docs, ids, strict=True):
        rev = revisions.get(identifier)
        if rev is None:
            out.append(doc)
            continue
        # an edited document's earlier readings (an entry's identifier, Nightscout's
        # device_date, is the same for a meter reading and a calibration at one time)
        if (identifier, doc.get("type")) in seen:
            continue
        seen.add((identifier, doc.get("type")))
        if not rev.is_valid and not deleted:
            continue
        out.append(revised(doc, rev, v3=v3))
    return out


def revised(doc: dict[str, Any], rev: Revision, *, v3: bool) -> dict[str, Any]:
    """The document as its newest revision has it."""
    if rev.document is not None:
        kept = {k: doc[k] for k in (KEYS, V1_ID) if k in doc}
        doc = {**rev.document, **kept}
        if not v3:
            doc["_id"] = rev.v1_id or doc.get("_id")
            for name in ("srvModified", "srvCreated", "isValid"):
                doc.pop(name, None)
    else:
        doc = dict(doc)
    if rev.keys and rev.document is not None:  # an edit's or a deletion's readings
        doc[KEYS] = [list(k) for k in rev.keys]
    if v3:
        doc["srvModified"], doc["srvCreated"] = rev.srv_modified, rev.srv_created
        doc["isValid"] = rev.is_valid
    if rev.v1_id and V1_ID in doc:
        doc[V1_ID] = rev.v1_id
    return doc


def offset_for(count: int) -> int:
    """Microseconds added to an edited document's readings: 2 and on (1 is a v1 deletion
    marker's, dashboard/nightscout_treatments.py)."""
    return 2 + count


def epoch_us(when: datetime) -> int:
    return to_epoch_us(when)
