"""Nightscout's ``/api/v2`` parts that apps use, and ``/pebble`` (watch faces).

- ``GET /api/v2/authorization/request/{token}``: a follower's token for a JWT
  (cgm-remote-monitor ``lib/api2/index.js`` -> ``lib/authorization``), which the app
  then sends as ``Authorization: Bearer``;
- ``/api/v2/authorization/subjects``: make, list and revoke followers' read-only tokens
  with the uploader's secret (Nightscout's admin tools use this path);
- ``GET /api/v2/properties[/{names}]``: ``bgnow``, ``delta``, ``direction``, ``upbat``
  (``lib/api2/properties.js``, the plugins' ``setProperties``), which watch faces and
  bridges read;
- ``GET /pebble``: the newest sensor glucose in Pebble's shape (``lib/server/pebble.js``).

CGM status codes (sgv below 39) are left out of all of these: they are not glucose
(docs/CLINICAL.md) and these answers give no room to say what they are.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from starlette.datastructures import State

from analytics.arrows import directions
from core.appdb.account_store import AccountStore
from core.appdb.audit_log import AuditEntry
from core.metrics import GLUCOSE_MGDL_PER_MMOLL, Metric
from core.readings import Reading
from dashboard.nightscout import (
    VERSION,
    NightscoutError,
    Reader,
    Writer,
    _audit,
    _backend,
    _error,
    _jwt_key,
    _parent,
    _sha1,
    _store,
    _tokens,
    patient_units,
)
from dashboard.nightscout_entries import document_id, epoch_ms, flags_of
from dashboard.nightscout_tokens import (
    READ_PERMISSIONS,
    READABLE,
    UPLOADER_SUBJECT,
    make_jwt,
)

_SHA1_HEX = re.compile(r"[0-9a-fA-F]{40}")
RECENT = timedelta(minutes=15)  # Nightscout's bgnow looks at the last 15 minutes
TRENDS = {"NONE": 0, "DoubleUp": 1, "SingleUp": 2, "FortyFiveUp": 3, "Flat": 4,
          "FortyFiveDown": 5, "SingleDown": 6, "DoubleDown": 7, "NOT COMPUTABLE": 8,
          "RATE OUT OF RANGE": 9}
ARROWS = {"DoubleUp": "⇈", "SingleUp": "↑", "FortyFiveUp": "↗", "Flat": "→",
          "FortyFiveDown": "↘", "SingleDown": "↓", "DoubleDown": "⇊"}


def create_v2_app(parent: State) -> FastAPI:
    sub = FastAPI(title="Hearth: Nightscout-compatible API (v2 subset)", version=VERSION)
    sub.state.parent = parent
    sub.add_exception_handler(NightscoutError, _error)
    sub.add_api_route("/authorization/request/{token}", request_jwt, methods=["GET"])
    sub.add_api_route("/authorization/subjects", list_subjects, methods=["GET"])
    sub.add_api_route("/authorization/subjects", add_subject, methods=["POST"])
    sub.add_api_route("/authorization/subjects/{subject_id}", revoke_subject,
                      methods=["DELETE"])
    sub.add_api_route("/properties", properties, methods=["GET"])
    sub.add_api_route("/properties/{names}", properties, methods=["GET"])
    return sub


def create_pebble_app(parent: State) -> FastAPI:
    sub = FastAPI(title="Hearth: Nightscout /pebble", version=VERSION)
    sub.state.parent = parent
    sub.add_exception_handler(NightscoutError, _error)
    sub.add_api_route("/", pebble, methods=["GET"])
    return sub


# --- tokens ------------------------------------------------------------------------------------

def request_jwt(request: Request, token: str) -> dict[str, Any]:
    """A JWT for a follower's token (401 for anything else, revoked tokens included)."""
    backend = _backend(request)
    tokens, key = _tokens(request), _jwt_key(request)
    if key is None:
        raise NightscoutError(401, "Unauthorized", "Invalid/Missing")
    # The token, or its SHA-1 hex: Nightscout matches a subject by either
    # (lib/authorization/storage.js findSubject), and nightscout-librelink-up in its v3
    # mode sends the hash (its README: NIGHTSCOUT_API_TOKEN is the token's SHA-1).
    digests = [_sha1(token)] + ([token.lower()] if _SHA1_HEX.fullmatch(token) else [])
    uploader = next((u for d in digests if (u := backend.uploaders.nightscout_uploader(d))),
                    None)
    if uploader is not None:
        # An uploader's secret used as an access token (AndroidAPS NSClient v3 asks for a
        # JWT with it, lib/api3): a JWT that may write, for that uploader only.
        subject = f"{UPLOADER_SUBJECT}{uploader[0]}"
        jwt, iat, exp = make_jwt(subject, key=key, now=backend.clock())
        return {"token": jwt, "sub": subject, "permissionGroups": [["*"]],
                "iat": iat, "exp": exp}
    info = next((i for d in digests if (i := tokens.by_sha1(d))), None) \
        if tokens is not None else None
    if info is None:
        raise NightscoutError(401, "Unauthorized", "Invalid/Missing")
    jwt, iat, exp = make_jwt(info, key=key, now=backend.clock())
    return {"token": jwt, "sub": info.id, "permissionGroups": [READ_PERMISSIONS],
            "iat": iat, "exp": exp}


