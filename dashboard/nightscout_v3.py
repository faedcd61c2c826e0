"""Nightscout API v3, as AndroidAPS's NSClient v3 uses it; mounted at ``/api/v3``.

The server side follows cgm-remote-monitor ``lib/api3`` (``generic/collection.js`` and its
operations, ``specific/status.js``, ``lastModified.js``, ``version.js``); the requests are
AndroidAPS's (``core/nssdk/.../networking/NightscoutRemoteService.kt``): ``GET status``,
``GET lastModified``, ``GET entries?sort$desc=date&type=sgv``, ``GET entries?sort=date&
date$gt=<ms>&limit=``, ``GET {entries,treatments,devicestatus,profile}/history/<ms>``,
``GET treatments?sort=created_at&created_at$gt=<ISO>&limit=``, ``POST`` of each document,
``PATCH``/``DELETE {collection}/<identifier>``, ``GET food``, ``GET profile?sort$desc=
date&limit=1``, ``POST profile``.

Answers are Nightscout's envelopes: ``{"status": 200, "result": ...}`` for reads,
``{"status": 201, "identifier", "lastModified"}`` for a new document (200 with
``isDeduplication`` for one already stored), ``{"status": 4xx, "message"}`` for errors.

Authentication as lib/api3/security.js: ``Authorization: Bearer <JWT>`` from
``/api/v2/authorization/request/<access token>``, where the access token is a follower's
token (read-only) or an uploader's secret (``hearth devices add ID --role nightscout``),
which is what AndroidAPS's "NS access token" is set to in Hearth. The access token itself
as ``Bearer``, ``api-secret`` or ``?token=`` works too (dashboard/nightscout.py).

Hearth's data model underneath (dashboard/nightscout_entries.py, nightscout_treatments.py):
what is stored and served is what the v1 API stores and serves, with the v3 fields of
dashboard/nightscout_v3_docs.py. What is not kept is refused with the reason, in the codes
AndroidAPS moves on from: an edit (``PATCH``/``PUT``) of a stored document and the
deletion of an entry or a device status are ``400`` (Hearth's record keeps what it was
sent; a treatment's deletion is recorded and honoured, as in v1); ``profile``, ``food``
and ``settings`` are read as empty and a write to them is ``404``, what a Nightscout with
the collection disabled answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import State

from analytics.arrows import MAX_GAP
from core.appdb.nightscout_documents import Revision, key_of
from core.metrics import Metric
from core.readings import Reading
from dashboard.nightscout import (
    LOOKBACKS,
    VERSION,
    NightscoutError,
    Principal,
    _audit,
    _backend,
    _entry_docs,
    _parent,
    _publish,
    principal,
)
from dashboard.nightscout_backend import Converted, UploadError, convert, publish_upload
from dashboard.nightscout_entries import ENTRY_METRICS, entry_reading, epoch_ms
from dashboard.nightscout_ledger import (
    ENTRY_FAMILIES,
    KEYS,
    V1_ID,
    attach_keys,
    ledger,
    offset_for,
    overlay,
    reading_from,
    record_created,
    server_ms,
)
from dashboard.nightscout_treatments import (
    TREATMENT_METRICS,
    devicestatus_document,
    devicestatus_reading,
    treatment_documents,
    treatment_readings,
)
from dashboard.nightscout_v3_docs import (
    Search,
    V3Error,
    parse_limit,
    prepared,
    v3_document,
)

API_VERSION = "3.0.3-alpha"  # lib/api3/const.json
COLLECTIONS = ("devicestatus", "entries", "food", "profile", "settings", "treatments")
BAD_OPERATION = "Bad operation or collection"
IMMUTABLE_FIELD = "Field {0} cannot be modified by the client"  # lib/api3/const.json
# Fields an edit may not change (generic/update/validate.js). ``device``, ``app``,
# ``subject`` and ``modifiedBy`` are not compared: Hearth serves the uploader's device id
# where an app sent none, and keeps no ``app``.
IMMUTABLE = ("identifier", "date", "utcOffset", "eventType", "srvCreated", "srvModified")
# Collections kept whole in the application database (core/appdb/nightscout_documents.py),
# with Nightscout's de-duplication field (generic/setup.js).
# What a document may differ in without its readings changing (times, ids, who sent it).
NOT_CONTENT = {"srvModified", "srvCreated", "isValid", "identifier", V1_ID, KEYS, "_id",
               "date", "utcOffset", "created_at", "timestamp", "mills", "device",
               "enteredBy", "app", "isReadOnly"}
# How long history waits for a document the server took but ingest has not stored.
STORE_WAIT_MS = 10 * 60 * 1000
WHOLE = {"profile": ("created_at",), "food": ("created_at",), "settings": ()}


def _from_ms(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True, slots=True)
class Collection:
    """A collection Hearth keeps: which readings it is made of, how documents become
    readings and back, and Nightscout's fallback de-duplication fields (generic/setup.js)."""

    name: str
    metrics: tuple[Metric, ...]
    time_field: str
    build: Callable[[list[Reading]], list[dict[str, Any]]]
    make: Callable[[dict[str, Any], datetime], list[dict[str, Any]]]
    dedup: tuple[str, ...]
    margin: timedelta = field(default=timedelta(0))
    families: dict[str, tuple[Metric, ...]] | None = None


