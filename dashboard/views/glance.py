"""Today at a glance (issue 18): the chart under the current value, the change since the
last reading, each vital with its target, and dates in the viewer's locale.

Every threshold comes from analytics/targets.py (docs/CLINICAL.md): nothing clinical is
written here or in the templates. Glucose stays in mg/dL until it is converted to the
viewer's units for the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton, format_time
from babel.numbers import format_decimal
from pydantic import BaseModel, Field

from analytics import targets as tg
from analytics.activity import DEFAULT_STEP_GOAL
from analytics.trends import daily_values
from core.appdb.directory import PatientInfo
from core.metrics import GLUCOSE_MGDL_PER_MMOLL, GlucoseMethod, Metric
from core.timeseries import Series, TimeSeriesStore
from dashboard.timefields import ApiTime
from dashboard.views import glucose as g
from dashboard.views import units as u
from dashboard.views.models import Today

GLUCOSE_WINDOWS_H = (3, 6, 12, 24)  # the chart's periods, as Nightscout and the CGM apps
CGM_DEFAULT_H = 6
METER_DEFAULT_H = 24  # a meter's few readings a day: the whole day
VITAL_DAYS = 7  # a non-glucose patient's main vital: a week of readings
# A CGM line is broken where readings are further apart than this (a sensor gap, not a
# straight line across it); Nightscout's delta uses the reading before within 15 minutes.
CGM_GAP = timedelta(minutes=15)
DEFAULT_LOCALE = "en_GB"


# -- locale ----------------------------------------------------------------------------------

def viewer_locale(accept_language: str | None, *, saved: str | None = None) -> Locale:
    """The locale of dates, times and numbers: the language saved in the person's settings
    (core/i18n.py; the same choice as the page's words), with the region their browser
    names for that language ("en" saved, "en-US" browser: US dates; "pl" saved: Polish
    formats whatever the browser); without a saved language, the browser's Accept-Language
    (Babel's negotiation); British English when neither names one Babel knows."""
    if saved:
        return _saved_locale(saved, accept_language)
    return _browser_locale(accept_language)


def _saved_locale(saved: str, accept_language: str | None) -> Locale:
    try:
        chosen = Locale.parse(saved.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return _browser_locale(accept_language)
    if chosen.territory:
        return chosen
    browser = _browser_locale(accept_language)
    if browser.language == chosen.language and browser.territory:
        return browser
    default = Locale.parse(DEFAULT_LOCALE)
    return default if default.language == chosen.language else chosen


def _browser_locale(accept_language: str | None) -> Locale:
    wanted: list[tuple[float, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, q = part.strip().partition(";q=")
        if not tag or tag == "*":
            continue
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        wanted.append((weight - i * 1e-6, tag.replace("-", "_")))
    for _, tag in sorted(wanted, reverse=True):
        try:
            return Locale.parse(tag)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse(DEFAULT_LOCALE)


def locale_tag(locale: Locale) -> str:
    """The BCP 47 tag the browser's Intl formats take (en-GB), for the charts' axes."""
    return "-".join(p for p in (locale.language, locale.script, locale.territory) if p)


def day_time(at: datetime, tz: str, locale: Locale) -> str:
    """"6 Dec, 08:00" (en_GB), "Dec 6, 8:00 AM" (en_US): Babel's month-in-words day and
    short time, joined as the locale joins them."""
    local = at.astimezone(_zone(tz))
    joined = str(locale.datetime_formats["medium"])
    return joined.replace("{1}", day(at, tz, locale)).replace(
        "{0}", str(format_time(local, "short", locale=locale)))


def day(at: datetime, tz: str, locale: Locale) -> str:
    """"6 Dec" (en_GB), "Dec 6" (en_US)."""
    return str(format_skeleton("MMMd", at.astimezone(_zone(tz)), locale=locale))


# The strftime patterns the templates pass to ``local()`` and the Babel skeleton each
# stands for, so that every date on every page is in the viewer's locale ("6 Dec" in
# en-GB, "Dec 6" in en-US, "6 gru" in pl), not an English strftime.
SKELETONS = {"%d %b %Y": "yMMMd", "%d %b": "MMMd", "%a %d %b": "MMMEd",
             "%a %d %b %Y": "yMMMEd"}


def local_text(at: datetime, tz: str, locale: Locale, fmt: str = "%d %b, %H:%M") -> str:
    """A time as a page shows it, in the viewer's locale (dashboard/views/common.py
    ``local``): day and time by default; a day, a day with its year, or the time alone."""
    if fmt == "%d %b, %H:%M":
        return day_time(at, tz, locale)
    if fmt == "%H:%M":
        return str(format_time(at.astimezone(_zone(tz)), "short", locale=locale))
    if fmt == "%a %d %b %Y, %H:%M":
        local = at.astimezone(_zone(tz))
        joined = str(locale.datetime_formats["medium"])
        return joined.replace("{1}", str(format_skeleton("yMMMEd", local, locale=locale))) \
            .replace("{0}", str(format_time(local, "short", locale=locale)))
    if fmt in SKELETONS:
        return str(format_skeleton(SKELETONS[fmt], at.astimezone(_zone(tz)), locale=locale))
    return at.astimezone(_zone(tz)).strftime(fmt)


def _zone(tz: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(tz)


# -- vitals with their targets -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Vital:
    key: str  # blood_pressure, weight, spo2, steps
    label: str
    value: str
    unit: str
    at: datetime
    when: str  # in the viewer's locale
    age: str
    target: str  # the target in words ("below 135/85"), or "no target set"
    status: str  # "ok", "off" (outside the target), "urgent", "none" (no target to judge)
    status_text: str


def vitals(store: TimeSeriesStore, patient: PatientInfo, today: Today, *, now: datetime,
           tz: str, locale: Locale, weight_units: str = u.KG) -> list[Vital]:
    """The newest BP, weight, SpO2 and today's steps, each beside its target."""
    t = patient.targets
    out: list[Vital] = []
    for key, card in today.latest.items():
        when = day_time(card.time, tz, locale)
        if key == "blood_pressure":
            target = (float(t.get("bp_systolic", tg.BP_HOME_ESH[0])),
                      float(t.get("bp_diastolic", tg.BP_HOME_ESH[1])))
            sys_, dia = (float(x) for x in card.value.split("/"))
            high = sys_ >= target[0] or dia >= target[1]
            out.append(Vital(key, card.label, card.value, card.unit, card.time, when, card.age,
                             f"below {target[0]:.0f}/{target[1]:.0f}",
                             "off" if high else "ok", "above target" if high else "on target"))
        elif key == "weight":
            out.append(_weight(store, patient, card.value, card.unit, card.time, when, card.age,
                               now=now, tz=tz, units=weight_units))
        elif key == "spo2":
            aim, urgent = tg.spo2_limits(t, patient.conditions)
            v = float(card.value)
            status = "urgent" if v <= urgent else "off" if v < aim else "ok"
            out.append(Vital(key, card.label, card.value, card.unit, card.time, when, card.age,
                             f"{aim:.0f}% or more", status,
                             {"urgent": f"at or below {urgent:.0f}%: urgent",
                              "off": "below target", "ok": "on target"}[status]))
        elif key == "steps":
            goal = float(t.get("steps_per_day", DEFAULT_STEP_GOAL))
            steps = float(card.value)
            met = steps >= goal
            out.append(Vital(key, card.label, _count(steps, locale), card.unit, card.time,
                             when, card.age, f"goal {_count(goal, locale)} a day",
                             "ok" if met else "none",
                             "goal met" if met else f"{_count(goal - steps, locale)} to go"))
    return out


def _count(n: float, locale: Locale) -> str:
    """A whole count in the locale's digits grouping (4,200 in en-GB, 4.200 in de-DE)."""
    return str(format_decimal(round(n), format="#,##0", locale=locale))


def _weight(store: TimeSeriesStore, patient: PatientInfo, value: str, unit: str, at: datetime,
            when: str, age: str, *, now: datetime, tz: str, units: str = u.KG) -> Vital:
    """The weight card: shown in the viewer's units, judged in kg (the rules' unit)."""
    newest = store.latest(patient.id, [Metric.WEIGHT]).get(Metric.WEIGHT)
    kg = float(newest.value) if newest is not None else float(value)
    gain_limit = _amount(tg.HF_GAIN_3_DAYS_KG, units)
    if "heart_failure" in patient.conditions:
        week = store.read_series(patient.id, Metric.WEIGHT, now - timedelta(days=VITAL_DAYS),
                                 now + timedelta(seconds=1))
        line = weight_warning(week, tz)
        if line is not None:
            gain = kg > line
            return Vital("weight", "Weight", value, unit, at, when, age,
                         f"no more than {u.weight_text(line, units)} (a gain over "
                         f"{gain_limit} in 3 days is a warning)",
                         "urgent" if gain else "ok",
                         "gain: call your nurse" if gain else "steady")
        return Vital("weight", "Weight", value, unit, at, when, age,
                     f"weigh every morning: a gain over {gain_limit} in 3 days is a warning",
                     "none", "not enough days to compare yet")
    if "weight_kg" in patient.targets:
        goal = float(patient.targets["weight_kg"])
        return Vital("weight", "Weight", value, unit, at, when, age,
                     f"target {u.weight_text(goal, units)}", "ok" if kg <= goal else "off",
                     f"{u.weight(kg, units) - u.weight(goal, units):+.1f} {units} from target")
    return Vital("weight", "Weight", value, unit, at, when, age, "no target set", "none", "")


def _amount(kg: float, units: str) -> str:
    """A difference in weight: "2 kg", "4.4 lb"."""
    return f"{u.weight(kg, units):g} {units}"


def weight_warning(weight: Series, tz: str) -> float | None:
    """Heart failure: the lowest daily weight of the 3 days before the latest weigh-in plus
    2 kg (analytics/targets.py HF_GAIN_3_DAYS_KG; as the nurse's review draws it)."""
    if not len(weight):
        return None
    days, daily = daily_values(weight.times_us, weight.values, tz=tz, how="first")
    before = (days >= days[-1] - 3) & (days < days[-1])
    if not before.any():
        return None
    return round(float(daily[before].min()) + tg.HF_GAIN_3_DAYS_KG, 1)


# -- the change since the last reading --------------------------------------------------------

def glucose_change(store: TimeSeriesStore, patient_id: str, at: datetime,
                   units: str) -> float | None:
    """The newest glucose minus the one before it (viewer's units), when that one is
    within 15 minutes for a CGM (Nightscout's delta), or any earlier reading of the last
    day for a meter."""
    recent = store.read(patient_id, Metric.GLUCOSE, at - CGM_GAP, at + timedelta(seconds=1))
    if len(recent) < 2:  # a meter's readings are hours apart: the day before it
        recent = store.read(patient_id, Metric.GLUCOSE, at - timedelta(hours=24),
                            at + timedelta(seconds=1))
    if len(recent) < 2:
        return None
    last, before = recent[-1], recent[-2]
    if last.source == GlucoseMethod.CGM and last.measured_at - before.measured_at > CGM_GAP:
        return None
    delta = last.value - before.value
    if units == "mmol/L":
        return round(delta / GLUCOSE_MGDL_PER_MMOLL, 1)
    return round(delta)


def newest_is_finger_stick(store: TimeSeriesStore, patient_id: str, today: Today) -> bool:
    """Whether the current glucose is a meter's: a finger-stick has no trend arrow and is
    never "not current" as a CGM is (the stale warnings are a sensor's, Nightscout's)."""
    if today.glucose is None:
        return False
    at = today.glucose.time
    newest = store.read(patient_id, Metric.GLUCOSE, at, at + timedelta(seconds=1))
    return bool(newest) and all(r.source == GlucoseMethod.METER for r in newest)


def change_text(delta: float | None, units: str) -> str:
    if delta is None:
        return ""
    text = f"{abs(delta):.1f}" if units == "mmol/L" else f"{abs(delta):.0f}"
    sign = "+" if delta > 0 else "−" if delta < 0 else "±"
    return f"{sign}{text} {units}"


# -- the chart --------------------------------------------------------------------------------

def chart(store: TimeSeriesStore, patient: PatientInfo, today: Today, *, now: datetime,
          units: str, tz: str, locale: Locale, weight_units: str = u.KG) -> dict[str, Any] | None:
    """What today_chart.js draws: glucose over the last 24 hours (a CGM as a line broken at
    gaps, a meter's finger-sticks as points) with the target band and the meals and insulin
    of the period; without glucose, the person's main vital over a week with its target."""
    base: dict[str, Any] = {"timezone": tz, "locale": locale_tag(locale),
                            "now": now.timestamp()}
    end = now + timedelta(seconds=1)
    start = now - timedelta(hours=max(GLUCOSE_WINDOWS_H))
    cgm = store.read_series(patient.id, Metric.GLUCOSE, start, end, source=GlucoseMethod.CGM)
    meter = store.read_series(patient.id, Metric.GLUCOSE, start, end,
                              source=GlucoseMethod.METER)
    if today.glucose is not None or len(cgm) or len(meter):
        low, high = g.convert(tg.GLUCOSE_LOW_BELOW, units), g.convert(tg.GLUCOSE_HIGH_ABOVE, units)
        top = g.convert(tg.GLUCOSE_HIGH_ABOVE * 2, units) or 0.0
        values = [*cgm.values.tolist(), *meter.values.tolist()]
        peak = g.convert(max(values), units) if values else None
        return {**base, "kind": "glucose", "units": units, "y_label": units,
                "band": [low, high], "y_range": [0, max(top, (peak or 0) * 1.1)],
                "windows": list(GLUCOSE_WINDOWS_H), "gap_s": CGM_GAP.total_seconds(),
                "window": CGM_DEFAULT_H if len(cgm) else METER_DEFAULT_H,
                "line": _gapped(cgm, units), "points": _points(meter, units),
                "markers": _markers(store, patient.id, start, end, tz, locale),
                "lines": []}
    return _vital_chart(store, patient, base, now=now, tz=tz, weight_units=weight_units)


def _gapped(series: Series, units: str) -> dict[str, list[float | None]] | None:
    if not len(series):
        return None
    t = series.times_us / 1e6
    v = g.convert_many(series.values, units)
    times: list[float | None] = []
    values: list[float | None] = []
    for i in range(len(t)):
        if i and t[i] - t[i - 1] > CGM_GAP.total_seconds():
            times.append(float(t[i - 1] + 1))
            values.append(None)  # uPlot breaks the line here
        times.append(float(t[i]))
        values.append(v[i])
    return {"times": times, "values": values}


def _points(series: Series, units: str) -> dict[str, list[float | None]] | None:
    if not len(series):
        return None
    return {"times": (series.times_us / 1e6).tolist(),
            "values": list(g.convert_many(series.values, units))}


def _markers(store: TimeSeriesStore, patient_id: str, start: datetime, end: datetime,
             tz: str, locale: Locale) -> list[dict[str, Any]]:
    """Meals (carbs, g) and insulin (U): Nightscout treatments are stored as these metrics."""
    out = []
    for metric, kind, unit in ((Metric.CARBS, "carbs", "g"), (Metric.INSULIN, "insulin", "U")):
        for r in store.read(patient_id, metric, start, end):
            amount = f"{r.value:.0f}" if kind == "carbs" else f"{r.value:g}"
            out.append({"t": r.measured_at.timestamp(), "kind": kind,
                        "text": f"{amount} {unit}",
                        "when": day_time(r.measured_at, tz, locale)})
    return sorted(out, key=lambda m: m["t"])


def main_vital(patient: PatientInfo) -> Metric | None:
    """The vital a person without glucose glances at first, by condition."""
    c = patient.conditions
    if "heart_failure" in c:
        return Metric.WEIGHT
    if "copd" in c:
        return Metric.SPO2
    if "hypertension" in c:
        return Metric.SYSTOLIC
    return None


def _vital_chart(store: TimeSeriesStore, patient: PatientInfo, base: dict[str, Any], *,
                 now: datetime, tz: str, weight_units: str = u.KG) -> dict[str, Any] | None:
    metric = main_vital(patient)
    start, end = now - timedelta(days=VITAL_DAYS), now + timedelta(seconds=1)
    order = [m for m in (metric, Metric.WEIGHT, Metric.SPO2, Metric.SYSTOLIC) if m is not None]
    for m in dict.fromkeys(order):
        series = store.read_series(patient.id, m, start, end)
        if len(series):
            break
    else:
        return None
    values = [float(x) for x in series.values]
    lines: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    if m == Metric.WEIGHT:  # in the viewer's units (dashboard/views/units.py)
        label, y_label = "Weight", weight_units
        values = u.weights(values, weight_units)
        lines = _weight_lines(patient, series, tz, weight_units)
    elif m == Metric.SPO2:
        label, y_label = "Oxygen (SpO2)", "%"
        aim, urgent = tg.spo2_limits(patient.targets, patient.conditions)
        lines += [{"label": "Target", "value": aim, "colour": "#1e6b30"},
                  {"label": "Urgent at or below", "value": urgent, "colour": "#a01818"}]
    else:
        label, y_label = "Blood pressure", "mmHg"
        target = (float(patient.targets.get("bp_systolic", tg.BP_HOME_ESH[0])),
                  float(patient.targets.get("bp_diastolic", tg.BP_HOME_ESH[1])))
        lines += [{"label": "Systolic target", "value": target[0], "colour": "#a01818"},
                  {"label": "Diastolic target", "value": target[1], "colour": "#0b4f8a"}]
        dia = store.read_series(patient.id, Metric.DIASTOLIC, start, end)
        if len(dia) == len(series):
            extra["points2"] = {"times": (dia.times_us / 1e6).tolist(),
                                "values": [float(x) for x in dia.values]}
            values += extra["points2"]["values"]
    everything = values + [x["value"] for x in lines]
    pad = 3.0 if m == Metric.SPO2 else 1.0 if m == Metric.WEIGHT else 10.0
    high = min(100.0, max(everything) + pad) if m == Metric.SPO2 else max(everything) + pad
    return {**base, "kind": "vital", "label": label, "y_label": y_label, "band": None,
            "y_range": [float(np.floor(min(everything) - pad)), float(np.ceil(high))],
            "windows": [], "window": VITAL_DAYS * 24, "line": None,
            "points": {"times": (series.times_us / 1e6).tolist(), "values": values[:len(series)]},
            "markers": [], "lines": lines, **extra}


# -- the Trends page's charts: what the trends data leave out ----------------------------------

def trends_extras(store: TimeSeriesStore, patient: PatientInfo, *, start: datetime,
                  end: datetime, tz: str, locale: Locale,
                  day_isos: list[str], weight_units: str = u.KG) -> dict[str, Any]:
    """Target lines for every vital (BP, weight, SpO2) and the SpO2 readings, the locale of
    the axes, and each day's name for the day picker ("6 Dec"), for charts.js."""
    from datetime import date

    t = patient.targets
    weight = store.read_series(patient.id, Metric.WEIGHT, start, end)
    weight_lines = _weight_lines(patient, weight, tz, weight_units)
    spo2 = store.read_series(patient.id, Metric.SPO2, start, end)
    aim, urgent = tg.spo2_limits(t, patient.conditions)
    return {
        "locale": locale_tag(locale),
        "bp_lines": [
            {"label": "Systolic target",
             "value": float(t.get("bp_systolic", tg.BP_HOME_ESH[0])), "colour": "#a01818"},
            {"label": "Diastolic target",
             "value": float(t.get("bp_diastolic", tg.BP_HOME_ESH[1])), "colour": "#0b4f8a"}],
        "weight_lines": weight_lines,
        "weight_units": weight_units,
        "spo2": {"times": (spo2.times_us / 1e6).tolist(),
                 "values": [float(x) for x in spo2.values]},
        "spo2_lines": [{"label": "Target", "value": aim, "colour": "#1e6b30"},
                       {"label": "Urgent at or below", "value": urgent, "colour": "#a01818"}],
        "day_labels": {d: str(format_skeleton("MMMEd", date.fromisoformat(d), locale=locale))
                       for d in day_isos},
    }


def _weight_lines(patient: PatientInfo, weight: Series, tz: str,
                  units: str) -> list[dict[str, Any]]:
    """The heart-failure warning line and the own target weight, in the viewer's units."""
    lines: list[dict[str, Any]] = []
    if "heart_failure" in patient.conditions and (warn := weight_warning(weight, tz)) is not None:
        lines.append({"label": "Warning above", "value": u.weight(warn, units),
                      "colour": "#a01818"})
    if "weight_kg" in patient.targets:
        lines.append({"label": "Target", "value": u.weight(float(patient.targets["weight_kg"]),
                                                         units), "colour": "#1e6b30"})
    return lines


# -- the JSON twin: GET /api/patients/{id}/today/glance ----------------------------------------

class SeriesOut(BaseModel):
    times: list[float | None] = Field(description="Unix seconds (a None breaks a CGM line)")
    values: list[float | None]


class MarkerOut(BaseModel):
    t: float = Field(description="Unix seconds")
    kind: Literal["carbs", "insulin"]
    text: str = Field(description='the amount with its unit, "45 g" or "4.5 U"')
    when: str = Field(description="the time in the viewer's locale")


class LineOut(BaseModel):
    label: str
    value: float
    colour: str


class GlanceChart(BaseModel):
    kind: Literal["glucose", "vital"]
    timezone: str
    locale: str = Field(description="BCP 47 tag of the viewer's locale (en-GB)")
    now: float
    units: str | None = None
    label: str | None = Field(None, description="the vital charted (kind vital)")
    y_label: str
    band: tuple[float | None, float | None] | None = Field(
        description="the glucose target range (analytics/targets.py), viewer's units")
    y_range: tuple[float, float]
    windows: list[int] = Field(description="hours the chart can show")
    window: int = Field(description="hours shown first")
    gap_s: float | None = None
    line: SeriesOut | None = Field(description="CGM glucose, broken at gaps")
    points: SeriesOut | None = Field(description="finger-sticks, or the vital's readings")
    points2: SeriesOut | None = Field(None, description="diastolic, beside systolic")
    markers: list[MarkerOut]
    lines: list[LineOut] = Field(description="target lines of a vital")


class VitalOut(BaseModel):
    key: str
    label: str
    value: str
    unit: str
    time: ApiTime
    when: str
    age: str
    target: str
    status: Literal["ok", "off", "urgent", "none"]
    status_text: str


class GoalNewsOut(BaseModel):
    goal: str
    change: str
    text: str
    at: ApiTime
    when: str


class Glance(BaseModel):
    """Today at a glance: what the page shows under and beside the current value."""

    patient_id: str
    locale: str
    change: float | None = Field(description="since the reading before, viewer's units")
    change_text: str
    chart: GlanceChart | None
    vitals: list[VitalOut]
    unread_messages: int | None = Field(
        description="the coach's messages the patient has not read (her own view only)")
    goal_news: list[GoalNewsOut] | None = Field(
        description="what changed in her goals in the last 7 days (her own view only)")


def as_model(patient_id: str, context: dict[str, Any], *, own: bool) -> Glance:
    """The page's glance context as the API returns it."""
    vitals_out = [VitalOut(key=v.key, label=v.label, value=v.value, unit=v.unit, time=v.at,
                           when=v.when, age=v.age, target=v.target,
                           status=v.status, status_text=v.status_text)
                  for v in context["vitals"]]
    chart = context["chart"]
    return Glance(
        patient_id=patient_id, locale=context["locale_tag"], change=context["change"],
        change_text=context["change_text"],
        chart=GlanceChart.model_validate(chart) if chart else None, vitals=vitals_out,
        unread_messages=context["unread"] if own else None,
        goal_news=[GoalNewsOut(goal=n["goal"], change=n["change"], text=n["text"] or "",
                               at=n["at"], when=n["when"]) for n in context["goal_news"]]
        if own else None)
