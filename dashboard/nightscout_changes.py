"""API v1's changes: ``DELETE`` of entries, treatments and device status (by ``_id`` or by
``find``), and the profile and food documents (``/api/v1/profile``, ``/api/v1/food``),
mounted by dashboard/nightscout.py's create_app.

Deletions are soft, as API v3's (dashboard/nightscout_v3.py ``remove``): the document is
kept in the record of changes with ``isValid: false`` (API v3's history serves it), hidden
from every read, and its readings no longer count in Hearth's analytics
(core/nightscout_voids.py) while they stay stored; each deletion is audited.

Profiles (what Loop and AndroidAPS upload: ``defaultProfile``, ``store``, ``startDate``...)
and food are kept whole in the application database, every change a revision
(core/appdb/nightscout_documents.py): ``POST`` adds (one with the ``_id`` or the
``created_at`` of a kept one replaces it, as Nightscout's upsert), ``PUT`` replaces by
``_id``, ``GET`` serves the newest first, ``DELETE /profile/<_id>`` deletes softly.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request

from core.appdb.nightscout_documents import Revision
from dashboard.nightscout import (
    LOOKBACKS,
    MAX_COUNT,
    NightscoutError,
    Principal,
    Reader,
    Writer,
    _audit,
    _body,
    _now,
    _parent,
)
from dashboard.nightscout_backend import Converted
from dashboard.nightscout_entries import ENTRY_TYPES, iso_ms, parse_when
from dashboard.nightscout_ledger import V1_ID, ledger, server_ms
from dashboard.nightscout_query import Find, QueryError
from dashboard.nightscout_v3 import (
    KEPT,
    NOT_CONTENT,
    built_docs,
    built_from,
    edit,
    locate,
    remove,
    v1_object_id,
)

WHOLE_V1 = ("profile", "food")


def mount(sub: FastAPI) -> None:
    for path, collection in (("/entries", "entries"), ("/treatments", "treatments"),
                             ("/devicestatus", "devicestatus")):
        sub.add_api_route(path, _by_find(collection), methods=["DELETE"])
        sub.add_api_route(path + "/{spec}", _by_spec(collection), methods=["DELETE"])
    for collection in WHOLE_V1:
        for suffix in ("", ".json"):
            sub.add_api_route(f"/{collection}{suffix}", _get_whole(collection),
                              methods=["GET"])
            sub.add_api_route(f"/{collection}{suffix}", _post_whole(collection),
                              methods=["POST", "PUT"])
        sub.add_api_route(f"/{collection}/{{doc_id}}", _delete_whole(collection),
                          methods=["DELETE"])


# --- deletions ------------------------------------------------------------------------------

def _window_of(v1_docs: list[dict[str, Any]]) -> tuple[datetime, datetime]:
    times = []
    for doc in v1_docs:
        raw = doc.get("date", doc.get("mills", doc.get("created_at")))
        times.append(parse_when(raw, "date"))
    return min(times), max(times) + timedelta(milliseconds=1)


def delete_v1(request: Request, who: Principal, collection: str, v1_ids: set[str],
              window: tuple[datetime, datetime] | None = None) -> int:
    """Soft-delete the documents a v1 client knows by these ``_id``s; how many were."""
    parent = _parent(request)
    col = KEPT[collection]
    book = ledger(parent)
    found: dict[str, dict[str, Any]] = {}
    revs: dict[str, Revision | None] = {}
    if book is not None:
        for v1_id in v1_ids:
            rev = book.by_v1_id(who.patient_id, collection, v1_id)
            if rev is not None:
                doc, rev = locate(parent, who.patient_id, col, rev.identifier)
                if doc is not None:
                    found[v1_id], revs[v1_id] = doc, rev
    left = v1_ids - set(found)
    now = _now(request)
    end = now + timedelta(minutes=5)
    windows = [window] if window is not None else [(end - w, end) for w in LOOKBACKS]
    for start, stop in windows:
        if not left:
            break
        for doc in built_docs(parent, who.patient_id, col, start, stop):
            if doc.get(V1_ID) in left:
                found[doc[V1_ID]] = doc
                left.discard(doc[V1_ID])
    deleted = 0
    for v1_id, doc in found.items():
        if doc.get("isValid") is False:
            continue
        rev = revs.get(v1_id)
        if rev is None and book is not None:
            rev = book.current(who.patient_id, collection, [doc["identifier"]]).get(
                doc["identifier"])
        remove(parent, who, collection, doc, rev)
        deleted += 1
    if deleted:
        _audit(request, who, f"{collection} deleted ({deleted})")
    return deleted


def find_v1(parent: Any, who: Principal, collection: str, v1_id: str
            ) -> tuple[dict[str, Any] | None, Revision | None]:
    """A document by its v1 ``_id`` (socket.io's dbUpdate and dbRemove)."""
    col = KEPT[collection]
    book = ledger(parent)
    rev = book.by_v1_id(who.patient_id, collection, v1_id) if book is not None else None
    if rev is not None:
        return locate(parent, who.patient_id, col, rev.identifier)
    backend = getattr(parent, "nightscout", None)
    now = backend.clock() if backend is not None else datetime.now(UTC)
    end = now + timedelta(minutes=5)
    for window in LOOKBACKS:
        for doc in built_docs(parent, who.patient_id, col, end - window, end):
            if doc.get(V1_ID) == v1_id:
                return doc, None
    return None, None


def put_edits(request: Request, who: Principal, docs: list[Any], converted: Converted
              ) -> int:
    """xDrip+'s ``PUT /api/v1/treatments`` is an upsert: a treatment sent again with its
    ``_id`` and changed fields (carbs, insulin, notes, duration...) is an edit (the first
    version stops counting), not a repeat. How many were edited."""
    parent = _parent(request)
    col = KEPT["treatments"]
    book = ledger(parent)
    built = built_from(col, who, converted)
    firsts: dict[int, datetime] = {}
    for index, made in zip(converted.indexes, converted.readings, strict=True):
        firsts.setdefault(index, made["time"])
    edited = 0
    for index, new in built.items():
        sent = docs[index].get("_id") if isinstance(docs[index], dict) else None
        if not isinstance(sent, str) or len(sent) != 24:
            continue
        when = firsts[index]
        stored = next((d for d in built_docs(parent, who.patient_id, col, when,
                                             when + timedelta(milliseconds=1))
                       if d.get(V1_ID) == sent), None)
        if stored is None:
            continue
        fields = (set(new) | set(stored)) - NOT_CONTENT
        if all(new.get(f) == stored.get(f) for f in fields):
            continue
        rev = book.current(who.patient_id, col.name, [stored["identifier"]]).get(
            stored["identifier"]) if book is not None else None
        changed = {**{k: v for k, v in stored.items() if k not in fields},
                   **{k: v for k, v in new.items() if k in fields and v is not None}}
        edit(parent, who, col, stored, rev, changed)
        edited += 1
    if edited:
        _audit(request, who, f"treatments updated ({edited})")
    return edited


def _answer(n: int) -> dict[str, int]:
    return {"n": n, "ok": 1, "deletedCount": n}  # MongoDB's remove result, as Nightscout


def _matching(request: Request, who: Principal, collection: str, kind: str | None
              ) -> tuple[set[str], tuple[datetime, datetime] | None]:
    """The ``_id``s of the documents a v1 ``find`` names (every match: no ``count``)."""
    from dashboard.nightscout import _entry_docs, _read
    from dashboard.nightscout_treatments import (
        TREATMENT_METRICS,
        devicestatus_document,
        treatment_documents,
    )

    params = [(k, v) for k, v in request.query_params.multi_items() if k != "count"]
    if not any(k.startswith("find[") for k, _ in params) and kind is None:
        raise NightscoutError(400, "Bad Request",
                              "a DELETE names what it deletes: an _id or a find[...] query")
    if kind is not None:
        params.append(("find[type]", kind))
    time_field = "date" if collection == "entries" else "created_at"
    try:
        find = Find.parse([*params, ("count", "0")], max_count=MAX_COUNT,
                          time_field=time_field)
    except QueryError as exc:
        raise NightscoutError(400, "Bad Request", str(exc)) from None
    if collection == "entries":
        from analytics.arrows import MAX_GAP
        from dashboard.nightscout_entries import ENTRY_METRICS

        docs = _read(request, who.patient_id, find, ENTRY_METRICS, _entry_docs,
                     margin=MAX_GAP, collection=collection)
    elif collection == "treatments":
        docs = _read(request, who.patient_id, find, TREATMENT_METRICS, treatment_documents,
                     margin=timedelta(0), collection=collection)
    else:
        from core.metrics import Metric

        docs = _read(request, who.patient_id, find, (Metric.DEVICE_BATTERY,),
                     lambda rs: [devicestatus_document(r) for r in rs],
                     margin=timedelta(0), collection=collection)
    ids = {d["_id"] for d in docs if isinstance(d.get("_id"), str)}
    return ids, _window_of(docs) if docs else None


def _by_find(collection: str) -> Any:
    def endpoint(request: Request, who: Writer) -> dict[str, int]:
        """``DELETE /api/v1/<collection>?find[...]``: every document the query matches."""
        ids, window = _matching(request, who, collection, None)
        return _answer(delete_v1(request, who, collection, ids, window) if ids else 0)
    return endpoint


def _by_spec(collection: str) -> Any:
    def endpoint(request: Request, who: Writer, spec: str) -> dict[str, int]:
        """``DELETE /api/v1/<collection>/<_id>``; for entries also ``/<type>?find[...]``
        (lib/api/entries ``/entries/:spec``). An unknown ``_id`` is ``n: 0``."""
        spec = spec.removesuffix(".json")
        if collection == "entries" and spec in ENTRY_TYPES:
            ids, window = _matching(request, who, collection, spec)
            return _answer(delete_v1(request, who, collection, ids, window) if ids else 0)
        return _answer(delete_v1(request, who, collection, {spec}))
    return endpoint


# --- profile and food -------------------------------------------------------------------

def _v1_whole(rev: Revision) -> dict[str, Any]:
    assert rev.document is not None
    doc = dict(rev.document)
    doc["_id"] = rev.v1_id or v1_object_id(rev.identifier)
    doc.setdefault("created_at", iso_ms(datetime.fromtimestamp(rev.srv_created / 1000, UTC)))
    return doc


def _kept(request: Request, who: Principal, collection: str) -> list[Revision]:
    book = ledger(_parent(request))
    if book is None:
        return []
    return [r for r in book.documents(who.patient_id, collection)
            if r.is_valid and r.document is not None]


def _sort_time(rev: Revision) -> float:
    assert rev.document is not None
    for name in ("startDate", "created_at", "date", "mills"):
        raw = rev.document.get(name)
        if raw is None:
            continue
        try:
            return parse_when(raw, name).timestamp()
        except ValueError:
            continue
    return rev.srv_created / 1000


def kept_v1(parent: Any, patient_id: str, collection: str) -> list[dict[str, Any]]:
    """The kept profiles or food as v1 documents, newest first."""
    book = ledger(parent)
    if book is None:
        return []
    kept = [r for r in book.documents(patient_id, collection)
            if r.is_valid and r.document is not None]
    return [_v1_whole(r) for r in sorted(kept, key=_sort_time, reverse=True)]


def _get_whole(collection: str) -> Any:
    def endpoint(request: Request, who: Reader) -> list[dict[str, Any]]:
        """The kept documents, newest first (``count``, default all)."""
        kept = sorted(_kept(request, who, collection), key=_sort_time, reverse=True)
        count = request.query_params.get("count")
        if count is not None and count.isdigit() and int(count) > 0:
            kept = kept[:int(count)]
        _audit(request, who, collection)
        return [_v1_whole(r) for r in kept]
    return endpoint


def _post_whole(collection: str) -> Any:
    async def endpoint(request: Request, who: Writer) -> list[dict[str, Any]]:
        """Add or replace (same ``_id``, or same ``created_at``) documents, kept whole
        with their history; each answered with its ``_id``."""
        docs = _body(await request.body())
        book = ledger(_parent(request))
        if book is None:
            raise NightscoutError(503, "Service Unavailable",
                                  "the application database is not available")
        if not all(isinstance(d, dict) for d in docs):
            raise NightscoutError(400, "Bad Request", f"each {collection} must be an object")
        kept = book.documents(who.patient_id, collection)
        now = server_ms(_parent(request))
        answered, revisions = [], []
        for doc in docs:
            body = {k: v for k, v in doc.items() if k != "_id"}
            sent_id = doc.get("_id")
            same = next((r for r in reversed(kept) if r.document is not None and (
                (isinstance(sent_id, str) and r.v1_id == sent_id) or (
                    body.get("created_at") is not None and r.is_valid and
                    r.document.get("created_at") == body.get("created_at")))), None)
            if same is not None:
                revisions.append(Revision(who.patient_id, collection, same.identifier,
                                          "update", same.srv_created, now, who.actor_id,
                                          True, same.v1_id, body))
                v1_id = same.v1_id or v1_object_id(same.identifier)
            else:
                sent = body.get("identifier")
                identifier = sent if isinstance(sent, str) and sent else str(uuid.uuid4())
                body["identifier"] = identifier
                v1_id = sent_id if isinstance(sent_id, str) and len(sent_id) == 24 else \
                    v1_object_id(identifier)
                revisions.append(Revision(who.patient_id, collection, identifier, "create",
                                          now, now, who.actor_id, True, v1_id, body))
            answered.append({**body, "_id": v1_id})
        book.record(revisions)
        _audit(request, who, f"{collection} saved ({len(revisions)})")
        return answered
    return endpoint


def _delete_whole(collection: str) -> Any:
    def endpoint(request: Request, who: Writer, doc_id: str) -> dict[str, int]:
        book = ledger(_parent(request))
        kept = [r for r in _kept(request, who, collection) if r.v1_id == doc_id]
        if book is None or not kept:
            return _answer(0)
        now = server_ms(_parent(request))
        rev = kept[-1]
        book.record([Revision(who.patient_id, collection, rev.identifier, "delete",
                              rev.srv_created, now, who.actor_id, False, rev.v1_id,
                              rev.document)])
        _audit(request, who, f"{collection} deleted")
        return _answer(1)
    return endpoint

