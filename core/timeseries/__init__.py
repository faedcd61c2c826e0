"""The time-series store: one interface, one adapter per backend.

Adapters are the only code that knows table, measurement and tag names.
Every adapter passes the conformance suite in tests/core/test_timeseries_conformance.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from core.metrics import Metric
from core.readings import Reading


@dataclass(frozen=True, slots=True)
class Series:
    """A column view of one patient's metric: what analytics want, without per-row objects."""

    times_us: npt.NDArray[np.int64]  # microseconds since the Unix epoch, ascending
    values: npt.NDArray[np.float64]  # canonical unit

    def __len__(self) -> int:
        return int(self.times_us.shape[0])


class TimeSeriesStore(Protocol):
    def write(self, readings: Sequence[Reading]) -> int:
        """Store a batch atomically and idempotently; return how many were new.

        A reading whose (device_id, metric, measured_at) is already stored
        changes nothing. Raises StoreUnavailableError when the store cannot be
        reached: then nothing of the batch may be taken as stored.
        """
        ...

    def read(
        self, patient_id: str, metric: Metric, start: datetime, end: datetime
    ) -> list[Reading]:
        """Readings with start <= measured_at < end, oldest first."""
        ...

    def read_series(
        self, patient_id: str, metric: Metric, start: datetime, end: datetime, *,
        source: str | None = None,
    ) -> Series:
        """As read(), as arrays; where two devices share a timestamp both are kept.
        ``source``: only readings of that source (glucose: "cgm" or "meter")."""
        ...

    def latest(
        self, patient_id: str, metrics: Iterable[Metric] | None = None
    ) -> dict[Metric, Reading]:
        """The newest reading of each metric (all metrics when none are named)."""
        ...

    def newest_values(
        self, patient_ids: Iterable[str], metrics: Iterable[Metric], since: datetime
    ) -> dict[tuple[str, Metric], tuple[int, float]]:
        """(patient, metric) -> (time us, value) of the newest reading at or after
        ``since``, for many patients in one go (the coach's triage and episode watch)."""
        ...

    def close(self) -> None: ...
