"""SQLite (WAL) time-series adapter: the embedded default."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from core.errors import StoreError, StoreUnavailableError
from core.metrics import Metric
from core.readings import Reading, from_epoch_us, to_epoch_us
from core.timeseries import Series

# Clustered by patient for reads; the unique index is the idempotency key.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    patient_id     TEXT    NOT NULL,
    metric         TEXT    NOT NULL,
    ts_us          INTEGER NOT NULL,
    device_id      TEXT    NOT NULL,
    value          REAL    NOT NULL,
    source         TEXT    NOT NULL,
    original_value REAL    NOT NULL,
    original_unit  TEXT    NOT NULL,
    context        TEXT,
    status         TEXT,
    PRIMARY KEY (patient_id, metric, ts_us, device_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS readings_identity ON readings (device_id, metric, ts_us);
"""

_COLUMNS = (
    "patient_id, metric, ts_us, device_id, value, source, original_value, original_unit,"
    " context, status"
)


class SqliteTimeSeriesStore:
    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self._path, check_same_thread=False, timeout=30)
            except sqlite3.OperationalError as exc:
                raise StoreUnavailableError(f"cannot open the SQLite store: {exc}") from exc
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before ingest acknowledges the messages it
            # came from, so even a power cut loses nothing that was acknowledged.
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def write(self, readings: Sequence[Reading]) -> int:
        if not readings:
            return 0
        conn = self._conn()
        with self._write_lock:
            try:
                before = conn.total_changes
                with conn:
                    _insert(conn, readings)
                return conn.total_changes - before
            except sqlite3.OperationalError as exc:
                raise StoreUnavailableError(f"SQLite write failed: {exc}") from exc
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"SQLite write failed: {exc}") from exc

    def read(
        self, patient_id: str, metric: Metric, start: datetime, end: datetime
    ) -> list[Reading]:
        cursor = self._conn().execute(
            f"SELECT {_COLUMNS} FROM readings WHERE patient_id=? AND metric=?"
            " AND ts_us>=? AND ts_us<? ORDER BY ts_us, device_id",
            (patient_id, str(metric), to_epoch_us(start), to_epoch_us(end)),
        )
        return [_reading(row) for row in cursor]

    def read_series(
        self, patient_id: str, metric: Metric, start: datetime, end: datetime, *,
        source: str | None = None,
    ) -> Series:
        params = (patient_id, str(metric), to_epoch_us(start), to_epoch_us(end), source)
        count, times, values = self._conn().execute(_SERIES_AS_TEXT, params).fetchone()
        if not count:
            return Series(np.empty(0, np.int64), np.empty(0, np.float64))
        try:  # C parsers over the text: half the CPU of splitting it into Python strings
            t = np.fromstring(times, dtype=np.int64, sep=",")
            v = np.fromstring(values, dtype=np.float64, sep=",")
        except ValueError:
            return self._series_row_by_row(params)
        if t.size != count or v.size != count or (t.size > 1 and np.any(np.diff(t) < 0)):
            return self._series_row_by_row(params)  # SQLite never did; the rows are the truth
        return Series(t, v)

    def _series_row_by_row(self, params: tuple[object, ...]) -> Series:
        rows = self._conn().execute(_SERIES_ROWS, params).fetchall()
        # One pass over the rows into one float array: epoch microseconds stay exact in a
        # float64 until the year 2255 (2**53 us).
        flat = np.fromiter(itertools.chain.from_iterable(rows), np.float64, 2 * len(rows))
        return Series(flat[0::2].astype(np.int64), flat[1::2].copy())

    def latest(
        self, patient_id: str, metrics: Iterable[Metric] | None = None
    ) -> dict[Metric, Reading]:
        wanted = list(metrics) if metrics is not None else list(Metric)
        conn = self._conn()
        found: dict[Metric, Reading] = {}
        for metric in wanted:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM readings WHERE patient_id=? AND metric=?"
                " ORDER BY ts_us DESC LIMIT 1",
                (patient_id, str(metric)),
            ).fetchone()
            if row is not None:
                found[metric] = _reading(row)
        return found

    def newest_values(
        self, patient_ids: Iterable[str], metrics: Iterable[Metric], since: datetime
    ) -> dict[tuple[str, Metric], tuple[int, float]]:
        """(patient, metric) -> (time µs, value) of the newest reading at or after
        ``since``, for many patients at once (the coach's real-time triage)."""
        wanted = list(metrics)
        conn = self._conn()
        since_us = to_epoch_us(since)
        found: dict[tuple[str, Metric], tuple[int, float]] = {}
        for patient_id in patient_ids:
            for metric in wanted:
                row = conn.execute(
                    "SELECT ts_us, value FROM readings WHERE patient_id=? AND metric=?"
                    " AND ts_us>=? ORDER BY ts_us DESC LIMIT 1",
                    (patient_id, str(metric), since_us),
                ).fetchone()
                if row is not None:
                    found[(patient_id, metric)] = (int(row[0]), float(row[1]))
        return found

    def count(self) -> int:
        """All stored readings (for tests, benchmarks and the demo banner)."""
        return int(self._conn().execute("SELECT COUNT(*) FROM readings").fetchone()[0])

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


