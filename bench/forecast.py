"""Glucose forecast benchmark on UVA/Padova virtual patients, split by person.

The virtual people and their regimes are bench/simglucose_patients.py (the
``simglucose`` package: 30 people in three age groups, each under basal-bolus
control with and without carbohydrate-count errors and missed boluses, and a
basal + PID controller, with two meal scenarios and 3- or 5-minute CGMs).
The models are trained on the odd-numbered people (``TRAIN``) and scored on
the even-numbered ones (``TEST``), whom they never saw; every series is
resampled to 5 minutes and every method is scored on the same forecasts at a
30-minute horizon (analytics/forecast_eval.py).

Candidates: Nightscout's AR2 (the live rule's predictor until now), "no
change", the scikit-learn gradient-boosted model of analytics/forecast.py
(``BoostedForecast``) trained on the same people, and the small neural network
(``NeuralForecast``) whose weights the live rule loads.  Alarm settings of
both models are calibrated on the training people only.

Run:  .venv/bin/python -m bench.forecast [--workers 2] [--write-model]
      (--write-model stores the trained network as analytics/forecast_model.json)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from analytics.forecast import (
    MODEL_FILE,
    ForecastModel,
    ar2_paths,
    deployed_model,
    forecast_all,
    train_neural,
    train_population,
    windows,
)
from analytics.forecast_eval import (
    EMPTY,
    ForecastScore,
    ar2_score,
    calibrate_low_margin,
    calibrate_low_threshold,
    score,
)
from analytics.timebase import clean
from bench.simglucose_patients import REGIMES, TEST, TRAIN, Trace, resample_5min, traces
from core.readings import to_epoch_us
from devices.profiles import DeviceSpec, PatientProfile, load_profiles
from devices.simulator import HouseholdSimulator

Series = tuple[np.ndarray, np.ndarray, str]


def show(text: str) -> None:
    """Benchmark figures go to standard output."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- Hearth's own household simulator (bench.analytics times the analytics on it) ----------

START = datetime(2026, 1, 5, tzinfo=UTC)
ZONES = ("Europe/London", "Europe/Paris", "America/New_York", "Europe/Lisbon")


def simulated_patient(i: int) -> PatientProfile:
    """A CGM user of the household simulator with their own glucose habits (seeded by i)."""
    rng = np.random.default_rng(1000 + i)
    template = next(p for p in load_profiles() if p.devices_of("cgm"))
    glucose = {
        "mean": float(rng.uniform(125, 185)),
        "meal_rise": float(rng.uniform(50, 110)),
        "insulin": True,
        "missed_bolus_per_week": float(rng.uniform(0, 2)),
        "hypo_per_week": float(rng.uniform(1, 5)),
        "nocturnal_share": float(rng.uniform(0.2, 0.6)),
        "exercise_days_per_week": float(rng.uniform(0, 4)),
    }
    return replace(
        template,
        id=f"sim{i:03d}",
        name=f"Simulated {i}",
        timezone=ZONES[i % len(ZONES)],
        devices=(DeviceSpec(f"sim{i:03d}-cgm", "cgm"),),
        params={"glucose": glucose},
    )


def cgm_series(profile: PatientProfile, days: int) -> tuple[np.ndarray, np.ndarray]:
    sim = HouseholdSimulator([profile], seed=7)
    readings = [
        r
        for r in sim.patient_readings(profile, START, START + timedelta(days=days))
        if r.metric == "glucose"
    ]
    t = np.array([to_epoch_us(r.measured_at) for r in readings], dtype=np.int64)
    v = np.array([r.value for r in readings], dtype=np.float64)
    data = clean(t, v)
    return data.times_us, data.values


# -- the benchmark --------------------------------------------------------------------------


def series_of(runs: Sequence[Trace]) -> list[Series]:
    """Each run on a 5-minute grid (simglucose's days start at midnight: the local time)."""
    return [(*resample_5min(r.times_us, r.cgm), "UTC") for r in runs]


def evaluate(
    model: ForecastModel | None, data: Sequence[Series]
) -> tuple[list[ForecastScore], list[ForecastScore]]:
    """Per-series scores of ``model`` (None: no change) and of AR2, on the same forecasts."""
    ours, ar2 = [], []
    for t, v, tz in data:
        if model is None:
            rows_m = np.arange(6, t.size)
            paths_m = np.repeat(v[rows_m][:, None], 6, axis=1)
            low_m = np.zeros(rows_m.size, dtype=bool)
        else:
            rows_m, paths_m, low_m = forecast_all(model, t, v, tz=tz)
        rows_a, paths_a = ar2_paths(t, v)
        common, ia, ib = np.intersect1d(rows_m, rows_a, return_indices=True)
        ours.append(score(t, v, common, paths_m[ia], alarms=low_m[ia]))
        ar2.append(score(t, v, common, paths_a[ib]))
    return ours, ar2


def total(scores: Sequence[ForecastScore]) -> ForecastScore:
    out = EMPTY
    for s in scores:
        out += s
    return out


