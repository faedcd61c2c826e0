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

import json
import logging
import warnings
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
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
    limit: AbstractContextManager[Any] = _threadpools().limit(
        limits=1, user_api="openmp")
    return limit


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
class BoostedForecast:
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

    def with_threshold(self, threshold: float, veto: float | None = None) -> BoostedForecast:
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
    fallback: BoostedForecast | None = None,
    min_lows: int = MIN_POPULATION_LOW_WINDOWS,
) -> BoostedForecast:
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
    return BoostedForecast(regressor, classifier, low_threshold, kind, int(data.x.shape[0]), veto)


def _stack(sets: Sequence[TrainingSet]) -> TrainingSet:
    return TrainingSet(
        np.vstack([s.x for s in sets]),
        np.vstack([s.y for s in sets]),
        np.concatenate([s.low for s in sets]),
    )


def train_population(
    patients: Sequence[tuple[npt.ArrayLike, npt.ArrayLike, str]],
) -> BoostedForecast:
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
    population: BoostedForecast,
    min_samples: int = MIN_PATIENT_SAMPLES,
) -> BoostedForecast:
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


def neural_features(history: FloatArray, minute_of_day: FloatArray) -> FloatArray:
    """The network's inputs: the current level (and its log), the changes over the last 5,
    10, ... 30 minutes, the three newest second differences and the time of day."""
    g0 = history[:, :1]
    accel = history[:, :3] - 2 * history[:, 1:4] + history[:, 2:5]
    angle = 2 * np.pi * minute_of_day / 1440.0
    return np.hstack(
        [
            g0,
            np.log(np.maximum(g0, 1.0) / AR2_BG_REF),
            g0 - history[:, 1:],
            accel,
            np.sin(angle)[:, None],
            np.cos(angle)[:, None],
        ]
    )


NEURAL_INPUTS = 2 + LAGS + 3 + 2


