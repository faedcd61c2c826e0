"""Scoring glucose forecasts: RMSE and MAE at 30 minutes, predicted-low sensitivity and precision.

- RMSE/MAE: forecast at 30 minutes against the reading 30 minutes later.
- An alarm is a forecast from a reading >=70 mg/dL with any value below 70
  within 30 minutes.  It is right (precision) when a reading below 70 follows
  within 30 minutes.
- A low to catch (sensitivity) is the start of a consensus level-1
  hypoglycaemic event (>=15 min below 70, Battelino 2019).  It is caught when
  an alarm went off in the 30 minutes before it; the warning time is from the
  first such alarm to the start of the event.  Only lows starting at least 30
  minutes after the first scored forecast (and not after the last) count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.events import EventKind, detect_events
from analytics.forecast import (
    LOW,
    LOW_VETO,
    BoostedForecast,
    ForecastModel,
    NeuralForecast,
    ar2_paths,
    forecast_all,
    future_matrix,
    history_matrix,
)
from analytics.timebase import (
    US_PER_S,
    FloatArray,
    IntArray,
    coverage_s,
    local_day_and_minute,
)

logger = logging.getLogger(__name__)

WINDOW_US = 30 * 60 * US_PER_S


@dataclass(frozen=True, slots=True)
class ForecastScore:
    points: int  # forecasts scored at 30 minutes
    squared_error_sum: float
    absolute_error_sum: float
    alarms: int
    true_alarms: int
    lows: int  # level-1 event starts
    caught: int
    warning_min: tuple[float, ...]  # warning time of each caught low

    @property
    def rmse(self) -> float:
        return float(np.sqrt(self.squared_error_sum / self.points)) if self.points else float("nan")

    @property
    def mae(self) -> float:
        return self.absolute_error_sum / self.points if self.points else float("nan")

    @property
    def sensitivity(self) -> float:
        return self.caught / self.lows if self.lows else float("nan")

    @property
    def precision(self) -> float:
        return self.true_alarms / self.alarms if self.alarms else float("nan")

    @property
    def median_warning_min(self) -> float:
        return float(np.median(self.warning_min)) if self.warning_min else float("nan")

    def __add__(self, other: ForecastScore) -> ForecastScore:
        return ForecastScore(
            self.points + other.points,
            self.squared_error_sum + other.squared_error_sum,
            self.absolute_error_sum + other.absolute_error_sum,
            self.alarms + other.alarms,
            self.true_alarms + other.true_alarms,
            self.lows + other.lows,
            self.caught + other.caught,
            self.warning_min + other.warning_min,
        )


EMPTY = ForecastScore(0, 0.0, 0.0, 0, 0, 0, 0, ())


def score(
    times_us: IntArray,
    values: FloatArray,
    rows: npt.NDArray[np.intp],
    paths: FloatArray,
    *,
    alarms: npt.NDArray[np.bool_] | None = None,
    low_starts_us: IntArray | None = None,
    future: FloatArray | None = None,
) -> ForecastScore:
    """Score forecast ``paths`` made from readings ``rows`` of clean (times_us, values).

    ``alarms`` are the predicted lows; by default, a path below 70 from a reading >=70.
    ``low_starts_us`` and ``future`` (future_matrix of the rows) may be passed in when
    scoring the same readings many times.
    """
    if future is None:
        future = future_matrix(times_us, values, rows)
    actual30 = future[:, -1]
    scored = ~np.isnan(actual30)
    err = paths[scored, -1] - actual30[scored]
    alarm = (paths < LOW).any(axis=1) if alarms is None else alarms
    alarm = alarm & (values[rows] >= LOW)
    low_follows = np.nanmin(np.where(np.isnan(future), np.inf, future), axis=1) < LOW
    starts = _low_starts(times_us, values) if low_starts_us is None else low_starts_us
    if rows.size:  # only lows that the scored forecasts had the full 30 minutes to warn of
        first, last = int(times_us[rows].min()), int(times_us[rows].max())
        starts = starts[(starts >= first + WINDOW_US) & (starts <= last)]
    else:
        starts = starts[:0]
    alarm_times = times_us[rows[alarm]]
    warnings = []
    for start in starts.tolist():
        before = alarm_times[(alarm_times >= start - WINDOW_US) & (alarm_times < start)]
        if before.size:
            warnings.append((start - int(before[0])) / US_PER_S / 60.0)
    return ForecastScore(
        points=int(scored.sum()),
        squared_error_sum=float(np.sum(err**2)),
        absolute_error_sum=float(np.sum(np.abs(err))),
        alarms=int(alarm.sum()),
        true_alarms=int((alarm & low_follows).sum()),
        lows=int(starts.size),
        caught=len(warnings),
        warning_min=tuple(warnings),
    )


def _low_starts(times_us: IntArray, values: FloatArray) -> IntArray:
    events = detect_events(
        times_us, values, coverage_s(times_us), kind=EventKind.HYPO, level=1, threshold=LOW
    )
    return np.array([e.start_us for e in events], dtype=np.int64)


def ar2_score(patients: Sequence[tuple[IntArray, FloatArray, str]]) -> ForecastScore:
    """AR2 over clean (times_us, values, tz) series."""
    total = EMPTY
    for t, v, _tz in patients:
        rows, paths = ar2_paths(t, v)
        total += score(t, v, rows, paths)
    return total


def model_score(
    model: ForecastModel, patients: Sequence[tuple[IntArray, FloatArray, str]]
) -> ForecastScore:
    total = EMPTY
    for t, v, tz in patients:
        rows, paths, low = forecast_all(model, t, v, tz=tz)
        total += score(t, v, rows, paths, alarms=low)
    return total


def calibrate_low_threshold(
    model: BoostedForecast,
    patients: Sequence[tuple[IntArray, FloatArray, str]],
    *,
    grid: Sequence[float] = tuple(np.round(np.arange(0.3, 0.96, 0.05), 2)),
    vetoes: Sequence[float] = (LOW_VETO,),
) -> tuple[float, float]:
    """(threshold, veto) with the best precision that catches at least as many lows as AR2.

    Run on the training patients only.  When no setting reaches AR2's
    sensitivity there, the most sensitive one is returned.
    """
    baseline = ar2_score(patients)
    prepared = []
    for t, v, tz in patients:
        rows, hist = history_matrix(t, v)
        _, minute = local_day_and_minute(t[rows], tz)
        paths, chance = model.predict_chance(hist, minute)
        prepared.append(
            (t, v, rows, hist, paths, chance, future_matrix(t, v, rows), _low_starts(t, v))
        )
    results = []
    for veto in vetoes:
        for threshold in grid:
            total = EMPTY
            for t, v, rows, hist, paths, chance, future, starts in prepared:
                alarms = model.alarms(hist, paths, chance, float(threshold), float(veto))
                total += score(
                    t, v, rows, paths, alarms=alarms, low_starts_us=starts, future=future
                )
            results.append(((float(threshold), float(veto)), total))
    good = [
        (s.precision, setting)
        for setting, s in results
        if s.alarms and s.sensitivity >= baseline.sensitivity
    ]
    if good:
        return max(good)[1]
    return max((s.sensitivity, setting) for setting, s in results)[1]


MARGINS = tuple(float(m) / 2 for m in range(-20, 21))  # -10 ... +10 mg/dL


def calibrate_low_margin(
    model: NeuralForecast,
    patients: Sequence[tuple[IntArray, FloatArray, str]],
    *,
    margins: Sequence[float] = MARGINS,
) -> float:
    """The alarm margin (a path below 70 + margin) that catches the most lows with at least
    AR2's precision, on the training patients only (ties: the better precision).

    When no margin reaches AR2's precision there, the most precise one is returned.
    """
    baseline = ar2_score(patients)
    prepared = []
    for t, v, tz in patients:
        rows, hist = history_matrix(t, v)
        _, minute = local_day_and_minute(t[rows], tz)
        paths = model.predict_paths(hist, minute)
        prepared.append((t, v, rows, hist, paths, future_matrix(t, v, rows), _low_starts(t, v)))
    results = []
    for margin in margins:
        total = EMPTY
        for t, v, rows, hist, paths, future, starts in prepared:
            alarms = model.alarms(hist, paths, margin)
            total += score(t, v, rows, paths, alarms=alarms, low_starts_us=starts, future=future)
        results.append((float(margin), total))
    good = [
        (s.sensitivity, s.precision, margin)
        for margin, s in results
        if s.alarms and s.precision >= baseline.precision
    ]
    if good:
        return max(good)[2]
    return max((s.precision if s.alarms else -1.0, margin) for margin, s in results)[1]
