"""What the patient pages show, built from the time-series store and analytics.

Pure over their inputs (store, patient, now, units): the routes add access
checks and rendering.  Glucose stays in mg/dL through the analytics and is
converted to the viewer's units only here, at the edge.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import numpy as np

from analytics import targets as tg
from analytics.activity import DEFAULT_STEP_GOAL
from analytics.agp import PERCENTILES, DailyProfile, agp_percentiles, calendar, daily_profiles
from analytics.cgm import metrics_from_clean
from analytics.meter import by_time_of_day, meter_summary
from analytics.timebase import clean, coverage_s, day_label, gap_after, local_day_and_minute
from analytics.trends import daily_values
from core.appdb.directory import PatientInfo
from core.metrics import GlucoseMethod, Metric
from core.readings import to_epoch_us
from core.timeseries import Series, TimeSeriesStore
from dashboard.views import glucose as g
from dashboard.views import units as wu
from dashboard.views.models import (
    Agp,
    DayOverlay,
    GlucoseNow,
    GlucoseTrends,
    GlucoseUnits,
    LatestValue,
    MeterBlock,
    MeterOut,
    RangesBar,
    ReviewCharts,
    SeriesOut,
    StepsDay,
    TargetOut,
    Today,
    Trends,
)

TREND_DAYS = (14, 30, 90)
OVERLAY_DAYS = 14


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def today(store: TimeSeriesStore, patient: PatientInfo, *, now: datetime, units: str,
          tz: str, weight_units: str = wu.KG) -> Today:
    latest = store.latest(patient.id, [Metric.GLUCOSE, Metric.SYSTOLIC, Metric.DIASTOLIC,
                                       Metric.WEIGHT, Metric.SPO2])
    zone = ZoneInfo(tz)
    cards: dict[str, LatestValue] = {}
    sys_, dia = latest.get(Metric.SYSTOLIC), latest.get(Metric.DIASTOLIC)
    if sys_ and dia:
        cards["blood_pressure"] = LatestValue(
            label="Blood pressure", value=f"{sys_.value:.0f}/{dia.value:.0f}", unit="mmHg",
            time=sys_.measured_at, age=g.age_text(now, sys_.measured_at))
    if w := latest.get(Metric.WEIGHT):
        shown = wu.weight(w.value, weight_units)
        cards["weight"] = LatestValue(label="Weight", value=f"{shown:.1f}", unit=weight_units,
                                      time=w.measured_at, age=g.age_text(now, w.measured_at))
    if s := latest.get(Metric.SPO2):
        cards["spo2"] = LatestValue(label="Oxygen (SpO2)", value=f"{s.value:.0f}", unit="%",
                                    time=s.measured_at, age=g.age_text(now, s.measured_at))
    steps = _steps_today(store, patient.id, now, zone)
    if steps is not None:
        cards["steps"] = LatestValue(label="Steps today", value=f"{steps[0]:.0f}", unit="steps",
                                     time=steps[1], age=g.age_text(now, steps[1]))
    return Today(patient_id=patient.id, timezone=tz,
                 glucose=_glucose_now(store, patient.id, latest.get(Metric.GLUCOSE), now, units),
                 latest=cards)


def _glucose_now(store: TimeSeriesStore, patient_id: str, newest: object, now: datetime,
                 units: str) -> GlucoseNow | None:
    if newest is None:
        return None
    at = newest.measured_at  # type: ignore[attr-defined]
    recent = store.read(patient_id, Metric.GLUCOSE, at - g.TREND_WINDOW, at + timedelta(seconds=1))
    rate = g.rate_mg_dl_per_min(recent)
    arrow = g.arrow(rate)
    age = now - at
    value = g.convert(newest.value, units)  # type: ignore[attr-defined]
    if value is None:  # never stored: the contract refuses a value that is not finite
        return None
    return GlucoseNow(
        value=value, units=cast(GlucoseUnits, units), time=at,
        age_minutes=max(0, int(age.total_seconds() // 60)), fresh=age <= g.FRESH_FOR,
        rate_per_min=None if rate is None else round(rate, 2),
        arrow=arrow.symbol, arrow_label=arrow.label)


def _steps_today(store: TimeSeriesStore, patient_id: str, now: datetime,
                 zone: ZoneInfo) -> tuple[float, datetime] | None:
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    found = store.read(patient_id, Metric.STEPS, midnight, now + timedelta(seconds=1))
    if not found:
        return None
    return sum(r.value for r in found), found[-1].measured_at


def trends(store: TimeSeriesStore, patient: PatientInfo, *, days: int, now: datetime,
           units: str, tz: str, weight_units: str = wu.KG) -> Trends:
    end = now
    start = end - timedelta(days=days)
    # the AGP and time in ranges from CGM readings only; a meter's readings are points and
    # the standard day (readings by time of day), never an AGP (issue 18)
    glucose = _glucose_trends(store, patient, start, end, units, tz)
    bp_start = end - timedelta(days=min(days, 30))
    systolic = store.read_series(patient.id, Metric.SYSTOLIC, bp_start, end)
    diastolic = store.read_series(patient.id, Metric.DIASTOLIC, bp_start, end)
    weight = store.read_series(patient.id, Metric.WEIGHT, start, end)
    goal = float(patient.targets.get("steps_per_day", DEFAULT_STEP_GOAL))
    return Trends(
        patient_id=patient.id, days=days, start=start, end=end, timezone=tz,
        units=cast(GlucoseUnits, units), glucose_range=_glucose_range(units),
        glucose=glucose, systolic=_series(systolic),
        diastolic=_series(diastolic),
        weight=_weights(weight, weight_units),
        weight_units=weight_units,  # type: ignore[arg-type]
        steps=_daily_steps(store, patient.id, start, end, tz),
        step_goal=goal, meter=_meter(store, patient.id, start, end, units, tz, days))


def _glucose_range(units: str) -> tuple[float | None, float | None]:
    """The consensus target range (analytics/targets.py) in the viewer's units, for charts."""
    return g.convert(tg.GLUCOSE_LOW_BELOW, units), g.convert(tg.GLUCOSE_HIGH_ABOVE, units)


