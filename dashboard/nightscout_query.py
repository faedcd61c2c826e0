"""Nightscout's ``find`` query parameters, applied to the documents a read builds.

cgm-remote-monitor turns ``find[field][$op]=value`` into a MongoDB query
(``lib/server/query.js``): ``find[type]=sgv`` is equality, ``$gt $gte $lt $lte $ne
$in $nin`` compare; ``date`` and ``sgv`` are numbers; a query with no condition on
``date`` (or ``dateString``) gets ``date >= now - 4 days``; ``count`` limits the
answer (default 10; ``0`` is no limit, MongoDB's ``limit(0)``). Hearth evaluates the
same conditions on the documents it builds from stored readings, and turns the date
conditions into the time window it reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard.nightscout_entries import EntryError, parse_when

FIND = re.compile(r"^find\[([A-Za-z0-9_.]+)\](?:\[(\$[a-z]+)\])?(?:\[\])?$")
OPERATORS = ("$eq", "$gt", "$gte", "$lt", "$lte", "$ne", "$in", "$nin", "$exists")
TIME_FIELDS = frozenset({"date", "dateString", "sysTime", "created_at", "mills", "timestamp",
                         "startDate"})
NUMBER_FIELDS = frozenset({"sgv", "mbg", "carbs", "insulin", "utcOffset", "trend", "delta",
                           "duration", "slope", "intercept", "scale", "noise", "rssi"})
DEFAULT_WINDOW = timedelta(days=4)  # Nightscout's deltaAgo (TWO_DAYS * 2)


class QueryError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    values: tuple[Any, ...]

    def matches(self, doc: dict[str, Any]) -> bool:
        have = _typed(self.field, doc.get(self.field), strict=False)
        if self.op == "$exists":
            return (have is not None) == (str(self.values[0]).lower() not in ("false", "0"))
        if self.op in ("$in", "$eq"):
            return bool(have in self.values)
        if self.op == "$nin":
            return have not in self.values
        if self.op == "$ne":
            return bool(have != self.values[0])
        if have is None:
            return False
        want = self.values[0]
        try:
            if self.op == "$gt":
                return bool(have > want)
            if self.op == "$gte":
                return bool(have >= want)
            if self.op == "$lt":
                return bool(have < want)
            return bool(have <= want)  # $lte
        except TypeError:  # a text against a number: no match, as MongoDB's type brackets
            return False


def _typed(name: str, value: Any, *, strict: bool) -> Any:
    """A value as the type its field compares by: times as datetimes, numbers as floats."""
    if value is None:
        return None
    if name in TIME_FIELDS:
        try:
            return parse_when(value, name)
        except EntryError as exc:
            if strict:
                raise QueryError(f"find[{name}]: {exc}") from None
            return None
    if name in NUMBER_FIELDS:
        try:
            number = float(value)
        except (TypeError, ValueError):
            if strict:
                raise QueryError(f"find[{name}] must be a number, got {value!r}") from None
            return None
        return number if math.isfinite(number) else None
    return value if isinstance(value, bool | int | float) else str(value)


@dataclass(frozen=True, slots=True)
class Find:
    conditions: tuple[Condition, ...] = ()
    count: int | None = 10  # None: no limit
    sort_field: str = "date"
    descending: bool = True
    default_window: bool = True  # no date condition: the last 4 days, as Nightscout
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: Iterable[tuple[str, str]], *, default_count: int = 10,
              max_count: int = 100_000, time_field: str = "date") -> Find:
        conditions: list[Condition] = []
        count: int | None = default_count
        sort_field, descending = time_field, True
        grouped: dict[tuple[str, str], list[str]] = {}
        for key, value in params:
            if key == "count":
                try:
                    n = int(value)
                except ValueError:
                    raise QueryError(f"count must be a whole number, got {value!r}") from None
                if n < 0:
                    raise QueryError("count must be 0 (no limit) or more")
                count = None if n == 0 else min(n, max_count)
                continue
            if key in ("sort", "sort$desc"):
                sort_field, descending = value, key == "sort$desc"
                continue
            match = FIND.match(key)
            if match is None:
                continue
            name, op = match.group(1), match.group(2) or "$eq"
            if op not in OPERATORS:
                raise QueryError(f"find[{name}][{op}]: the operator is not one of "
                                 f"{', '.join(OPERATORS)}")
            grouped.setdefault((name, op), []).append(value)
        for (name, op), values in grouped.items():
            if op in ("$in", "$nin"):
                items = [v for value in values for v in value.split("|") if v != ""]
            else:
                items = values[-1:]
            if op == "$exists":
                conditions.append(Condition(name, op, tuple(items)))
                continue
            conditions.append(Condition(name, op, tuple(
                _typed(name, v, strict=True) for v in items)))
        has_date = any(c.field in TIME_FIELDS for c in conditions)
        limit = count if count is None or count <= max_count else max_count
        return cls(tuple(conditions), limit, sort_field, descending, not has_date)

    def window(self, now: datetime) -> tuple[datetime | None, datetime]:
        """The time window to read: the date conditions' bounds; with none, the last 4 days
        (Nightscout's default); ``None`` as the start: no lower bound was given."""
        start: datetime | None = None
        end: datetime | None = None
        for c in self.conditions:
            value = c.values[0] if c.field in TIME_FIELDS and c.values else None
            if not isinstance(value, datetime):
                continue
            if c.op in ("$gt", "$gte"):
                start = value if start is None else max(start, value)
            elif c.op in ("$lt", "$lte"):
                end = value if end is None else min(end, value)
            elif c.op == "$eq":
                start, end = value, value
        end = (end or now + timedelta(minutes=5)) + timedelta(milliseconds=1)
        if start is None and self.default_window:
            start = now - DEFAULT_WINDOW
        return (start.astimezone(UTC) if start else None), end.astimezone(UTC)

    def apply(self, docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        chosen = [d for d in docs if all(c.matches(d) for c in self.conditions)]

        def key(doc: dict[str, Any]) -> tuple[int, Any]:
            value = _typed(self.sort_field, doc.get(self.sort_field), strict=False)
            if isinstance(value, datetime):
                value = value.timestamp()
            return (0, value) if isinstance(value, int | float) else (1, str(value))

        chosen.sort(key=key, reverse=self.descending)
        return chosen if self.count is None else chosen[:self.count]
