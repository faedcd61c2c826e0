"""The prepared, frozen view of one patient at one instant that every rule reads.

``build_context`` reads the windows the enabled rules need from the time-series
store, once, and computes the features with analytics, once. Rules never
touch the store. A test builds a ``PatientContext`` by hand with only the feature
groups its rule reads (every group defaults to ``None``: "no data").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, ConfigDict

from analytics import activity, adherence, events, forecast, patterns, trends
from analytics.arrows import descent_start, fast_fall
from analytics.bp import Crisis, HomeBp, crises, home_bp
from analytics.events import GlucoseEvent
from analytics.forecast import Forecast, ForecastModel
from analytics.patterns import Pattern
from analytics.targets import GLUCOSE_VERY_LOW_BELOW as VERY_LOW_BELOW
from analytics.timebase import (
    US_PER_S,
    clean,
    coverage_s,
    day_label,
    local_day_and_minute,
    nominal_interval_s,
)
from analytics.trends import Trend
from analytics.weight import WeightSummary, weight_summary
from coach.device_kinds import DEVICE_KINDS
from core.metrics import Metric
from core.readings import to_epoch_us
from core.timeseries import Series, TimeSeriesStore

logger = logging.getLogger(__name__)

ALL_FEATURES = frozenset(
    {"glucose", "glucose_history", "bp", "weight", "spo2", "motion", "steps", "medication",
     "devices", "goals", "peers", "stories"}
)


# The metrics each feature group reads: a new reading of any other metric cannot change
# what a rule over that group finds (the real-time path uses this to skip, e.g., motion).
FEATURE_METRICS: Mapping[str, frozenset[Metric]] = {
    "glucose": frozenset({Metric.GLUCOSE}),
    "glucose_history": frozenset({Metric.GLUCOSE}),
    "bp": frozenset({Metric.SYSTOLIC, Metric.DIASTOLIC}),
    "weight": frozenset({Metric.WEIGHT}),
    "spo2": frozenset({Metric.SPO2}),
    "motion": frozenset({Metric.MOTION, Metric.DOOR}),
    "steps": frozenset({Metric.STEPS}),
    "medication": frozenset({Metric.MEDICATION_TAKEN}),
    "devices": frozenset(Metric),
    "goals": frozenset(Metric),
    "peers": frozenset(),  # answers from peers: no reading changes them
    "stories": frozenset(),  # a story to offer (read daily): no reading changes it
}


class ContextSettings(BaseModel):
    """How far back the builder reads, per feature group."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    glucose_hours: float = 24.0  # events of the last day; the forecast needs 30 min
    glucose_history_days: int = 14  # patterns (7 nights), fasting trend and TIR week over week
    bp_days: int = 7  # ESH 2021 home protocol: 7 days
    weight_days: int = 10  # the 3- and 7-day changes need 4 and 8 days; 10 for evidence
    spo2_hours: float = 24.0
    motion_days: int = 15  # the learned baseline: activity.unusual_inactivity needs >=7 days
    steps_days: int = 60  # personal best and streaks
    device_lookback_h: float = 96.0  # longest silence the device table tells apart


@dataclass(frozen=True, slots=True)
class GlucoseNow:
    latest_us: int | None
    latest: float | None  # mg/dL
    events: tuple[GlucoseEvent, ...] = ()  # level 1/2 hypo and hyper events of the window
    forecast: Forecast | None = None
    readings: int = 0
    interval_min: float = 5.0  # the usual spacing of readings: 5 or 15 (CGM), hours (meter)
    # the start of the episode below 54 mg/dL the newest reading is in (None: not below):
    # one urgent alert per episode (analytics/events.py episode_start, coach/episodes.py)
    very_low_since_us: int | None = None
    fall: tuple[float, int] | None = None  # (mg/dL/min, start) of a fast fall (arrows.py)
    descent_since_us: int | None = None  # where the newest descent began (arrows.py)


@dataclass(frozen=True, slots=True)
class TirWeek:
    tir: float  # % time 70-180 mg/dL
    wear: float  # % of possible CGM readings received
    days: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GlucoseHistory:
    nocturnal: Pattern | None = None
    fasting_days: tuple[str, ...] = ()
    fasting: tuple[float, ...] = ()
    fasting_trend: Trend | None = None
    tir_this_week: TirWeek | None = None
    tir_last_week: TirWeek | None = None


@dataclass(frozen=True, slots=True)
class BpFeatures:
    crises: tuple[Crisis, ...] = ()  # crisis-level readings of the last day, with status
    home: HomeBp | None = None  # the 7-day home average


