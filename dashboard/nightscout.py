"""A Nightscout-compatible API, so apps that talk to Nightscout (xDrip+, Loop, Juggluco,
followers) can use Hearth. Mounted at ``/api/v1`` by create_app.

Shapes follow Nightscout's cgm-remote-monitor API v1 (``lib/api/entries/index.js``,
``treatments/``, ``devicestatus/``, ``experiments/``, ``lib/api/status.js``). What each
document becomes in Hearth's data model: dashboard/nightscout_entries.py (entries) and
dashboard/nightscout_treatments.py (treatments, device status); ``find`` queries:
dashboard/nightscout_query.py.

Authentication is per uploader, not by session: the ``api-secret`` header carries the
SHA-1 hex of the uploader's secret (Nightscout keeps ``genHash(API_SECRET, 'sha1')``,
``lib/server/enclave.js``); the secret itself is accepted the ways Nightscout accepts
a token (``?token=``, ``Authorization: Bearer``, ``api-secret: token=...``). The secret
identifies the uploader, a registered device bound to one patient (`hearth devices add
ID --role nightscout`, core/provisioning.py). A wrong or missing secret gets
Nightscout's 401. Every read is audited; no secret is logged.

Uploads take the same path as MQTT readings (dashboard/nightscout_backend.py): contract
messages on ``hearth/v1/up/{uploader}`` at QoS 1; ingest stores them. An upload is
answered 2xx only once it is in the durable upload outbox (dashboard/upload_outbox.py),
which forgets it only on ingest's commit acknowledgement; otherwise 503 with
``Retry-After``, so the app sends it again. Reads come from the time-series store.

It is a sub-application rather than a router so that the dashboard's session-based
policies (sign-in, CSRF on unsafe methods) do not apply to it: an uploader has no
session and authenticates every request with its secret.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.datastructures import State

from analytics.arrows import MAX_GAP, directions
from core.appdb.account_store import AccountStore
from core.appdb.accounts import User
from core.appdb.audit_log import AuditEntry
from core.metrics import Metric
from core.readings import Reading
from core.timeseries import TimeSeriesStore
from dashboard.nightscout_backend import (
    MAX_ENTRIES,
    Converted,
    NightscoutBackend,
    UploadError,
    convert,
    publish_upload,
)
from dashboard.nightscout_entries import (
    ENTRY_METRICS,
    document_id,
    entry_document,
    entry_reading,
    epoch_ms,
    iso_ms,
    one_per_time,
)
from dashboard.nightscout_ledger import overlay
from dashboard.nightscout_query import Find, QueryError
from dashboard.nightscout_tokens import (
    UPLOADER_SUBJECT,
    NightscoutTokens,
    active_uploader,
    jwt_key,
    looks_like_jwt,
    read_jwt,
)
from dashboard.nightscout_treatments import (
    TREATMENT_METRICS,
    devicestatus_document,
    devicestatus_reading,
    treatment_documents,
    treatment_readings,
)
from dashboard.upload_outbox import RETRY_AFTER_S
from dashboard.views.records import load_prefs

DEFAULT_COUNT = 10  # Nightscout's default for GET /api/v1/entries
MAX_COUNT = 100_000
# Without a lower date bound, a read looks back this far, step by step, until it has
# ``count`` documents (Nightscout has the whole collection; a step keeps reads short).
LOOKBACKS = (timedelta(days=1), timedelta(days=7), timedelta(days=31), timedelta(days=400))
VERSION = "15.0.3"  # the Nightscout release whose API this follows (apps compare versions)


class NightscoutError(Exception):
    def __init__(self, status: int, message: str, description: str,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        self.status, self.message, self.description, self.extra = (
            status, message, description, extra)
        self.headers = headers


def _error(_request: Request, exc: Exception) -> JSONResponse:
    """Nightscout's error body: {"status": 401, "message": "Unauthorized", "description": ...}."""
    assert isinstance(exc, NightscoutError)
    body = {"status": exc.status, "message": exc.message, "description": exc.description,
            **exc.extra}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def create_app(parent: State) -> FastAPI:
    """The sub-application; it reads the store and the backend from the dashboard's state."""
    sub = FastAPI(title="Hearth: Nightscout-compatible API (v1)", version=VERSION)
    sub.state.parent = parent
    sub.add_exception_handler(NightscoutError, _error)

    def route(paths: Iterable[str], endpoint: Callable[..., Any], method: str) -> None:
        for path in paths:
            for suffix in ("", ".json"):
                sub.add_api_route(path + suffix, endpoint, methods=[method])

    route(["/entries"], post_entries, "POST")
    route(["/entries/current"], get_current, "GET")
    route(["/entries"], get_entries, "GET")
    route(["/entries/sgv"], get_sgv, "GET")
    route(["/entries/mbg"], get_mbg, "GET")
    route(["/entries/cal"], get_cal, "GET")
    route(["/treatments"], get_treatments, "GET")
    route(["/treatments"], post_treatments, "POST")
    route(["/treatments"], post_treatments, "PUT")
    route(["/devicestatus"], get_devicestatus, "GET")
    route(["/devicestatus"], post_devicestatus, "POST")
    route(["/status"], status, "GET")
    route(["/experiments/test"], experiments_test, "GET")
    # DELETE of entries, treatments and device status; profile and food
    from dashboard.nightscout_changes import mount  # it builds on this module

    mount(sub)
    return sub