def row(name: str, s: ForecastScore, base: ForecastScore | None = None) -> str:
    vs = f" ({100 * (s.rmse / base.rmse - 1):+5.1f}%)" if base is not None else "         "
    return (
        f"| {name:<22} | {s.rmse:5.1f}{vs} | {s.mae:5.1f} | "
        f"{100 * s.sensitivity:5.1f}% ({s.caught}/{s.lows}) | "
        f"{100 * s.precision:5.1f}% ({s.true_alarms}/{s.alarms}) | {s.median_warning_min:4.1f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=10, help="simulated days per run")
    parser.add_argument("--workers", type=int, default=1, help="simulation processes")
    parser.add_argument("--people", type=int, default=5,
                        help="people per age group on each side of the split (at most 5)")
    parser.add_argument("--write-model", action="store_true",
                        help=f"store the trained network as analytics/{MODEL_FILE}")
    parser.add_argument("--ensemble", type=int, default=3,
                        help="networks averaged into the shipped one (different seeds)")
    parser.add_argument("--no-boosted", action="store_true",
                        help="skip the gradient-boosted candidate (the slowest to train)")
    args = parser.parse_args(argv)

    if not 1 <= args.people <= 5:
        parser.error("--people must be 1 to 5")
    train_people = [p for p in TRAIN if int(p[-3:]) <= 2 * args.people]
    test_people = [p for p in TEST if int(p[-3:]) <= 2 * args.people]
    if args.write_model and args.people != 5:
        parser.error("--write-model trains on every training person: leave --people at 5")
    began = time.perf_counter()
    train_runs = traces(train_people, days=args.days, workers=args.workers)
    test_runs = traces(test_people, days=args.days, workers=args.workers)
    train, test = series_of(train_runs), series_of(test_runs)
    simulated = time.perf_counter()

    neural = train_neural(
        windows(train),
        ensemble=args.ensemble,
        trained_on=(
            f"simglucose 0.2.11: {len(train_people)} people ({', '.join(train_people)}) x "
            f"{len(REGIMES)} regimes ({', '.join(r.name for r in REGIMES)}) x {args.days} days, "
            "5-minute grid (bench/simglucose_patients.py)"
        ),
    )
    neural = neural.with_margin(calibrate_low_margin(neural, train))
    candidates: list[tuple[str, ForecastModel | None]] = [("no change", None)]
    if not args.no_boosted:
        boosted = train_population(train)
        boosted = boosted.with_threshold(*calibrate_low_threshold(boosted, train))
        candidates.append(("gradient boosting", boosted))
    candidates.append(("neural network", neural))
    if not args.write_model:
        candidates.append(("shipped neural network", deployed_model()))
    trained = time.perf_counter()

    ar2_train = ar2_score(train)
    show(
        f"glucose forecast, 30 min ahead, 5-minute grid: trained on {len(train_people)} "
        f"simglucose people x {len(REGIMES)} regimes, scored on {len(test_people)} OTHER people x "
        f"{len(REGIMES)} regimes ({args.days} days each)"
    )
    show(
        f"  neural alarm: a path below {70 + neural.low_margin:.0f} mg/dL (margin calibrated on "
        f"the training people, where AR2 has {100 * ar2_train.precision:.1f}% precision)"
    )
    show("")
    show("| held-out people | RMSE (vs AR2) | MAE | low sensitivity | precision | warning min |")
    show("|---|---|---|---|---|---|")
    results = {}
    ar2_all: ForecastScore | None = None
    for name, model in candidates:
        ours, ar2 = evaluate(model, test)
        results[name] = (ours, ar2)
        if ar2_all is None:
            ar2_all = total(ar2)
            show(row("Nightscout AR2", ar2_all))
        show(row(name, total(ours), total(ar2)))
    assert ar2_all is not None
    show("")
    # the live rule's model: the shipped one, or the one this run writes
    name = "neural network" if args.write_model else "shipped neural network"
    ours, ar2 = results[name]
    show(f"{name} by age group and regime (RMSE, ratio to AR2's on the same forecasts):")
    for label, keep in (
        *((g, [g in r.patient for r in test_runs]) for g in ("adolescent", "adult", "child")),
        *((r.name, [x.regime == r.name for x in test_runs]) for r in REGIMES),
    ):
        o = total([s for s, k in zip(ours, keep, strict=True) if k])
        a = total([s for s, k in zip(ar2, keep, strict=True) if k])
        ratio = 100 * (o.rmse / a.rmse - 1)
        show(f"  {label:<14} {o.rmse:5.1f} vs {a.rmse:5.1f}  ({ratio:+5.1f}%)")
    gain = 1 - total(ours).rmse / ar2_all.rmse
    people = sorted({r.patient for r in test_runs})
    better = sum(
        total([s for s, r in zip(ours, test_runs, strict=True) if r.patient == p]).rmse
        < total([s for s, r in zip(ar2, test_runs, strict=True) if r.patient == p]).rmse
        for p in people
    )
    show(f"  lower RMSE than AR2 for {better} of {len(people)} held-out people")
    show(f"  population: RMSE {100 * gain:.1f}% lower than AR2 ({name})")
    show(
        f"  target >=15% lower RMSE than AR2: {'MET' if gain >= 0.15 else 'NOT met'} "
        f"({100 * gain:.1f}%); precision "
        f"{'equal or better' if total(ours).precision >= ar2_all.precision else 'LOWER'}"
    )
    if args.write_model:
        path = Path(__file__).resolve().parent.parent / "analytics" / MODEL_FILE
        path.write_text(json.dumps(neural.to_json(), indent=None) + "\n", encoding="utf-8")
        show(f"  wrote {path} ({path.stat().st_size} bytes)")
    show(
        f"  time: simulate/load {simulated - began:.1f} s, train {trained - simulated:.1f} s, "
        f"score {time.perf_counter() - trained:.1f} s"
    )


if __name__ == "__main__":
    main()