@dataclass(frozen=True, slots=True)
class Spo2Features:
    recent: tuple[tuple[int, float], ...] = ()  # (time_us, %) newest last


@dataclass(frozen=True, slots=True)
class MotionFeatures:
    inactivity: activity.Inactivity | None = None
    days_of_history: int = 0
    # share of past days with motion in each quarter-hour of the last hour, averaged: how
    # "up and about" this person usually is at this time of day (1.0: every quarter-hour)
    usual_now: float = 1.0
    last_door_us: int | None = None  # the last time a door sensor saw the door opened


@dataclass(frozen=True, slots=True)
class StepsFeatures:
    days: tuple[str, ...] = ()  # complete local days (today left out), oldest first
    totals: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class MedicationFeatures:
    today: str = ""
    openings_today_us: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    device_id: str
    kind: str
    last_seen_us: int | None  # None: nothing within the look-back


@dataclass(frozen=True, slots=True)
class PatientContext:
    patient_id: str
    now: datetime  # timezone-aware UTC
    tz: str = "UTC"
    conditions: tuple[str, ...] = ()
    targets: Mapping[str, Any] = field(default_factory=dict)
    glucose: GlucoseNow | None = None
    glucose_history: GlucoseHistory | None = None
    bp: BpFeatures | None = None
    weight: WeightSummary | None = None
    spo2: Spo2Features | None = None
    motion: MotionFeatures | None = None
    steps: StepsFeatures | None = None
    medication: MedicationFeatures | None = None
    devices: tuple[DeviceSeen, ...] = ()
    # plan goals (care.goals.GoalStatus, built by care.plans.goal_statuses from the
    # application database); the caller passes them to build_context(goals=...)
    goals: tuple[Any, ...] = ()
    # what peers offer this patient (care.questions.PeerNews: new answers to their questions
    # for the "peers" feature, and a matching story for "stories"), read from the
    # application database by the caller
    peers: Any = None

    @property
    def now_us(self) -> int:
        return to_epoch_us(self.now)

    def target(self, name: str, default: float) -> float:
        value = self.targets.get(name)
        return float(value) if isinstance(value, int | float) else default

    def local_day(self, offset_days: int = 0) -> str:
        day, _ = local_day_and_minute(np.array([self.now_us], dtype=np.int64), self.tz)
        return day_label(int(day[0]) + offset_days)

    def local_minute(self) -> float:
        _, minute = local_day_and_minute(np.array([self.now_us], dtype=np.int64), self.tz)
        return float(minute[0])


