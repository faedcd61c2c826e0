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
    _publish,
    _store,
    principal,
)
from dashboard.nightscout_backend import Converted, convert
from dashboard.nightscout_entries import ENTRY_METRICS, entry_reading
from dashboard.nightscout_treatments import (
    TREATMENT_METRICS,
    deletion_reading,
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
NOT_KEPT = {
    "profile": "Hearth keeps no pump therapy profiles (basal rates, carb ratios, "
               "sensitivities)",
    "food": "Hearth keeps no food list",
    "settings": "Hearth keeps no client settings",
}


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


KEPT = {
    "entries": Collection("entries", ENTRY_METRICS, "date", _entry_docs,
                          lambda d, _now: [entry_reading(d)], ("date", "type"), MAX_GAP),
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
    if collection not in COLLECTIONS:
        raise V3Error(404, BAD_OPERATION)
    return KEPT.get(collection)


def _now(request: Request) -> datetime:
    return _backend(request).clock()


# --- reading -------------------------------------------------------------------------------

def _v1_docs(request: Request, who: Principal, col: Collection, start: datetime,
             end: datetime) -> list[dict[str, Any]]:
    store = _store(request)
    readings = [r for m in col.metrics
                for r in store.read(who.patient_id, m, start - col.margin, end)]
    docs = col.build(readings)
    lower = start.timestamp() * 1000
    out = []
    for doc in docs:
        v3 = v3_document(doc, time_field=col.time_field)
        if v3["date"] >= lower:
            out.append(v3 | {"_v1_id": doc.get("_id")})
    return out


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_v1_id"}


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


def _find(request: Request, who: Principal, col: Collection, identifier: str
          ) -> dict[str, Any] | None:
    end = _now(request) + timedelta(minutes=5)
    for window in LOOKBACKS:
        for doc in _v1_docs(request, who, col, end - window, end):
            if doc["identifier"] == identifier:
                return doc
    return None


def version(request: Request, who: Reader) -> JSONResponse:
    return _ok(_version_info(request))


def _version_info(request: Request) -> dict[str, Any]:
    return {"version": VERSION, "apiVersion": API_VERSION,
            "srvDate": int(_now(request).timestamp() * 1000),
            "storage": {"storage": "hearth", "version": "1"}}


def status(request: Request, who: Reader) -> JSONResponse:
    """Version and permissions (``apiPermissions``: ``crud`` letters per collection).
    AndroidAPS uploads only with all four on all six collections (``ApiPermissions.isFull``):
    an uploader's credential has them (a write Hearth does not keep is refused with the
    reason), a follower's token reads."""
    letters = "crud" if who.can_write else "r"
    return _ok({**_version_info(request),
                "apiPermissions": dict.fromkeys(COLLECTIONS, letters)})


def last_modified(request: Request, who: Reader) -> JSONResponse:
    """The newest document's time per collection kept (its ``srvModified``)."""
    now = _now(request)
    collections: dict[str, int] = {}
    for name, col in KEPT.items():
        query = Search((), "date", True, 1, 0)
        found = _search_docs(request, who, col, query)
        if found:
            collections[name] = found[0]["srvModified"]
    _audit(request, who, "v3 lastModified")
    return _ok({"srvDate": int(now.timestamp() * 1000), "collections": collections})


def search(request: Request, who: Reader, collection: str) -> JSONResponse:
    col = _known(collection)
    query = Search.parse(request.query_params.multi_items())
    result = [] if col is None else [_public(d) for d in _search_docs(request, who, col, query)]
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


def history(request: Request, who: Reader, collection: str, since: str | None = None
            ) -> JSONResponse:
    """Documents changed after a time, oldest change first; ``ETag: W/"<newest>"``, which
    AndroidAPS keeps as where to go on from."""
    col = _known(collection)
    start, inclusive = _since(request, since)
    limit = parse_limit(request.query_params.get("limit"))
    docs: list[dict[str, Any]] = []
    if col is not None:
        end = _now(request) + timedelta(minutes=5)
        docs = [d for d in _v1_docs(request, who, col, _from_ms(start), end)
                if d["srvModified"] > start or (inclusive and d["srvModified"] == start)]
        docs = sorted(docs, key=lambda d: (d["srvModified"], d["identifier"]))[:limit]
    _audit(request, who, f"v3 {collection} history")
    if not docs:
        return _ok([])
    newest = max(d["srvModified"] for d in docs)
    return _ok([_public(d) for d in docs], headers={
        "Last-Modified": format_datetime(_from_ms(newest), usegmt=True),
        "ETag": f'W/"{newest}"'})


def read_one(request: Request, who: Reader, collection: str, identifier: str
             ) -> JSONResponse:
    col = _known(collection)
    doc = _find(request, who, col, identifier) if col is not None else None
    _audit(request, who, f"v3 {collection}")
    if doc is None:
        return JSONResponse({"status": 404}, status_code=404)
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


async def create(request: Request, who: Writer, collection: str) -> JSONResponse:
    col = _known(collection)
    if col is None:
        raise V3Error(404, f"{BAD_OPERATION}: {NOT_KEPT[collection]}")
    body = await _body(request)
    if collection == "entries" and isinstance(body, dict):
        body = {"type": "sgv", **body}
    doc = prepared(body)
    now = _now(request)
    converted = convert([doc], lambda d: col.make(d, now), device_id=who.actor_id, now=now,
                        noun=collection)
    if converted.bad:
        raise V3Error(400, converted.bad[0])
    repeated = _duplicate(request, who, col, doc)
    _publish(request, who, converted)
    headers = {"Last-Modified": format_datetime(_from_ms(doc["date"]), usegmt=True)}
    fields: dict[str, Any] = {"identifier": doc["identifier"], "lastModified": doc["date"]}
    if repeated is not None:
        fields["isDeduplication"] = True
        if repeated["identifier"] != doc["identifier"]:
            fields["deduplicatedIdentifier"] = repeated["identifier"]
        return JSONResponse({"status": 200, **fields}, status_code=200, headers=headers)
    headers["Location"] = f"{request.url.path.rstrip('/')}/{doc['identifier']}"
    return JSONResponse({"status": 201, **fields}, status_code=201, headers=headers)


async def update(request: Request, who: Writer, collection: str, identifier: str
                 ) -> JSONResponse:
    """An edit is refused (400, AndroidAPS logs it and goes on): Hearth keeps a document as
    first sent. ``PUT`` of a document not stored yet creates it, as Nightscout's upsert."""
    col = _known(collection)
    if col is None:
        raise V3Error(404, f"{BAD_OPERATION}: {NOT_KEPT[collection]}")
    found = _find(request, who, col, identifier)
    if found is None:
        if request.method == "PUT":
            return await _put_new(request, who, collection, identifier)
        raise V3Error(404)
    raise V3Error(400, f"Hearth keeps {collection} as first sent: an edit of a stored "
                       "document is not kept (send a new document instead)")


async def _put_new(request: Request, who: Principal, collection: str, identifier: str
                   ) -> JSONResponse:
    body = await _body(request)
    if isinstance(body, dict):
        body = {**body, "identifier": identifier}
        request._body = json.dumps(body).encode()  # noqa: SLF001 - the body create reads
    return await create(request, who, collection)


def delete(request: Request, who: Writer, collection: str, identifier: str) -> JSONResponse:
    """A treatment's deletion is recorded (Hearth's record only grows) and hides it from
    every read, as v1's DELETE; entries and device status are kept (400 with the reason)."""
    col = _known(collection)
    if col is None:
        raise V3Error(404, f"{BAD_OPERATION}: {NOT_KEPT[collection]}")
    found = _find(request, who, col, identifier)
    if found is None:
        return JSONResponse({"status": 404}, status_code=404)
    if collection != "treatments":
        raise V3Error(400, f"Hearth does not delete {collection}: its store keeps every "
                           "reading it was sent")
    when = _from_ms(found["date"])
    _publish(request, who, Converted([deletion_reading(found["_v1_id"], when)], [0], []))
    _audit(request, who, "v3 treatment deleted")
    return JSONResponse({"status": 200}, status_code=200)
