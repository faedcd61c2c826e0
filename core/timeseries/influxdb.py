"""InfluxDB time-series adapter over the v1 HTTP API (line-protocol writes, InfluxQL reads).

InfluxDB 1.x serves this API natively; 2.x and 3.x serve it as compatibility
endpoints (docs/STORAGE.md has the settings for each). Schema:

- one measurement per metric (``glucose``, ``systolic``, ...);
- tags ``patient``, ``device``, ``source``;
- fields ``value`` (canonical unit, float), ``original_value`` (float),
  ``original_unit``, and, when present, ``context`` and ``status`` (a JSON list);
- the timestamp is ``measured_at`` in microseconds (``precision=u``).

Idempotency: InfluxDB identifies a point by measurement, tag set and timestamp
and lets the last write win, so re-writing an identical reading changes
nothing. Hearth's key is narrower, (device_id, metric, measured_at), and the
first write wins (as in SQLite). The adapter knows what is new without asking
the server before each write (that read was 61-63% of ingest's time on InfluxDB):

- it remembers the keys it wrote or found stored (the newest ``recent_keys``), so
  a replay of something recent is recognised at once;
- for each (device, metric) it knows the newest time stored: learned with one
  ``last()`` query the first time the series is written (many series in one
  request), then kept up to date by its own writes. A reading newer than that is
  new: devices send in time order, and a replay after an ingest restart is older
  than what the new process learned;
- only a reading at or before that time and not remembered (a backfill out of
  order, an old replay) is looked up, as before, in one query per batch.

Two writers (ingest replicas, or the priority lane beside the batch) that both take
the same reading as new write the same point twice, which InfluxDB keeps once (last
write wins on identical content); only the returned count may include it twice.
What the local knowledge cannot see is another process writing a *different*
point for a key this one believes new (a device moved to another patient while an
old message of it was being replayed): that point would be kept beside the first.

Atomicity: a batch goes out in requests of ``batch_size`` points. If a
request fails, write() raises and the caller must not treat the batch as
stored; retrying the whole batch is safe because points that did land are
rewritten as they were (identical points) or recognised as stored.

Speed (bench/storage.py, docs/DEPLOY.md): one sender thread posts each request
while the caller's thread serialises the next one, so the server's work on a
request (parsing, WAL fsync) overlaps with the client's work on the next;
requests still go out one at a time and in order, and write() returns only
when all of them have been answered. A write of one request (the priority lane's,
a quiet ingest's) is posted by the caller itself: no hand-over between threads.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import queue
import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import httpx
import numpy as np
from influxdb_client.client.write.point import Point

from core.errors import ConfigurationError, StoreError, StoreUnavailableError
from core.metrics import Metric
from core.readings import Reading, from_epoch_us, to_epoch_us
from core.retry import Backoff
from core.timeseries import Series

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8086
DEFAULT_DATABASE = "hearth"
_FIELDS = ("value", "original_value", "original_unit", "context", "status")
_TAGS = ("patient", "device", "source")
_SELECT = ", ".join(f'"{name}"' for name in _FIELDS + _TAGS)
# InfluxDB stores nanoseconds in an int64; these are the bounds it accepts in a query.
_MIN_NS = -9_223_372_036_854_775_806
_MAX_NS = 9_223_372_036_854_775_806
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_Key = tuple[str, Metric, int]  # Hearth's idempotency key: device, metric, time in µs
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LEARN_DEVICES = 100  # devices in one last() statement (about 3 KB of InfluxQL)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    """Where and how to reach InfluxDB; built from ``HEARTH_TIMESERIES_URL``."""

    base_url: str = f"http://localhost:{DEFAULT_PORT}"
    database: str = DEFAULT_DATABASE
    retention_policy: str | None = None  # None: the database's default policy
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)  # 2.x/3.x: "Authorization: Token ..."
    timeout: float = 10.0  # seconds, per HTTP request
    # Points per write request. InfluxData recommends 5,000-10,000; the top of that
    # range halves the requests (and the server's WAL syncs) of a 20,000-reading
    # ingest batch: 1.2 MB a request, far below the 25 MB max-body-size.
    batch_size: int = 10_000
    retries: int = 4  # further attempts after the first one fails on a transient error
    backoff_cap: float = 5.0  # seconds
    # InfluxQL statements sent in one /query request (GET, so the URL stays short);
    # 1 for servers that take one statement at a time.
    statements_per_query: int = 50
    recent_keys: int = 200_000  # keys written or found stored, remembered (see above)
    known_series: int = 200_000  # (device, metric) series whose newest time is known

    @classmethod
    def from_url(cls, url: str) -> InfluxSettings:
        """``influxdb[s]://[user:password@]host[:port][/database][?rp=&timeout=&...]``.

        An empty user with a password (``influxdb://:TOKEN@host/db``) sends the
        password as an API token (InfluxDB 2.x and 3.x).
        """
        parsed = urlparse(url)
        if parsed.scheme not in ("influxdb", "influxdbs"):
            raise ConfigurationError(f"not an InfluxDB URL (influxdb:// or influxdbs://): {url!r}")
        if not parsed.hostname:
            raise ConfigurationError("the InfluxDB URL names no host")
        query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        options = {"rp", "timeout", "batch_size", "retries", "backoff_cap", "statements_per_query"}
        unknown = set(query) - options
        if unknown:
            raise ConfigurationError(f"unknown InfluxDB URL options: {sorted(unknown)}")
        user = unquote(parsed.username) if parsed.username else None
        password = unquote(parsed.password) if parsed.password is not None else None
        scheme = "https" if parsed.scheme == "influxdbs" else "http"
        defaults = cls()
        host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
        try:
            return cls(
                base_url=f"{scheme}://{host}:{parsed.port or DEFAULT_PORT}",
                database=unquote(parsed.path.strip("/")) or DEFAULT_DATABASE,
                retention_policy=query.get("rp") or None,
                username=user,
                password=password if user else None,
                token=password if not user and password else None,
                timeout=float(query.get("timeout", defaults.timeout)),
                batch_size=max(1, int(query.get("batch_size", defaults.batch_size))),
                retries=max(0, int(query.get("retries", defaults.retries))),
                backoff_cap=float(query.get("backoff_cap", defaults.backoff_cap)),
                statements_per_query=max(
                    1, int(query.get("statements_per_query", defaults.statements_per_query))
                ),
            )
        except ValueError as exc:
            raise ConfigurationError(f"bad option in the InfluxDB URL: {exc}") from exc


class InfluxTimeSeriesStore:
    def __init__(
        self,
        settings: InfluxSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._http = _InfluxHttp(settings, transport=transport, sleep=sleep, rng=rng)
        self._database = settings.database
        self._sender: _Sender | None = None  # made on the first write
        # What this process knows is stored (module docstring): recent keys, and the
        # newest time of each (device, metric) series (None: nothing stored).
        self._recent: dict[_Key, None] = {}
        self._newest: dict[tuple[str, Metric], int | None] = {}
        self._known_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> InfluxTimeSeriesStore:
        return cls(InfluxSettings.from_url(url))

    def write(self, readings: Sequence[Reading]) -> int:
        if not readings:
            return 0
        _check_batch(readings)
        keys = [(r.device_id, r.metric, _epoch_us(r.measured_at)) for r in readings]
        self._learn({(device, metric) for device, metric, _ in keys})
        with self._known_lock:
            recent, newest = self._recent, self._newest
            doubtful = [k for k in keys if k not in recent
                        and (last := newest.get((k[0], k[1]))) is not None and k[2] <= last]
        stored = self._stored_keys(doubtful) if doubtful else set()
        with self._known_lock:
            stored.update(k for k in keys if k in self._recent)
        new: list[tuple[Reading, int]] = []
        for reading, key in zip(readings, keys, strict=True):  # the first of a key wins
            if key not in stored:
                stored.add(key)
                new.append((reading, key[2]))
        self._send(new)
        self._remember(keys)
        return len(new)

    def _learn(self, series: set[tuple[str, Metric]]) -> None:
        """The newest stored time of each series not known yet (one ``last()`` statement
        per metric for up to 100 devices)."""
        with self._known_lock:
            unknown = [s for s in series if s not in self._newest]
        if not unknown:
            return
        by_metric: dict[Metric, list[str]] = defaultdict(list)
        for device, metric in unknown:
            by_metric[metric].append(device)
        statements: list[str] = []
        asked: list[Metric] = []
        for metric, devices in by_metric.items():
            for k in range(0, len(devices), _LEARN_DEVICES):
                who = " OR ".join(f'"device"={quote_string(d)}'
                                  for d in devices[k:k + _LEARN_DEVICES])
                statements.append(f'SELECT last("value"), "device" FROM '
                                  f'{self._measurement(metric)} WHERE {who} GROUP BY "device"')
                asked.append(metric)
        found: dict[tuple[str, Metric], int | None] = dict.fromkeys(unknown)
        for metric, tables in zip(asked, self._http.query(statements), strict=True):
            for table in tables:
                for row in table.rows():
                    found[(str(row["device"]), metric)] = int(row["time"])
        with self._known_lock:
            for key, last in found.items():
                mine = self._newest.get(key)  # a write of another thread meanwhile
                self._newest[key] = last if mine is None else mine if last is None \
                    else max(mine, last)
            _trim(self._newest, self._settings.known_series)

    def _remember(self, keys: Sequence[_Key]) -> None:
        """After a successful write: these keys are stored; the series' newest times."""
        with self._known_lock:
            recent, newest = self._recent, self._newest
            for key in keys:
                recent[key] = None
                series = (key[0], key[1])
                last = newest.get(series)
                if last is None or key[2] > last:
                    newest[series] = key[2]
            _trim(recent, self._settings.recent_keys)

    def _send(self, new: Sequence[tuple[Reading, int]]) -> None:
        """Post the lines in requests of batch_size, serialising one while the last is sent.

        At most two requests are outstanding (one in flight, the next queued behind
        it); once one fails, the queued one is not sent and the failure is raised.
        """
        if len(new) <= self._settings.batch_size:  # one request: no hand-over to the sender
            if new:
                self._http.write("\n".join([_line(r, at) for r, at in new]).encode())
            return
        if self._sender is None:
            self._sender = _Sender()
        failed = threading.Event()

        def post(body: bytes) -> None:
            if failed.is_set():
                return
            try:
                self._http.write(body)
            except BaseException:
                failed.set()
                raise

        size = self._settings.batch_size
        previous: Future[None] | None = None
        for offset in range(0, len(new), size):
            body = "\n".join([_line(r, at) for r, at in new[offset : offset + size]])
            future = self._sender.submit(post, body.encode())
            if previous is not None:
                previous.result()  # raises the failure; `future` then sends nothing
            previous = future
        if previous is not None:
            previous.result()

    def read(
        self, patient_id: str, metric: Metric, start: datetime, end: datetime
    ) -> list[Reading]:
        if _tag_problem(patient_id):
            return []  # such an id can never have been stored
        statement = (
            f"SELECT {_SELECT} FROM {self._measurement(metric)}"
            f" WHERE \"patient\"={quote_string(patient_id)} AND {_time_range(start, end)}"
        )
        rows = [row for table in self._http.query([statement])[0] for row in table.rows()]
        readings = [_reading(metric, row) for row in rows]
        readings.sort(key=lambda r: (r.measured_at, r.device_id))
        return readings

    def read_series(
        self, patient_id: str, metric: Metric, start: datetime, end: datetime, *,
        source: str | None = None,
    ) -> Series:
        if _tag_problem(patient_id) or (source is not None and _tag_problem(source)):
            return Series(np.empty(0, np.int64), np.empty(0, np.float64))
        only = "" if source is None else f' AND "source"={quote_string(source)}'
        statement = (
            f'SELECT "value", "device" FROM {self._measurement(metric)}'
            f" WHERE \"patient\"={quote_string(patient_id)}{only} AND {_time_range(start, end)}"
        )
        rows = [row for table in self._http.query([statement])[0] for row in table.rows()]
        times = np.fromiter((row["time"] for row in rows), np.int64, len(rows))
        values = np.fromiter((row["value"] for row in rows), np.float64, len(rows))
        order = np.lexsort((np.array([row["device"] for row in rows], dtype=object), times))
        return Series(times[order], values[order])

    def latest(
        self, patient_id: str, metrics: Iterable[Metric] | None = None
    ) -> dict[Metric, Reading]:
        wanted = list(metrics) if metrics is not None else list(Metric)
        if not wanted or _tag_problem(patient_id):
            return {}
        statements = [
            f"SELECT {_SELECT} FROM {self._measurement(metric)}"
            f" WHERE \"patient\"={quote_string(patient_id)} ORDER BY time DESC LIMIT 1"
            for metric in wanted
        ]
        found: dict[Metric, Reading] = {}
        for metric, tables in zip(wanted, self._http.query(statements), strict=True):
            rows = [row for table in tables for row in table.rows()]
            if rows:
                found[metric] = _reading(metric, rows[0])
        return found

    def newest_values(
        self, patient_ids: Iterable[str], metrics: Iterable[Metric], since: datetime
    ) -> dict[tuple[str, Metric], tuple[int, float]]:
        """(patient, metric) -> (time µs, value) of the newest reading at or after
        ``since``, for many patients at once: one ``last()`` statement per metric for up
        to 100 patients, in one request (the coach's real-time triage)."""
        since_ns = min(max(to_epoch_us(since) * 1000, _MIN_NS), _MAX_NS)
        ids = [p for p in dict.fromkeys(patient_ids) if not _tag_problem(p)]
        wanted = list(metrics)
        found: dict[tuple[str, Metric], tuple[int, float]] = {}
        for k in range(0, len(ids), 100):  # one request per 100 patients: URLs stay short
            who = " OR ".join(f'"patient"={quote_string(p)}' for p in ids[k:k + 100])
            statements = [
                f'SELECT last("value"), "patient" FROM {self._measurement(m)}'
                f' WHERE time >= {since_ns} AND ({who}) GROUP BY "patient"' for m in wanted]
            for metric, tables in zip(wanted, self._http.query(statements), strict=True):
                for row in (row for table in tables for row in table.rows()):
                    found[(str(row["patient"]), metric)] = (int(row["time"]),
                                                            float(row["last"]))
        return found

    def count(self) -> int:
        """All stored readings (for tests, benchmarks and the demo banner)."""
        target = self._measurement_prefix() + "/.*/"
        tables = self._http.query([f'SELECT count("value") FROM {target}'])[0]
        return sum(int(row["count"]) for table in tables for row in table.rows())

    def close(self) -> None:
        if self._sender is not None:
            self._sender.shutdown()
        self._http.close()

    def _measurement_prefix(self) -> str:
        rp = self._settings.retention_policy
        return f"{quote_identifier(self._database)}.{quote_identifier(rp)}." if rp else ""

    def _measurement(self, metric: Metric) -> str:
        return self._measurement_prefix() + quote_identifier(str(metric))

    def _stored_keys(self, keys: Sequence[_Key]) -> set[_Key]:
        """Which of these (device, metric, time in µs) are already stored."""
        spans: dict[tuple[str, Metric], list[int]] = defaultdict(list)
        for device, metric, at in keys:
            spans[(device, metric)].append(at)
        groups = list(spans.items())
        statements = [
            f'SELECT "value" FROM {self._measurement(metric)}'
            f' WHERE "device"={quote_string(device)}'
            f" AND time >= {min(times) * 1000} AND time <= {max(times) * 1000}"
            for (device, metric), times in groups
        ]
        stored: set[_Key] = set()
        for ((device, metric), _), tables in zip(groups, self._http.query(statements), strict=True):
            times = (row["time"] for table in tables for row in table.rows())
            stored.update((device, metric, at) for at in times)
        return stored


class _Sender:
    """One daemon thread that runs the write requests in the order they are submitted.

    A daemon (unlike a ThreadPoolExecutor's worker), so that a request stuck on
    an unreachable server never holds up the process's exit: write() waits for
    its requests, and anything not answered when the process ends was never
    acknowledged to anyone.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], None], Future[None]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="influx-write", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[bytes], None], body: bytes) -> Future[None]:
        future: Future[None] = Future()
        self._queue.put((lambda: fn(body), future))
        return future

    def shutdown(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            call, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                call()
            except BaseException as exc:  # handed to the caller through the future
                future.set_exception(exc)
            else:
                future.set_result(None)


@dataclass(slots=True)
class _Table:
    """One series of one statement's result, with its rows gathered across chunks."""

    columns: list[str]
    values: list[list[Any]]

    def rows(self) -> Iterator[dict[str, Any]]:
        for values in self.values:
            yield dict(zip(self.columns, values, strict=True))


class _InfluxHttp:
    """The two v1 endpoints, with retries on transient failures and error translation."""

    def __init__(
        self,
        settings: InfluxSettings,
        *,
        transport: httpx.BaseTransport | None,
        sleep: Callable[[float], None],
        rng: random.Random | None,
    ) -> None:
        self._settings = settings
        auth = (settings.username, settings.password or "") if settings.username else None
        headers = {"Authorization": f"Token {settings.token}"} if settings.token else {}
        self._client = httpx.Client(
            base_url=settings.base_url,
            auth=auth,
            headers=headers,
            timeout=settings.timeout,
            transport=transport,
        )
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._failing = False

    def write(self, body: bytes) -> None:
        params = {"db": self._settings.database, "precision": "u"}
        if self._settings.retention_policy:
            params["rp"] = self._settings.retention_policy
        self._request("POST", "/write", params=params, content=body)

    def query(self, statements: Sequence[str]) -> list[list[_Table]]:
        """Run read-only statements; one list of tables per statement, in order.

        A request carries at most ``statements_per_query`` statements and at most
        ``MAX_QUERY_CHARS`` of them: the statements go in the URL of a GET, and httpx
        refuses a query component over 64 KiB (the first write of 2,000 new devices'
        series asked for 125 KB in one URL, and the writer failed the batch for ever).
        """
        tables: list[list[_Table]] = []
        for chunk in _query_chunks(statements, self._settings.statements_per_query):
            params = {"db": self._settings.database, "epoch": "u", "chunked": "true",
                      "chunk_size": "10000", "q": ";\n".join(chunk)}
            response = self._request("GET", "/query", params=params)
            tables.extend(_parse_results(response.text, len(chunk)))
        return tables

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        backoff = Backoff(initial=0.1, cap=self._settings.backoff_cap)
        for attempt in range(self._settings.retries + 1):
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}"
            else:
                if response.status_code < 300:
                    self._recovered()
                    return response
                if response.status_code not in _RETRY_STATUS:
                    raise StoreError(_describe_refusal(response))
                problem = f"HTTP {response.status_code}"
            self._note_failure(problem)
            if attempt < self._settings.retries:
                self._sleep(backoff.next_delay(self._rng))
        raise StoreUnavailableError(
            f"InfluxDB at {self._settings.base_url} is unavailable ({problem}) after "
            f"{self._settings.retries + 1} attempts"
        )

    def _note_failure(self, problem: str) -> None:
        if not self._failing:
            logger.warning(
                "InfluxDB at %s failing (%s); retrying", self._settings.base_url, problem
            )
            self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            logger.info("InfluxDB at %s recovered", self._settings.base_url)
            self._failing = False