def _series(series: object) -> SeriesOut:
    t = series.times_us  # type: ignore[attr-defined]
    return SeriesOut(times=(t / 1e6).tolist(), values=series.values.tolist())  # type: ignore[attr-defined]


def _weights(series: Series, units: str) -> SeriesOut:
    """Weigh-ins in the viewer's units (dashboard/views/units.py)."""
    return SeriesOut(times=(series.times_us / 1e6).tolist(),
                     values=wu.weights(series.values, units))


def _daily_steps(store: TimeSeriesStore, patient_id: str, start: datetime, end: datetime,
                 tz: str) -> list[StepsDay]:
    series = store.read_series(patient_id, Metric.STEPS, start, end)
    if len(series) == 0:
        return []
    from analytics.timebase import day_label
    from analytics.trends import daily_values

    day, total = daily_values(series.times_us, series.values, tz=tz, how="sum")
    return [StepsDay(date=day_label(int(d)), steps=float(s))
            for d, s in zip(day, total, strict=True)]


def cgm_arrays(store: TimeSeriesStore, patient_id: str, start: datetime,
               end: datetime) -> tuple[np.ndarray, np.ndarray]:
    """The CGM glucose of [start, end) as arrays (mg/dL): what an AGP is built from (a
    finger-stick meter's few readings a day are points, never an AGP)."""
    series = store.read_series(patient_id, Metric.GLUCOSE, start, end, source=GlucoseMethod.CGM)
    return series.times_us, series.values