# --- collaborators and authentication -------------------------------------------

def _parent(request: Request) -> State:
    parent: State = request.app.state.parent
    return parent


def _backend(request: Request) -> NightscoutBackend:
    backend: NightscoutBackend | None = getattr(_parent(request), "nightscout", None)
    if backend is None:
        raise NightscoutError(503, "Service Unavailable",
                              "the Nightscout API is not enabled on this server")
    return backend


def _store(request: Request) -> TimeSeriesStore:
    store: TimeSeriesStore = _parent(request).store
    return store


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - Nightscout's protocol


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request speaks for: an uploader (its device; may write) or a follower's
    read-only token. ``role`` is what the audit log records."""

    actor_id: str
    patient_id: str
    can_write: bool
    role: str


def _tokens(request: Request) -> NightscoutTokens | None:
    engine = _engine(_parent(request))
    return NightscoutTokens(engine) if engine is not None else None


def _jwt_key(request: Request) -> bytes | None:
    settings = getattr(_parent(request), "dashboard_settings", None)
    key = getattr(settings, "secret_key", None)
    return jwt_key(key) if isinstance(key, str) and key else None


def _credential(request: Request) -> tuple[str, str] | None:
    """("sha1", SHA-1 hex) or ("jwt", token) from any of Nightscout's forms."""
    header = request.headers.get("api-secret", "").strip()
    if header.lower().startswith("token="):
        return "sha1", _sha1(header[len("token="):])
    if header:
        return "sha1", header.lower()
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and (bearer := auth[7:].strip()):
        return ("jwt", bearer) if looks_like_jwt(bearer) else ("sha1", _sha1(bearer))
    for name in ("token", "secret"):
        if value := request.query_params.get(name):
            return "sha1", _sha1(value)
    return None


def principal(request: Request) -> Principal:
    """Who the request's credential belongs to; Nightscout's 401 otherwise.

    No credential at all is a 401 before anything else (also where the API is not
    enabled); a credential on a server without the backend is a 503."""
    sent = _credential(request)
    if sent is None:
        raise NightscoutError(401, "Unauthorized", "Invalid/Missing")
    backend = _backend(request)
    kind, value = sent
    tokens = _tokens(request)
    if kind == "jwt":
        key = _jwt_key(request)
        token_id = read_jwt(value, key=key, now=backend.clock()) if key else None
        if token_id is not None and token_id.startswith(UPLOADER_SUBJECT):
            # an uploader's JWT (AndroidAPS NSClient v3 exchanges its secret for one)
            device_id = token_id[len(UPLOADER_SUBJECT):]
            engine = _engine(_parent(request))
            patient_id = active_uploader(engine, device_id) if engine is not None else None
            if patient_id is None:
                raise NightscoutError(401, "Unauthorized", "Invalid/Missing")
            return Principal(device_id, patient_id, True, "nightscout")
        info = tokens.by_id(token_id) if tokens is not None and token_id else None
    else:
        found = backend.uploaders.nightscout_uploader(value)
        if found is not None:
            return Principal(found[0], found[1], True, "nightscout")
        info = tokens.by_sha1(value) if tokens is not None else None
    if info is None:
        raise NightscoutError(401, "Unauthorized", "Invalid/Missing")
    return Principal(info.id, info.patient_id, False, "ns-follower")


