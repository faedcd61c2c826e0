"""Nightscout treatments and device status <-> Hearth readings.

A treatment (cgm-remote-monitor ``lib/api/treatments/index.js``; what xDrip+ and Loop
send: ``eventType``, ``created_at`` or ``timestamp``, ``carbs``, ``insulin``,
``duration``, ``notes``...) becomes readings at its time:

- ``carbs`` > 0: a ``carbs`` reading (g); ``insulin`` > 0: an ``insulin`` reading (U);
  a meal bolus is both. The coach and the trends page see them as meals and doses;
- anything else (temporary target, temp basal, note, site change, sensor start...): a
  ``therapy_event`` whose value is the duration in minutes (0 when it has none);

the ``eventType`` is each reading's context and the other fields travel as status flags
(``ns:name=value``; notes in pieces of the contract's 64 characters), so a read serves
the treatment back. A device status (uploader, pump and loop state, ``lib/api/
devicestatus/index.js``) becomes one ``device_battery`` reading with the pump's and the
loop's state as flags.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from core.metrics import Metric
from core.readings import Reading
from dashboard.nightscout_entries import (
    FLAG,
    MAX_FLAG,
    EntryError,
    document_id,
    document_time,
    epoch_ms,
    iso_ms,
)

# ``timestamp`` first: xDrip+ sends it in milliseconds beside a ``created_at`` in whole
# seconds; Loop sends both as the same ISO 8601 text.
TREATMENT_DATE_FIELDS = ("timestamp", "created_at", "date", "mills")
TREATMENT_METRICS = (Metric.CARBS, Metric.INSULIN, Metric.THERAPY_EVENT)
MAX_FLAGS = 16  # the contract's limit
# Fields kept (numbers, then texts); ids first so they survive the flag limit.
TEXTS = ("_id", "identifier", "uuid", "syncIdentifier", "enteredBy", "units", "reason",
         "temp", "type", "insulinType", "glucoseType", "durationType")
NUMBERS = ("absorptionTime", "targetTop", "targetBottom", "rate", "absolute", "percent",
           "amount", "glucose", "programmed", "duration")
NOTE = f"{FLAG}notes="


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _flags(doc: dict[str, Any]) -> list[str]:
    flags: list[str] = []
    for name in TEXTS:
        value = doc.get(name)
        if isinstance(value, str) and value.strip():
            flags.append(f"{FLAG}{name}={value.strip()}"[:MAX_FLAG])
        elif isinstance(value, bool):
            flags.append(f"{FLAG}{name}={str(value).lower()}")
    for name in NUMBERS:
        number = _finite(doc.get(name))
        if number is not None:
            flags.append(f"{FLAG}{name}={number:.9g}")
    if doc.get("automatic") is True:
        flags.append(f"{FLAG}automatic=true")
    notes = doc.get("notes")
    if isinstance(notes, str) and notes.strip():
        room = MAX_FLAG - len(NOTE)
        text = notes.strip()
        flags.extend(NOTE + text[i:i + room] for i in range(0, len(text), room))
    if len(flags) > MAX_FLAGS:
        raise EntryError(f"the treatment has more than Hearth keeps ({MAX_FLAGS} fields of "
                         f"{MAX_FLAG} characters; notes of up to about 400 characters)")
    return flags


def treatment_readings(doc: Any) -> list[dict[str, Any]]:
    """One Nightscout treatment as contract readings (dicts for encode_message)."""
    if not isinstance(doc, dict):
        raise EntryError("a treatment must be a JSON object")
    when = document_time(doc, TREATMENT_DATE_FIELDS)
    kind = doc.get("eventType")
    kind = kind.strip()[:MAX_FLAG] if isinstance(kind, str) and kind.strip() else "Note"
    flags = _flags(doc)
    out: list[dict[str, Any]] = []
    for metric, unit, name in ((Metric.CARBS, "g", "carbs"), (Metric.INSULIN, "[iU]", "insulin")):
        value = doc.get(name)
        if value is None:
            continue
        number = _finite(value)
        if number is None:
            raise EntryError(f"{name} must be a number, got {value!r}")
        if number > 0:
            out.append({"metric": metric.value, "value": number, "unit": unit, "source": "app",
                        "time": when, "context": kind})
    if not out:
        duration = _finite(doc.get("duration")) or 0.0
        out.append({"metric": Metric.THERAPY_EVENT.value, "value": max(duration, 0.0),
                    "unit": "min", "source": "app", "time": when, "context": kind})
    out[0]["status"] = flags
    return out


def treatment_id(device_id: str, when: datetime, flags: dict[str, Any]) -> str:
    sent = flags.get("_id")
    if isinstance(sent, str) and len(sent) == 24:
        return sent  # the app's own id (xDrip+ makes one from its uuid)
    return document_id(device_id, when, "treatment")


def _parse_flags(readings: Iterable[Reading]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    notes: list[str] = []
    for reading in readings:
        for flag in reading.status:
            if flag.startswith(NOTE):
                notes.append(flag[len(NOTE):])
            elif flag.startswith(FLAG) and "=" in flag:
                name, text = flag[len(FLAG):].split("=", 1)
                if name in NUMBERS:
                    number = float(text)
                    out[name] = int(number) if number == int(number) else number
                elif name == "automatic":
                    out[name] = text == "true"
                else:
                    out[name] = text
    if notes:
        out["notes"] = "".join(notes)
    return out


def _plain(value: float) -> int | float:
    """20 rather than 20.0: Loop reads ``carbs`` as an integer."""
    return int(value) if value == int(value) else value


DELETION = "Deleted (Nightscout API)"  # the context of a deletion marker
DELETES = f"{FLAG}deletes="


def deletion_reading(doc_id: str, when: datetime) -> dict[str, Any]:
    """What a DELETE of a treatment records: Hearth's record only grows, so the deletion
    is an event of its own (a microsecond after the treatment, never on its key) that
    hides the treatment from every read of this API."""
    return {"metric": Metric.THERAPY_EVENT.value, "value": 0, "unit": "min",
            "source": "app", "time": when + timedelta(microseconds=1), "context": DELETION,
            "status": [f"{DELETES}{doc_id}"[:MAX_FLAG]]}


def _deletes(reading: Reading) -> str | None:
    if reading.metric != Metric.THERAPY_EVENT or reading.context != DELETION:
        return None
    return next((f[len(DELETES):] for f in reading.status if f.startswith(DELETES)), None)


def treatment_documents(readings: Iterable[Reading]) -> list[dict[str, Any]]:
    """Stored readings grouped back into treatments (one per device and time), without
    the deleted ones and the deletion markers."""
    groups: dict[tuple[str, datetime], list[Reading]] = defaultdict(list)
    deleted: set[str] = set()
    for reading in readings:
        if (gone := _deletes(reading)) is not None:
            deleted.add(gone)
        elif reading.metric in TREATMENT_METRICS:
            groups[(reading.device_id, reading.measured_at)].append(reading)
    docs = []
    for (device_id, when), group in groups.items():
        flags = _parse_flags(group)
        doc: dict[str, Any] = {"_id": treatment_id(device_id, when, flags),
                               "eventType": group[0].context or "Note",
                               "created_at": iso_ms(when), "timestamp": iso_ms(when),
                               "mills": epoch_ms(when),
                               "enteredBy": flags.pop("enteredBy", device_id),
                               "device": device_id, "utcOffset": 0}
        if doc["_id"] in deleted:
            continue
        flags.pop("_id", None)
        for reading in group:
            if reading.metric == Metric.CARBS:
                doc["carbs"] = _plain(reading.value)
            elif reading.metric == Metric.INSULIN:
                doc["insulin"] = _plain(reading.value)
        doc.setdefault("carbs", None)
        doc.setdefault("insulin", None)
        doc.update(flags)
        docs.append(doc)
    return docs


# --- device status ---------------------------------------------------------------------------

DEVICESTATUS_DATE_FIELDS = ("created_at", "date", "mills")
# What is kept of the pump's and the loop's state (paths in the document).
STATE_PATHS: tuple[tuple[str, ...], ...] = (
    ("pump", "battery", "percent"), ("pump", "reservoir"), ("pump", "suspended"),
    ("uploader", "isCharging"), ("loop", "iob", "iob"), ("loop", "cob", "cob"),
    ("loop", "recommendedBolus"), ("loop", "enacted", "rate"), ("loop", "enacted", "duration"),
    ("openaps", "iob", "iob"), ("openaps", "suggested", "COB"),
)
STATE_TEXTS: tuple[tuple[str, ...], ...] = (("identifier",), ("device",), ("loop", "failureReason"),
                                             ("loop", "name"), ("loop", "version"))


def _at(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def devicestatus_reading(doc: Any, *, now: datetime) -> dict[str, Any]:
    """One device status as one ``device_battery`` reading (the uploader's battery, else the
    pump's), with the pump's and the loop's state as flags."""
    if not isinstance(doc, dict):
        raise EntryError("a device status must be a JSON object")
    when = now if all(doc.get(f) is None for f in DEVICESTATUS_DATE_FIELDS) else \
        document_time(doc, DEVICESTATUS_DATE_FIELDS)
    battery = _finite(_at(doc, ("uploader", "battery")))
    if battery is None:  # AndroidAPS's NSClient v3 sends it at the top (RemoteDeviceStatus)
        battery = _finite(doc.get("uploaderBattery"))
    context = "uploader"
    if battery is None:
        battery, context = _finite(_at(doc, ("pump", "battery", "percent"))), "pump"
    if battery is None:
        raise EntryError("a device status without a battery level (uploader.battery, "
                         "uploaderBattery or pump.battery.percent) is not kept by Hearth")
    flags = []
    for path in STATE_TEXTS:
        value = _at(doc, path)
        if isinstance(value, str) and value.strip():
            flags.append(f"{FLAG}{'.'.join(path)}={value.strip()}"[:MAX_FLAG])
    for path in STATE_PATHS:
        value, name = _at(doc, path), ".".join(path)
        if isinstance(value, bool):
            flags.append(f"{FLAG}{name}={str(value).lower()}")
        elif (number := _finite(value)) is not None:
            flags.append(f"{FLAG}{name}={number:.9g}")
    return {"metric": Metric.DEVICE_BATTERY.value, "value": battery, "unit": "%",
            "source": "app", "time": when, "context": context, "status": flags[:MAX_FLAGS]}


def _put(doc: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[last] = value


def devicestatus_document(reading: Reading) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": document_id(reading.device_id, reading.measured_at,
                                              reading.metric),
                           "device": reading.device_id,
                           "created_at": iso_ms(reading.measured_at),
                           "mills": epoch_ms(reading.measured_at), "utcOffset": 0}
    battery_path = "uploader.battery" if reading.context != "pump" else "pump.battery.percent"
    _put(doc, battery_path, round(reading.value))
    if reading.context != "pump":
        doc["uploaderBattery"] = round(reading.value)  # where AndroidAPS reads it
    for name, value in device_state(reading).items():
        _put(doc, name, value)
    return doc


def device_state(reading: Reading) -> dict[str, Any]:
    """The pump's and the loop's state kept with a device status reading, by dotted path
    ("pump.reservoir": 120, "loop.failureReason": "..."): numbers and booleans as such."""
    texts = {".".join(path) for path in STATE_TEXTS}
    state: dict[str, Any] = {}
    for flag in reading.status:
        if not flag.startswith(FLAG) or "=" not in flag:
            continue
        name, text = flag[len(FLAG):].split("=", 1)
        value: Any = text
        if text in ("true", "false"):
            value = text == "true"
        elif name not in texts:
            try:
                number = float(text)
                value = int(number) if number == int(number) else number
            except ValueError:
                pass
        state[name] = value
    return state
