"""Nightscout documents <-> Hearth readings: what an upload becomes, and what a read serves.

No raw documents are kept: each Nightscout document becomes contract readings
(core/contract.py) of the metric that fits (core/metrics.py), and a read builds
the documents back from the stored readings.

Entries (``/api/v1/entries``, cgm-remote-monitor ``lib/api/entries/index.js``):

- ``sgv`` of 39 or more: CGM glucose (39 is Dexcom's "LOW", 401 "HIGH" is above it);
- ``sgv`` below 39: a CGM status/error code (Nightscout ``lib/plugins/errorcodes.js``:
  1 sensor not active, 2 minimal deviation, 3 no antenna, 5 not calibrated, 6 counts
  deviation, 9 absolute deviation, 10 power deviation, 12 bad RF; every value below 39
  is treated as a code there). Stored as ``cgm_status``, **never glucose**: no glucose
  reading, no glucose alert (docs/CLINICAL.md);
- ``mbg``: meter (fingerstick) glucose;
- ``cal``: a calibration: ``slope`` as the value, ``intercept`` and ``scale`` as status.

The uploader's own fields that Hearth has no column for (``device``, ``direction``,
``delta``, ``trend``, ``utcOffset``, ``noise``, ``filtered``, ``unfiltered``, ``rssi``)
travel as the reading's status flags (``ns:name=value``) and are served back.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from core.metrics import Metric
from core.readings import Reading, to_epoch_us

CGM_CODE_BELOW = 39  # an sgv below this is a status code, not glucose (docs/CLINICAL.md)
ENTRY_TYPES = ("sgv", "mbg", "cal")
FLAG = "ns:"
MAX_FLAG = 64  # the contract's longest status text
# Uploader fields kept with an entry, and how they are served back.
KEPT_NUMBERS = ("delta", "trend", "utcOffset", "noise", "filtered", "unfiltered", "rssi")
KEPT_TEXTS = ("device", "direction", "identifier")  # identifier: API v3's
# A number below this is seconds since the epoch, not milliseconds (1e11 s is the year
# 5138; 1e11 ms is 1973): Nightscout's own fields are milliseconds.
SECONDS_BELOW = 1e11


class EntryError(ValueError):
    """One document that cannot be stored, with the reason."""


# --- dates ---------------------------------------------------------------------------

def parse_when(value: Any, name: str) -> datetime:
    """Epoch seconds or milliseconds (number or numeric text), or ISO 8601 with a zone
    (``Z``, ``+01:00`` and xDrip's ``-0500`` forms)."""
    if isinstance(value, bool):
        raise EntryError(f"{name} {value!r} is not a date")
    if isinstance(value, str):
        text = value.strip()
        try:
            number: float | None = float(text)
        except ValueError:
            number = None
        if number is None:
            try:
                when = datetime.fromisoformat(text.replace(" ", "+", 1) if "T" in text
                                              and " " in text else text)
            except ValueError:
                raise EntryError(f"{name} {value!r} is not ISO 8601") from None
            if when.tzinfo is None:
                raise EntryError(f"{name} {value!r} has no time zone")
            return when.astimezone(UTC)
        value = number
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise EntryError(f"{name} {value!r} is not a date")
        ms = value * 1000 if value < SECONDS_BELOW else value
        try:
            return datetime.fromtimestamp(ms / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise EntryError(f"{name} {value!r} is beyond the calendar") from None
    raise EntryError(f"{name} {value!r} is not a date")


def document_time(doc: dict[str, Any], fields: Iterable[str]) -> datetime:
    for name in fields:
        if doc.get(name) is not None:
            return parse_when(doc[name], name)
    raise EntryError(f"no date ({', '.join(fields)})")


ENTRY_DATE_FIELDS = ("date", "dateString", "sysTime", "created_at")


def iso_ms(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(when: datetime) -> int:
    return to_epoch_us(when) // 1000


# --- uploads -> contract readings ------------------------------------------------------

def _number(doc: dict[str, Any], name: str) -> float:
    value = doc.get(name)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EntryError(f"{name} must be a number, got {value!r}")
    return float(value)


def kept_flags(doc: dict[str, Any], names: Iterable[str] = (*KEPT_TEXTS, *KEPT_NUMBERS)
               ) -> list[str]:
    """``ns:name=value`` for each uploader field kept (texts cut to the contract's 64)."""
    flags = []
    for name in names:
        value = doc.get(name)
        if value is None or isinstance(value, dict | list):
            continue
        if name in KEPT_NUMBERS:
            if isinstance(value, bool):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(number):
                continue
            text = f"{number:.6g}"
        else:
            text = str(value).strip()
        flag = f"{FLAG}{name}={text}"[:MAX_FLAG]
        if text:
            flags.append(flag)
    return flags


def entry_reading(doc: Any) -> dict[str, Any]:
    """One Nightscout entry as one contract reading (a dict for encode_message)."""
    if not isinstance(doc, dict):
        raise EntryError("an entry must be a JSON object")
    kind = doc.get("type", "sgv")
    if kind not in ENTRY_TYPES:
        raise EntryError(f"type {kind!r} is not an entry type Hearth keeps "
                         f"({', '.join(ENTRY_TYPES)})")
    if kind == "cal":
        slope = _number(doc, "slope")
        when = document_time(doc, ENTRY_DATE_FIELDS)
        extra = [f"{FLAG}{n}={_number(doc, n):.9g}" for n in ("intercept", "scale")
                 if doc.get(n) is not None]
        return {"metric": Metric.CGM_CALIBRATION.value, "value": slope, "unit": "1",
                "source": "cgm", "time": when, "status": [*extra, *kept_flags(doc)][:16]}
    value = doc.get(kind)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EntryError(f"{kind} must be a number in mg/dL, got {value!r}")
    when = document_time(doc, ENTRY_DATE_FIELDS)
    flags = kept_flags(doc)
    if kind == "sgv" and value < CGM_CODE_BELOW:
        if value < 0 or value != int(value):
            raise EntryError(f"sgv {value:g} is neither glucose (39 or more) nor a CGM "
                             "status code (a whole number 0-38)")
        return {"metric": Metric.CGM_STATUS.value, "value": int(value), "unit": "{code}",
                "source": "cgm", "time": when, "status": flags}
    return {"metric": Metric.GLUCOSE.value, "value": value, "unit": "mg/dL",
            "source": "cgm" if kind == "sgv" else "meter", "time": when, "status": flags}


# --- readings -> documents -----------------------------------------------------------------

def document_id(device_id: str, when: datetime, metric: Metric | str = Metric.GLUCOSE) -> str:
    """A stable 24-hex ``_id`` (the length of Nightscout's MongoDB ObjectId). Glucose keeps
    the form earlier versions served (device and time)."""
    key = f"{device_id}|{when.astimezone(UTC).isoformat()}"
    if metric != Metric.GLUCOSE:
        key += f"|{metric}"
    return hashlib.sha1(key.encode()).hexdigest()[:24]  # noqa: S324 - an id, not a secret


def flags_of(reading: Reading) -> dict[str, Any]:
    """The uploader fields kept as status flags, with numbers as numbers."""
    out: dict[str, Any] = {}
    for flag in reading.status:
        if not flag.startswith(FLAG) or "=" not in flag:
            continue
        name, text = flag[len(FLAG):].split("=", 1)
        if name in KEPT_TEXTS:
            out[name] = text
            continue
        try:
            number = float(text)
        except ValueError:
            continue
        out[name] = int(number) if number == int(number) else number
    return out


ENTRY_METRICS = (Metric.GLUCOSE, Metric.CGM_STATUS, Metric.CGM_CALIBRATION)


def entry_document(reading: Reading, arrow: str | None) -> dict[str, Any]:
    """The stored reading as the Nightscout entry it came from (or would have been)."""
    flags = flags_of(reading)
    when = reading.measured_at
    doc: dict[str, Any] = {"_id": document_id(reading.device_id, when, reading.metric)}
    if reading.metric == Metric.CGM_CALIBRATION:
        doc.update(type="cal", slope=reading.value,
                   intercept=flags.pop("intercept", 0), scale=flags.pop("scale", 1))
    elif reading.metric == Metric.GLUCOSE and reading.source != "cgm":
        doc.update(type="mbg", mbg=round(reading.value))
    else:
        doc.update(type="sgv", sgv=round(reading.value))
        doc["direction"] = flags.pop("direction", None) or (
            arrow if reading.metric == Metric.GLUCOSE and arrow else "NOT COMPUTABLE")
    doc.update(date=epoch_ms(when), dateString=iso_ms(when), sysTime=iso_ms(when),
               utcOffset=0, device=reading.device_id)
    doc.update(flags)
    if doc["type"] != "sgv":
        doc.pop("direction", None)
    return doc


def one_per_time(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One document per (type, time) across uploaders: the same reading from xDrip+ and a
    bridge is one entry (Nightscout upserts entries on ``sysTime`` and ``type``)."""
    seen: set[tuple[Any, Any]] = set()
    out = []
    for doc in docs:
        key = (doc.get("type"), doc.get("date"))
        if key not in seen:
            seen.add(key)
            out.append(doc)
    return out
