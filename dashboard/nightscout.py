"""A Nightscout-compatible API, so CGM apps that upload to Nightscout (xDrip+, Juggluco, ...)
can feed Hearth. Mounted at ``/api/v1`` by create_app.

Shapes follow Nightscout's cgm-remote-monitor API v1: an entry is
``{"_id", "type": "sgv", "sgv", "direction", "date" (epoch ms), "dateString"
(ISO 8601), "device"}`` (``mbg`` for meter values) as served by
``lib/api/entries/index.js``; ``GET /api/v1/entries`` takes ``count`` (default
10, newest first) and ``find[date][$gte]``/``$lte``; ``status.json`` is the
object ``lib/api/status.js`` builds (``status``, ``name``, ``version``,
``serverTime``, ``serverTimeEpoch``, ``apiEnabled``, ``settings``, ...).

Authentication is per uploader, not by session: the ``api-secret`` header
carries the SHA-1 hex of the uploader's secret (Nightscout keeps
``genHash(API_SECRET, 'sha1')``, ``lib/server/enclave.js``), or ``?token=`` the
secret itself. The secret identifies the uploader, which is a registered device
bound to one patient (`hearth devices add ID --role nightscout`, core/provisioning.py).
A wrong or missing secret gets Nightscout's 401.

Uploads take the same path as MQTT readings (dashboard/nightscout_backend.py):
one contract message on ``hearth/v1/up/{uploader}`` at QoS 1, answered after
the broker's PUBACK; ingest stores it. Reads come from the time-series store;
``direction`` is computed from consecutive readings (analytics/arrows.py)
because the contract keeps no uploaded trend.

It is a sub-application rather than a router so that the dashboard's
session-based policies (sign-in, CSRF on unsafe methods) do not apply to it: an
uploader has no session and authenticates every request with its secret.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import State

from analytics.arrows import MAX_GAP, directions
from core.appdb.account_store import AccountStore, AuditEntry
from core.metrics import Metric
from core.readings import Reading, to_epoch_us
from core.timeseries import TimeSeriesStore
from dashboard.nightscout_backend import (
    MAX_ENTRIES,
    NightscoutBackend,
    UploadError,
    convert_entries,
    entry_id,
    entry_time,
    publish_upload,
)

DEFAULT_COUNT = 10  # Nightscout's default for GET /api/v1/entries
MAX_COUNT = 100_000
LOOKBACKS = (timedelta(days=1), timedelta(days=7), timedelta(days=31), timedelta(days=400))
VERSION = "0.1.0"


class NightscoutError(Exception):
    def __init__(self, status: int, message: str, description: str, **extra: Any) -> None:
        self.status, self.message, self.description, self.extra = (
            status, message, description, extra)


def _error(_request: Request, exc: Exception) -> JSONResponse:
    """Nightscout's error body: {"status": 401, "message": "Unauthorized", "description": ...}."""
    assert isinstance(exc, NightscoutError)
    body = {"status": exc.status, "message": exc.message, "description": exc.description,
            **exc.extra}
    return JSONResponse(body, status_code=exc.status)


def create_app(parent: State) -> FastAPI:
    """The sub-application; it reads the store and the backend from the dashboard's state."""
    sub = FastAPI(title="Hearth: Nightscout-compatible API (v1)", version=VERSION)
    sub.state.parent = parent
    sub.add_exception_handler(NightscoutError, _error)
    for path in ("/entries", "/entries.json"):
        sub.add_api_route(path, get_entries, methods=["GET"])
        sub.add_api_route(path, post_entries, methods=["POST"])
    for path in ("/entries/sgv", "/entries/sgv.json"):
        sub.add_api_route(path, get_sgv, methods=["GET"])
    for path in ("/status", "/status.json"):
        sub.add_api_route(path, status, methods=["GET"])
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


def uploader(request: Request, token: Annotated[str | None, Query()] = None) -> tuple[str, str]:
    """(device id, patient id) of the uploader whose secret the request carries; 401 otherwise.

    No credential at all is a 401 before anything else (also where the API is not
    enabled); a credential on a server without the backend is a 503."""
    sent = request.headers.get("api-secret")
    if not sent and token:
        sent = hashlib.sha1(token.encode()).hexdigest()  # noqa: S324 - Nightscout's protocol
    if not sent:
        raise NightscoutError(401, "Unauthorized", "Invalid/Missing")
    found = _backend(request).uploaders.nightscout_uploader(sent)
    if found is None:
        raise NightscoutError(401, "Unauthorized", "Invalid/Missing")
    return found


Uploader = Annotated[tuple[str, str], Depends(uploader)]


# --- reads -----------------------------------------------------------------------

