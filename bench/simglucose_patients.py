"""UVA/Padova virtual patients (the ``simglucose`` package): CGM traces for the forecast benchmark.

simglucose ships the parameters of 30 virtual people of the UVA/Padova T1D
simulator (adolescent#001-010, adult#001-010, child#001-010); nothing is
downloaded.  Each person is run under several *regimes* (a controller, its
meal and bolus errors, a meal scenario and a CGM), for ``days`` days from
midnight UTC, one CGM reading every 3 (Dexcom) or 5 (GuardianRT) minutes.

The split is by person: ``TRAIN`` (odd numbers) and ``TEST`` (even numbers)
never share anyone, in any age group.

Traces are cached as ``.npz`` files under ``cache_dir`` (by default
``$HEARTH_SIMGLUCOSE_CACHE`` or ``<tmp>/hearth-simglucose``), keyed by every
setting that shapes them; delete the directory to start again.

Speed: simglucose's patient reads its parameters from a pandas Series in
the ODE's right-hand side (~15 pandas look-ups per call, 19 calls a minute);
``_FastPatient`` hands the same numbers to the same model as plain attributes,
which gives identical traces ~7x faster (about 0.9 s per simulated day).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

GROUPS = ("adolescent", "adult", "child")
PATIENTS = tuple(f"{g}#{i:03d}" for g in GROUPS for i in range(1, 11))
TRAIN = tuple(p for p in PATIENTS if int(p[-3:]) % 2 == 1)
TEST = tuple(p for p in PATIENTS if int(p[-3:]) % 2 == 0)
START = datetime(2026, 1, 5)  # a midnight: simglucose's daily scenarios start at 00:00
US_PER_MIN = 60_000_000
LOW_TREATED = 70.0  # a reading below it may be treated (Battelino 2019 level 1: docs/CLINICAL.md)
RESCUE_G = 15.0  # the "rule of 15": 15 g fast-acting carbohydrate, re-checked after 15 min
RESCUE_EVERY_MIN = 15.0
CGM_MIN, CGM_MAX = 40.0, 400.0  # what a CGM reports (LOW/HIGH outside), as Hearth's own simulator


@dataclass(frozen=True, slots=True)
class Regime:
    """How a virtual person manages their diabetes in one simulated run."""

    name: str
    controller: str  # "bb": basal-bolus (simglucose's formula); "pid": basal + PID, no meal bolus
    carb_error_sd: float = 0.0  # log-normal error of the carbohydrate estimate behind a bolus
    missed_bolus: float = 0.0  # share of meals with no bolus
    meals: str = "random"  # "random": simglucose's RandomScenario; "large": _LargeMeals
    sensor: str = "Dexcom"  # simglucose sensor: Dexcom (3 min) or GuardianRT (5 min)
    treats_lows: float = 0.8  # chance that a CGM reading <70 is treated with RESCUE_G of sugar


REGIMES = (
    Regime("bb-exact", "bb"),
    Regime("bb-errors", "bb", carb_error_sd=0.35, missed_bolus=0.15, meals="large",
           sensor="GuardianRT"),
    Regime("pid", "pid", meals="random", sensor="GuardianRT"),
    Regime("bb-overbolus", "bb", carb_error_sd=0.25, meals="large", sensor="Dexcom"),
)


@dataclass(frozen=True, slots=True)
class Trace:
    patient: str
    regime: str
    times_us: npt.NDArray[np.int64]  # epoch microseconds, UTC
    cgm: npt.NDArray[np.float64]  # mg/dL as the CGM reports it (40-400)
    bg: npt.NDArray[np.float64]  # the model's subcutaneous glucose, for reference

    @property
    def name(self) -> str:
        return f"{self.patient}/{self.regime}"


def _quiet() -> None:
    warnings.filterwarnings("ignore", module="simglucose")
    warnings.filterwarnings("ignore", message=".*pkg_resources.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("simglucose").setLevel(logging.WARNING)


def _seed(*parts: object) -> int:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _simulate(patient: str, regime: Regime, days: int, seed: int) -> Trace:
    _quiet()
    import pandas as pd
    from simglucose.actuator.pump import InsulinPump
    from simglucose.controller.basal_bolus_ctrller import CONTROL_QUEST, PATIENT_PARA_FILE
    from simglucose.controller.base import Action, Controller
    from simglucose.controller.pid_ctrller import PIDController
    from simglucose.patient.t1dpatient import T1DPatient
    from simglucose.sensor.cgm import CGMSensor
    from simglucose.simulation.env import T1DSimEnv
    from simglucose.simulation.scenario_gen import RandomScenario

    class _FastPatient(T1DPatient):  # type: ignore[misc]
        """The same model; its parameters as plain attributes (see the module docstring)."""

        _series: Any = None

        def reset(self) -> None:
            if self._series is not None:  # T1DPatient.reset reads the Series
                self._params = self._series
            super().reset()
            self._series = self._params
            self._params = SimpleNamespace(**self._series.to_dict())

    class _LargeMeals(RandomScenario):  # type: ignore[misc]
        """RandomScenario's day with bigger, later meals and more snacks."""

        def create_scenario(self) -> dict[str, dict[str, list[float]]]:
            rng = self.random_gen
            out: dict[str, dict[str, list[float]]] = {"meal": {"time": [], "amount": []}}
            plan = (  # (probability, earliest h, usual h, latest h, grams, sd)
                (0.9, 6, 8, 10, 60, 15), (0.5, 10, 10.5, 11.5, 20, 8),
                (0.95, 11, 13, 15, 90, 20), (0.5, 15, 16, 17, 25, 10),
                (0.95, 18, 19.5, 21.5, 100, 25), (0.4, 21, 22.5, 23.5, 30, 10),
            )
            for p, lo, mid, hi, grams, sd in plan:
                if rng.rand() < p:
                    t = float(np.clip(np.round(rng.normal(mid * 60, 45)), lo * 60, hi * 60))
                    out["meal"]["time"].append(t)
                    out["meal"]["amount"].append(float(max(round(rng.normal(grams, sd)), 5)))
            return out

    class _WithRescue:
        """A meal scenario plus the fast carbohydrate a person takes for a low (set by the run)."""

        def __init__(self, base: Any) -> None:
            self.base, self.start_time = base, base.start_time
            self.rescue_at: datetime | None = None
            self.served = 0.0  # rescue grams eaten since the controller last looked

        def get_action(self, t: datetime) -> Any:
            action = self.base.get_action(t)
            if self.rescue_at is not None and t >= self.rescue_at:
                self.rescue_at = None
                self.served += RESCUE_G
                return action._replace(meal=action.meal + RESCUE_G)
            return action

        def reset(self) -> None:
            self.base.reset()
            self.rescue_at, self.served = None, 0.0

    quest = pd.read_csv(CONTROL_QUEST).set_index("Name").loc[patient]
    table = pd.read_csv(PATIENT_PARA_FILE)
    params = table.loc[table.Name == patient].squeeze()
    basal = float(params.u2ss) * float(params.BW) / 6000  # U/min, as simglucose's BBController
    rng = np.random.default_rng(seed)

    class _BasalBolus(Controller):  # type: ignore[misc]
        """simglucose's BBController formula, with carbohydrate-count errors and missed boluses."""

        def __init__(self) -> None:
            self.cr, self.cf, self.target = float(quest.CR), float(quest.CF), 140.0

        def policy(self, observation: Any, reward: float, done: bool, **info: Any) -> Any:
            step_min, meal, glucose = info["sample_time"], info["meal"], observation.CGM
            bolus = 0.0
            carbs = meal * step_min - scenario.served  # no bolus for hypo treatment
            scenario.served = 0.0
            if carbs > 0.5 and rng.random() >= regime.missed_bolus:
                carbs *= math.exp(rng.normal(0.0, regime.carb_error_sd))
                bolus = carbs / self.cr + (glucose > 150) * (glucose - self.target) / self.cf
            return Action(basal=basal, bolus=max(bolus, 0.0) / step_min)

        def reset(self) -> None:
            pass

    class _BasalPID(PIDController):  # type: ignore[misc]
        """The patient's basal plus simglucose's PID on CGM (gains scaled to that basal)."""

        def policy(self, observation: Any, reward: float, done: bool, **info: Any) -> Any:
            action = super().policy(observation, reward, done, **info)
            return Action(basal=max(basal + action.basal, 0.0), bolus=0.0)

    body = _FastPatient(params, random_init_bg=True, seed=seed % 2**31)
    sensor = CGMSensor.withName(regime.sensor, seed=(seed + 1) % 2**31)
    pump = InsulinPump.withName("Insulet")
    scenario_cls = _LargeMeals if regime.meals == "large" else RandomScenario
    scenario = _WithRescue(scenario_cls(start_time=START, seed=(seed + 2) % 2**31))
    env = T1DSimEnv(body, sensor, pump, scenario)
    controller: Controller
    if regime.controller == "pid":
        controller = _BasalPID(P=basal / 40.0, I=basal / 40.0 / 600.0, D=basal / 40.0 * 5.0,
                               target=120)
    else:
        controller = _BasalBolus()
    steps = int(days * 24 * 60 / float(sensor.sample_time))
    step = env.reset()
    last_rescue = -math.inf
    for _ in range(steps):
        step = env.step(controller.policy(step.observation, step.reward, step.done, **step.info))
        now_min = float(body.t)
        if (step.observation.CGM < LOW_TREATED and now_min - last_rescue >= RESCUE_EVERY_MIN
                and rng.random() < regime.treats_lows):
            scenario.rescue_at, last_rescue = env.time, now_min
        if step.done:  # glucose outside the model's 10-600 mg/dL: stop the run there
            break
    start_us = int(START.replace(tzinfo=UTC).timestamp()) * 1_000_000
    minutes = np.array([(t - START).total_seconds() / 60.0 for t in env.time_hist])
    times = start_us + np.round(minutes * US_PER_MIN).astype(np.int64)
    raw = np.asarray(env.CGM_hist, dtype=np.float64)
    cgm: npt.NDArray[np.float64] = np.clip(np.round(raw), CGM_MIN, CGM_MAX).astype(np.float64)
    return Trace(patient, regime.name, times, cgm, np.asarray(env.BG_hist, dtype=np.float64))