KEPT = {
    "entries": Collection("entries", ENTRY_METRICS, "date", _entry_docs,
                          lambda d, _now: [entry_reading(d)], ("date", "type"), MAX_GAP,
                          ENTRY_FAMILIES),
    "treatments": Collection("treatments", TREATMENT_METRICS, "created_at",
                             treatment_documents, lambda d, _now: treatment_readings(d),
                             ("date", "eventType")),
    "devicestatus": Collection("devicestatus", (Metric.DEVICE_BATTERY,), "created_at",
                               lambda rs: [devicestatus_document(r) for r in rs],
                               lambda d, now: [devicestatus_reading(d, now=now)],
                               ("date", "device")),
}


def create_v3_app(parent: State) -> FastAPI:
    sub = FastAPI(title="Hearth: Nightscout-compatible API (v3)", version=VERSION)
    sub.state.parent = parent
    sub.add_exception_handler(V3Error, _v3_error)
    sub.add_exception_handler(NightscoutError, _v1_error)
    sub.add_api_route("/version", version, methods=["GET"])
    sub.add_api_route("/status", status, methods=["GET"])
    sub.add_api_route("/lastModified", last_modified, methods=["GET"])
    sub.add_api_route("/{collection}/history/{since}", history, methods=["GET"])
    sub.add_api_route("/{collection}/history", history, methods=["GET"])
    sub.add_api_route("/{collection}/{identifier}", read_one, methods=["GET"])
    sub.add_api_route("/{collection}/{identifier}", update, methods=["PUT", "PATCH"])
    sub.add_api_route("/{collection}/{identifier}", delete, methods=["DELETE"])
    sub.add_api_route("/{collection}", search, methods=["GET"])
    sub.add_api_route("/{collection}", create, methods=["POST"])
    return sub


def _v3_error(_request: Request, exc: Exception) -> JSONResponse:
    """``{"status": 400, "message": ...}`` (lib/api3/shared/operationTools.js sendJSONStatus)."""
    assert isinstance(exc, V3Error)
    body: dict[str, Any] = {"status": exc.status}
    if exc.message:
        body["message"] = exc.message
    return JSONResponse(body, status_code=exc.status)


def _v1_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NightscoutError)
    message = "Missing or bad access token or JWT" if exc.status == 401 else exc.description
    return JSONResponse({"status": exc.status, "message": message}, status_code=exc.status,
                        headers=exc.headers)


def _ok(result: Any, status_code: int = 200, headers: dict[str, str] | None = None
        ) -> JSONResponse:
    return JSONResponse({"status": status_code, "result": result}, status_code=status_code,
                        headers=headers)


Reader = Annotated[Principal, Depends(principal)]


def writer(request: Request, who: Reader) -> Principal:
    """A follower's read-only token may not write: 403 with the permission, as lib/api3."""
    if not who.can_write:
        collection = request.path_params.get("collection", "")
        action = {"POST": "create", "DELETE": "delete"}.get(request.method, "update")
        raise V3Error(403, f"Missing permission api:{collection}:{action}")
    return who


Writer = Annotated[Principal, Depends(writer)]