class PatientLike(Protocol):
    """core.appdb.directory.PatientInfo satisfies this."""

    @property
    def id(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def conditions(self) -> Sequence[str]: ...
    @property
    def targets(self) -> Mapping[str, Any]: ...


class DeviceLike(Protocol):
    """core.appdb.directory.DeviceBinding satisfies this."""

    @property
    def device_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def active(self) -> bool: ...


def build_context(
    store: TimeSeriesStore,
    patient: PatientLike,
    now: datetime,
    settings: ContextSettings | None = None,
    *,
    devices: Iterable[DeviceLike] = (),
    needs: Iterable[str] | None = None,
    forecast_model: ForecastModel | None = None,
    goals: Sequence[Any] = (),
    peers: Any = None,
) -> PatientContext:
    """Read what the rules need (``needs``: feature groups; default all) and compute it once.

    ``goals`` (the "goals" feature) come from the application database, not the store:
    the caller builds them (care.plans.goal_statuses) and passes them in."""
    cfg = settings or ContextSettings()
    want = ALL_FEATURES if needs is None else frozenset(needs)
    tz = patient.timezone or "UTC"
    reader = _Reader(store, patient.id, now)
    parts: dict[str, Any] = {}
    if want & {"glucose", "glucose_history"}:
        hours = cfg.glucose_history_days * 24.0 if "glucose_history" in want else cfg.glucose_hours
        series = reader.series(Metric.GLUCOSE, timedelta(hours=hours))
        if "glucose" in want:
            parts["glucose"] = glucose_now(series, now, cfg.glucose_hours, tz, forecast_model)
        if "glucose_history" in want:
            parts["glucose_history"] = glucose_history(series, tz)
    if "bp" in want:
        parts["bp"] = bp_features(reader, now, cfg.bp_days, tz)
    if "weight" in want:
        w = reader.series(Metric.WEIGHT, timedelta(days=cfg.weight_days))
        parts["weight"] = weight_summary(w.times_us, w.values, tz=tz) if len(w) else None
    if "spo2" in want:
        s = reader.series(Metric.SPO2, timedelta(hours=cfg.spo2_hours))
        # the whole window: an episode of low oxygen is told apart by its start
        recent = zip(s.times_us.tolist(), s.values.tolist(), strict=True)
        parts["spo2"] = Spo2Features(tuple(recent)) if len(s) else None
    if "motion" in want:
        parts["motion"] = motion_features(reader, now, cfg.motion_days, tz)
    if "steps" in want:
        parts["steps"] = steps_features(reader, now, cfg.steps_days, tz)
    if "medication" in want:
        parts["medication"] = medication_features(reader, now, tz)
    if "devices" in want:
        parts["devices"] = devices_seen(store, patient.id, now, devices, cfg.device_lookback_h)
    return PatientContext(
        patient_id=patient.id,
        now=now,
        tz=tz,
        conditions=tuple(patient.conditions),
        targets=dict(patient.targets),
        goals=tuple(goals),
        peers=peers,
        **parts,
    )


@dataclass(slots=True)
class _Reader:
    store: TimeSeriesStore
    patient_id: str
    now: datetime

    def series(self, metric: Metric, back: timedelta) -> Series:
        # end is exclusive: include a reading stamped exactly now
        return self.store.read_series(
            self.patient_id, metric, self.now - back, self.now + timedelta(microseconds=1)
        )


def glucose_now(
    series: Series, now: datetime, hours: float, tz: str, model: ForecastModel | None = None
) -> GlucoseNow | None:
    now_us = to_epoch_us(now)
    keep = series.times_us >= now_us - int(hours * 3600 * US_PER_S)
    data = clean(series.times_us[keep], series.values[keep])
    if data.values.size == 0:
        return None
    t, v = data.times_us, data.values
    found = tuple(events.all_events(t, v, coverage_s(t)))
    if model is not None:
        predicted = forecast.forecast_latest(model, t, v, tz=tz)
    else:
        predicted = forecast.ar2_latest(t, v)
    spacing = float(np.median(np.diff(t))) / US_PER_S / 60.0 if t.size > 1 else 5.0
    very_low = events.episode_start(t, v, threshold=VERY_LOW_BELOW)
    tail = t >= t[-1] - 2 * 3600 * US_PER_S
    recent_t, recent_v = t[tail].tolist(), v[tail].tolist()
    fall = fast_fall(recent_t, recent_v) if spacing <= 15.0 else None
    return GlucoseNow(int(t[-1]), float(v[-1]), found, predicted, int(v.size), spacing,
                      very_low, fall, descent_start(recent_t, recent_v))


def glucose_history(series: Series, tz: str) -> GlucoseHistory | None:
    data = clean(series.times_us, series.values)
    if data.values.size == 0:
        return None
    t, v = data.times_us, data.values
    nocturnal = patterns.nocturnal_lows(t, v, tz=tz)
    f_day, f_val = trends.fasting_glucose_by_day(t, v, tz=tz)
    f_trend = trends.robust_trend(f_day, f_val) if np.unique(f_day).size >= 2 else None
    this_week, last_week = _tir_weeks(t, v, tz)
    return GlucoseHistory(
        nocturnal=nocturnal,
        fasting_days=tuple(day_label(int(d)) for d in f_day),
        fasting=tuple(float(x) for x in f_val),
        fasting_trend=f_trend,
        tir_this_week=this_week,
        tir_last_week=last_week,
    )


def _tir_weeks(t: np.ndarray, v: np.ndarray, tz: str) -> tuple[TirWeek | None, TirWeek | None]:
    """TIR of the 7 local days ending with the last reading's day, and of the 7 before,
    each with its CGM wear (the share of possible readings received)."""
    block_end, tir = trends.weekly_time_in_range(t, v, tz=tz)
    interval_s = nominal_interval_s(t)  # 5-minute sensors and 15-minute ones alike
    out: list[TirWeek | None] = []
    for k in (1, 2):  # the last block, then the one before
        if block_end.size < k:
            out.append(None)
            continue
        end = int(block_end[-k])
        start_us, end_us = local_midnight_us(end - 6, tz), local_midnight_us(end + 1, tz)
        inside = (t >= start_us) & (t < end_us)
        wear = adherence.cgm_wear(t[inside], start_us=start_us, end_us=end_us, tz=tz,
                                  interval_s=interval_s)
        days = tuple(day_label(d) for d in range(end - 6, end + 1))
        out.append(TirWeek(float(tir[-k]), wear.percent, days))
    return out[0], out[1]


def local_midnight_us(local_day: int, tz: str) -> int:
    """The instant (epoch microseconds) of the start of a local day number."""
    start = datetime.combine(date.fromisoformat(day_label(local_day)), time(0), ZoneInfo(tz))
    return to_epoch_us(start)


def bp_features(reader: _Reader, now: datetime, days: int, tz: str) -> BpFeatures | None:
    s = reader.series(Metric.SYSTOLIC, timedelta(days=days))
    d = reader.series(Metric.DIASTOLIC, timedelta(days=days))
    if not len(s) or not len(d):
        return None
    # a cuff reports both at the same instant: pair them by timestamp
    common, si, di = np.intersect1d(s.times_us, d.times_us, return_indices=True)
    if common.size == 0:
        return None
    sys_v, dia_v = s.values[si], d.values[di]
    now_us = to_epoch_us(now)
    # over the whole window, so that a repeat reading is never taken for a new crisis;
    # then only the last day's crises are news
    found = tuple(
        c for c in crises(common, sys_v, dia_v, now_us=now_us)
        if c.time_us >= now_us - 86_400 * US_PER_S
    )
    home = home_bp(common, sys_v, dia_v, tz=tz, days=days + 1)
    return BpFeatures(found, home)


def motion_features(reader: _Reader, now: datetime, days: int, tz: str) -> MotionFeatures | None:
    m = reader.series(Metric.MOTION, timedelta(days=days))
    if not len(m):
        return None
    now_us = to_epoch_us(now)
    found = activity.unusual_inactivity(m.times_us, m.values, now_us=now_us, tz=tz)
    today, minute = local_day_and_minute(np.array([now_us], dtype=np.int64), tz)
    history = activity.motion_baseline(m.times_us, m.values, tz=tz, before_day=int(today[0]))
    slot = int(minute[0] // activity.SLOT_MIN)
    last_hour = [(slot - k) % activity.SLOTS for k in range(1, 60 // activity.SLOT_MIN + 1)]
    usual = float(history.probability[last_hour].mean()) if history.active_days.any() else 0.0
    door = reader.series(Metric.DOOR, timedelta(days=1))
    opened = door.times_us[door.values > 0]
    return MotionFeatures(
        found, int(history.active_days.sum()), usual, int(opened[-1]) if opened.size else None
    )


def steps_features(reader: _Reader, now: datetime, days: int, tz: str) -> StepsFeatures | None:
    s = reader.series(Metric.STEPS, timedelta(days=days))
    if not len(s):
        return None
    day, total = trends.daily_values(s.times_us, s.values, tz=tz, how="sum")
    today, _ = local_day_and_minute(np.array([to_epoch_us(now)], dtype=np.int64), tz)
    complete = day < int(today[0])
    return StepsFeatures(
        tuple(day_label(int(d)) for d in day[complete]),
        tuple(float(x) for x in total[complete]),
    )


def medication_features(reader: _Reader, now: datetime, tz: str) -> MedicationFeatures | None:
    """Today's pill-box openings; None when no pill box has reported for a week (nobody
    uses one, so an empty day says nothing about doses; a pill box that stopped is the
    device-silence rule's business)."""
    m = reader.series(Metric.MEDICATION_TAKEN, timedelta(days=7))
    if not len(m):
        return None
    now_us = to_epoch_us(now)
    today, _ = local_day_and_minute(np.array([now_us], dtype=np.int64), tz)
    midnight_us = local_midnight_us(int(today[0]), tz)
    opened = m.times_us[(m.values > 0) & (m.times_us >= midnight_us)]
    return MedicationFeatures(day_label(int(today[0])), tuple(int(x) for x in opened))


def devices_seen(
    store: TimeSeriesStore,
    patient_id: str,
    now: datetime,
    devices: Iterable[DeviceLike],
    lookback_h: float,
) -> tuple[DeviceSeen, ...]:
    watched = [
        d for d in devices if d.active and (spec := DEVICE_KINDS.get(d.kind)) and spec.metric
    ]
    if not watched:
        return ()
    metrics = {DEVICE_KINDS[d.kind].metric for d in watched}
    latest = store.latest(patient_id, [m for m in metrics if m is not None])
    out = []
    for d in watched:
        metric = DEVICE_KINDS[d.kind].metric
        assert metric is not None
        newest = latest.get(metric)
        if newest is not None and newest.device_id == d.device_id:
            seen: int | None = to_epoch_us(newest.measured_at)
        else:  # another device holds the newest reading of this metric: look at this one's own
            rows = store.read(patient_id, metric, now - timedelta(hours=lookback_h), now)
            mine = [to_epoch_us(r.measured_at) for r in rows if r.device_id == d.device_id]
            seen = max(mine) if mine else None
        out.append(DeviceSeen(d.device_id, d.kind, seen))
    return tuple(out)