def cache_dir() -> Path:
    return Path(os.environ.get("HEARTH_SIMGLUCOSE_CACHE")
                or Path(tempfile.gettempdir()) / "hearth-simglucose")


def trace(patient: str, regime: Regime, *, days: int = 10, seed: int = 0,
          directory: Path | None = None) -> Trace:
    """One person's run under one regime, from the cache or simulated (then cached)."""
    if patient not in PATIENTS:
        raise ValueError(f"unknown simglucose patient {patient!r}")
    key = _seed(patient, asdict(regime), days, seed)
    where = (directory or cache_dir())
    path = where / f"{patient.replace('#', '-')}_{regime.name}_{days}d_{key:08x}.npz"
    if path.exists():
        with np.load(path) as f:
            return Trace(patient, regime.name, f["times_us"], f["cgm"], f["bg"])
    out = _simulate(patient, regime, days, key)
    where.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(partial, times_us=out.times_us, cgm=out.cgm, bg=out.bg)
    partial.replace(path)
    return out


def _one(args: tuple[str, Regime, int, int, Path | None]) -> Trace:
    patient, regime, days, seed, directory = args
    return trace(patient, regime, days=days, seed=seed, directory=directory)


def traces(patients: Iterable[str], regimes: Sequence[Regime] = REGIMES, *, days: int = 10,
           seed: int = 0, workers: int = 1, directory: Path | None = None) -> list[Trace]:
    """Every (patient, regime) run, simulated in ``workers`` processes where not cached."""
    jobs = [(p, r, days, seed, directory) for p in patients for r in regimes]
    if workers <= 1:
        return [_one(j) for j in jobs]
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return pool.map(_one, jobs, chunksize=1)


def resample_5min(times_us: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
                  ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Linear interpolation onto a 5-minute grid (the benchmark's protocol)."""
    step = 5 * US_PER_MIN
    first = -(-int(times_us[0]) // step) * step
    grid = np.arange(first, int(times_us[-1]) + 1, step, dtype=np.int64)
    return grid, np.round(np.interp(grid, times_us, values), 1)


if __name__ == "__main__":
    import argparse
    import sys
    import time

    parser = argparse.ArgumentParser(description="simulate and cache the virtual patients")
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--patients", nargs="*", default=list(PATIENTS))
    args = parser.parse_args()
    began = time.perf_counter()
    for tr in traces(args.patients, days=args.days, workers=args.workers):
        v = tr.cgm
        sys.stdout.write(
            f"{tr.name:<28} n={v.size:5d} mean={v.mean():6.1f} <70={100 * (v < 70).mean():5.1f}% "
            f"<54={100 * (v < 54).mean():5.1f}% >250={100 * (v > 250).mean():5.1f}%\n")
    sys.stdout.write(f"{time.perf_counter() - began:.1f} s\n")
