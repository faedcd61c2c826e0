"""Small builders for analytics tests: readings from minutes and values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from core.readings import to_epoch_us

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday, winter time in Europe
T0_US = to_epoch_us(T0)
MINUTE_US = 60_000_000


def at(minutes: Sequence[float], start: datetime = T0) -> npt.NDArray[np.int64]:
    """Epoch microseconds for offsets in minutes from ``start``."""
    base = to_epoch_us(start)
    return base + np.round(np.asarray(minutes, dtype=np.float64) * MINUTE_US).astype(np.int64)


def every_5_min(
    values: Sequence[float], start: datetime = T0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Readings every 5 minutes from ``start``."""
    v = np.asarray(values, dtype=np.float64)
    return at(np.arange(v.size) * 5.0, start), v