MAX_QUERY_CHARS = 16_000  # of InfluxQL in one GET (percent-encoded, at most ~3x: < 64 KiB)


def _query_chunks(statements: Sequence[str], most: int) -> Iterator[Sequence[str]]:
    """Consecutive runs of at most ``most`` statements and ``MAX_QUERY_CHARS`` characters
    (a single longer statement goes alone)."""
    start, chars = 0, 0
    for k, statement in enumerate(statements):
        if k > start and (k - start >= most or chars + len(statement) + 2 > MAX_QUERY_CHARS):
            yield statements[start:k]
            start, chars = k, 0
        chars += len(statement) + 2
    if start < len(statements):
        yield statements[start:]


def _trim(known: dict[Any, Any], limit: int) -> None:
    """Forget the oldest entries beyond ``limit`` (dicts keep insertion order)."""
    excess = len(known) - limit
    if excess > 0:
        for key in list(itertools.islice(known, excess)):
            del known[key]


def _describe_refusal(response: httpx.Response) -> str:
    try:
        message = str(response.json().get("error", response.text))
    except ValueError:
        message = response.text
    if response.status_code in (401, 403):
        return f"InfluxDB refused the credentials (HTTP {response.status_code}): {message}"
    return f"InfluxDB refused the request (HTTP {response.status_code}): {message}"


