"""Population triage through the TimeSeriesStore interface: a fake store, then real SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics.population import population_summary, triage
from core.metrics import Metric
from core.readings import Reading, from_epoch_us, to_epoch_us
from core.timeseries import Series
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.analytics.factories import MINUTE_US, T0

DAYS = 14
N = DAYS * 288


class FakeStore:
    """Only what the population summary reads: read_series over in-memory arrays."""

    def __init__(self, data: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        self.data = data
        self.calls: list[tuple[str, Metric, datetime, datetime]] = []

    def read_series(
        self, patient_id: str, metric: Metric, start: datetime, end: datetime
    ) -> Series:
        self.calls.append((patient_id, metric, start, end))
        t, v = self.data.get(patient_id, (np.empty(0, np.int64), np.empty(0)))
        keep = (t >= to_epoch_us(start)) & (t < to_epoch_us(end))
        return Series(t[keep], v[keep])

    def write(self, readings: Sequence[Reading]) -> int:
        raise NotImplementedError

    def read(
        self, patient_id: str, metric: Metric, start: datetime, end: datetime
    ) -> list[Reading]:
        raise NotImplementedError

    def latest(
        self, patient_id: str, metrics: Iterable[Metric] | None = None
    ) -> dict[Metric, Reading]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _patient(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = to_epoch_us(T0) + np.arange(values.size, dtype=np.int64) * 5 * MINUTE_US
    return t, values.astype(float)


END = T0 + timedelta(days=DAYS)


def test_triage_flags_by_hand() -> None:
    # Well controlled: all 120.  Risky: 2% <54, 3% 54-69, 30% >250 (so 30% >180 too).
    steady = _patient(np.full(N, 120.0))
    risky_v = np.full(N, 120.0)
    k = N // 100
    risky_v[: 2 * k] = 50
    risky_v[2 * k : 5 * k] = 60
    risky_v[5 * k : 35 * k] = 300
    store = FakeStore({"steady": steady, "risky": _patient(risky_v)})
    summary = population_summary(store, ["steady", "risky", "absent"], end=END, days=DAYS)
    by_id = {p.patient_id: p for p in summary.patients}
    assert by_id["steady"].flags == ()
    assert by_id["risky"].below_54 == pytest.approx(2.0, abs=0.05)
    # the bad days are all in the first week, so time in range rose: no drop flag
    assert by_id["risky"].flags == ("very_low", "low", "very_high", "high")
    assert by_id["risky"].tir_change > 0
    assert by_id["absent"].flags == ("no_data", "low_wear")
    assert summary.patients[0].patient_id == "risky"  # most flags first
    assert store.calls[0][1] is Metric.GLUCOSE and store.calls[0][2] == T0


def test_tir_drop_compares_the_halves() -> None:
    # first week all in range, second week 70% in range: a drop of 30 points
    v = np.full(N, 120.0)
    second = v[N // 2 :]
    second[: int(second.size * 0.3)] = 200
    p = triage("x", *_patient(v), start_us=to_epoch_us(T0), end_us=to_epoch_us(END))
    assert p.tir_first_half == pytest.approx(100.0)
    assert p.tir_second_half == pytest.approx(70.0, abs=0.1)
    assert "tir_drop" in p.flags and "high" not in p.flags  # 15% >180 over the period


def test_low_wear() -> None:
    v = np.full(N // 2, 120.0)  # 7 of 14 days
    p = triage("x", *_patient(v), start_us=to_epoch_us(T0), end_us=to_epoch_us(END))
    assert p.wear_percent == pytest.approx(50.0)
    assert p.flags == ("low_wear",)


def test_reads_through_the_real_sqlite_store(tmp_path: Path) -> None:
    store = SqliteTimeSeriesStore(tmp_path / "ts.db")
    t, v = _patient(np.r_[np.full(N - 100, 120.0), np.full(100, 45.0)])
    store.write(
        [
            Reading(
                "ann",
                "ann-cgm",
                Metric.GLUCOSE,
                float(x),
                from_epoch_us(int(u)),
                "cgm",
                float(x),
                "mg/dL",
            )
            for u, x in zip(t.tolist(), v.tolist(), strict=True)
        ]
    )
    summary = population_summary(store, ["ann"], end=END, days=DAYS)
    (ann,) = summary.patients
    assert ann.readings == N
    assert ann.below_54 == pytest.approx(100 / N * 100)
    assert ann.flags == ("very_low",)  # 2.5% <54 (>1%), and <70 is the same 2.5% (<4%)
    store.close()
