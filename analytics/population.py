"""Population triage: every patient's CGM summary and flags, for the nurse's list.

Reads each patient's glucose through the ``TimeSeriesStore`` interface (the
only I/O in the analytics) and flags what clinicians already triage on
(docs/CLINICAL.md, Battelino 2019 targets; the numbers in analytics/targets.py):
very low (<54) >1%, low (<70) >4%, very high (>250) >5%, high (>180) >25%, time in
range dropped by more than 15 points, CGM worn less than 70% of the time.

Time in range "dropped" compares the second half of the period with the
first half (for the default 14 days: the last 7 days against the 7 before),
so one read of the period is enough.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from analytics import targets as tg
from analytics.cgm import metrics_from_clean, range_index
from analytics.timebase import FloatArray, IntArray, clean, coverage_s
from core.metrics import Metric
from core.readings import to_epoch_us
from core.timeseries import Series, TimeSeriesStore

logger = logging.getLogger(__name__)

_ADULT = tg.CGM_TARGETS_ADULT
VERY_LOW_MAX = tg.CGM_BELOW_54_UNDER
LOW_MAX = _ADULT.below_70_under
VERY_HIGH_MAX = _ADULT.above_250_under
HIGH_MAX = float(_ADULT.above_180_under or 0.0)
TIR_DROP_POINTS = tg.TIR_DROP_POINTS
WEAR_MIN = tg.WEAR_MIN_PERCENT


@dataclass(frozen=True, slots=True)
class PatientTriage:
    patient_id: str
    readings: int
    wear_percent: float
    time_in_range: float
    below_54: float
    below_70: float
    above_180: float
    above_250: float
    cv: float
    gmi: float
    gri: float
    tir_first_half: float  # evidence for the drop flag
    tir_second_half: float
    flags: tuple[
        str, ...
    ]  # "very_low", "low", "very_high", "high", "tir_drop", "low_wear", "no_data"

    @property
    def tir_change(self) -> float:
        return self.tir_second_half - self.tir_first_half


@dataclass(frozen=True, slots=True)
class PopulationSummary:
    start: datetime
    end: datetime
    patients: tuple[PatientTriage, ...]  # most flags first, then highest GRI

    def flagged(self, flag: str) -> tuple[PatientTriage, ...]:
        return tuple(p for p in self.patients if flag in p.flags)


def _tir(values: FloatArray, weights: FloatArray) -> float:
    if values.size == 0:
        return float("nan")
    return float(100.0 * weights[range_index(values) == 2].sum() / weights.sum())


def triage(
    patient_id: str, times_us: IntArray, values: FloatArray, *, start_us: int, end_us: int
) -> PatientTriage:
    """One patient's triage row from their glucose in [start, end)."""
    data = clean(times_us, values)
    t, v = data.times_us, data.values
    if v.size == 0:
        nan = float("nan")
        return PatientTriage(
            patient_id,
            0,
            0.0,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            ("no_data", "low_wear"),
        )
    m = metrics_from_clean(t, v, start_us=start_us, end_us=end_us)
    weights = coverage_s(t, m.sufficiency.interval_s)
    middle = start_us + (end_us - start_us) // 2
    first, second = t < middle, t >= middle
    r = m.ranges
    row = PatientTriage(
        patient_id=patient_id,
        readings=int(v.size),
        wear_percent=m.sufficiency.percent_active,
        time_in_range=r.in_range,
        below_54=r.very_low,
        below_70=r.below_70,
        above_180=r.above_180,
        above_250=r.very_high,
        cv=m.cv,
        gmi=m.gmi,
        gri=m.gri.value,
        tir_first_half=_tir(v[first], weights[first]),
        tir_second_half=_tir(v[second], weights[second]),
        flags=(),
    )
    return _with_flags(row)


def _with_flags(p: PatientTriage) -> PatientTriage:
    checks = (
        ("very_low", p.below_54 > VERY_LOW_MAX),
        ("low", p.below_70 > LOW_MAX),
        ("very_high", p.above_250 > VERY_HIGH_MAX),
        ("high", p.above_180 > HIGH_MAX),
        ("tir_drop", p.tir_first_half - p.tir_second_half > TIR_DROP_POINTS),
        ("low_wear", p.wear_percent < WEAR_MIN),
    )
    return replace(p, flags=tuple(name for name, hit in checks if hit))


# Reads run ahead of the arithmetic on a few threads: a store's read spends most of its
# time outside the interpreter (SQLite's C code with the GIL released, or waiting for
# InfluxDB's answer), so on 2 cores the reads of the next patients overlap this one's
# triage. The window bounds what is held: at most READ_AHEAD series (14 days of CGM,
# ~64 kB each) wait at any time.
READERS = min(4, max(2, os.cpu_count() or 1))
READ_AHEAD = 4 * READERS
# One pool for the process, its threads kept: a store keeps a connection per thread
# (SQLite's with its page cache), so new threads for every summary or board would open
# new connections each time, start with cold caches and never give them back.
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def reader_pool() -> ThreadPoolExecutor:
    """The process's READERS reading threads (shared by every summary and triage board)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="read-ahead")
        return _POOL


def read_ahead(
    store: TimeSeriesStore, patient_ids: Iterable[str], metric: Metric, start: datetime,
    end: datetime, *, source: str | None = None, readers: int = READERS,
) -> Iterator[tuple[str, Series]]:
    """Each patient's series of [start, end), in the order given, read by ``readers``
    threads at most READ_AHEAD patients ahead of the consumer."""
    ids = iter(patient_ids)

    def read(pid: str) -> Series:
        if source is None:
            return store.read_series(pid, metric, start, end)
        return store.read_series(pid, metric, start, end, source=source)

    if readers <= 1:
        for pid in ids:
            yield pid, read(pid)
        return
    waiting: deque[tuple[str, Future[Series]]] = deque()
    pool = reader_pool()

    def fill() -> None:
        while len(waiting) < READ_AHEAD:
            pid = next(ids, None)
            if pid is None:
                return
            waiting.append((pid, pool.submit(read, pid)))

    try:
        fill()
        while waiting:
            pid, future = waiting.popleft()
            series = future.result()
            fill()
            yield pid, series
    finally:
        for _, future in waiting:
            future.cancel()


def population_summary(
    store: TimeSeriesStore, patient_ids: Iterable[str], *, end: datetime, days: int = 14,
    readers: int = READERS,
) -> PopulationSummary:
    """Triage rows of every patient over the ``days`` before ``end``, riskiest first."""
    start = end - timedelta(days=days)
    start_us, end_us = to_epoch_us(start), to_epoch_us(end)
    rows = [triage(pid, series.times_us, series.values, start_us=start_us, end_us=end_us)
            for pid, series in read_ahead(store, patient_ids, Metric.GLUCOSE, start, end,
                                          readers=readers)]
    rows.sort(key=lambda p: (-len(p.flags), -(p.gri if np.isfinite(p.gri) else -1.0)))
    logger.info(
        "population summary: %d patients, %d flagged", len(rows), sum(1 for p in rows if p.flags)
    )
    return PopulationSummary(start, end, tuple(rows))
