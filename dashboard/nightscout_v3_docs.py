"""Nightscout API v3 documents and queries over Hearth's readings (dashboard/nightscout_v3.py).

What cgm-remote-monitor's ``lib/api3`` adds to a v1 document, and how Hearth gives it:

- ``identifier``: the client's own when it sent one (kept as the reading's status flag,
  like the other uploader fields), else Nightscout's: a UUID v5 of
  ``{device}_{date}[_{eventType}]`` in the namespace ``"NightscoutRocks!"``
  (``lib/api3/shared/operationTools.js`` ``calculateIdentifier``); Hearth computes it at
  upload and keeps it, so a read gives back the identifier the upload was answered with;
- ``date`` (epoch ms), ``utcOffset`` (minutes), ``srvModified`` and ``srvCreated``: the
  store keeps no modification time, so both are the reading's own time, which is what
  Nightscout falls back to for documents without them (``generic/setup.js``
  ``fallbackGetDate``); ``isValid``: true (deleted treatments are not served);
- queries (``generic/search/input.js``): ``field=value`` and ``field$op=value`` with
  ``eq ne gt gte lt lte in nin re`` (``in``/``nin`` values separated by ``|``), ``sort`` or
  ``sort$desc``, ``limit`` (1-1000, default 1000), ``skip``; ``date``, ``srvModified``,
  ``srvCreated`` and ``created_at`` compare as times.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dashboard.nightscout_entries import EntryError, epoch_ms, parse_when

NAMESPACE = uuid.UUID(bytes=b"NightscoutRocks!")  # lib/api3/shared/operationTools.js
MAX_LIMIT = 1000  # lib/api3/const.json API3_MAX_LIMIT
MIN_TIMESTAMP = 946684800000  # const.json: no date before 2000
MAX_UTC_OFFSET = 1440
TIME_FIELDS = ("date", "srvModified", "srvCreated", "created_at")
RESERVED = ("token", "sort", "sort$desc", "limit", "skip", "fields", "now")
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "re")
_FILTER = re.compile(r"(.*)\$([a-zA-Z]+)$")
# Nightscout's v3 messages (lib/api3/const.json), which clients match on
BAD_DATE = "Bad or missing date field"
BAD_UTC = "Bad or missing utcOffset field"
BAD_APP = "Bad or missing app field"
BAD_LIMIT = "Parameter limit out of tolerance"
BAD_SKIP = "Parameter skip out of tolerance"
SORT_BOTH = "Parameters sort and sort_desc cannot be combined"


class V3Error(Exception):
    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message or str(status))
        self.status, self.message = status, message


def calculate_identifier(doc: dict[str, Any]) -> str:
    """Nightscout's identifier for a document that came without one (JavaScript's string
    concatenation: a missing device reads ``undefined``)."""
    device = doc.get("device")
    date = doc.get("date")
    key = f"{'undefined' if device is None else device}_{_js_number(date)}"
    if doc.get("eventType"):
        key += f"_{doc['eventType']}"
    return str(uuid.uuid5(NAMESPACE, key))


def _js_number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "undefined" if value is None else str(value)


# --- uploads ------------------------------------------------------------------------------

def prepared(body: Any) -> dict[str, Any]:
    """A document to create, as ``generic/create``: ``date`` from ``date`` or ``created_at``
    (ms or ISO 8601), ``utcOffset`` checked, ``app`` required, ``identifier`` resolved."""
    if not isinstance(body, dict) or not body:
        raise V3Error(400, "Bad or missing request body")
    doc = dict(body)
    raw = doc.get("date") if doc.get("date") is not None else doc.get("created_at")
    try:
        when = parse_when(raw, "date") if raw is not None else None
    except EntryError:
        when = None
    if when is None or epoch_ms(when) <= MIN_TIMESTAMP:
        raise V3Error(400, BAD_DATE)
    doc["date"] = epoch_ms(when)
    doc.setdefault("utcOffset", _offset_minutes(raw))
    offset = doc["utcOffset"]
    if isinstance(offset, bool) or not isinstance(offset, int | float) or \
            not -MAX_UTC_OFFSET <= offset <= MAX_UTC_OFFSET:
        raise V3Error(400, BAD_UTC)
    if not isinstance(doc.get("app"), str) or not doc["app"].strip():
        raise V3Error(400, BAD_APP)
    if not isinstance(doc.get("identifier"), str) or not doc["identifier"].strip():
        doc["identifier"] = calculate_identifier(doc)
    return doc


def _offset_minutes(raw: Any) -> int:
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return 0
        offset = parsed.utcoffset()
        return int(offset.total_seconds() // 60) if offset is not None else 0
    return 0


# --- reads --------------------------------------------------------------------------------

def v3_document(doc: dict[str, Any], *, time_field: str) -> dict[str, Any]:
    """A v1 document as API v3 serves it."""
    out = {k: v for k, v in doc.items() if k != "_id"}
    if time_field == "created_at":
        when = parse_when(doc["created_at"], "created_at")
        out["date"] = epoch_ms(when)
    out.setdefault("utcOffset", 0)
    if not out.get("identifier"):
        out["identifier"] = calculate_identifier(out)
    out["srvModified"] = out["srvCreated"] = out["date"]
    out["isValid"] = True
    return out


def _as_time(value: Any) -> float | None:
    try:
        return float(epoch_ms(parse_when(value, "date")))
    except (EntryError, OverflowError, ValueError):
        return None


def _parse_value(field: str, text: str) -> Any:
    value: Any = text
    try:
        number = float(text)
        value = number if math.isfinite(number) else text
    except ValueError:
        pass
    if text in ("true", "false"):
        value = text == "true"
    elif len(text) > 1 and text.startswith("'") and text.endswith("'"):
        value = text[1:-1]
    if field in TIME_FIELDS:
        when = _as_time(value)
        if when is not None:
            return when
    return value


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    value: Any

    def test(self, doc: dict[str, Any]) -> bool:
        have = doc.get(self.field)
        if self.field in TIME_FIELDS and have is not None:
            have = _as_time(have)
        if self.op in ("in", "nin"):
            options = [_parse_value(self.field, v) for v in str(self.value).split("|")]
            return (have in options) == (self.op == "in")
        if self.op == "re":
            return have is not None and re.search(str(self.value), str(have)) is not None
        if self.op == "eq":
            return bool(have == self.value)
        if self.op == "ne":
            return bool(have != self.value)
        try:
            return bool(_COMPARE[self.op](have, self.value))
        except TypeError:
            return False


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a is not None and a > b, "gte": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b, "lte": lambda a, b: a is not None and a <= b}


@dataclass(frozen=True, slots=True)
class Search:
    conditions: tuple[Condition, ...]
    sort: str | None
    descending: bool
    limit: int
    skip: int

    @classmethod
    def parse(cls, params: Iterable[tuple[str, str]]) -> Search:
        items = list(params)
        query = dict(items)
        conditions = []
        for name, text in items:
            if name in RESERVED:
                continue
            field, op = name, "eq"
            if match := _FILTER.match(name):
                field, op = match.group(1), match.group(2)
                if op not in OPERATORS:
                    raise V3Error(400, f"Unsupported filter operator {op}")
            conditions.append(Condition(field, op, _parse_value(field, text)))
        if "sort" in query and "sort$desc" in query:
            raise V3Error(400, SORT_BOTH)
        return cls(tuple(conditions), query.get("sort$desc") or query.get("sort"),
                   "sort$desc" in query, parse_limit(query.get("limit")),
                   _non_negative(query.get("skip")))

    def bounds(self) -> tuple[float | None, float | None]:
        """The time window (epoch ms) the conditions on times allow: (lower, upper)."""
        lower: float | None = None
        upper: float | None = None
        for c in self.conditions:
            if c.field not in TIME_FIELDS or not isinstance(c.value, float):
                continue
            if c.op in ("gt", "gte", "eq"):
                lower = c.value if lower is None else max(lower, c.value)
            if c.op in ("lt", "lte", "eq"):
                upper = c.value if upper is None else min(upper, c.value)
        return lower, upper

    def apply(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = [d for d in docs if all(c.test(d) for c in self.conditions)]
        key = self.sort or "date"
        found.sort(key=lambda d: (_sort_key(d.get(key)), d.get("identifier", "")),
                   reverse=self.descending)
        return found[self.skip:self.skip + self.limit]


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool) or value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))


def parse_limit(text: str | None) -> int:
    if text is None:
        return MAX_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise V3Error(400, BAD_LIMIT) from None
    if not 0 < limit <= MAX_LIMIT:
        raise V3Error(400, BAD_LIMIT)
    return limit


def _non_negative(text: str | None) -> int:
    if text is None:
        return 0
    try:
        skip = int(text)
    except ValueError:
        raise V3Error(400, BAD_SKIP) from None
    if skip < 0:
        raise V3Error(400, BAD_SKIP)
    return skip