def _parse_results(text: str, statements: int) -> list[list[_Table]]:
    """Merge a (possibly chunked) /query response into one list of tables per statement."""
    results: list[dict[tuple[str, str], _Table]] = [{} for _ in range(statements)]
    decoder = json.JSONDecoder()
    position, partial = 0, False
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(text, position)
        if "error" in document:
            raise StoreError(f"InfluxDB query failed: {document['error']}")
        for result in document.get("results", []):
            if "error" in result:
                raise StoreError(f"InfluxDB query failed: {result['error']}")
            partial = bool(result.get("partial", False))
            tables = results[int(result.get("statement_id", 0))]
            for series in result.get("series", []):
                key = (series.get("name", ""), json.dumps(series.get("tags"), sort_keys=True))
                table = tables.setdefault(key, _Table(series["columns"], []))
                table.values.extend(series.get("values", []))
    if partial:
        raise StoreError("InfluxDB truncated the result (check max-row-limit)")
    return [list(tables.values()) for tables in results]


def quote_string(value: str) -> str:
    """An InfluxQL string literal (single quotes; backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name: str) -> str:
    """An InfluxQL identifier in double quotes."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _time_range(start: datetime, end: datetime) -> str:
    """start <= time < end, in nanoseconds, clamped to what InfluxDB can hold."""
    low = min(max(to_epoch_us(start) * 1000, _MIN_NS), _MAX_NS)
    high = min(max(to_epoch_us(end) * 1000, _MIN_NS), _MAX_NS)
    return f"time >= {low} AND time < {high}"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@lru_cache(maxsize=100_000)