def _when(value: str | None, name: str) -> datetime | None:
    """Epoch milliseconds (``date``) or ISO 8601 (``dateString``)."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value) / 1000, UTC)
    except (ValueError, OverflowError, OSError):  # not a number, or beyond the calendar
        pass
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise NightscoutError(400, "Bad Request",
                              f"{name} must be epoch milliseconds or ISO 8601") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _entry(reading: Reading, arrow: str) -> dict[str, Any]:
    kind = "sgv" if reading.source == "cgm" else "mbg"
    date_ms = to_epoch_us(reading.measured_at) // 1000
    doc: dict[str, Any] = {
        "_id": entry_id(reading.device_id, reading.measured_at),
        "type": kind,
        kind: round(reading.value),
        "date": date_ms,
        "dateString": reading.measured_at.astimezone(UTC).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "sysTime": reading.measured_at.astimezone(UTC).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "utcOffset": 0,
        "device": reading.device_id,
    }
    if kind == "sgv":
        doc["direction"] = arrow
    return doc


def _read(request: Request, patient_id: str, *, count: int, gte: datetime | None,
          lte: datetime | None, sgv_only: bool) -> list[dict[str, Any]]:
    store = _store(request)
    end = (lte + timedelta(milliseconds=1)) if lte else datetime.now(UTC) + timedelta(minutes=5)
    windows = [end - gte + MAX_GAP] if gte else list(LOOKBACKS)
    found: list[Reading] = []
    for window in windows:
        found = store.read(patient_id, Metric.GLUCOSE, end - window, end)
        if sum(1 for r in found if not sgv_only or r.source == "cgm") > count:
            break
    arrows: dict[tuple[str, datetime], str] = {}
    for device_id in {r.device_id for r in found if r.source == "cgm"}:
        series = [(r.measured_at, r.value) for r in found
                  if r.device_id == device_id and r.source == "cgm"]
        arrows.update({(device_id, t): a for (t, _), a in zip(series, directions(series), strict=True)})
    wanted = [r for r in found if (not sgv_only or r.source == "cgm")
              and (gte is None or r.measured_at >= gte)]
    wanted.sort(key=lambda r: r.measured_at, reverse=True)
    return [_entry(r, arrows.get((r.device_id, r.measured_at), "NONE")) for r in wanted[:count]]


def _audit(request: Request, who: tuple[str, str]) -> None:
    """A read through an uploader's secret is audited like any read by someone else: the
    secret may sit in a follower's app as well as the patient's own (who = the device)."""
    parent = _parent(request)
    accounts: AccountStore | None = getattr(parent, "accounts", None)
    if accounts is not None:
        accounts.audit([AuditEntry(parent.clock(), who[0], "nightscout", who[1],
                                   "Nightscout entries", request.url.path)])


CountQuery = Annotated[int, Query(ge=1, le=MAX_COUNT)]
GteQuery = Annotated[str | None, Query(alias="find[date][$gte]")]
LteQuery = Annotated[str | None, Query(alias="find[date][$lte]")]
GteStringQuery = Annotated[str | None, Query(alias="find[dateString][$gte]")]
LteStringQuery = Annotated[str | None, Query(alias="find[dateString][$lte]")]


def get_entries(request: Request, who: Uploader, count: CountQuery = DEFAULT_COUNT,
                gte: GteQuery = None, lte: LteQuery = None, gte_s: GteStringQuery = None,
                lte_s: LteStringQuery = None) -> list[dict[str, Any]]:
    """The patient's glucose entries (sensor and meter), newest first."""
    entries = _read(request, who[1], count=count, gte=_when(gte or gte_s, "find[date][$gte]"),
                    lte=_when(lte or lte_s, "find[date][$lte]"), sgv_only=False)
    _audit(request, who)
    return entries


def get_sgv(request: Request, who: Uploader, count: CountQuery = DEFAULT_COUNT,
            gte: GteQuery = None, lte: LteQuery = None, gte_s: GteStringQuery = None,
            lte_s: LteStringQuery = None) -> list[dict[str, Any]]:
    """Sensor glucose entries only, newest first."""
    entries = _read(request, who[1], count=count, gte=_when(gte or gte_s, "find[date][$gte]"),
                    lte=_when(lte or lte_s, "find[date][$lte]"), sgv_only=True)
    _audit(request, who)
    return entries


def status(_who: Uploader) -> dict[str, Any]:
    """Server status in Nightscout's shape; like Nightscout (``api:status:read``) it needs
    the secret, which is also how an app checks its settings."""
    now = datetime.now(UTC)
    return {
        "status": "ok", "name": "Hearth", "version": VERSION,
        "serverTime": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "serverTimeEpoch": int(now.timestamp() * 1000),
        "apiEnabled": True, "careportalEnabled": False, "boluscalcEnabled": False,
        "settings": {"units": "mg/dl", "enable": [], "authDefaultRoles": "denied"},
        "extendedSettings": {}, "authorized": True,
    }


# --- uploads -----------------------------------------------------------------------

async def post_entries(request: Request, who: Uploader) -> Any:
    """Upload entries: the good ones go in; bad ones are named in a 400 with the reason."""
    backend = _backend(request)
    device_id = who[0]
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NightscoutError(400, "Bad Request", f"the body is not JSON: {exc}") from exc
    entries = body if isinstance(body, list) else [body]
    if not entries or len(entries) > MAX_ENTRIES:
        raise NightscoutError(400, "Bad Request",
                              f"send between 1 and {MAX_ENTRIES} entries per request")
    converted = convert_entries(entries, device_id=device_id, now=backend.clock())
    if converted.readings:
        try:
            publish_upload(backend, device_id, converted.readings)
        except UploadError as exc:
            raise NightscoutError(503, "Service Unavailable",
                                  f"the upload was not accepted: {exc}; send it again") from exc
    if converted.bad:
        raise NightscoutError(400, "Bad Request", "; ".join(converted.bad),
                              accepted=len(converted.readings), errors=converted.bad)
    return [_uploaded(entries[i], device_id) for i in converted.indexes]


def _uploaded(entry: dict[str, Any], device_id: str) -> dict[str, Any]:
    when = entry_time(entry)
    return {**entry, "_id": entry_id(device_id, when), "device": entry.get("device", device_id)}
