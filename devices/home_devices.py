"""One generator per kind of home device: each returns one local day of readings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from devices import glucose_model as gm
from devices.profiles import DeviceSpec, PatientProfile
from devices.seeding import rng_for


@dataclass(frozen=True, slots=True)
class SimReading:
    device_id: str
    metric: str
    value: float
    unit: str
    measured_at: datetime  # UTC
    source: str
    context: str | None = None

    def entry(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "metric": self.metric,
            "value": self.value,
            "unit": self.unit,
            "time": self.measured_at,
            "source": self.source,
        }
        if self.context:
            entry["context"] = self.context
        return entry


@dataclass(frozen=True, slots=True)
class DayContext:
    profile: PatientProfile
    device: DeviceSpec
    day: date
    tz: ZoneInfo
    seed: int

    def rng(self, purpose: str) -> np.random.Generator:
        return rng_for(self.seed, self.profile.id, f"{self.device.id}|{purpose}", self.day)

    def at(self, hour: float) -> datetime:
        """Local clock hour on this day, as UTC (DST-correct: via the epoch)."""
        epoch = gm.local_midnight(self.day, self.tz).timestamp() + hour * 3600.0
        return datetime.fromtimestamp(round(epoch), ZoneInfo("UTC"))

    def reading(self, metric: str, value: float, unit: str, when: datetime,
                source: str, context: str | None = None) -> SimReading:
        return SimReading(self.device.id, metric, value, unit, when, source, context)


def _glucose_curve(ctx: DayContext, t: np.ndarray) -> np.ndarray:
    params = gm.GlucoseParams.from_section(ctx.profile.section("glucose"))
    events = [
        gm.day_events(ctx.profile.id, d, ctx.tz, params, ctx.seed)
        for d in (ctx.day.fromordinal(ctx.day.toordinal() - 1), ctx.day)
    ]
    return gm.glucose_at(t, events, params, ctx.tz, gm.phases_for(ctx.profile.id, ctx.seed))


def cgm(ctx: DayContext) -> list[SimReading]:
    start, end = gm.day_window(ctx.day, ctx.tz)
    offset = float(rng_for(ctx.seed, ctx.device.id, "cgm-phase").integers(0, 300))
    first = np.ceil((start - offset) / 300.0) * 300.0 + offset
    t = np.arange(first, end, 300.0)
    for gap_start, gap_end in gm.sensor_gaps(ctx.profile.id, ctx.day, ctx.tz, ctx.seed):
        t = t[(t < gap_start) | (t >= gap_end)]
    true = _glucose_curve(ctx, t)
    noisy = true * (1 + ctx.rng("noise").normal(0, 0.03, t.size))
    values = np.clip(np.round(noisy), gm.CGM_LOW, gm.CGM_HIGH)
    unit = ctx.device.unit or "mg/dL"
    return [
        ctx.reading("glucose", _in_unit(float(v), unit), unit,
                    datetime.fromtimestamp(float(s), ZoneInfo("UTC")), "cgm")
        for s, v in zip(t, values, strict=True)
    ]


def glucose_meter(ctx: DayContext) -> list[SimReading]:
    rng = ctx.rng("checks")
    plan = [(7.0, "fasting", 1.0), (12.4, "before_meal", 0.5), (20.9, "after_meal", 0.4),
            (22.5, "bedtime", 0.2)]
    unit = ctx.device.unit or ctx.profile.section("glucose").get("unit", "mg/dL")
    out = []
    for hour, context, chance in plan:
        if rng.random() >= chance:
            continue
        when = ctx.at(hour + rng.normal(0, 0.3))
        true = float(_glucose_curve(ctx, np.array([when.timestamp()]))[0])
        value = float(np.clip(true * (1 + rng.normal(0, 0.04)), 20, 600))
        out.append(ctx.reading("glucose", _in_unit(value, unit), unit, when, "meter", context))
    return out


def _in_unit(mg_dl: float, unit: str) -> float:
    if unit == "mmol/L":
        return round(mg_dl / 18.0156, 1)
    return float(round(mg_dl))


def bp_cuff(ctx: DayContext) -> list[SimReading]:
    rng = ctx.rng("bp")
    bp = ctx.profile.section("bp")
    crisis = rng.random() < bp.get("crisis_per_month", 0.0) / 30.0
    out = []
    for session, hour, surge in (("morning", 7.4, 6.0), ("evening", 20.6, 0.0)):
        if rng.random() > 0.85:
            continue  # a missed session
        first = ctx.at(hour + rng.normal(0, 0.35))
        high = crisis and session == "morning"
        for k in range(2):  # a pair, one minute apart
            when = datetime.fromtimestamp(first.timestamp() + 60 * k, ZoneInfo("UTC"))
            sys = bp["systolic"] + surge + rng.normal(0, 6) - 3 * k + (48 if high else 0)
            dia = bp["diastolic"] + rng.normal(0, 4) - k + (18 if high else 0)
            pulse = bp.get("pulse", 72) + rng.normal(0, 4)
            for metric, value in (("systolic", sys), ("diastolic", dia), ("pulse", pulse)):
                unit = "/min" if metric == "pulse" else "mm[Hg]"
                out.append(ctx.reading(metric, float(round(value)), unit, when, "bp_cuff", session))
    return out


def scale(ctx: DayContext) -> list[SimReading]:
    rng = ctx.rng("weight")
    w = ctx.profile.section("weight")
    if rng.random() > 0.95:
        return []
    base = w.get("kg", 75.0)
    n = ctx.day.toordinal()
    cycle = int(30 / max(w.get("fluid_episodes_per_month", 0.0), 0.1))
    offset = int(rng_for(ctx.seed, ctx.profile.id, "fluid-cycle").integers(cycle))
    day_in_cycle = (n + offset) % cycle
    # A fluid episode: about +0.8 kg a day for 4 days, then diuresis (ESC HF guidance
    # treats >2 kg in 3 days as a warning sign; the simulator makes such episodes).
    fluid = 0.8 * min(day_in_cycle, 4) - 0.6 * max(0, day_in_cycle - 4)
    fluid = max(fluid, 0.0) if day_in_cycle < 10 else 0.0
    value = base + fluid + 0.4 * np.sin(n / 9.0) + rng.normal(0, 0.2)
    unit = ctx.device.unit or "kg"
    shown = value / 0.45359237 if unit == "[lb_av]" else value
    when = ctx.at(7.1 + rng.normal(0, 0.2))
    return [ctx.reading("weight", round(float(shown), 1), unit, when, "scale")]


def pulse_oximeter(ctx: DayContext) -> list[SimReading]:
    rng = ctx.rng("spo2")
    s = ctx.profile.section("spo2")
    base = s.get("baseline", 95)
    out = []
    for hour in (8.0, 13.0, 18.0, 22.0):
        when = ctx.at(hour + rng.normal(0, 0.4))
        out += _oximetry(ctx, when, base + rng.normal(0, 1.2), 78 + rng.normal(0, 5), "spot")
    night_start, night_end = 0.0, 6.5  # the oximeter is worn overnight
    t = np.arange(night_start, night_end, 5 / 60.0)
    spo2 = base - 1.5 + rng.normal(0, 0.7, t.size)
    for _ in range(rng.poisson(s.get("night_dips_per_night", 1.0))):
        centre, width = rng.uniform(night_start + 0.5, night_end - 0.5), rng.uniform(0.15, 0.35)
        spo2 -= rng.uniform(4, 7) * np.exp(-0.5 * ((t - centre) / width) ** 2)
    for hour, value in zip(t, spo2, strict=True):
        out += _oximetry(ctx, ctx.at(float(hour)), value, 66 + rng.normal(0, 3), "night")
    return out


def _oximetry(
    ctx: DayContext, when: datetime, spo2: float, hr: float, context: str
) -> list[SimReading]:
    return [
        ctx.reading(
            "spo2", float(np.clip(round(spo2), 70, 100)), "%", when, "pulse_oximeter", context
        ),
        ctx.reading("heart_rate", float(round(hr)), "/min", when, "pulse_oximeter", context),
    ]


def pedometer(ctx: DayContext) -> list[SimReading]:
    rng = ctx.rng("steps")
    mean = ctx.profile.section("activity").get("steps_per_day", 4000)
    total = max(0.0, rng.normal(mean, mean * 0.3))
    hours = np.arange(7, 22)
    weights = (
        1
        + np.exp(-0.5 * ((hours - 10.5) / 1.5) ** 2)
        + np.exp(-0.5 * ((hours - 16) / 1.5) ** 2)
    )
    counts = rng.multinomial(int(total), weights / weights.sum())
    return [
        ctx.reading("steps", float(c), "{steps}", ctx.at(float(h) + 1.0), "pedometer")
        for h, c in zip(hours, counts, strict=True)
    ]


def thermometer(ctx: DayContext) -> list[SimReading]:
    rng = ctx.rng("temp")
    celsius = 36.7 + rng.normal(0, 0.25) + (1.4 if rng.random() < 0.03 else 0.0)
    unit = ctx.device.unit or "Cel"
    value = celsius * 9 / 5 + 32 if unit == "[degF]" else celsius
    return [ctx.reading("body_temperature", round(value, 1), unit,
                        ctx.at(8.25 + rng.normal(0, 0.3)), "thermometer")]


def pill_box(ctx: DayContext) -> list[SimReading]:
    rng = ctx.rng("pills")
    med = ctx.profile.section("medication")
    out = []
    for text in med.get("times", ["08:00"]):
        hh, mm = text.split(":")
        if rng.random() < med.get("adherence", 0.9):
            when = ctx.at(int(hh) + int(mm) / 60 + rng.normal(0.1, 0.3))
            out.append(ctx.reading("medication_taken", 1.0, "{dose}", when, "pill_box", text))
    return out


def _routine(ctx: DayContext) -> tuple[float, float]:
    home = ctx.profile.section("home")
    rng = rng_for(ctx.seed, ctx.profile.id, "routine", ctx.day)
    wake = _hours(home.get("wake", "07:00")) + rng.normal(0, 0.3)
    sleep = _hours(home.get("sleep", "22:30")) + rng.normal(0, 0.4)
    return wake, sleep


def _hours(text: str) -> float:
    hh, mm = text.split(":")
    return int(hh) + int(mm) / 60


_ROOM_SCHEDULE = {  # room -> (start hour offsets relative to the day) where it is busy
    "kitchen": ((0.2, 0.9), (5.3, 6.0), (11.3, 12.0)),
    "bathroom": ((0.0, 0.25), (6.5, 6.7), (14.8, 15.0)),
    "bedroom": ((-0.1, 0.05),),
    "living": ((1.0, 5.2), (6.1, 11.2), (12.1, 14.7)),
}


def motion_sensor(ctx: DayContext) -> list[SimReading]:
    rng = ctx.rng("motion")
    room = ctx.device.id.rsplit("-", 1)[-1]
    wake, sleep = _routine(ctx)
    out_of_home = _outing(ctx)
    times: list[float] = []
    for start, end in _ROOM_SCHEDULE.get(room, ((1.0, 12.0),)):
        a, b = wake + start, min(wake + end, sleep)
        if b > a:
            times += list(np.sort(rng.uniform(a, b, rng.poisson((b - a) * 8))))
    if room == "bathroom":
        times += list(rng.uniform(1.0, 5.0, rng.poisson(1.2)))  # a night visit
    if room == "bedroom":
        times += [sleep + rng.uniform(0, 0.2)]
    kept = sorted(h for h in times if not (out_of_home and out_of_home[0] <= h <= out_of_home[1]))
    # A sensor reports at most one event a second: (device, metric, time) is a reading's identity.
    instants = sorted({ctx.at(h) for h in kept})
    return [ctx.reading("motion", 1.0, "{event}", when, "motion_sensor", room) for when in instants]


def _outing(ctx: DayContext) -> tuple[float, float] | None:
    rng = rng_for(ctx.seed, ctx.profile.id, "outing", ctx.day)
    if rng.random() < 0.4:
        start = rng.uniform(10.0, 11.0)
        return start, start + rng.uniform(1.0, 2.0)
    return None


def door_sensor(ctx: DayContext) -> list[SimReading]:
    outing = _outing(ctx)
    if outing is None:
        return []
    out = []
    for hour in outing:
        opened = ctx.at(hour)
        closed = datetime.fromtimestamp(opened.timestamp() + 8, ZoneInfo("UTC"))
        out.append(ctx.reading("door", 1.0, "{event}", opened, "door_sensor"))
        out.append(ctx.reading("door", 0.0, "{event}", closed, "door_sensor"))
    return out


GENERATORS: dict[str, Callable[[DayContext], list[SimReading]]] = {
    "cgm": cgm,
    "glucose_meter": glucose_meter,
    "bp_cuff": bp_cuff,
    "scale": scale,
    "pulse_oximeter": pulse_oximeter,
    "pedometer": pedometer,
    "thermometer": thermometer,
    "pill_box": pill_box,
    "motion_sensor": motion_sensor,
    "door_sensor": door_sensor,
}