def _tag_problem(value: str) -> str | None:
    """Why the v1 line protocol cannot carry this tag value faithfully, if it cannot."""
    if not value:
        return "is empty"
    if value.endswith("\\"):
        return "ends with a backslash"
    if _CONTROL.search(value):
        return "contains a control character"
    return None


def _epoch_us(when: datetime) -> int:
    """Microseconds since the epoch (core.readings.to_epoch_us, in one exact operation)."""
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return (when - _EPOCH) // _MICROSECOND


def _check_batch(readings: Sequence[Reading]) -> None:
    """Refuse the batch before anything is sent if any reading cannot be stored faithfully."""
    checked: set[tuple[str, str, str]] = set()
    for index, reading in enumerate(readings):
        tags = (reading.patient_id, reading.device_id, reading.source)
        if tags not in checked or not (
            math.isfinite(reading.value) and math.isfinite(reading.original_value)
        ):
            _check_storable(index, reading)
            checked.add(tags)


def _check_storable(index: int, reading: Reading) -> None:
    for name, value in (("patient", reading.patient_id), ("device", reading.device_id),
                        ("source", reading.source)):
        problem = _tag_problem(value)
        if problem:
            raise StoreError(
                f"reading {index}: its {name} id {problem}, which InfluxDB's line protocol "
                "cannot store faithfully"
            )
    if not (math.isfinite(reading.value) and math.isfinite(reading.original_value)):
        raise StoreError(f"reading {index}: values must be finite numbers")


