"""The embedded store's one-row series read against the plain row-by-row read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from core.metrics import Metric
from core.readings import Reading
from core.timeseries.sqlite import SqliteTimeSeriesStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_the_one_row_read_equals_the_rows_on_random_data_with_ties(
        store: SqliteTimeSeriesStore) -> None:
    rng = np.random.default_rng(7)
    minutes = rng.integers(0, 20_000, 3_000)  # many instants on two or three devices
    values = rng.normal(140, 50, minutes.size) * rng.choice([1.0, 18.0156, 1 / 3], minutes.size)
    devices = rng.choice(["cgm-1", "cgm-2", "meter-1"], minutes.size)
    store.write([Reading(patient_id="p1", device_id=str(d), metric=Metric.GLUCOSE,
                         measured_at=T0 + timedelta(minutes=int(m)), value=float(v),
                         source="cgm", original_value=float(v), original_unit="mg/dL")
                 for m, v, d in zip(minutes, values, devices, strict=True)])
    start, end = T0 + timedelta(days=2), T0 + timedelta(days=12)

    one_row = store.read_series("p1", Metric.GLUCOSE, start, end)
    rows = store._series_row_by_row(("p1", "glucose", int(start.timestamp() * 1e6),
                                     int(end.timestamp() * 1e6), None))

    assert len(one_row) > 1_000
    assert np.array_equal(one_row.times_us, rows.times_us)
    assert np.array_equal(one_row.values, rows.values)  # bit for bit, ties in device order
    read = store.read("p1", Metric.GLUCOSE, start, end)
    assert [r.value for r in read] == one_row.values.tolist()
