"""A 30-minute glucose forecast and predicted-low detection, with Nightscout's AR2 as baseline.

The model (scikit-learn gradient-boosted trees) predicts the change in glucose
5, 10, ... 30 minutes ahead from the last 30 minutes of CGM readings, the time
of day and the AR2 extrapolation of the last two readings.  Each patient gets
a model trained on their own history; a population model trained on other
people is the fallback until a patient has enough history
(``MIN_PATIENT_SAMPLES``, about 3 days of CGM).

A predicted low (below 70 mg/dL within 30 minutes, the consensus level-1
threshold, Battelino 2019) is raised by a classifier trained on the same
features (probability of a reading below 70 within 30 minutes), working with
the two extrapolations: an alarm when the model's probability reaches
``low_threshold``, or when the forecast path or the AR2 path goes below 70
and the probability is at least ``LOW_VETO`` (the model vetoes extrapolations
it finds very unlikely, which removes most of AR2's false alarms from sensor
noise).  A regression to the mean alone under-calls sudden falls; this does
not.  ``low_threshold`` is calibrated on the training patients: the highest
precision that still catches at least as many lows as AR2 on the same data
(``forecast_eval.calibrate_low_threshold``).

The baseline, AR2, is Nightscout's forecast (cgm-remote-monitor,
lib/plugins/ar2.js): a second-order autoregression in log space around
BG_REF = 140 mg/dL, with coefficients AR = [-0.723, 1.716] applied in 5-minute
steps:

    prev = ln(g(t-5 min) / 140),  curr = ln(g(t) / 140)
    next = -0.723 * prev + 1.716 * curr      (then prev, curr = curr, next)
    forecast = 140 * exp(curr), rounded and clamped to [36, 400] mg/dL

where g(t-5 min) is the previous reading scaled to a 5-minute step when the
two readings are further apart (Nightscout's delta plugin, ``mgdl5MinsAgo``);
AR2 is not computed when either reading is below 36 mg/dL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.multioutput import MultiOutputRegressor
from threadpoolctl import ThreadpoolController

from analytics.timebase import US_PER_S, FloatArray, IntArray, clean, local_day_and_minute

logger = logging.getLogger(__name__)

STEP_S = 300  # CGM sampling interval the model is built for
LAGS = 6  # 30 minutes of history
HORIZONS_MIN = (5, 10, 15, 20, 25, 30)
TOLERANCE_S = 150  # a reading within half an interval of the wanted instant stands for it
LOW = 70.0  # Battelino 2019, level-1 hypoglycaemia
MIN_PATIENT_SAMPLES = 800  # ~3 days of usable 5-minute windows
MIN_LOW_WINDOWS = 200  # windows leading into a low before a patient's own classifier is trusted
MIN_POPULATION_LOW_WINDOWS = 30  # ... and before the population gets one
LOW_VETO = 0.1  # an extrapolated low is not raised when the model gives it less than 10%

# Nightscout ar2.js constants
AR2_BG_REF = 140.0
AR2_COEF = (-0.723, 1.716)
AR2_BG_MIN = 36.0
AR2_BG_MAX = 400.0


@cache
def _threadpools() -> ThreadpoolController:
    return ThreadpoolController()  # ~50 ms to find the loaded libraries: once per process


def _one_thread() -> AbstractContextManager[Any]:
    """Fit and predict on one OpenMP thread.

    scikit-learn's gradient boosting runs OpenMP threads on every core. The
    windows here are small (thousands of rows), and on a machine shared with
    other services the threads spin waiting for each other: on this 2-core
    machine under load the forecast tests took 240 s with OpenMP's default and
    23 s on one thread.  Entering the limit costs ~0.1 ms.
    """
    return _threadpools().limit(limits=1, user_api="openmp")


def _nearest(
    times_us: IntArray, wanted: IntArray
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Index of the reading nearest each wanted instant, and whether it is within tolerance."""
    idx = np.clip(np.searchsorted(times_us, wanted), 1, max(times_us.size - 1, 1))
    left = idx - 1
    right = np.minimum(idx, times_us.size - 1)
    pick = np.where(
        np.abs(wanted - times_us[left]) <= np.abs(times_us[right] - wanted), left, right
    )
    return pick, np.abs(times_us[pick] - wanted) <= TOLERANCE_S * US_PER_S