def _known(collection: str) -> Collection | None:
    """The collection of readings, or None for one kept whole (profile, food, settings)."""
    if collection not in COLLECTIONS:
        raise V3Error(404, BAD_OPERATION)
    return KEPT.get(collection)


def _now(request: Request) -> datetime:
    return _backend(request).clock()


# --- reading -------------------------------------------------------------------------------

def built_docs(parent: State, patient_id: str, col: Collection, start: datetime,
               end: datetime, *, deleted: bool = False) -> list[dict[str, Any]]:
    """The API v3 documents of the readings in [start, end), with the record of changes
    applied (dashboard/nightscout_ledger.py); each carries its readings' keys and its v1
    ``_id`` privately."""
    store = parent.store
    readings = [r for m in col.metrics
                for r in store.read(patient_id, m, start - col.margin, end)]
    built = col.build(readings)
    attach_keys(built, readings, col.families)
    lower = start.timestamp() * 1000
    docs = []
    for doc in built:
        v3 = v3_document({k: v for k, v in doc.items() if k != KEYS}, time_field=col.time_field)
        if v3["date"] >= lower:
            docs.append(v3 | {V1_ID: doc.get("_id"), KEYS: doc[KEYS]})
    return overlay(parent, patient_id, col.name, docs, v3=True, deleted=deleted)


def _v1_docs(request: Request, who: Principal, col: Collection, start: datetime,
             end: datetime) -> list[dict[str, Any]]:
    return built_docs(_parent(request), who.patient_id, col, start, end)


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in (V1_ID, KEYS)}


def _search_docs(request: Request, who: Principal, col: Collection, query: Search
                 ) -> list[dict[str, Any]]:
    lower, upper = query.bounds()
    end = _from_ms(upper) + timedelta(milliseconds=1) if upper is not None else \
        _now(request) + timedelta(minutes=5)
    starts = [_from_ms(lower)] if lower is not None else [end - w for w in LOOKBACKS]
    found: list[dict[str, Any]] = []
    for start in starts:
        found = query.apply(_v1_docs(request, who, col, start, end))
        if len(found) >= query.limit:
            break
    return found