def _glucose_trends(store: TimeSeriesStore, patient: PatientInfo, start: datetime,
                    end: datetime, units: str, tz: str) -> GlucoseTrends | None:
    """Only what the page shows: consensus metrics, AGP and daily profiles (the same
    functions cgm_summary calls; events, MAGE and MODD are left to the AGP report)."""
    times, raw = cgm_arrays(store, patient.id, start, end)
    if raw.size == 0:
        return None
    data = clean(times, raw)
    t, v = data.times_us, data.values
    older = bool(patient.targets.get("older_adult", False))
    m = metrics_from_clean(t, v, duplicates=data.duplicates, start_us=to_epoch_us(start),
                           end_us=to_epoch_us(end), older_or_high_risk=older)
    day, minute = local_day_and_minute(t, ZoneInfo(tz))
    agp = agp_percentiles(v, minute)
    days = daily_profiles(v, coverage_s(t, m.sufficiency.interval_s), day)
    curves = {f"p{int(q)}": g.convert_many(agp.curve(q), units) for q in PERCENTILES}
    first_day = int(local_day_and_minute(np.array([to_epoch_us(start)]), ZoneInfo(tz))[0][0])
    last_day = int(local_day_and_minute(np.array([to_epoch_us(end) - 1]), ZoneInfo(tz))[0][0])
    overlays = [_overlay(number, d, t, v, minute, units)
                for number, d in calendar(days, first_day, last_day)[-OVERLAY_DAYS:]]
    r = m.ranges
    return GlucoseTrends(
        readings=int(v.size), mean=g.convert(m.mean, units), gmi=_num(m.gmi),
        cv=_num(m.cv), wear_percent=round(m.sufficiency.percent_active, 1),
        days_with_data=sum(1 for d in days if d.complete),
        sufficient=m.sufficiency.sufficient,
        ranges=RangesBar(very_low=r.very_low, low=r.low, in_range=r.in_range, high=r.high,
                         very_high=r.very_high),
        targets=[TargetOut(name=x.name, value=_num(x.value), comparison=x.comparison,
                           goal=x.goal, met=x.met) for x in m.targets],
        agp=Agp(minute_of_day=agp.minute_of_day.tolist(), **curves), days=overlays)


def _overlay(number: int, d: DailyProfile | None, t: np.ndarray, v: np.ndarray,
             minute: np.ndarray, units: str) -> DayOverlay:
    """One day of the day picker: a day without readings is there, blank; readings more
    than 15 minutes apart get a null between them (the chart breaks its line there, as
    the consensus does not bridge such gaps: analytics/timebase.py MAX_GAP_S); a partial
    day has no time in range (analytics/agp.py DailyProfile.complete)."""
    if d is None:
        return DayOverlay(date=day_label(number), minute_of_day=[], values=[],
                          time_in_range=None)
    minutes = minute[d.first:d.stop].round(1)
    values: list[float | None] = list(g.convert_many(v[d.first:d.stop], units))
    breaks = np.flatnonzero(gap_after(t[d.first:d.stop])[:-1]) + 1
    xs: list[float] = minutes.tolist()
    for k in reversed(breaks.tolist()):  # a null half-way into the gap
        xs.insert(k, round((xs[k - 1] + xs[k]) / 2, 1))
        values.insert(k, None)
    return DayOverlay(date=d.date, minute_of_day=xs, values=values,
                      time_in_range=round(d.time_in_range, 1) if d.complete else None,
                      wear_percent=round(d.wear_percent, 1), readings=d.readings)


# -- the nurse's review ---------------------------------------------------------------------

REVIEW_DAYS = 14


def review_charts(store: TimeSeriesStore, patient: PatientInfo, *, now: datetime, units: str,
                  tz: str, days: int = REVIEW_DAYS, weight_units: str = wu.KG) -> ReviewCharts:
    """A chart for each condition the patient has readings of, with its target lines: the
    AGP from CGM readings only, finger-sticks as points, BP, weight (the heart-failure
    warning line), SpO2 (own target) and steps (own goal)."""
    end = now
    start = end - timedelta(days=days)
    weight = store.read_series(patient.id, Metric.WEIGHT, start, end)
    spo2 = store.read_series(patient.id, Metric.SPO2, start, end)
    targets = patient.targets
    spo2_limits = tg.spo2_limits(targets, patient.conditions)
    return ReviewCharts(
        patient_id=patient.id, days=days, start=start, end=end, timezone=tz,
        units=cast(GlucoseUnits, units),
        glucose_range=_glucose_range(units),
        glucose=_glucose_trends(store, patient, start, end, units, tz),
        meter=_meter(store, patient.id, start, end, units, tz, days),
        systolic=_series(store.read_series(patient.id, Metric.SYSTOLIC, start, end)),
        diastolic=_series(store.read_series(patient.id, Metric.DIASTOLIC, start, end)),
        bp_target=(float(targets.get("bp_systolic", tg.BP_HOME_ESH[0])),
                   float(targets.get("bp_diastolic", tg.BP_HOME_ESH[1]))),
        weight=_weights(weight, weight_units),
        weight_units=weight_units,  # type: ignore[arg-type]
        weight_alert_kg=_in_units(_weight_alert(weight, tz), weight_units)
        if "heart_failure" in patient.conditions else None,
        weight_target_kg=_in_units(_num(float(targets["weight_kg"])), weight_units)
        if "weight_kg" in targets else None,
        spo2=_series(spo2),
        spo2_target=spo2_limits[0] if len(spo2) else None,
        spo2_urgent=spo2_limits[1] if len(spo2) else None,
        steps=_daily_steps(store, patient.id, start, end, tz),
        step_goal=float(targets.get("steps_per_day", DEFAULT_STEP_GOAL)))


