"""Glucose forecast benchmark: the scikit-learn model against Nightscout's AR2.

Simulated patients come from the household simulator (devices/simulator.py),
with glucose parameters varied per patient.  The population model is trained
on one group of patients; the evaluation uses a different group it never saw.
Each evaluated patient's own model is trained on their first days and scored
on their last days (with the population model as its fallback).  AR2 and the
models are scored on exactly the same forecast points.

Run:  .venv/bin/python -m bench.forecast [--train 16 --test 20 --days 35 --test-days 14]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from analytics.forecast import (
    ForecastModel,
    ar2_paths,
    forecast_all,
    train_patient,
    train_population,
)
from analytics.forecast_eval import (
    EMPTY,
    ForecastScore,
    ar2_score,
    calibrate_low_threshold,
    score,
)
from analytics.timebase import clean
from core.readings import to_epoch_us
from devices.profiles import DeviceSpec, PatientProfile, load_profiles
from devices.simulator import HouseholdSimulator


def show(text: str) -> None:
    """Benchmark figures go to standard output."""
    sys.stdout.write(text + "\n")


START = datetime(2026, 1, 5, tzinfo=UTC)
ZONES = ("Europe/London", "Europe/Paris", "America/New_York", "Europe/Lisbon")


def simulated_patient(i: int) -> PatientProfile:
    """A CGM user with their own glucose habits (seeded by i)."""
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


def _common(rows_a: np.ndarray, rows_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    common, ia, ib = np.intersect1d(rows_a, rows_b, return_indices=True)
    return common, ia, ib


def evaluate(
    model_for: dict[str, ForecastModel],
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    tz: dict[str, str],
    split_us: dict[str, int],
) -> tuple[ForecastScore, ForecastScore]:
    """Scores of the model and AR2 on the same points after each patient's split."""
    ours, ar2 = EMPTY, EMPTY
    for pid, (t, v) in series.items():
        rows_m, paths_m, low_m = forecast_all(model_for[pid], t, v, tz=tz[pid])
        rows_a, paths_a = ar2_paths(t, v)
        common, ia, ib = _common(rows_m, rows_a)
        test = t[common] >= split_us[pid]
        ours += score(t, v, common[test], paths_m[ia][test], alarms=low_m[ia][test])
        ar2 += score(t, v, common[test], paths_a[ib][test])
    return ours, ar2


def report(name: str, s: ForecastScore) -> None:
    show(
        f"  {name:<26} RMSE {s.rmse:6.1f}  MAE {s.mae:6.1f}  "
        f"sensitivity {100 * s.sensitivity:5.1f}%  precision {100 * s.precision:5.1f}%  "
        f"median warning {s.median_warning_min:4.1f} min  "
        f"(points {s.points}, lows {s.lows}, alarms {s.alarms})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=16, help="patients for the population model")
    parser.add_argument("--test", type=int, default=20, help="unseen patients to evaluate on")
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--test-days", type=int, default=14)
    parser.add_argument(
        "--test-seed",
        type=int,
        default=2000,
        help="first seed of the unseen patients (training uses 0..train-1)",
    )
    args = parser.parse_args(argv)

    began = time.perf_counter()
    train = [simulated_patient(i) for i in range(args.train)]
    test = [simulated_patient(args.test_seed + i) for i in range(args.test)]
    train_series = {p.id: cgm_series(p, args.days) for p in train}
    test_series = {p.id: cgm_series(p, args.days) for p in test}
    simulated = time.perf_counter()
    training = [(t, v, p.timezone) for p, (t, v) in zip(train, train_series.values(), strict=True)]
    population = train_population(training)
    # alarm threshold: the best precision that catches as many lows as AR2 on the training patients
    ar2_train = ar2_score(training)
    population = population.with_threshold(*calibrate_low_threshold(population, training))
    tz = {p.id: p.timezone for p in test}
    split = {
        p.id: int(test_series[p.id][0][0]) + (args.days - args.test_days) * 86_400_000_000
        for p in test
    }
    per_patient = {}
    for p in test:
        t, v = test_series[p.id]
        history = t < split[p.id]
        per_patient[p.id] = train_patient(
            t[history], v[history], tz=p.timezone, population=population
        )
    trained = time.perf_counter()
    ours_pop, ar2 = evaluate({p.id: population for p in test}, test_series, tz, split)
    ours_own, _ = evaluate(per_patient, test_series, tz, split)
    done = time.perf_counter()

    show(
        f"glucose forecast, 30-minute horizon: {args.test} unseen simulated patients, "
        f"last {args.test_days} of {args.days} days each; population model trained on "
        f"{args.train} other patients ({population.samples} windows)"
    )
    show(
        f"  low alarm: P>={population.low_threshold:.2f}, or an extrapolated low with "
        f"P>={population.low_veto:.2f} (on the training patients AR2 "
        f"catches {100 * ar2_train.sensitivity:.1f}% of lows at {100 * ar2_train.precision:.1f}% "
        "precision)"
    )
    report("Nightscout AR2", ar2)
    report("population model", ours_pop)
    report("per-patient model", ours_own)
    kinds = sorted({m.kind for m in per_patient.values()})
    for name, s in (("population", ours_pop), ("per-patient", ours_own)):
        gain = 100 * (1 - s.rmse / ar2.rmse)
        show(
            f"  {name}: RMSE {gain:.1f}% lower than AR2 (target >=15%); "
            f"sensitivity {'higher' if s.sensitivity > ar2.sensitivity else 'NOT higher'}, "
            f"precision {'equal or better' if s.precision >= ar2.precision else 'LOWER'}"
        )
    show(f"  per-patient models used: {kinds}")
    show(
        f"  time: simulate {simulated - began:.1f} s, train {trained - simulated:.1f} s, "
        f"score {done - trained:.1f} s"
    )


if __name__ == "__main__":
    main()