def _line(r: Reading, at_us: int) -> str:
    """One line of line protocol.

    influxdb-client's Point does all the escaping: of the series key (measurement
    and tags) and of the string fields, once per distinct combination (_template);
    numbers are formatted as Point formats them. Building a whole Point per
    reading cost 13 µs, a third of InfluxDB-backed ingest time (bench/storage.py).
    """
    head, middle = _template(
        r.metric, r.patient_id, r.device_id, r.source, r.original_unit, r.context, r.status
    )
    return f"{head}{_number(r.original_value)}{middle}{_number(r.value)} {at_us}"


@lru_cache(maxsize=100_000)
def _template(
    metric: str,
    patient: str,
    device: str,
    source: str,
    original_unit: str,
    context: str | None,
    status: tuple[str, ...],
) -> tuple[str, str]:
    """The line around its two numbers: ``key [context=…,]original_unit=…,original_value=``
    and ``[,status=…],value=`` (Point's field order: sorted by name)."""
    fields = [] if context is None else [_string_field("context", context)]
    fields.append(_string_field("original_unit", original_unit))
    head = f"{_series_key(str(metric), patient, device, source)} {','.join(fields)}"
    status_field = f",{_string_field('status', json.dumps(list(status)))}" if status else ""
    return f"{head},original_value=", f"{status_field},value="