_SERIES_ROWS = (
    "SELECT ts_us, value FROM readings WHERE patient_id=? AND metric=?"
    " AND ts_us>=? AND ts_us<? AND (?5 IS NULL OR source=?5) ORDER BY ts_us, device_id"
)
# A series comes back as ONE row of two comma-separated lists, not one row a reading.
# Python's sqlite3 releases the GIL around every row it steps through; with other
# threads busy (a web server's thread pool under load) each release queues for the GIL
# again, and a 4,000-row read measured 2.5 ms alone but 1.9 s (26 ms of CPU) beside two
# busy threads; as one row it is 2-3 ms alone and stays near that under load
# (docs/DASHBOARD.md). Whole numbers (a CGM's mg/dL) are printed as integers, anything
# else with '%!.17g', which parses back exactly (SQLite's own text form keeps 15 digits);
# the integers cost a third less. The order is the subquery's; read_series checks it and
# the count, and falls back to the rows if either is ever off.
_VALUE_AS_TEXT = (
    "CASE WHEN value = CAST(value AS INTEGER) THEN CAST(value AS INTEGER)"
    " ELSE printf('%!.17g', value) END"
)
_SERIES_AS_TEXT = (
    f"SELECT count(*), group_concat(ts_us), group_concat({_VALUE_AS_TEXT})"
    f" FROM ({_SERIES_ROWS})"
)
_INSERT = f"INSERT OR IGNORE INTO readings ({_COLUMNS}) VALUES "
_WIDTH = 10  # columns
# Rows go in as multi-row INSERTs of up to 512 rows (5,120 parameters, under SQLite's
# 32,766): one sqlite3_step a statement instead of one a row. executemany() releases
# and retakes the GIL for every row, which costs ~15x when another thread of the
# process is busy (ingest parses the next batch while this one is written); here the
# GIL is released once for a whole statement. The statement sizes are powers of two
# so that the connection's statement cache keeps every one prepared.
_CHUNKS = tuple(2**k for k in range(9, -1, -1))  # 512, 256, ..., 1
_STATEMENTS = {n: _INSERT + ",".join(["(?,?,?,?,?,?,?,?,?,?)"] * n) for n in _CHUNKS}


def _insert(conn: sqlite3.Connection, readings: Sequence[Reading]) -> None:
    start, left = 0, len(readings)
    for size in _CHUNKS:
        while left >= size:
            # the parameters of one statement at a time (a 20,000-reading batch at once
            # would hold 200,000 more references)
            conn.execute(_STATEMENTS[size], _parameters(readings[start:start + size]))
            start, left = start + size, left - size


def _parameters(readings: Sequence[Reading]) -> list[object]:
    flat: list[object] = []
    extend = flat.extend
    for r in readings:
        try:
            ts_us = (r.measured_at - _EPOCH) // _MICROSECOND  # exact, as to_epoch_us
        except TypeError:  # a naive datetime: to_epoch_us says why
            ts_us = to_epoch_us(r.measured_at)
        extend((r.patient_id, str(r.metric), ts_us, r.device_id, r.value, r.source,
                r.original_value, r.original_unit, r.context,
                json.dumps(list(r.status)) if r.status else None))
    return flat


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _reading(row: tuple[object, ...]) -> Reading:
    (patient_id, metric, ts_us, device_id, value, source, ov, ou, context, status) = row
    return Reading(
        patient_id=str(patient_id),
        device_id=str(device_id),
        metric=Metric(str(metric)),
        value=float(value),  # type: ignore[arg-type]
        measured_at=from_epoch_us(int(ts_us)),  # type: ignore[call-overload]
        source=str(source),
        original_value=float(ov),  # type: ignore[arg-type]
        original_unit=str(ou),
        context=str(context) if context is not None else None,
        status=tuple(json.loads(str(status))) if status else (),
    )
