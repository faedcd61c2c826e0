"""Nightscout's socket.io (AndroidAPS's NSClient v1, Nightscout's web client and followers),
served by python-socketio beside the FastAPI app at ``/socket.io/``.

The protocol is cgm-remote-monitor ``lib/server/websocket.js``, as AndroidAPS's
``plugins/sync/.../nsclient/services/NSClientService.kt`` speaks it:

- ``authorize`` ``{client, secret: <SHA-1 hex of the API secret>, history: <hours>, status,
  from: <ms>}`` (or ``token``): the server emits ``connected``, then, for a reader, a full
  ``dataUpdate`` (``sgvs`` with ``mgdl`` and ``mills``, oldest first, ``mbgs``, ``cals``,
  ``treatments``, ``devicestatus``, ``profiles``, ``status`` when asked, ``lastUpdated``),
  and answers ``{read, write, write_treatment}``; a credential it does not know is
  disconnected, as Nightscout does;
- later ``dataUpdate`` messages carry ``delta: true`` and what is new since the last one
  (Hearth polls its store every ``POLL_S`` seconds for each patient with a listener);
- ``alarm`` / ``urgent_alarm`` for the patient's open care alerts (the coach's, from the
  application database: urgent ones as ``urgent_alarm``), ``clear_alarm`` once such an
  alert is acknowledged or resolved (then the alerts still open again, since an app
  clears every alarm it shows on ``clear_alarm``);
- ``dbAdd`` ``{collection, data}`` (entries, treatments, devicestatus) with an uploader's
  secret: stored through the same outbox as the HTTP API, answered with the documents and
  their ``_id``; without write permission ``{result: "Not authorized"}``. ``dbUpdate`` and
  ``dbRemove`` are answered ``{result: "Not updated: ..."}``: Hearth keeps documents as
  first sent (a treatment's deletion goes through the HTTP API). ``ack`` (silencing an
  alarm for every client) is not taken from an app: alerts are acknowledged on the
  dashboard, where the acknowledgement is recorded with who made it.

Every authorised connection is audited like an HTTP read; no credential is logged.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from core.appdb.audit_log import AuditEntry
from core.appdb.coaching import CoachAlert
from core.metrics import Metric
from dashboard.nightscout import (
    NightscoutError,
    Principal,
    _engine,
    _entry_docs,
    _sha1,
    publish_converted,
    status_document,
)
from dashboard.nightscout_backend import NightscoutBackend, UploadError, convert
from dashboard.nightscout_entries import ENTRY_METRICS, document_id, entry_reading, epoch_ms
from dashboard.nightscout_ledger import ledger, overlay
from dashboard.nightscout_tokens import NightscoutTokens
from dashboard.nightscout_treatments import (
    TREATMENT_METRICS,
    devicestatus_document,
    devicestatus_reading,
    treatment_documents,
    treatment_readings,
)
from dashboard.nightscout_v3 import KEPT, WHOLE, built_docs, record_upload
from dashboard.nightscout_v3_docs import V3Error

log = logging.getLogger(__name__)

POLL_S = 5.0  # how often new readings and alerts are looked for, per listened-to patient
DEFAULT_HISTORY_H = 48  # websocket.js: history defaults to 48 hours
MAX_HISTORY_H = 24 * 7
STORAGE, ALARM = "/storage", "/alarm"
BAD_TOKEN = {"success": False, "message": "Missing or bad accessToken"}  # lib/api3/const.json
NOT_AUTHORIZED = {"result": "Not authorized"}
SUCCESS = {"result": "success"}
WRONG_COLLECTION = {"result": "Wrong collection"}


@dataclass
class _Listened:
    """What one patient's listeners have been sent."""

    sent_ms: int  # the newest reading time sent
    alarms: set[str] = field(default_factory=set)  # open alerts announced
    changed_ms: int = field(default_factory=lambda: epoch_ms(datetime.now(UTC)))
    # ^ the newest change (edit, deletion, profile, food) announced on /storage