@dataclass(frozen=True, slots=True)
class NeuralForecast:
    """A small multi-layer perceptron (ReLU hidden layers, linear output) for the change
    from now at each of HORIZONS_MIN, from ``neural_features``.

    Trained offline by scikit-learn's ``MLPRegressor`` (``train_neural``) and shipped as
    its weights (``forecast_model.json``, a few thousand numbers); predicting is two or
    three matrix products in numpy (~20 us a forecast).  A predicted low is a path below
    ``LOW + low_margin`` from a reading >=70; the margin is calibrated on the training
    patients (``forecast_eval.calibrate_low_margin``).
    """

    mean: FloatArray  # input standardisation
    scale: FloatArray
    weights: tuple[FloatArray, ...]
    biases: tuple[FloatArray, ...]
    output_scale: float  # the network predicts change / output_scale
    low_margin: float = 0.0
    kind: str = "neural"
    samples: int = 0  # training windows
    trained_on: str = ""  # where the training data came from

    def __post_init__(self) -> None:
        width = NEURAL_INPUTS
        if self.mean.shape != (width,) or self.scale.shape != (width,):
            raise ValueError(f"forecast model: expected {width} input means and scales")
        if len(self.weights) != len(self.biases) or not self.weights:
            raise ValueError("forecast model: one bias vector per weight matrix is needed")
        for w, b in zip(self.weights, self.biases, strict=True):
            if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
                raise ValueError("forecast model: the layers' shapes do not chain")
            width = w.shape[1]
        if width != len(HORIZONS_MIN):
            raise ValueError(f"forecast model: expected {len(HORIZONS_MIN)} outputs")
        arrays = (self.mean, self.scale, *self.weights, *self.biases)
        if not all(np.isfinite(a).all() for a in arrays) or not (self.scale > 0).all():
            raise ValueError("forecast model: weights must be finite and scales positive")

    def predict_paths(self, history: FloatArray, minute_of_day: FloatArray) -> FloatArray:
        if history.shape[0] == 0:
            return np.empty((0, len(HORIZONS_MIN)))
        x = (neural_features(history, minute_of_day) - self.mean) / self.scale
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            x = np.maximum(x @ w + b, 0.0)
        change = (x @ self.weights[-1] + self.biases[-1]) * self.output_scale
        return np.clip(history[:, :1] + change, 20.0, 600.0)

    def alarms(self, history: FloatArray, paths: FloatArray, margin: float | None = None
               ) -> npt.NDArray[np.bool_]:
        limit = LOW + (self.low_margin if margin is None else margin)
        return (paths < limit).any(axis=1) & (history[:, 0] >= LOW)

    def predict(
        self, history: FloatArray, minute_of_day: FloatArray
    ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """(paths, predicted low) for each window."""
        paths = self.predict_paths(history, minute_of_day)
        return paths, self.alarms(history, paths)

    def with_margin(self, margin: float) -> NeuralForecast:
        return replace(self, low_margin=float(margin))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "hearth-neural-forecast/1",
            "horizons_min": list(HORIZONS_MIN),
            "step_s": STEP_S,
            "inputs": "analytics.forecast.neural_features",
            "kind": self.kind,
            "samples": self.samples,
            "trained_on": self.trained_on,
            "low_margin": self.low_margin,
            "output_scale": self.output_scale,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": [w.tolist() for w in self.weights],
            "biases": [b.tolist() for b in self.biases],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NeuralForecast:
        """The model from ``to_json``'s dictionary; a clear ValueError for anything else."""
        if not isinstance(data, dict) or data.get("format") != "hearth-neural-forecast/1":
            raise ValueError("forecast model: not a hearth-neural-forecast/1 document")
        if data.get("horizons_min") != list(HORIZONS_MIN) or data.get("step_s") != STEP_S:
            raise ValueError("forecast model: built for other horizons or another step")
        try:
            return cls(
                mean=np.asarray(data["mean"], dtype=np.float64),
                scale=np.asarray(data["scale"], dtype=np.float64),
                weights=tuple(np.asarray(w, dtype=np.float64) for w in data["weights"]),
                biases=tuple(np.asarray(b, dtype=np.float64) for b in data["biases"]),
                output_scale=float(data["output_scale"]),
                low_margin=float(data.get("low_margin", 0.0)),
                kind=str(data.get("kind", "neural")),
                samples=int(data.get("samples", 0)),
                trained_on=str(data.get("trained_on", "")),
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"forecast model: missing or malformed field ({e})") from e


ForecastModel = BoostedForecast | NeuralForecast  # what the live rule can be given

MODEL_FILE = "forecast_model.json"  # shipped beside this module (docs/ANALYTICS.md)


@cache
def deployed_model() -> NeuralForecast:
    """The shipped model of the live predicted-low rule, read once a process (no download)."""
    text = resources.files("analytics").joinpath(MODEL_FILE).read_text(encoding="utf-8")
    return NeuralForecast.from_json(json.loads(text))


@cache
def live_model() -> NeuralForecast | None:
    """``deployed_model()`` for the coach's rules: a missing or damaged model file is logged
    once as an error and the rules forecast with AR2, rather than every evaluation failing
    (the urgent-low rule runs in the same evaluation)."""
    try:
        return deployed_model()
    except (OSError, ValueError) as e:
        logger.error("forecast: the shipped model cannot be loaded (%s); using AR2", e)
        return None


@dataclass(frozen=True, slots=True)
class Windows:
    """Every 5-minute window with a full 30-minute history and future."""

    history: FloatArray  # (n, LAGS + 1), newest first
    minute: FloatArray  # local minute of day of the newest reading
    future: FloatArray  # (n, len(HORIZONS_MIN))


def windows(patients: Sequence[tuple[npt.ArrayLike, npt.ArrayLike, str]]) -> Windows:
    """Training windows over many people's (times_us, values, tz)."""
    hist, minutes, futures = [], [], []
    for t, v, tz in patients:
        data = clean(t, v)
        rows, h = history_matrix(data.times_us, data.values)
        future = future_matrix(data.times_us, data.values, rows)
        complete = ~np.isnan(future).any(axis=1)
        _, minute = local_day_and_minute(data.times_us[rows[complete]], tz)
        hist.append(h[complete])
        minutes.append(np.asarray(minute, dtype=np.float64))
        futures.append(future[complete])
    if not hist or sum(h.shape[0] for h in hist) == 0:
        raise ValueError("no training windows: need CGM series with 30 min of history and future")
    return Windows(np.vstack(hist), np.concatenate(minutes), np.vstack(futures))


def train_neural(
    data: Windows,
    *,
    hidden: tuple[int, ...] = (32, 16),
    alpha: float = 1e-3,
    max_iter: int = 80,
    seed: int = 0,
    ensemble: int = 1,
    trained_on: str = "",
) -> NeuralForecast:
    """Fit the network (scikit-learn MLPRegressor, Adam, early stopping on 10% held out).

    ``ensemble`` > 1 fits that many networks (seeds ``seed``, ``seed + 1``, ...) and
    returns their average as one wider network with the same inputs (``_merge``).
    """
    from sklearn.neural_network import MLPRegressor

    x = neural_features(data.history, data.minute)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    output_scale = 20.0  # mg/dL: keeps the targets near unit scale
    nets = []
    for k in range(ensemble):
        net = MLPRegressor(
            hidden_layer_sizes=hidden,
            alpha=alpha,
            max_iter=max_iter,
            early_stopping=True,
            random_state=seed + k,
        )
        with _one_thread(), warnings.catch_warnings():
            warnings.simplefilter("ignore", category=ConvergenceWarning)
            net.fit((x - mean) / scale, (data.future - data.history[:, :1]) / output_scale)
        nets.append(
            (
                [np.asarray(w, dtype=np.float64) for w in net.coefs_],
                [np.asarray(b, dtype=np.float64) for b in net.intercepts_],
            )
        )
    weights, biases = _merge(nets)
    return NeuralForecast(
        mean=mean,
        scale=scale,
        weights=weights,
        biases=biases,
        output_scale=output_scale,
        samples=int(x.shape[0]),
        trained_on=trained_on,
    )


def _merge(
    nets: Sequence[tuple[list[FloatArray], list[FloatArray]]],
) -> tuple[tuple[FloatArray, ...], tuple[FloatArray, ...]]:
    """The average of networks of one shape as a single network: their hidden layers side
    by side (the first layer's weights joined, the next ones block-diagonal) and the
    output layer averaging them. Exact, since each unit still sees only its own network."""
    if len(nets) == 1:
        return tuple(nets[0][0]), tuple(nets[0][1])
    depth = len(nets[0][0])
    weights, biases = [], []
    for layer in range(depth):
        ws = [n[0][layer] for n in nets]
        bs = [n[1][layer] for n in nets]
        if layer == 0:
            w = np.hstack(ws)
        elif layer == depth - 1:
            w = np.vstack(ws) / len(nets)
        else:
            w = np.zeros((sum(a.shape[0] for a in ws), sum(a.shape[1] for a in ws)))
            r = c = 0
            for a in ws:
                w[r : r + a.shape[0], c : c + a.shape[1]] = a
                r, c = r + a.shape[0], c + a.shape[1]
        weights.append(w)
        biases.append(np.mean(bs, axis=0) if layer == depth - 1 else np.concatenate(bs))
    return tuple(weights), tuple(biases)


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
    """The forecast from the newest reading; AR2's (``ar2_latest``) when that reading lacks
    the model's 30 minutes of history, None when AR2 has none either."""
    data = clean(times_us, values)
    if data.times_us.size == 0:
        return None
    # only the readings the newest one's history can use (a day of CGM is passed in)
    reach_us = (LAGS * STEP_S + TOLERANCE_S) * US_PER_S
    first = int(np.searchsorted(data.times_us, data.times_us[-1] - reach_us))
    t, v = data.times_us[first:], data.values[first:]
    rows, hist = history_matrix(t, v)
    if rows.size == 0 or rows[-1] != t.size - 1:
        return ar2_latest(data.times_us, data.values)
    _, minute = local_day_and_minute(t[-1:], tz)
    paths, low = model.predict(hist[-1:], np.asarray(minute, dtype=np.float64))
    return _as_forecast(int(t[-1]), float(v[-1]), paths[-1], bool(low[-1]), model.kind)


def _as_forecast(at_us: int, current: float, path: FloatArray, low: bool, kind: str) -> Forecast:
    below = np.flatnonzero(path < LOW)
    return Forecast(
        at_us,
        current,
        HORIZONS_MIN,
        tuple(float(p) for p in path),
        low,  # the model's own decision (its alarm rule, calibrated on training patients)
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