def writer(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """An uploader's credential: a follower's read-only token may not write (Nightscout
    answers a missing permission with 401 too)."""
    if not who.can_write:
        raise NightscoutError(401, "Unauthorized", "a read-only token may not change data")
    return who


Reader = Annotated[Principal, Depends(principal)]
Writer = Annotated[Principal, Depends(writer)]


def _audit(request: Request, who: Principal, what: str) -> None:
    """Every read through a Nightscout credential is audited like any read by someone
    else: an uploader's secret may sit in a follower's app as well as the patient's own,
    and a token is a follower's. The path only: a ``?token=`` never reaches the log."""
    parent = _parent(request)
    accounts: AccountStore | None = getattr(parent, "accounts", None)
    if accounts is not None:
        accounts.audit_log.record([AuditEntry(parent.clock(), who.actor_id, who.role,
                                              who.patient_id, f"Nightscout {what}",
                                              request.url.path)])


def _find(request: Request, *, time_field: str, default_count: int = DEFAULT_COUNT) -> Find:
    try:
        return Find.parse(request.query_params.multi_items(), default_count=default_count,
                          max_count=MAX_COUNT, time_field=time_field)
    except QueryError as exc:
        raise NightscoutError(400, "Bad Request", str(exc)) from None


def _now(request: Request) -> datetime:
    backend: NightscoutBackend | None = getattr(_parent(request), "nightscout", None)
    return backend.clock() if backend else datetime.now(UTC)


def _read(request: Request, patient_id: str, find: Find, metrics: tuple[Metric, ...],
          build: Callable[[list[Reading]], list[dict[str, Any]]], *, margin: timedelta,
          collection: str | None = None) -> list[dict[str, Any]]:
    """Documents that match ``find``: one read for a bounded window, else growing windows
    until there are enough."""
    store = _store(request)
    start, end = find.window(_now(request))
    starts = [start - margin] if start else [end - w for w in LOOKBACKS]
    docs: list[dict[str, Any]] = []
    for begin in starts:
        found = [r for m in metrics for r in store.read(patient_id, m, begin, end)]
        built = build(found)
        if collection is not None:
            built = overlay(_parent(request), patient_id, collection, built, v3=False)
        docs = find.apply(built)
        if find.count is not None and len(docs) >= find.count:
            break
    return docs


# --- entries ---------------------------------------------------------------------------

def _entry_docs(readings: list[Reading]) -> list[dict[str, Any]]:
    """Entries newest last; a sensor reading without the app's own ``direction`` and
    ``delta`` gets them computed from the same device's previous reading (the arrow's
    bands; the change per 5 minutes, within the arrow's 15-minute gap; else NONE and 0)."""
    arrows: dict[tuple[str, datetime], str] = {}
    deltas: dict[tuple[str, datetime], float] = {}
    cgm = sorted((r for r in readings if r.metric == Metric.GLUCOSE and r.source == "cgm"),
                 key=lambda r: r.measured_at)
    for device_id in {r.device_id for r in cgm}:
        series = [(r.measured_at, r.value) for r in cgm if r.device_id == device_id]
        arrows.update({(device_id, t): a for (t, _), a in
                       zip(series, directions(series), strict=True)})
        for (before, old), (when, new) in zip(series, series[1:], strict=False):
            minutes = (when - before).total_seconds() / 60
            if 0 < minutes and when - before <= MAX_GAP:
                deltas[(device_id, when)] = round((new - old) / minutes * 5, 3)
    readings = sorted(readings, key=lambda r: (r.measured_at, r.device_id))
    docs = []
    for r in readings:
        doc = entry_document(r, arrows.get((r.device_id, r.measured_at)))
        if doc["type"] == "sgv" and "delta" not in doc:
            # 0 when there is nothing within 15 minutes to compare with (a first reading,
            # after a gap, a status code): clients such as py-nightscout need the field;
            # the arrow, NONE, says there is no trend.
            doc["delta"] = deltas.get((r.device_id, r.measured_at), 0)
        docs.append(doc)
    return one_per_time(docs)


def _entries(request: Request, who: Principal, kind: str | None,
             count: int | None = None) -> list[dict[str, Any]]:
    params = list(request.query_params.multi_items())
    if kind is not None:
        params.append(("find[type]", kind))
    if count is not None:
        params = [(k, v) for k, v in params if k != "count"] + [("count", str(count))]
    try:
        find = Find.parse(params, default_count=DEFAULT_COUNT, max_count=MAX_COUNT)
    except QueryError as exc:
        raise NightscoutError(400, "Bad Request", str(exc)) from None
    entries = _read(request, who.patient_id, find, ENTRY_METRICS, _entry_docs, margin=MAX_GAP,
                    collection="entries")
    _audit(request, who, "entries")
    return entries


def get_entries(request: Request, who: Reader) -> list[dict[str, Any]]:
    """Entries (sensor, meter, calibration), newest first; ``find``, ``count`` as Nightscout."""
    return _entries(request, who, None)


def get_sgv(request: Request, who: Reader) -> list[dict[str, Any]]:
    return _entries(request, who, "sgv")


def get_mbg(request: Request, who: Reader) -> list[dict[str, Any]]:
    return _entries(request, who, "mbg")


def get_cal(request: Request, who: Reader) -> list[dict[str, Any]]:
    return _entries(request, who, "cal")


def get_current(request: Request, who: Reader) -> list[dict[str, Any]]:
    """The newest sensor entry (Nightscout's ``/entries/current``)."""
    return _entries(request, who, "sgv", count=1)


def _body(raw: bytes) -> list[Any]:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NightscoutError(400, "Bad Request", f"the body is not JSON: {exc}") from exc
    docs = body if isinstance(body, list) else [body]
    if not docs or len(docs) > MAX_ENTRIES:
        raise NightscoutError(400, "Bad Request",
                              f"send between 1 and {MAX_ENTRIES} documents per request")
    return docs


def _not_stored_by_others(store: TimeSeriesStore, patient_id: str, device_id: str,
                          converted: Converted) -> Converted:
    """Leave out readings another uploader of the same patient already sent (same metric,
    kind and millisecond): two apps uploading one sensor make one reading, not two."""
    if not converted.readings:
        return converted
    times = [r["time"] for r in converted.readings]
    start, end = min(times), max(times) + timedelta(milliseconds=1)
    taken: set[tuple[str, str, int]] = set()
    for metric in {r["metric"] for r in converted.readings}:
        for found in store.read(patient_id, Metric(metric), start, end):
            if found.device_id != device_id:
                taken.add((metric, found.source, epoch_ms(found.measured_at)))
    keep = [i for i, r in enumerate(converted.readings)
            if (r["metric"], r["source"], epoch_ms(r["time"])) not in taken]
    return Converted([converted.readings[i] for i in keep],
                     [converted.indexes[i] for i in keep], converted.bad)


def _publish(request: Request, who: Principal, converted: Converted,
             collection: str | None = None) -> None:
    fresh = publish_converted(_parent(request), who, converted)
    if collection is not None:
        from dashboard.nightscout_v3 import KEPT, record_upload  # v3 builds on this module

        record_upload(_parent(request), who, KEPT[collection], fresh)


def publish_converted(parent: State, who: Principal, converted: Converted) -> Converted:
    """An upload's readings onto their way to ingest (the outbox), without those another
    uploader of the patient sent already (what was sent is returned); 503 when the upload
    was not taken."""
    backend: NightscoutBackend | None = getattr(parent, "nightscout", None)
    if backend is None:
        raise NightscoutError(503, "Service Unavailable",
                              "the Nightscout API is not enabled on this server")
    fresh = _not_stored_by_others(parent.store, who.patient_id, who.actor_id, converted)
    if not fresh.readings:
        return fresh
    try:
        publish_upload(backend, who.actor_id, fresh.readings)
    except UploadError as exc:
        # Nothing of it was taken: the uploader keeps it and sends it again (apps retry
        # on 5xx, never after a 2xx).
        raise NightscoutError(503, "Service Unavailable",
                              f"the upload was not accepted: {exc}; send it again",
                              headers={"Retry-After": str(RETRY_AFTER_S)}) from exc
    return fresh


def _first_of_each(converted: Converted) -> dict[int, dict[str, Any]]:
    """Each accepted document's first reading, by the document's index, in order."""
    firsts: dict[int, dict[str, Any]] = {}
    for index, reading in zip(converted.indexes, converted.readings, strict=True):
        firsts.setdefault(index, reading)
    return dict(sorted(firsts.items()))


def _refuse_bad(converted: Converted) -> None:
    if converted.bad:
        raise NightscoutError(400, "Bad Request", "; ".join(converted.bad),
                              accepted=len(set(converted.indexes)), errors=converted.bad)


async def post_entries(request: Request, who: Writer) -> Any:
    """Upload entries of every type (``sgv``, ``mbg``, ``cal``): the good ones go in; bad
    ones are named in a 400 with the reason."""
    docs = _body(await request.body())
    converted = convert(docs, lambda d: [entry_reading(d)], device_id=who.actor_id,
                        now=_backend(request).clock())
    _publish(request, who, converted, "entries")
    _refuse_bad(converted)
    answered = []
    for index, reading in _first_of_each(converted).items():
        answered.append({**docs[index], "_id": document_id(who.actor_id, reading["time"],
                                                           Metric(reading["metric"])),
                         "device": docs[index].get("device", who.actor_id)})
    return answered


# --- treatments and device status -------------------------------------------------------

def get_treatments(request: Request, who: Reader) -> list[dict[str, Any]]:
    """Treatments, newest first (``find[created_at][...]``, ``find[eventType]``...)."""
    # Nightscout's lib/api/treatments: 100 by default, 1000 when the query has a find.
    searching = any(k.startswith("find[") for k in request.query_params)
    find = _find(request, time_field="created_at", default_count=1000 if searching else 100)
    docs = _read(request, who.patient_id, find, TREATMENT_METRICS, treatment_documents,
                 margin=timedelta(0), collection="treatments")
    _audit(request, who, "treatments")
    return docs


async def post_treatments(request: Request, who: Writer) -> Any:
    """Upload treatments (POST; PUT as xDrip+ sends them): each answered with its ``_id``,
    in order, as Loop expects."""
    docs = _body(await request.body())
    converted = convert(docs, treatment_readings, device_id=who.actor_id,
                        now=_backend(request).clock(), noun="treatment")
    _publish(request, who, converted, "treatments")
    if request.method == "PUT":
        from dashboard.nightscout_changes import put_edits  # it builds on this module

        put_edits(request, who, docs, converted)
    _refuse_bad(converted)
    answered = []
    firsts = _first_of_each(converted)
    for index, doc in enumerate(docs):
        first = firsts[index]
        sent = doc.get("_id")
        _id = sent if isinstance(sent, str) and len(sent) == 24 else \
            document_id(who.actor_id, first["time"], "treatment")
        answered.append({**doc, "_id": _id, "created_at": iso_ms(first["time"])})
    return answered


def get_devicestatus(request: Request, who: Reader) -> list[dict[str, Any]]:
    find = _find(request, time_field="created_at")
    docs = _read(request, who.patient_id, find, (Metric.DEVICE_BATTERY,),
                 lambda rs: [devicestatus_document(r) for r in rs], margin=timedelta(0),
                 collection="devicestatus")
    _audit(request, who, "device status")
    return docs


async def post_devicestatus(request: Request, who: Writer) -> Any:
    docs = _body(await request.body())
    now = _backend(request).clock()
    converted = convert(docs, lambda d: [devicestatus_reading(d, now=now)], device_id=who.actor_id,
                        now=now, noun="devicestatus")
    _publish(request, who, converted, "devicestatus")
    _refuse_bad(converted)
    return [{**doc, "_id": document_id(who.actor_id, r["time"], Metric.DEVICE_BATTERY),
             "created_at": iso_ms(r["time"])} for doc, r in zip(docs, converted.readings,
                                                                 strict=True)]



def _engine(parent: State) -> Engine | None:
    engine: Engine | None = getattr(parent, "engine", None)  # the dashboard's (create_app)
    return engine


def patient_units(parent: State, patient_id: str) -> str:
    """``mg/dl`` or ``mmol`` (Nightscout's DISPLAY_UNITS) from the patient's own
    preference on the dashboard; mg/dl when there is none."""
    engine = _engine(parent)
    if engine is None:
        return "mg/dl"
    with Session(engine) as session:
        user_id = session.scalars(select(User.id).where(
            User.patient_id == patient_id, User.role == "patient").order_by(User.id)).first()
    if user_id is None:
        return "mg/dl"
    return "mmol" if load_prefs(engine, user_id).glucose_units == "mmol/L" else "mg/dl"


def status(request: Request, who: Reader) -> dict[str, Any]:
    """Server status in Nightscout's shape (``lib/api/status.js``); like Nightscout
    (``api:status:read``) it needs the secret, which is also how an app checks it."""
    return status_document(_parent(request), who.patient_id)


def status_document(parent: State, patient_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    units = patient_units(parent, patient_id)
    return {
        "status": "ok", "name": "Hearth", "version": VERSION,
        "serverTime": iso_ms(now), "serverTimeEpoch": int(now.timestamp() * 1000),
        "apiEnabled": True, "careportalEnabled": True, "boluscalcEnabled": False,
        # Thresholds: the consensus glucose ranges (docs/CLINICAL.md), not Nightscout's
        # defaults (260/180/80/55), so an app's colours match Hearth's pages.
        "settings": {"units": units, "timeFormat": 24, "enable": ["careportal", "iob", "cob"],
                     "authDefaultRoles": "denied", "thresholds": {
                         "bgHigh": 250, "bgTargetTop": 180, "bgTargetBottom": 70,
                         "bgLow": 54}},
        "extendedSettings": {"devicestatus": {"advanced": True}}, "authorized": True,
    }





def experiments_test(_who: Reader) -> dict[str, str]:
    """Loop's set-up check (NightscoutKit ``checkAuth``): 200 with a good secret."""
    return {"status": "ok"}