def locate(parent: State, patient_id: str, col: Collection, identifier: str
           ) -> tuple[dict[str, Any] | None, Revision | None]:
    """A document by identifier, deleted ones too, and its newest revision."""
    book = ledger(parent)
    rev = book.current(patient_id, col.name, [identifier]).get(identifier) \
        if book is not None else None
    if rev is not None and rev.keys:
        times = [k[2] for k in rev.keys]
        start = datetime.fromtimestamp(min(times) // 1000 / 1000, UTC)
        end = datetime.fromtimestamp(max(times) // 1000 / 1000, UTC) + timedelta(milliseconds=1)
        for doc in built_docs(parent, patient_id, col, start, end, deleted=True):
            if doc["identifier"] == identifier:
                return doc, rev
        if rev.document is not None:
            return {**rev.document, KEYS: [list(k) for k in rev.keys], V1_ID: rev.v1_id}, rev
    backend = getattr(parent, "nightscout", None)
    now = backend.clock() if backend is not None else datetime.now(UTC)
    end = now + timedelta(minutes=5)
    for window in LOOKBACKS:
        for doc in built_docs(parent, patient_id, col, end - window, end, deleted=True):
            if doc["identifier"] == identifier:
                return doc, rev
    return None, rev


def _find(request: Request, who: Principal, col: Collection, identifier: str
          ) -> dict[str, Any] | None:
    doc, rev = locate(_parent(request), who.patient_id, col, identifier)
    return doc if rev is None or rev.is_valid else None


def version(request: Request, who: Reader) -> JSONResponse:
    return _ok(_version_info(request))


def _version_info(request: Request) -> dict[str, Any]:
    return {"version": VERSION, "apiVersion": API_VERSION,
            "srvDate": int(_now(request).timestamp() * 1000),
            "storage": {"storage": "hearth", "version": "1"}}


def status(request: Request, who: Reader) -> JSONResponse:
    """Version and permissions (``apiPermissions``: ``crud`` letters per collection).
    AndroidAPS uploads only with all four on all six collections (``ApiPermissions.isFull``);
    an uploader's credential has them, a follower's token reads."""
    letters = "crud" if who.can_write else "r"
    return _ok({**_version_info(request),
                "apiPermissions": dict.fromkeys(COLLECTIONS, letters)})


def last_modified(request: Request, who: Reader) -> JSONResponse:
    """The newest change per collection: the server's time of the newest revision, else
    (documents it has no record of) the newest document's own time."""
    now = _now(request)
    book = ledger(_parent(request))
    collections: dict[str, int] = {}
    for name, col in KEPT.items():
        query = Search((), "date", True, 1, 0)
        found = _search_docs(request, who, col, query)
        times = [found[0]["srvModified"]] if found else []
        if book is not None and (newest := book.newest_change(who.patient_id, name)):
            times.append(newest)
        if times:
            collections[name] = max(times)
    if book is not None:
        for name in WHOLE:
            if (newest := book.newest_change(who.patient_id, name)) is not None:
                collections[name] = newest
    _audit(request, who, "v3 lastModified")
    return _ok({"srvDate": int(now.timestamp() * 1000), "collections": collections})


def _whole_docs(request: Request, who: Principal, collection: str, *, deleted: bool = False
                ) -> list[dict[str, Any]]:
    book = ledger(_parent(request))
    if book is None:
        return []
    return [_whole(r) for r in book.documents(who.patient_id, collection)
            if r.document is not None and (deleted or r.is_valid)]


def _whole(rev: Revision) -> dict[str, Any]:
    assert rev.document is not None
    return {**rev.document, "identifier": rev.identifier, "srvCreated": rev.srv_created,
            "srvModified": rev.srv_modified, "isValid": rev.is_valid, V1_ID: rev.v1_id}


def search(request: Request, who: Reader, collection: str) -> JSONResponse:
    col = _known(collection)
    query = Search.parse(request.query_params.multi_items())
    if col is None:
        result = [_public(d) for d in query.apply(_whole_docs(request, who, collection))]
    else:
        result = [_public(d) for d in _search_docs(request, who, col, query)]
    _audit(request, who, f"v3 {collection}")
    return _ok(result)


def _since(request: Request, since: str | None) -> tuple[float, bool]:
    """(epoch ms, inclusive) from the path (``> since``) or the Last-Modified header
    (``>=``, floored to the second), as generic/history/operation.js."""
    message = "Bad or missing Last-Modified header/parameter"
    if since is not None:
        try:
            return float(since), False
        except ValueError:
            raise V3Error(400, message) from None
    header = request.headers.get("last-modified")
    if not header:
        raise V3Error(400, message)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        raise V3Error(400, message) from None
    return float(int(when.timestamp()) * 1000), True


def changed_docs(parent: State, patient_id: str, col: Collection, start: float,
                 inclusive: bool, now: datetime) -> list[dict[str, Any]]:
    """Documents changed after ``start`` (epoch ms), deleted ones included, oldest change
    first: those the record has (by the server's time) and those it has not (by their own
    time, Nightscout's fallback). A document recorded but not stored yet (ingest has not
    committed it) stops the list there, so a client going on from the newest ``srvModified``
    it got misses nothing."""
    def after(ms: float) -> bool:
        return ms > start or (inclusive and ms == start)

    book = ledger(parent)
    revisions = book.changed(patient_id, col.name, start, inclusive=inclusive) \
        if book is not None else []
    end = now + timedelta(minutes=5)
    unrecorded = [d for d in built_docs(parent, patient_id, col, _from_ms(start), end,
                                        deleted=True)
                  if after(d["srvModified"])]
    if book is not None and unrecorded:
        recorded = book.current(patient_id, col.name, [d["identifier"] for d in unrecorded])
        unrecorded = [d for d in unrecorded if d["identifier"] not in recorded]
    docs = {d["identifier"]: d for d in unrecorded}
    keyed = [k for r in revisions for k in r.keys]
    if keyed:
        low = _from_ms(min(k[2] for k in keyed) // 1000)
        high = _from_ms(max(k[2] for k in keyed) // 1000) + timedelta(milliseconds=1)
        built = {d["identifier"]: d for d in built_docs(parent, patient_id, col, low, high,
                                                        deleted=True)}
    else:
        built = {}
    waiting: float | None = None
    for rev in revisions:
        doc = built.get(rev.identifier)
        if doc is None and rev.document is not None:
            doc = {**rev.document, "srvModified": rev.srv_modified,
                   "srvCreated": rev.srv_created, "isValid": rev.is_valid,
                   V1_ID: rev.v1_id, KEYS: [list(k) for k in rev.keys]}
        if doc is None:
            # recorded, not stored yet: wait for it, unless it never came (dead-lettered)
            if rev.srv_modified >= epoch_ms(now) - STORE_WAIT_MS:
                waiting = rev.srv_modified if waiting is None else \
                    min(waiting, rev.srv_modified)
            continue
        docs[rev.identifier] = doc
    out = sorted(docs.values(), key=lambda d: (d["srvModified"], d["identifier"]))
    return [d for d in out if waiting is None or d["srvModified"] < waiting]


def history(request: Request, who: Reader, collection: str, since: str | None = None
            ) -> JSONResponse:
    """Documents changed after a time, deleted ones included (``isValid: false``), oldest
    change first; ``ETag: W/"<newest srvModified>"``, which AndroidAPS keeps as where to
    go on from."""
    col = _known(collection)
    start, inclusive = _since(request, since)
    limit = parse_limit(request.query_params.get("limit"))
    if col is None:
        docs = [d for d in _whole_docs(request, who, collection, deleted=True)
                if d["srvModified"] > start or (inclusive and d["srvModified"] == start)]
        docs.sort(key=lambda d: (d["srvModified"], d["identifier"]))
    else:
        docs = changed_docs(_parent(request), who.patient_id, col, start, inclusive,
                            _now(request))
    docs = docs[:limit]
    _audit(request, who, f"v3 {collection} history")
    if not docs:
        return _ok([])
    newest = max(d["srvModified"] for d in docs)
    return _ok([_public(d) for d in docs], headers={
        "Last-Modified": format_datetime(_from_ms(newest), usegmt=True),
        "ETag": f'W/"{newest}"'})


def _find_whole(request: Request, who: Principal, collection: str, identifier: str
                ) -> dict[str, Any] | None:
    book = ledger(_parent(request))
    rev = book.current(who.patient_id, collection, [identifier]).get(identifier) \
        if book is not None else None
    return _whole(rev) if rev is not None and rev.document is not None else None


def read_one(request: Request, who: Reader, collection: str, identifier: str
             ) -> JSONResponse:
    col = _known(collection)
    if col is None:
        doc = _find_whole(request, who, collection, identifier)
    else:
        doc, _rev = locate(_parent(request), who.patient_id, col, identifier)
    _audit(request, who, f"v3 {collection}")
    if doc is None:
        return JSONResponse({"status": 404}, status_code=404)
    if doc.get("isValid") is False:
        return JSONResponse({"status": 410}, status_code=410)  # generic/read/operation.js
    return _ok(_public(doc), headers={
        "Last-Modified": format_datetime(_from_ms(doc["srvModified"]), usegmt=True)})


# --- writing ------------------------------------------------------------------------------

async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise V3Error(400, "Bad or missing request body") from None


def _duplicate(request: Request, who: Principal, col: Collection, doc: dict[str, Any]
               ) -> dict[str, Any] | None:
    """The stored document this one repeats: the same identifier, or Nightscout's fallback
    fields (entries: date and type; treatments: date and eventType; device status: date
    and device)."""
    when = _from_ms(doc["date"])
    for found in _v1_docs(request, who, col, when, when + timedelta(milliseconds=1)):
        if found["identifier"] == doc["identifier"] or all(
                found.get(f) == doc.get(f) for f in col.dedup):
            return found
    return None


def created_keys(device_id: str, converted: Converted) -> dict[int, list[Any]]:
    """The reading keys of each converted document, by the document's index."""
    keys: dict[int, list[Any]] = {}
    for index, made in zip(converted.indexes, converted.readings, strict=True):
        keys.setdefault(index, []).append(key_of(device_id, made["metric"], made["time"]))
    return keys


def built_from(col: Collection, who: Principal, converted: Converted
               ) -> dict[int, dict[str, Any]]:
    """Each converted document as a read will build it (its identifier and v1 ``_id``)."""
    by_doc: dict[int, list[Reading]] = {}
    for index, made in zip(converted.indexes, converted.readings, strict=True):
        by_doc.setdefault(index, []).append(reading_from(who.actor_id, who.patient_id, made))
    out = {}
    for index, readings in by_doc.items():
        built = col.build(readings)
        if built:
            v3 = v3_document(built[0], time_field=col.time_field)
            out[index] = v3 | {"_id": built[0].get("_id")}
    return out


def record_upload(parent: State, who: Principal, col: Collection, converted: Converted
                  ) -> None:
    """The server's record of what an upload created (its srvCreated, srvModified)."""
    keys = created_keys(who.actor_id, converted)
    built = built_from(col, who, converted)
    record_created(parent, who.patient_id, who.actor_id, col.name,
                   [(doc, keys[i]) for i, doc in built.items()])


async def create(request: Request, who: Writer, collection: str) -> JSONResponse:
    col = _known(collection)
    body = await _body(request)
    if col is None:
        return await _create_whole(request, who, collection, body)
    if collection == "entries" and isinstance(body, dict):
        body = {"type": "sgv", **body}
    doc = prepared(body)
    now = _now(request)
    converted = convert([doc], lambda d: col.make(d, now), device_id=who.actor_id, now=now,
                        noun=collection)
    if converted.bad:
        raise V3Error(400, converted.bad[0])
    repeated = _duplicate(request, who, col, doc)
    _publish(request, who, converted, collection)
    headers = {"Last-Modified": format_datetime(now, usegmt=True)}
    fields: dict[str, Any] = {"identifier": doc["identifier"],
                              "lastModified": server_ms(_parent(request))}
    if repeated is not None:
        fields["isDeduplication"] = True
        if repeated["identifier"] != doc["identifier"]:
            fields["deduplicatedIdentifier"] = repeated["identifier"]
        return JSONResponse({"status": 200, **fields}, status_code=200, headers=headers)
    headers["Location"] = f"{request.url.path.rstrip('/')}/{doc['identifier']}"
    return JSONResponse({"status": 201, **fields}, status_code=201, headers=headers)


async def _create_whole(request: Request, who: Principal, collection: str, body: Any
                        ) -> JSONResponse:
    """A profile, food or settings document, kept whole; one already kept (the same
    identifier, or Nightscout's ``created_at``) is replaced, ``isDeduplication``."""
    if collection == "settings":
        if not isinstance(body, dict) or not body:
            raise V3Error(400, "Bad or missing request body")
        doc = dict(body)
        if not isinstance(doc.get("identifier"), str) or not doc["identifier"]:
            raise V3Error(400, "Bad or missing identifier field")
    else:
        if isinstance(body, dict) and body.get("date") is None and \
                body.get("created_at") is None:
            body = {**body, "date": server_ms(_parent(request))}
        doc = prepared(body)
    book = ledger(_parent(request))
    if book is None:
        raise V3Error(503, "the application database is not available")
    fallback = WHOLE[collection]
    found = None
    for rev in book.documents(who.patient_id, collection):
        same = rev.identifier == doc["identifier"] or (
            fallback and rev.document is not None and rev.is_valid and
            all(rev.document.get(f) is not None and rev.document.get(f) == doc.get(f)
                for f in fallback))
        if same:
            found = rev
    now = server_ms(_parent(request))
    public = {k: v for k, v in doc.items() if k not in ("srvModified", "srvCreated",
                                                        "isValid", "_id")}
    if found is not None:
        public["identifier"] = found.identifier
        book.record([Revision(who.patient_id, collection, found.identifier, "update",
                              found.srv_created, now, who.actor_id, True, found.v1_id,
                              public)])
        _audit(request, who, f"v3 {collection} replaced")
        fields: dict[str, Any] = {"identifier": found.identifier, "lastModified": now,
                                  "isDeduplication": True}
        if found.identifier != doc["identifier"]:
            fields["deduplicatedIdentifier"] = found.identifier
        return JSONResponse({"status": 200, **fields}, status_code=200)
    book.record([Revision(who.patient_id, collection, doc["identifier"], "create", now, now,
                          who.actor_id, True, v1_object_id(doc["identifier"]), public)])
    _audit(request, who, f"v3 {collection} created")
    return JSONResponse({"status": 201, "identifier": doc["identifier"], "lastModified": now},
                        status_code=201, headers={
                            "Location": f"{request.url.path.rstrip('/')}/{doc['identifier']}"})


def v1_object_id(identifier: str) -> str:
    """A stable 24-hex ``_id`` for a document kept whole (MongoDB's ObjectId length)."""
    import hashlib

    return hashlib.sha1(identifier.encode()).hexdigest()[:24]  # noqa: S324 - an id


def _unmodified_since(request: Request, modified_ms: float) -> None:
    """``If-Unmodified-Since``: 412 when the document changed after it (whole seconds),
    as generic/update/operation.js and patch/operation.js."""
    header = request.headers.get("if-unmodified-since")
    if not header:
        return
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return
    if int(modified_ms // 1000) > int(since.timestamp()):
        raise V3Error(412)


def check_immutable(body: dict[str, Any], stored: dict[str, Any]) -> None:
    for name in IMMUTABLE:
        if name in body and body[name] is not None and name in stored and \
                body[name] != stored[name]:
            raise V3Error(400, IMMUTABLE_FIELD.format(name))


def edit(parent: State, who: Principal, col: Collection, stored: dict[str, Any],
         rev: Revision | None, changed: dict[str, Any]) -> int:
    """Store an edited document: its readings again (``offset_for`` microseconds after the
    first's time, the same millisecond), the record's revision naming them (the readings
    they replace no longer count) and the document as edited. Returns srvModified."""
    book = ledger(parent)
    if book is None:
        raise V3Error(503, "the application database is not available")
    public = _public(changed)
    for name in ("srvModified", "srvCreated", "isValid", "_id"):
        public.pop(name, None)
    now = server_ms(parent)
    backend = getattr(parent, "nightscout", None)
    clock = backend.clock() if backend is not None else datetime.now(UTC)
    v1_id = rev.v1_id if rev is not None and rev.v1_id else stored.get(V1_ID)
    created = rev.srv_created if rev is not None else int(stored["srvCreated"])
    if _same_readings(col, public, stored, clock):
        # nothing that readings carry changed: the same readings, a new server time
        same = tuple((str(d), str(m), int(t)) for d, m, t in stored.get(KEYS, ()))
        book.record([Revision(who.patient_id, col.name, stored["identifier"], "update",
                              created, now, who.actor_id, True, v1_id, public, same)])
        return now
    count = len(book.revisions(who.patient_id, col.name, stored["identifier"]))
    to_store = dict(public)
    if col.name == "treatments" and stored.get(V1_ID):
        to_store["_id"] = stored[V1_ID]  # kept with the readings (dashboard/nightscout_treatments)
    converted = convert([to_store], lambda d: col.make(d, clock), device_id=who.actor_id,
                        now=clock, noun=col.name)
    if converted.bad:
        raise V3Error(400, converted.bad[0])
    shift = timedelta(microseconds=offset_for(count))
    readings = [{**r, "time": r["time"] + shift} for r in converted.readings]
    keys = tuple(key_of(who.actor_id, r["metric"], r["time"]) for r in readings)
    book.record([Revision(who.patient_id, col.name, stored["identifier"], "update",
                          created, now, who.actor_id, True, v1_id, public, keys)])
    if backend is None:
        raise V3Error(503, "the Nightscout API is not enabled on this server")
    publish_upload(backend, who.actor_id, readings)
    return now


def _same_readings(col: Collection, changed: dict[str, Any], stored: dict[str, Any],
                   now: datetime) -> bool:
    """Whether the edited document makes the same readings as the stored one (fields
    Hearth does not keep, such as a pump's serial, change nothing stored)."""
    def made(doc: dict[str, Any]) -> list[tuple[Any, ...]] | None:
        body = {k: v for k, v in doc.items() if k not in (V1_ID, KEYS)}
        try:
            readings = col.make(body, now)
        except (ValueError, OverflowError):
            return None
        return sorted((r["metric"], r["value"], r.get("context"),
                       tuple(f for f in r.get("status", ()) if "identifier=" not in f))
                      for r in readings)

    old = made(stored)
    return old is not None and old == made(changed)


def remove(parent: State, who: Principal, col_name: str, stored: dict[str, Any],
           rev: Revision | None) -> int:
    """A soft deletion: the document kept as it was, ``isValid: false``; its readings no
    longer count (they stay stored)."""
    book = ledger(parent)
    if book is None:
        raise V3Error(503, "the application database is not available")
    now = server_ms(parent)
    public = _public(stored)
    for name in ("srvModified", "srvCreated", "isValid", "_id"):
        public.pop(name, None)
    keys = tuple((str(d), str(m), int(t)) for d, m, t in stored.get(KEYS, ()))
    created = rev.srv_created if rev is not None else int(stored.get("srvCreated", now))
    book.record([Revision(who.patient_id, col_name, stored["identifier"], "delete", created,
                          now, who.actor_id, False,
                          rev.v1_id if rev is not None and rev.v1_id else stored.get(V1_ID),
                          public, keys)])
    return now


async def update(request: Request, who: Writer, collection: str, identifier: str
                 ) -> JSONResponse:
    """``PUT`` (replace; a new identifier creates) and ``PATCH`` (fields) of a document:
    410 for a deleted one, 412 when ``If-Unmodified-Since`` is older than its last change,
    400 for a change of an immutable field (generic/update, generic/patch)."""
    col = _known(collection)
    body = await _body(request)
    if not isinstance(body, dict) or not body:
        raise V3Error(400, "Bad or missing request body")
    parent = _parent(request)
    if col is None:
        book = ledger(parent)
        rev = book.current(who.patient_id, collection, [identifier]).get(identifier) \
            if book is not None else None
        stored = _whole(rev) if rev is not None and rev.document is not None else None
    else:
        stored, rev = locate(parent, who.patient_id, col, identifier)
    if stored is None:
        if request.method == "PUT":
            return await _put_new(request, who, collection, identifier)
        raise V3Error(404)
    if stored.get("isValid") is False:
        raise V3Error(410)
    _unmodified_since(request, stored["srvModified"])
    check_immutable(body, stored)
    if request.method == "PUT":
        kept = {k: stored[k] for k in ("identifier", "date", "utcOffset", "created_at")
                if k in stored}
        changed = {**kept, **{k: v for k, v in body.items() if v is not None}}
        if col is not None and not isinstance(changed.get("app"), str):
            raise V3Error(400, "Bad or missing app field")
    else:
        changed = {**stored, **body}
    changed["identifier"] = identifier
    for name in ("date", "utcOffset"):
        if name in stored:
            changed[name] = stored[name]
    if col is None:
        book = ledger(parent)
        assert book is not None and rev is not None
        now = server_ms(parent)
        book.record([Revision(who.patient_id, collection, identifier, "update",
                              rev.srv_created, now, who.actor_id, True, rev.v1_id,
                              {k: v for k, v in _public(changed).items()
                               if k not in ("srvModified", "srvCreated", "isValid")})])
    else:
        try:
            now = edit(parent, who, col, stored, rev, changed)
        except UploadError as exc:
            raise V3Error(503, f"the edit was not accepted: {exc}; send it again") from exc
    _audit(request, who, f"v3 {collection} updated")
    return JSONResponse({"status": 200, "lastModified": now}, status_code=200,
                        headers={"Last-Modified": format_datetime(_from_ms(now), usegmt=True)})


async def _put_new(request: Request, who: Principal, collection: str, identifier: str
                   ) -> JSONResponse:
    body = await _body(request)
    if isinstance(body, dict):
        body = {**body, "identifier": identifier}
        request._body = json.dumps(body).encode()  # noqa: SLF001 - the body create reads
    return await create(request, who, collection)


def delete(request: Request, who: Writer, collection: str, identifier: str) -> JSONResponse:
    """Soft deletion of any collection's document (``isValid: false``, kept, served by
    history); 404 for an unknown one; ``permanent=true`` is treated as soft too (Hearth's
    record only grows)."""
    col = _known(collection)
    parent = _parent(request)
    if col is None:
        book = ledger(parent)
        rev = book.current(who.patient_id, collection, [identifier]).get(identifier) \
            if book is not None else None
        stored = _whole(rev) if rev is not None and rev.document is not None else None
    else:
        stored, rev = locate(parent, who.patient_id, col, identifier)
    if stored is None:
        return JSONResponse({"status": 404}, status_code=404)
    if stored.get("isValid") is not False:
        remove(parent, who, collection, stored, rev)
    _audit(request, who, f"v3 {collection} deleted")
    return JSONResponse({"status": 200}, status_code=200)