class NightscoutSocket:
    def __init__(self, parent: State, *, poll_s: float = POLL_S) -> None:
        self.parent = parent
        self.poll_s = poll_s
        import socketio  # type: ignore[import-untyped]  # here: its import takes seconds

        self.sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
        self._listened: dict[str, _Listened] = {}
        self._poller: Any = None
        self.sio.on("authorize", self.authorize)
        self.sio.on("dbAdd", self.db_add)
        self.sio.on("dbUpdate", self.db_update)
        self.sio.on("dbUpdateUnset", self.db_update_unset)
        self.sio.on("dbRemove", self.db_remove)
        # API v3's namespaces (lib/api3/storageSocket.js, alarmSocket.js): AndroidAPS's
        # NSClient v3 connects to <site>/storage and <site>/alarm
        self.sio.on("subscribe", self.subscribe_storage, namespace=STORAGE)
        self.sio.on("subscribe", self.subscribe_alarm, namespace=ALARM)

    # --- authorisation --------------------------------------------------------------------

    def _principal(self, message: Any) -> Principal | None:
        backend: NightscoutBackend | None = getattr(self.parent, "nightscout", None)
        if backend is None or not isinstance(message, dict):
            return None
        digests = []
        if isinstance(message.get("secret"), str) and message["secret"]:
            digests.append(message["secret"].lower())
        if isinstance(message.get("token"), str) and message["token"]:
            digests.append(_sha1(message["token"]))
        engine = _engine(self.parent)
        tokens = NightscoutTokens(engine) if engine is not None else None
        for digest in digests:
            if (found := backend.uploaders.nightscout_uploader(digest)) is not None:
                return Principal(found[0], found[1], True, "nightscout")
            if tokens is not None and (info := tokens.by_sha1(digest)) is not None:
                return Principal(info.id, info.patient_id, False, "ns-follower")
        return None

    async def authorize(self, sid: str, message: Any = None) -> dict[str, bool] | None:
        who = await asyncio.to_thread(self._principal, message)
        if who is None:
            await self.sio.disconnect(sid)
            return None
        await self.sio.save_session(sid, {"who": who})
        await self.sio.emit("connected", to=sid)
        history = message.get("history") if isinstance(message, dict) else None
        hours = history if isinstance(history, int | float) and history > 0 else \
            DEFAULT_HISTORY_H
        now = self._now()
        start = now - timedelta(hours=min(hours, MAX_HISTORY_H))
        since = message.get("from")
        if isinstance(since, int | float) and since > 0:
            start = max(start, datetime.fromtimestamp(since / 1000, UTC))
        data = await asyncio.to_thread(self._data, who.patient_id, start, now)
        if message.get("status"):
            data["status"] = await asyncio.to_thread(status_document, self.parent,
                                                     who.patient_id)
        await self.sio.enter_room(sid, who.patient_id)
        sent = [d["mills"] for key in ("sgvs", "mbgs", "cals", "treatments", "devicestatus")
                for d in data[key]]
        self._listened.setdefault(who.patient_id,
                                  _Listened(max(sent, default=epoch_ms(start))))
        await self.sio.emit("dataUpdate", data, to=sid)
        await asyncio.to_thread(self._audit, who, "Nightscout socket.io data")
        if self._poller is None:
            self._poller = self.sio.start_background_task(self._poll)
        return {"read": True, "write": who.can_write, "write_treatment": who.can_write}

    async def _subscribe(self, sid: str, message: Any, namespace: str) -> Principal | None:
        token = message.get("accessToken") if isinstance(message, dict) else None
        who = await asyncio.to_thread(self._principal, {"token": token}) \
            if isinstance(token, str) and token else None
        if who is None:
            return None
        await self.sio.save_session(sid, {"who": who}, namespace=namespace)
        await self.sio.enter_room(sid, who.patient_id, namespace=namespace)
        self._listened.setdefault(who.patient_id, _Listened(epoch_ms(self._now())))
        await asyncio.to_thread(self._audit, who, f"Nightscout socket.io {namespace[1:]}")
        if self._poller is None:
            self._poller = self.sio.start_background_task(self._poll)
        return who

    async def subscribe_storage(self, sid: str, message: Any = None) -> dict[str, Any]:
        """``{accessToken, collections}`` -> ``{success, collections}``; then ``create``
        events ``{colName, doc}`` with API v3 documents as they are stored."""
        if await self._subscribe(sid, message, STORAGE) is None:
            return BAD_TOKEN
        wanted = message.get("collections") if isinstance(message, dict) else None
        kept = [c for c in (wanted if isinstance(wanted, list) else [*KEPT, *WHOLE])
                if c in KEPT or c in WHOLE]
        return {"success": True, "collections": kept}

    async def subscribe_alarm(self, sid: str, message: Any = None) -> dict[str, Any]:
        if await self._subscribe(sid, message, ALARM) is None:
            return BAD_TOKEN
        return {"success": True, "message": "Subscribed for alarms"}

    # --- data -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        backend: NightscoutBackend | None = getattr(self.parent, "nightscout", None)
        return backend.clock() if backend is not None else datetime.now(UTC)

    def _data(self, patient_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        """Nightscout's ``ddata`` shape (lib/data/ddata.js) for readings in [start, end]."""
        store = self.parent.store
        end = end + timedelta(minutes=1)

        def read(metrics: tuple[Metric, ...]) -> list[Any]:
            return [r for m in metrics for r in store.read(patient_id, m, start, end)]

        sgvs: list[dict[str, Any]] = []
        mbgs: list[dict[str, Any]] = []
        cals: list[dict[str, Any]] = []
        for doc in overlay(self.parent, patient_id, "entries", _entry_docs(read(ENTRY_METRICS)),
                           v3=False):
            mills = doc["date"]
            if doc["type"] == "sgv":
                raw: dict[str, Any] = {k: doc[k] for k in ("filtered", "unfiltered", "noise",
                                                           "rssi") if k in doc}
                sgvs.append({"_id": doc["_id"], "mgdl": doc["sgv"], "mills": mills,
                             "device": doc.get("device"), "direction": doc.get("direction"),
                             "type": "sgv", **raw})
            elif doc["type"] == "mbg":
                mbgs.append({"_id": doc["_id"], "mgdl": doc["mbg"], "mills": mills,
                             "device": doc.get("device")})
            else:
                cals.append({"_id": doc["_id"], "mills": mills, "slope": doc["slope"],
                             "intercept": doc.get("intercept"), "scale": doc.get("scale")})
        treatments = sorted(overlay(self.parent, patient_id, "treatments",
                                    treatment_documents(read(TREATMENT_METRICS)), v3=False),
                            key=lambda d: d["mills"])
        statuses = overlay(self.parent, patient_id, "devicestatus",
                           [devicestatus_document(r) for r in read((Metric.DEVICE_BATTERY,))],
                           v3=False)
        return {"sgvs": sgvs, "mbgs": mbgs, "cals": cals, "treatments": treatments,
                "devicestatus": statuses, "profiles": self._kept(patient_id, "profile"),
                "food": self._kept(patient_id, "food"),
                "lastUpdated": epoch_ms(self._now())}

    async def _poll(self) -> None:
        """New readings and alert changes to each listened-to patient's room."""
        while True:
            await self.sio.sleep(self.poll_s)
            for patient_id in list(self._listened):
                if not any((self.sio.manager.rooms.get(n) or {}).get(patient_id)
                           for n in ("/", STORAGE, ALARM)):
                    self._listened.pop(patient_id, None)  # nobody listens any more
                    continue
                try:
                    await self._update(patient_id)
                except Exception:  # a failed round is logged; the next one tries again
                    log.exception("nightscout socket: update failed")

    async def _update(self, patient_id: str) -> None:
        state = self._listened[patient_id]
        for event, body in await asyncio.to_thread(self._changes, patient_id, state):
            await self.sio.emit(event, body, room=patient_id, namespace=STORAGE)
        start = datetime.fromtimestamp(state.sent_ms / 1000, UTC) + timedelta(milliseconds=1)
        data = await asyncio.to_thread(self._data, patient_id, start, self._now())
        newest = [d["mills"] for key in ("sgvs", "mbgs", "cals", "treatments", "devicestatus")
                  for d in data[key]]
        if newest:
            await self.sio.emit("dataUpdate", {"delta": True, **{
                k: v for k, v in data.items() if v or k == "lastUpdated"}}, room=patient_id)
            for col_name, doc in await asyncio.to_thread(self._v3_docs, patient_id, start):
                await self.sio.emit("create", {"colName": col_name, "doc": doc},
                                    room=patient_id, namespace=STORAGE)
            state.sent_ms = max(max(newest), state.sent_ms)
        open_alerts = await asyncio.to_thread(self._open_alerts, patient_id)
        answered = state.alarms - set(open_alerts)
        for namespace in ("/", ALARM):
            if answered:
                # an app clears every alarm it shows (AndroidAPS dismisses both kinds), so
                # the alerts still open are announced again after it
                await self.sio.emit("clear_alarm", {
                    "clear": True, "title": "All Clear", "message": "the alert was answered",
                    "group": "default"}, room=patient_id, namespace=namespace)
            for alert_id, (event, body) in open_alerts.items():
                if alert_id not in state.alarms or answered:
                    await self.sio.emit(event, body, room=patient_id, namespace=namespace)
        state.alarms = set(open_alerts)

    def _v3_docs(self, patient_id: str, start: datetime) -> list[tuple[str, dict[str, Any]]]:
        """The API v3 documents of each kept collection from ``start`` (storage events)."""
        end = self._now() + timedelta(minutes=1)
        out = []
        for name, col in KEPT.items():
            for doc in built_docs(self.parent, patient_id, col, start, end):
                out.append((name, {k: v for k, v in doc.items() if not k.startswith("_")}))
        return out

    def _kept(self, patient_id: str, collection: str) -> list[dict[str, Any]]:
        """The profiles or food kept (v1 documents, newest first), as ddata carries them."""
        from dashboard.nightscout_changes import kept_v1

        return kept_v1(self.parent, patient_id, collection)

    def _changes(self, patient_id: str, state: _Listened) -> list[tuple[str, dict[str, Any]]]:
        """Edits and deletions (and new profiles, food, settings) since the last round, as
        lib/api3/storageSocket.js announces them: ``update`` ``{colName, doc}``, ``delete``
        ``{colName, identifier}``, ``create`` for the collections kept whole."""
        book = ledger(self.parent)
        if book is None:
            return []
        out: list[tuple[str, dict[str, Any]]] = []
        newest = state.changed_ms
        for name in (*KEPT, *WHOLE):
            for rev in book.changed(patient_id, name, state.changed_ms):
                newest = max(newest, rev.srv_modified)
                if rev.operation == "create" and name in KEPT:
                    continue  # new readings go out as ``create`` from the store
                if not rev.is_valid:
                    out.append(("delete", {"colName": name, "identifier": rev.identifier}))
                elif rev.document is not None:
                    doc = {**rev.document, "identifier": rev.identifier,
                           "srvCreated": rev.srv_created, "srvModified": rev.srv_modified,
                           "isValid": True}
                    out.append(("create" if rev.operation == "create" else "update",
                                {"colName": name, "doc": doc}))
        state.changed_ms = newest
        return out

    def _open_alerts(self, patient_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
        """The patient's open care alerts as Nightscout alarm messages."""
        engine = _engine(self.parent)
        if engine is None:
            return {}
        with Session(engine) as session:
            rows = session.scalars(select(CoachAlert).where(
                CoachAlert.patient_id == patient_id, CoachAlert.state == "open",
                CoachAlert.kind.in_(("alert", "clinical_alert", "escalation")))).all()
        out = {}
        for alert in rows:
            urgent = alert.priority == "urgent"
            out[alert.id] = ("urgent_alarm" if urgent else "alarm", {
                "level": 2 if urgent else 1, "title": alert.title, "message": alert.body,
                "eventName": alert.flag_type, "group": "default",
                "key": f"hearth_{alert.id}"})
        return out

    # --- uploads --------------------------------------------------------------------------

    async def db_add(self, sid: str, message: Any = None) -> Any:
        session = await self.sio.get_session(sid)
        who: Principal | None = session.get("who")
        if who is None or not who.can_write:
            return NOT_AUTHORIZED
        if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
            return {"result": "Not added: no document"}
        collection, doc = message.get("collection"), message["data"]
        now = self._now()
        makers = {"entries": lambda d: [entry_reading(d)], "treatments": treatment_readings,
                  "devicestatus": lambda d: [devicestatus_reading(d, now=now)]}
        make = makers.get(collection) if isinstance(collection, str) else None
        if make is None:
            return {"result": f"Not added: Hearth keeps no {collection}"}
        converted = convert([doc], make, device_id=who.actor_id, now=now,
                            noun=str(collection))
        if converted.bad:
            return {"result": f"Not added: {converted.bad[0]}"}
        try:
            fresh = await asyncio.to_thread(publish_converted, self.parent, who, converted)
            await asyncio.to_thread(record_upload, self.parent, who, KEPT[str(collection)], fresh)
        except NightscoutError as exc:
            return {"result": f"Not added: {exc.description}"}
        first = converted.readings[0]
        kind = "treatment" if collection == "treatments" else Metric(first["metric"])
        sent_id = doc.get("_id")
        _id = sent_id if isinstance(sent_id, str) and len(sent_id) == 24 else \
            document_id(who.actor_id, first["time"], kind)
        return [{**doc, "_id": _id}]

    async def db_update(self, sid: str, message: Any = None) -> dict[str, str]:
        """``dbUpdate`` ``{collection, _id, data}`` (the fields to set; ``isValid: false``
        is AndroidAPS's deletion) and ``dbRemove`` ``{collection, _id}``: stored as API
        v3's edit and soft deletion (dashboard/nightscout_v3.py), answered through the
        client's acknowledgement callback ``{result: "success"}`` as websocket.js, or with
        the reason it was not."""
        return await self._change(sid, message, remove=False)

    async def db_remove(self, sid: str, message: Any = None) -> dict[str, str]:
        return await self._change(sid, message, remove=True)

    async def db_update_unset(self, sid: str, message: Any = None) -> dict[str, str]:
        """``dbUpdateUnset`` ``{collection, _id, data}``: the fields named in ``data``
        removed (MongoDB's ``$unset``), an edit like ``dbUpdate``."""
        return await self._change(sid, message, remove=False, unset=True)

    async def _change(self, sid: str, message: Any, *, remove: bool, unset: bool = False
                      ) -> dict[str, str]:
        session = await self.sio.get_session(sid)
        who: Principal | None = session.get("who")
        if not isinstance(message, dict) or message.get("collection") not in KEPT:
            return WRONG_COLLECTION
        if who is None or not who.can_write:
            return NOT_AUTHORIZED
        doc_id, data = message.get("_id"), message.get("data")
        if not isinstance(doc_id, str) or not doc_id:
            return {"result": "Missing _id"}
        if not remove and not isinstance(data, dict):
            return {"result": "Not updated: no data"}
        try:
            await asyncio.to_thread(self._store_change, who, str(message["collection"]),
                                    doc_id, data if isinstance(data, dict) else {}, remove,
                                    unset)
        except V3Error as exc:
            return {"result": f"Not updated: {exc.message or exc.status}"}
        except UploadError as exc:
            return {"result": f"Not updated: {exc}; send it again"}
        return SUCCESS

    def _store_change(self, who: Principal, collection: str, doc_id: str,
                      data: dict[str, Any], remove: bool, unset: bool = False) -> None:
        from dashboard.nightscout_changes import find_v1
        from dashboard.nightscout_v3 import edit
        from dashboard.nightscout_v3 import remove as soft_delete

        doc, rev = find_v1(self.parent, who, collection, doc_id)
        if doc is None or doc.get("isValid") is False:
            return  # as websocket.js: "success" whether or not a document matched
        if remove or (not unset and data.get("isValid") is False):
            soft_delete(self.parent, who, collection, doc, rev)
        else:
            changed = {k: v for k, v in doc.items() if k not in data} if unset else \
                {**doc, **{k: v for k, v in data.items() if k != "_id"}}
            for name in ("identifier", "date", "utcOffset"):
                changed[name] = doc[name]
            edit(self.parent, who, KEPT[collection], doc, rev, changed)
        self._audit(who, f"Nightscout socket.io {collection} "
                         f"{'deleted' if remove or data.get('isValid') is False else 'updated'}")

    def _audit(self, who: Principal, what: str) -> None:
        accounts = getattr(self.parent, "accounts", None)
        if accounts is not None:
            accounts.audit_log.record([AuditEntry(self._now(), who.actor_id, who.role,
                                                  who.patient_id, what, "/socket.io/")])


class NightscoutSocketApp:
    """ASGI middleware: ``/socket.io/`` to python-socketio, everything else to the app. The
    socket.io server is made at the first socket.io request, so that a dashboard no app
    connects to never imports python-socketio (seconds at start-up on a loaded machine)."""

    def __init__(self, app: ASGIApp, parent: State, poll_s: float = POLL_S) -> None:
        self.app, self.parent, self.poll_s = app, parent, poll_s
        self._asgi: Any = None

    def _socket_app(self) -> Any:
        if self._asgi is None:
            import socketio

            socket = NightscoutSocket(self.parent, poll_s=self.poll_s)
            self.parent.nightscout_socket = socket
            self._asgi = socketio.ASGIApp(socket.sio, socketio_path="socket.io")
        return self._asgi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and \
                f"{scope['path'].rstrip('/')}/".startswith("/socket.io/"):
            await self._socket_app()(scope, receive, send)
        else:
            await self.app(scope, receive, send)