def history_matrix(
    times_us: IntArray, values: FloatArray
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """Readings that have a full 30-minute history, and that history (newest first).

    Returns the indices of those readings and an (n, LAGS + 1) matrix
    [g(t), g(t-5), ..., g(t-30)].
    """
    if times_us.size < LAGS + 1:
        return np.empty(0, np.intp), np.empty((0, LAGS + 1))
    offsets = np.arange(LAGS + 1, dtype=np.int64) * STEP_S * US_PER_S
    pick, ok = _nearest(times_us, times_us[:, None] - offsets[None, :])
    usable = np.flatnonzero(ok.all(axis=1))
    return usable, values[pick[usable]]


def future_matrix(times_us: IntArray, values: FloatArray, rows: npt.NDArray[np.intp]) -> FloatArray:
    """Actual glucose at each horizon after the given readings (NaN where there is no reading)."""
    offsets = np.array(HORIZONS_MIN, dtype=np.int64) * 60 * US_PER_S
    pick, ok = _nearest(times_us, times_us[rows][:, None] + offsets[None, :])
    return np.where(ok, values[pick], np.nan)


def _ar2_from(current: FloatArray, five_ago: FloatArray) -> FloatArray:
    """AR2 paths (n, 6) from the current value and the value 5 minutes earlier."""
    prev = np.log(np.maximum(five_ago, 1.0) / AR2_BG_REF)
    curr = np.log(np.maximum(current, 1.0) / AR2_BG_REF)
    out = np.empty((current.size, len(HORIZONS_MIN)))
    for k in range(len(HORIZONS_MIN)):
        prev, curr = curr, AR2_COEF[0] * prev + AR2_COEF[1] * curr
        out[:, k] = np.clip(np.round(AR2_BG_REF * np.exp(curr)), AR2_BG_MIN, AR2_BG_MAX)
    return out


def features(history: FloatArray, minute_of_day: FloatArray) -> FloatArray:
    """Current level, recent changes, the time of day and the AR2 extrapolation."""
    g0 = history[:, :1]
    diffs = g0 - history[:, 1:]  # change over the last 5, 10, ... 30 minutes
    accel = history[:, :-2] - 2 * history[:, 1:-1] + history[:, 2:]
    angle = 2 * np.pi * minute_of_day / 1440.0
    ar2 = _ar2_from(history[:, 0], history[:, 1]) - g0
    return np.hstack(
        [
            g0,
            np.log(g0 / AR2_BG_REF),
            diffs,
            accel[:, :2],
            np.sin(angle)[:, None],
            np.cos(angle)[:, None],
            ar2,
            ar2.min(axis=1, keepdims=True),
        ]
    )


@dataclass(frozen=True, slots=True)
class ForecastModel:
    """Fitted models: the change from now at each of HORIZONS_MIN, and the chance of a low."""

    regressor: MultiOutputRegressor
    classifier: HistGradientBoostingClassifier | None  # None: no lows seen in training
    low_threshold: float  # alarm when P(low within 30 min) >= this
    kind: str  # "patient" or "population"
    samples: int  # training windows
    low_veto: float = LOW_VETO  # an extrapolated low needs at least this probability

    def predict_paths(self, history: FloatArray, minute_of_day: FloatArray) -> FloatArray:
        return self.predict(history, minute_of_day)[0]

    def predict(
        self, history: FloatArray, minute_of_day: FloatArray
    ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """(paths, predicted low) for each window."""
        paths, chance = self.predict_chance(history, minute_of_day)
        return paths, self.alarms(history, paths, chance)

    def predict_chance(
        self, history: FloatArray, minute_of_day: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """(paths, probability of a reading below 70 within 30 minutes) for each window."""
        if history.shape[0] == 0:
            return np.empty((0, len(HORIZONS_MIN))), np.empty(0)
        x = features(history, minute_of_day)
        with _one_thread():
            paths = np.clip(history[:, :1] + self.regressor.predict(x), 20.0, 600.0)
            if self.classifier is None:
                return paths, np.zeros(x.shape[0])
            return paths, self.classifier.predict_proba(x)[:, 1]

    def alarms(
        self,
        history: FloatArray,
        paths: FloatArray,
        chance: FloatArray,
        threshold: float | None = None,
        veto: float | None = None,
    ) -> npt.NDArray[np.bool_]:
        """Predicted lows from readings >=70 (see the module docstring)."""
        extrapolated = (paths < LOW).any(axis=1)
        if self.classifier is None:
            return extrapolated & (history[:, 0] >= LOW)
        extrapolated |= (_ar2_from(history[:, 0], history[:, 1]) < LOW).any(axis=1)
        limit = self.low_threshold if threshold is None else threshold
        floor = self.low_veto if veto is None else veto
        low = (chance >= limit) | (extrapolated & (chance >= floor))
        return low & (history[:, 0] >= LOW)

    def with_threshold(self, threshold: float, veto: float | None = None) -> ForecastModel:
        return replace(
            self, low_threshold=threshold, low_veto=self.low_veto if veto is None else veto
        )


@dataclass(frozen=True, slots=True)
class TrainingSet:
    x: FloatArray
    y: FloatArray  # change at each horizon
    low: npt.NDArray[np.bool_]  # from >=70 now to <70 within 30 minutes


def training_set(times_us: npt.ArrayLike, values: npt.ArrayLike, *, tz: str) -> TrainingSet:
    """Every reading with a full 30-minute history and future."""
    data = clean(times_us, values)
    rows, hist = history_matrix(data.times_us, data.values)
    future = future_matrix(data.times_us, data.values, rows)
    complete = ~np.isnan(future).any(axis=1)
    hist, future = hist[complete], future[complete]
    _, minute = local_day_and_minute(data.times_us[rows[complete]], tz)
    low = (future.min(axis=1) < LOW) & (hist[:, 0] >= LOW)
    return TrainingSet(features(hist, minute), future - hist[:, :1], low)


def _trees() -> dict[str, float | int]:
    # small trees, few rounds: a patient's model refits in well under a second
    return {"max_iter": 60, "learning_rate": 0.15, "max_leaf_nodes": 15, "random_state": 0}


def fit(
    data: TrainingSet,
    *,
    kind: str,
    low_threshold: float = 0.5,
    fallback: ForecastModel | None = None,
    min_lows: int = MIN_POPULATION_LOW_WINDOWS,
) -> ForecastModel:
    """Fit the regressor; the classifier too when there are enough lows (else the fallback's)."""
    regressor = MultiOutputRegressor(HistGradientBoostingRegressor(**_trees()))
    classifier: HistGradientBoostingClassifier | None = None
    veto = LOW_VETO
    with _one_thread():
        regressor.fit(data.x, data.y)
        if int(data.low.sum()) >= min_lows:
            classifier = HistGradientBoostingClassifier(**_trees())
            classifier.fit(data.x, data.low)
    if classifier is None and fallback is not None:
        classifier, low_threshold = fallback.classifier, fallback.low_threshold
    if fallback is not None:
        veto = fallback.low_veto
    return ForecastModel(regressor, classifier, low_threshold, kind, int(data.x.shape[0]), veto)


def _stack(sets: Sequence[TrainingSet]) -> TrainingSet:
    return TrainingSet(
        np.vstack([s.x for s in sets]),
        np.vstack([s.y for s in sets]),
        np.concatenate([s.low for s in sets]),
    )


def train_population(patients: Sequence[tuple[npt.ArrayLike, npt.ArrayLike, str]]) -> ForecastModel:
    """One model over many people's (times_us, values, tz)."""
    data = _stack([training_set(t, v, tz=tz) for t, v, tz in patients])
    if data.x.shape[0] == 0:
        raise ValueError("no training windows: need CGM series with 30 min of history and future")
    return fit(data, kind="population")


def train_patient(
    times_us: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    tz: str,
    population: ForecastModel,
    min_samples: int = MIN_PATIENT_SAMPLES,
) -> ForecastModel:
    """The patient's own model, or the population model when their history is too short.

    The patient's model keeps the population's alarm threshold, and its
    classifier too when the patient's history holds too few lows to learn from.
    """
    data = training_set(times_us, values, tz=tz)
    if data.x.shape[0] < min_samples:
        logger.debug("forecast: %d training windows, using the population model", data.x.shape[0])
        return population
    return fit(
        data,
        kind="patient",
        low_threshold=population.low_threshold,
        fallback=population,
        min_lows=MIN_LOW_WINDOWS,
    )


@dataclass(frozen=True, slots=True)
class Forecast:
    """The forecast from the latest reading."""

    at_us: int
    current: float
    horizons_min: tuple[int, ...]
    predicted: tuple[float, ...]  # mg/dL at each horizon
    predicted_low: bool  # below 70 within 30 minutes
    minutes_to_low: int | None  # first horizon below 70
    model: str  # "patient", "population" or "ar2"


def forecast_all(
    model: ForecastModel, times_us: IntArray, values: FloatArray, *, tz: str
) -> tuple[npt.NDArray[np.intp], FloatArray, npt.NDArray[np.bool_]]:
    """Forecasts from every reading with a full history: (rows, paths, predicted low)."""
    rows, hist = history_matrix(times_us, values)
    _, minute = local_day_and_minute(times_us[rows], tz)
    paths, low = model.predict(hist, minute)
    return rows, paths, low


def forecast_latest(
    model: ForecastModel, times_us: npt.ArrayLike, values: npt.ArrayLike, *, tz: str
) -> Forecast | None:
    """The forecast from the newest reading, or None when it lacks 30 minutes of history."""
    data = clean(times_us, values)
    rows, paths, low = forecast_all(model, data.times_us, data.values, tz=tz)
    if rows.size == 0 or rows[-1] != data.times_us.size - 1:
        return None
    return _as_forecast(
        int(data.times_us[-1]), float(data.values[-1]), paths[-1], bool(low[-1]), model.kind
    )


def _as_forecast(at_us: int, current: float, path: FloatArray, low: bool, kind: str) -> Forecast:
    below = np.flatnonzero(path < LOW)
    return Forecast(
        at_us,
        current,
        HORIZONS_MIN,
        tuple(float(p) for p in path),
        low or bool(below.size),
        HORIZONS_MIN[int(below[0])] if below.size else None,
        kind,
    )


def ar2_paths(times_us: IntArray, values: FloatArray) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """Nightscout AR2 forecast paths (5..30 min) from every reading that has a previous one.

    Readings whose predecessor is more than 10 minutes earlier are skipped, as
    are readings below 36 mg/dL (Nightscout's okToForecast).
    """
    if times_us.size < 2:
        return np.empty(0, np.intp), np.empty((0, len(HORIZONS_MIN)))
    gap_min = np.diff(times_us) / US_PER_S / 60.0
    curr_v, prev_v = values[1:], values[:-1]
    ok = (gap_min <= 10.0) & (curr_v >= AR2_BG_MIN) & (prev_v >= AR2_BG_MIN)
    rows = np.flatnonzero(ok) + 1
    # mgdl5MinsAgo: the previous value scaled to a 5-minute step
    five_ago = curr_v[ok] - (curr_v[ok] - prev_v[ok]) * 5.0 / gap_min[ok]
    return rows, _ar2_from(curr_v[ok], five_ago)


def ar2_latest(times_us: npt.ArrayLike, values: npt.ArrayLike) -> Forecast | None:
    data = clean(times_us, values)
    rows, paths = ar2_paths(data.times_us, data.values)
    if rows.size == 0 or rows[-1] != data.times_us.size - 1:
        return None
    path = paths[-1]
    return _as_forecast(
        int(data.times_us[-1]),
        float(data.values[-1]),
        path,
        bool((path < LOW).any()) and float(data.values[-1]) >= LOW,
        "ar2",
    )
