"""The population summary's reads run ahead on the process's reading threads (issue 22):
the same rows as reading one patient after another, in the order given, from a real
SQLite store, and the triage board built on those threads is the board built in turn."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from analytics import population
from analytics.population import population_summary, read_ahead
from core.appdb.directory import PatientInfo
from core.metrics import Metric
from core.readings import Reading, from_epoch_us, to_epoch_us
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.views.triage import build_rows

END = datetime(2026, 3, 16, tzinfo=UTC)
PATIENTS = 24


def _store(path: Path) -> SqliteTimeSeriesStore:
    store = SqliteTimeSeriesStore(path / "ts.db")
    rng = np.random.default_rng(3)
    start = to_epoch_us(END - timedelta(days=14))
    readings = []
    for i in range(PATIENTS):
        pid = f"p{i:02d}"
        n = 288 * 14 if i % 3 else 288 * 5  # some wear the sensor only 5 days
        times = start + np.arange(n, dtype=np.int64) * 300_000_000
        values = np.clip(rng.normal(60 + 8 * i, 40, n), 40, 400).round()
        readings += [Reading(pid, f"{pid}-cgm", Metric.GLUCOSE, float(v), from_epoch_us(int(t)),
                             "cgm", float(v), "mg/dL") for t, v in zip(times, values, strict=True)]
        readings.append(Reading(pid, f"{pid}-cuff", Metric.SYSTOLIC, 150.0 + i,
                                from_epoch_us(int(times[-1])), "bp_cuff", 150.0 + i, "mm[Hg]"))
    store.write(readings)
    return store


def test_read_ahead_gives_every_patient_s_series_in_order_from_reading_threads(
        tmp_path: Path) -> None:
    store = _store(tmp_path)
    ids = [f"p{i:02d}" for i in reversed(range(PATIENTS))]
    start = END - timedelta(days=14)
    readers: set[str] = set()
    read_series = store.read_series

    def spy(*args: object, **kwargs: object) -> object:
        readers.add(threading.current_thread().name)
        return read_series(*args, **kwargs)  # type: ignore[arg-type]

    store.read_series = spy  # type: ignore[method-assign,assignment]
    got = list(read_ahead(store, ids, Metric.GLUCOSE, start, END))
    assert [pid for pid, _ in got] == ids
    for pid, series in got:
        alone = read_series(pid, Metric.GLUCOSE, start, END)
        assert np.array_equal(series.times_us, alone.times_us)
        assert np.array_equal(series.values, alone.values)
    assert readers and all(name.startswith("read-ahead") for name in readers)
    store.close()


def test_summary_with_reads_ahead_equals_the_sequential_one(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ids = [f"p{i:02d}" for i in range(PATIENTS)]
    ahead = population_summary(store, ids, end=END)
    one_by_one = population_summary(store, ids, end=END, readers=1)
    assert repr(ahead) == repr(one_by_one)  # repr: NaN (a half without data) equals NaN
    assert len(ahead.patients) == PATIENTS and any(p.flags for p in ahead.patients)
    store.close()


def test_the_triage_board_built_on_reading_threads_is_the_board_built_in_turn(
        tmp_path: Path) -> None:
    store = _store(tmp_path)
    patients = [PatientInfo(f"p{i:02d}", f"Patient {i:02d}", "Europe/London",
                            ("type_1_diabetes",), {}) for i in range(PATIENTS)]
    assert PATIENTS >= 2 * population.READERS  # the threaded path
    threaded = build_rows(store, patients, end=END)
    in_turn = [build_rows(store, [p], end=END)[0] for p in patients]
    in_turn.sort(key=lambda r: (-r.score, r.patient.display_name.casefold(), r.patient.id))
    assert repr(threaded) == repr(in_turn)
    store.close()