def _meter(store: TimeSeriesStore, patient_id: str, start: datetime, end: datetime, units: str,
           tz: str, days: int) -> MeterOut | None:
    found = store.read_series(patient_id, Metric.GLUCOSE, start, end, source=GlucoseMethod.METER)
    if len(found) == 0:
        return None
    summary = meter_summary(found.times_us, found.values, tz=tz, days=days)
    minute, blocks = by_time_of_day(found.times_us, found.values, tz=tz)
    low, high = tg.METER_UNTAGGED
    return MeterOut(times=(found.times_us / 1e6).tolist(),
                    values=g.convert_many(found.values, units),
                    readings_per_day=round(summary.readings_per_day, 1),
                    lowest=g.convert(float(found.values.min()), units),
                    percent_in_target=round(summary.percent_in_target, 1),
                    target_low=g.convert(low, units), target_high=g.convert(high, units),
                    minute_of_day=minute.round(1).tolist(), below_70=len(summary.lows),
                    blocks=[MeterBlock(name=b.name, start_minute=b.start_minute,
                                       end_minute=b.end_minute, readings=b.readings,
                                       mean=g.convert(b.mean, units),
                                       lowest=g.convert(b.minimum, units),
                                       highest=g.convert(b.maximum, units),
                                       below_70=b.below_70,
                                       percent_in_target=_num(round(b.percent_in_target, 1)))
                            for b in blocks])


def _in_units(kg: float | None, units: str) -> float | None:
    return None if kg is None else wu.weight(kg, units)


def _weight_alert(weight: Series, tz: str) -> float | None:
    """Heart failure: the latest weigh-in above the lowest daily weight of the 3 days before
    it plus 2 kg is a warning (analytics/targets.py HF_GAIN_3_DAYS_KG)."""
    if not len(weight):
        return None
    day, daily = daily_values(weight.times_us, weight.values, tz=tz, how="first")
    before = (day >= day[-1] - 3) & (day < day[-1])
    if not before.any():
        return None
    return round(float(daily[before].min()) + tg.HF_GAIN_3_DAYS_KG, 1)


# -- cache ----------------------------------------------------------------------------------
# A trends page is the same for everyone who opens it within the same minute unless a new
# reading came in: the key holds the period's end (now, to the minute) and the newest
# reading time of every metric the page shows, so a new reading is seen at once and
# nothing is older than a minute.
TRENDS_METRICS = (Metric.GLUCOSE, Metric.SYSTOLIC, Metric.DIASTOLIC, Metric.WEIGHT, Metric.STEPS)
_CACHE: OrderedDict[tuple[object, ...], Trends] = OrderedDict()
_CACHE_SIZE = 256
_CACHE_LOCK = threading.Lock()


def cached_trends(store: TimeSeriesStore, patient: PatientInfo, *, days: int, now: datetime,
                  units: str, tz: str, weight_units: str = wu.KG) -> Trends:
    end = now.replace(second=0, microsecond=0)
    newest = tuple(sorted((str(m), r.measured_at)
                          for m, r in store.latest(patient.id, TRENDS_METRICS).items()))
    key = (patient.id, repr(sorted(patient.targets.items())), days, units, weight_units, tz,
           end, newest)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    built = trends(store, patient, days=days, now=end, units=units, tz=tz,
                   weight_units=weight_units)
    with _CACHE_LOCK:
        _CACHE[key] = built
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return built
