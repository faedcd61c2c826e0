"""A believable glucose curve: circadian baseline, meals, insulin, exercise, episodes, noise.

This is a generator of plausible test data, not a physiological model: it
aims at the shapes clinicians recognise on an AGP (dawn rise, post-meal
peaks, nocturnal lows, prolonged highs after a missed bolus), and is seeded
so that every run of the same day gives the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from devices.seeding import rng_for

FloatArray = npt.NDArray[np.float64]
CGM_LOW, CGM_HIGH = 40.0, 400.0  # a CGM reports LO/HI outside this range


@dataclass(frozen=True, slots=True)
class GlucoseParams:
    mean: float = 150.0
    meal_rise: float = 60.0
    insulin: bool = True
    missed_bolus_per_week: float = 0.5
    hypo_per_week: float = 1.0
    nocturnal_share: float = 0.4
    exercise_days_per_week: float = 2.0

    @classmethod
    def from_section(cls, section: dict[str, object]) -> GlucoseParams:
        fields = {k: section[k] for k in cls.__dataclass_fields__ if k in section}
        return cls(**fields)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class DayEvents:
    """What happened on one local day, as epoch seconds."""

    meals: tuple[tuple[float, float, bool], ...]  # (start, size 0..1.5, bolus missed)
    hypos: tuple[tuple[float, float, float], ...]  # (start, duration s, nadir mg/dL)
    exercise: tuple[tuple[float, float], ...]  # (start, intensity 0..1)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def day_events(patient_id: str, day: date, tz: ZoneInfo, p: GlucoseParams, seed: int) -> DayEvents:
    rng = rng_for(seed, patient_id, "glucose-events", day)
    midnight = local_midnight(day, tz).timestamp()

    def at(hour: float) -> float:
        return midnight + hour * 3600.0

    meals = tuple(
        (
            at(hour + rng.normal(0, spread)),
            float(np.clip(rng.normal(size, 0.25), 0.3, 1.6)),
            bool(rng.random() < p.missed_bolus_per_week / 7.0 / 3.0) if p.insulin else False,
        )
        for hour, spread, size in ((7.5, 0.4, 0.8), (12.75, 0.6, 1.0), (18.75, 0.6, 1.1))
    )
    hypos = []
    for _ in range(rng.poisson(p.hypo_per_week / 7.0)):
        nocturnal = rng.random() < p.nocturnal_share
        hour = rng.uniform(1.0, 5.0) if nocturnal else rng.uniform(9.0, 22.0)
        hypos.append((at(hour), rng.uniform(25, 70) * 60.0, rng.uniform(45.0, 66.0)))
    exercise: tuple[tuple[float, float], ...] = ()
    if rng.random() < p.exercise_days_per_week / 7.0:
        exercise = ((at(rng.uniform(15.0, 18.0)), rng.uniform(0.5, 1.0)),)
    return DayEvents(meals=meals, hypos=tuple(hypos), exercise=exercise)


def glucose_at(
    t: FloatArray,
    events: list[DayEvents],
    p: GlucoseParams,
    tz: ZoneInfo,
    phases: FloatArray,
) -> FloatArray:
    """True (interstitial) glucose in mg/dL at epoch seconds ``t``."""
    hours = _local_hours(t, tz)
    g = p.mean - 15.0 + 22.0 * np.exp(-0.5 * ((hours - 6.5) / 1.4) ** 2)  # dawn rise
    for period_h, amplitude, phase in zip(
        (2.7, 6.1, 15.3), (12.0, 16.0, 20.0), phases, strict=True
    ):
        g += amplitude * np.sin(2 * np.pi * t / (period_h * 3600.0) + phase)
    for day in events:
        for start, size, missed in day.meals:
            g += _meal(t - start, size * p.meal_rise, missed, p.insulin)
        for start, intensity in day.exercise:
            g -= 35.0 * intensity * _window(t - start, 100 * 60.0)
    for day in events:
        for start, duration, nadir in day.hypos:
            w = _window(t - start, duration)
            g = g * (1 - w) + nadir * w
    return g


def _meal(tau: FloatArray, rise: float, missed_bolus: bool, insulin: bool) -> FloatArray:
    """A post-meal excursion peaking about an hour after eating (two with a missed bolus)."""
    peak_s = (120.0 if missed_bolus else 55.0) * 60.0
    amplitude = rise * (2.6 if missed_bolus else 1.0)
    x = np.clip(tau, 0, None) / peak_s
    shape = x * np.exp(1.0 - x)
    if insulin and not missed_bolus:
        shape -= (
            0.18 * np.clip(tau - 2.5 * 3600, 0, None) / 3600
            * np.exp(-np.clip(tau, 0, None) / 12600)
        )
    return amplitude * shape


def _window(tau: FloatArray, duration: float) -> FloatArray:
    """Smooth 0→1→0 over ``duration`` seconds, with 15-minute shoulders."""
    ramp = 15 * 60.0
    up = np.clip(tau / ramp, 0, 1)
    down = np.clip((duration - tau) / ramp, 0, 1)
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down))


def _local_hours(t: FloatArray, tz: ZoneInfo) -> FloatArray:
    if t.size == 0:
        return t
    # Offsets change at most twice a year: compute them at the ends and the middle.
    probes = [t[0], t[t.size // 2], t[-1]]
    offsets = {float(x): datetime.fromtimestamp(float(x), tz).utcoffset() for x in probes}
    if len({o for o in offsets.values()}) == 1:
        offset = next(iter(offsets.values()))
        assert offset is not None
        return ((t + offset.total_seconds()) % 86400.0) / 3600.0
    local = np.array(
        [datetime.fromtimestamp(float(x), tz).utcoffset().total_seconds() for x in t]  # type: ignore[union-attr]
    )
    hours: npt.NDArray[np.float64] = ((t + local) % 86400.0) / 3600.0
    return hours


def sensor_gaps(
    patient_id: str, day: date, tz: ZoneInfo, seed: int
) -> list[tuple[float, float]]:
    """(start, end) epoch seconds with no CGM data: warm-up after a sensor change, dropouts."""
    rng = rng_for(seed, patient_id, "cgm-gaps", day)
    midnight = local_midnight(day, tz).timestamp()
    gaps = []
    if day.toordinal() % 10 == rng_for(seed, patient_id, "sensor-cycle").integers(10):
        start = midnight + rng.uniform(8, 20) * 3600.0
        gaps.append((start, start + 60 * 60.0))  # 1-hour warm-up of a new sensor
    for _ in range(rng.poisson(0.4)):
        start = midnight + rng.uniform(0, 24) * 3600.0
        gaps.append((start, start + rng.uniform(20, 90) * 60.0))
    return gaps


def phases_for(patient_id: str, seed: int) -> FloatArray:
    return rng_for(seed, patient_id, "glucose-phases").uniform(0, 2 * np.pi, 3)


def day_window(day: date, tz: ZoneInfo) -> tuple[float, float]:
    start = local_midnight(day, tz)
    end = local_midnight(day + timedelta(days=1), tz)
    return start.timestamp(), end.timestamp()