def _subject(info: Any) -> dict[str, Any]:
    return {"_id": info.id, "name": info.holder, "roles": [info.role],
            "created_at": info.created_at.isoformat(), "revoked": not info.active}


def _accounts(request: Request) -> AccountStore | None:
    accounts: AccountStore | None = getattr(_parent(request), "accounts", None)
    return accounts


def _record(request: Request, who: Any, what: str) -> None:
    accounts = _accounts(request)
    if accounts is not None:
        accounts.audit_log.record([AuditEntry(_parent(request).clock(), who.actor_id,
                                              who.role, who.patient_id, what,
                                              request.url.path)])


def list_subjects(request: Request, who: Writer) -> list[dict[str, Any]]:
    """The patient's follower tokens (never the tokens themselves)."""
    tokens = _tokens(request)
    return [_subject(t) for t in (tokens.of_patient(who.patient_id) if tokens else [])]


def add_subject(request: Request, who: Writer,
                body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """``{"name": "Mum", "roles": ["readable"]}`` -> a new read-only token, shown once as
    ``accessToken``."""
    tokens = _tokens(request)
    name = body.get("name")
    roles = body.get("roles", [READABLE])
    if not isinstance(name, str) or not name.strip():
        raise NightscoutError(400, "Bad Request", "name who the token is for")
    if roles != [READABLE]:
        raise NightscoutError(400, "Bad Request",
                              "Hearth makes read-only tokens only (roles: [\"readable\"]); "
                              "an app that uploads gets its own uploader secret")
    if tokens is None:
        raise NightscoutError(503, "Service Unavailable", "no application database")
    try:
        issued = tokens.issue(who.patient_id, name, created_by=who.actor_id,
                              now=_backend(request).clock())
    except ValueError as exc:
        raise NightscoutError(400, "Bad Request", str(exc)) from None
    _record(request, who, f"Nightscout token issued: {issued.info.id}")
    return {**_subject(issued.info), "accessToken": issued.token}


def revoke_subject(request: Request, who: Writer, subject_id: str) -> dict[str, Any]:
    tokens = _tokens(request)
    if tokens is None or not tokens.revoke(who.patient_id, subject_id,
                                           now=_backend(request).clock()):
        raise NightscoutError(404, "Not Found", f"no active token {subject_id!r}")
    _record(request, who, f"Nightscout token revoked: {subject_id}")
    return {"_id": subject_id, "revoked": True}


# --- properties and pebble -----------------------------------------------------------------------

def _recent_cgm(request: Request, patient_id: str, now: datetime) -> list[Reading]:
    found = _store(request).read(patient_id, Metric.GLUCOSE, now - RECENT - timedelta(
        minutes=15), now + timedelta(minutes=5))
    return [r for r in found if r.source == "cgm"]


def _scaled(mgdl: float, units: str) -> float:
    return round(mgdl / GLUCOSE_MGDL_PER_MMOLL, 1) if units == "mmol" else round(mgdl)


def _delta(readings: list[Reading], units: str) -> dict[str, Any] | None:
    if len(readings) < 2:
        return None
    recent, previous = readings[-1], readings[-2]
    elapsed = (recent.measured_at - previous.measured_at).total_seconds() / 60
    if elapsed <= 0 or elapsed > 15:
        return None
    absolute = recent.value - previous.value
    mean5 = recent.value - absolute / elapsed * 5 if elapsed > 9 else previous.value
    mgdl = round(recent.value - mean5)
    scaled = _scaled(recent.value, units) - _scaled(mean5, units) if units == "mmol" else mgdl
    scaled = round(scaled, 1) if units == "mmol" else scaled
    return {"absolute": absolute, "elapsedMins": elapsed, "interpolated": elapsed > 9,
            "mean5MinsAgo": mean5, "mgdl": mgdl, "scaled": scaled,
            "display": f"{'+' if scaled >= 0 else ''}{scaled}"}


def _directions(readings: list[Reading]) -> dict[tuple[str, datetime], str]:
    """Each reading's arrow: the app's own when it sent one, else computed as for entries."""
    out: dict[tuple[str, datetime], str] = {}
    for device_id in {r.device_id for r in readings}:
        series = [r for r in readings if r.device_id == device_id]
        computed = directions([(r.measured_at, r.value) for r in series])
        for reading, arrow in zip(series, computed, strict=True):
            kept = flags_of(reading).get("direction")
            out[(device_id, reading.measured_at)] = str(kept) if kept else arrow
    return out


def properties(request: Request, who: Reader, names: str | None = None) -> dict[str, Any]:
    now = _backend(request).clock()
    units = patient_units(_parent(request), who.patient_id)
    readings = _recent_cgm(request, who.patient_id, now)
    out: dict[str, Any] = {}
    latest = readings[-1] if readings and now - readings[-1].measured_at <= RECENT else None
    arrows = _directions(readings)
    if latest is not None:
        mills = epoch_ms(latest.measured_at)
        out["bgnow"] = {"mean": latest.value, "last": latest.value, "mills": mills,
                        "sgvs": [{"_id": document_id(latest.device_id, latest.measured_at),
                                  "mgdl": latest.value, "scaled": _scaled(latest.value, units),
                                  "mills": mills, "device": latest.device_id, "type": "sgv",
                                  "direction": arrows[(latest.device_id,
                                                       latest.measured_at)]}]}
        if (delta := _delta(readings, units)) is not None:
            out["delta"] = delta
        value = arrows[(latest.device_id, latest.measured_at)]
        out["direction"] = {"value": value, "label": ARROWS.get(value, "-"),
                            "entity": ARROWS.get(value, "-"), "display": ARROWS.get(value)}
    batteries = _store(request).read(who.patient_id, Metric.DEVICE_BATTERY,
                                     now - timedelta(hours=1), now + timedelta(minutes=5))
    if batteries:
        level = round(batteries[-1].value)
        out["upbat"] = {"level": level, "display": f"{level}%", "status": (
            "urgent" if level < 20 else "warn" if level < 30 else "ok")}
    if names:
        wanted = set(names.split(","))
        out = {k: v for k, v in out.items() if k in wanted}
    _audit(request, who, "properties")
    return out


def pebble(request: Request, who: Reader, count: int = 1, units: str | None = None
           ) -> dict[str, Any]:
    """The newest ``count`` sensor readings, newest first, ``sgv`` as text (mg/dL, or mmol/L
    with ``units=mmol`` or the patient's preference), delta and battery on the first."""
    now = _backend(request).clock()
    shown = units or patient_units(_parent(request), who.patient_id)
    store = _store(request)
    readings = [r for r in store.read(who.patient_id, Metric.GLUCOSE, now - timedelta(days=1),
                                      now + timedelta(minutes=5)) if r.source == "cgm"]
    bgs: list[dict[str, Any]] = []
    arrows = _directions(readings)
    for reading in reversed(readings[-max(count, 1):]):
        direction = arrows[(reading.device_id, reading.measured_at)]
        value = reading.value / GLUCOSE_MGDL_PER_MMOLL if shown == "mmol" else reading.value
        bgs.append({"sgv": f"{value:.1f}" if shown == "mmol" else f"{value:.0f}",
                    "trend": TRENDS.get(direction, 8), "direction": direction,
                    "datetime": epoch_ms(reading.measured_at)})
    if bgs:
        delta = _delta(readings, shown)
        bgs[0]["bgdelta"] = delta["scaled"] if delta else 0
        batteries = store.read(who.patient_id, Metric.DEVICE_BATTERY,
                               now - timedelta(hours=1), now + timedelta(minutes=5))
        if batteries:
            bgs[0]["battery"] = f"{batteries[-1].value:.0f}"
    _audit(request, who, "pebble")
    return {"status": [{"now": epoch_ms(now)}], "bgs": bgs, "cals": []}