@lru_cache(maxsize=100_000)
def _series_key(metric: str, patient: str, device: str, source: str) -> str:
    """``measurement,device=…,patient=…,source=…`` escaped by Point."""
    point = Point.from_dict(
        {"measurement": metric, "tags": {"patient": patient, "device": device, "source": source},
         "fields": {"v": 0.0}}
    )
    line: str = point.to_line_protocol()
    assert line.endswith(" v=0")
    return line[: -len(" v=0")]


@lru_cache(maxsize=10_000)
def _string_field(name: str, value: str) -> str:
    """``name="value"`` escaped by Point."""
    line: str = Point.from_dict({"measurement": "m", "fields": {name: value}}).to_line_protocol()
    return line[len("m "):]


def _number(value: float) -> str:
    """A float field as Point writes it: the shortest repr, without a trailing ".0"."""
    text = str(float(value))
    return text[:-2] if text.endswith(".0") else text


def _reading(metric: Metric, row: dict[str, Any]) -> Reading:
    return Reading(
        patient_id=str(row["patient"]),
        device_id=str(row["device"]),
        metric=metric,
        value=float(row["value"]),
        measured_at=from_epoch_us(int(row["time"])),
        source=str(row["source"]),
        original_value=float(row["original_value"]),
        original_unit=str(row["original_unit"]),
        context=str(row["context"]) if row.get("context") is not None else None,
        status=tuple(json.loads(str(row["status"]))) if row.get("status") else (),
    )
