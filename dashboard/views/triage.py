"""The nurse's triage across conditions: every clinic patient ranked by their most urgent risk.

Each patient is judged only by the rules of what they have (their readings and their
recorded conditions), one column per condition, and every finding is said in words.
All the numbers come from analytics/targets.py (docs/CLINICAL.md); each patient's own
targets (``PatientInfo.targets``) replace the defaults where they exist.

Levels (the rank of a row is its highest level, then how many findings it has there):

  3 urgent   CGM: time <54 mg/dL above target, or time <70 above the patient's target
             (adults 4%, older or high-risk 1%); meter: a reading <54 mg/dL;
             an urgent BP crisis (>=180/120, confirmed or not re-measured) in the last 3
             days; a heart-failure weight gain on the latest weigh-in of the last 3 days;
             SpO2 under the patient's target in the last 24 h (their prescribed target, or
             95% (urgent at 92% or below), or 88% in COPD (urgent at 83% or below))
  2 high     CGM: time >250 or >180 above target; meter: a reading <70 mg/dL;
             unusual inactivity at home now (against the person's own pattern)
  1 watch    CGM: time in range fell by more than 15 points, sensor worn <70% of the
             time, time in range below the patient's own goal; meter: more than half of
             the readings >180 mg/dL; home BP average above the patient's target (or
             135/85) over 7 days; missed weigh-ins (heart failure) or pill-box doses;
             a device that has stopped reporting; no glucose at all for a person with
             diabetes
  0          none of the above

Only CGM wearers (CGM readings in the period) are judged by the CGM rules: a meter,
heart-failure or COPD patient is never "No CGM data" or "Wear <70%".  A patient with
a CGM is judged on it alone (a fingerstick beside the sensor is not time in range).

Reads: one window per metric per patient (glucose by CGM over 14 days; meter readings
only for patients without CGM readings; BP 7 days; weight 8; SpO2 3; motion 28; the
pill box only where a medication schedule is recorded): no query more than before for a
CGM wearer.

Speed: a board is computed once per refresh period for the window ending at
the start of that period ("as of"), from the data and the patients' records
(names, own targets) as they are then, and kept; while the next one is being
computed in the background the previous one is served, labelled with its own
"as of".  Filtering, search and paging run over the kept rows.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from analytics import targets as tg
from analytics.activity import unusual_inactivity
from analytics.adherence import pill_box, weigh_ins
from analytics.bp import crises, home_bp
from analytics.population import READERS, PatientTriage, reader_pool, triage
from analytics.trends import daily_values
from analytics.weight import heart_failure_warnings
from core.appdb.directory import PatientInfo
from core.metrics import GlucoseMethod, Metric
from core.readings import to_epoch_us
from core.timeseries import Series, TimeSeriesStore
from dashboard.views.shared_boards import SharedBoards

log = logging.getLogger(__name__)

URGENT, HIGH, WATCH, NONE = 3, 2, 1, 0
LEVEL_LABELS = {URGENT: "Urgent", HIGH: "High", WATCH: "Watch", NONE: "No concerns"}

CGM_BUCKETS = ("very_low", "low", "very_high", "high", "tir_drop", "low_wear", "below_goal",
               "meeting")
METER_BUCKETS = ("meter_very_low", "meter_low", "meter_high", "meter_ok")
BUCKETS = (*CGM_BUCKETS, *METER_BUCKETS, "no_data")
_ADULT = tg.CGM_TARGETS_ADULT
BUCKET_LABELS = {
    "very_low": f"CGM: time <{tg.GLUCOSE_VERY_LOW_BELOW:.0f} above target",
    "low": f"CGM: time <{tg.GLUCOSE_LOW_BELOW:.0f} above target",
    "very_high": f"CGM: time >{tg.GLUCOSE_VERY_HIGH_ABOVE:.0f} above target",
    "high": f"CGM: time >{tg.GLUCOSE_HIGH_ABOVE:.0f} above target",
    "tir_drop": f"CGM: time in range fell >{tg.TIR_DROP_POINTS:.0f} points",
    "low_wear": f"CGM: worn <{tg.WEAR_MIN_PERCENT:.0f}% of the time",
    "below_goal": "CGM: time in range below own goal",
    "meeting": "CGM: meeting targets",
    "meter_very_low": f"Meter: a reading <{tg.GLUCOSE_VERY_LOW_BELOW:.0f}",
    "meter_low": f"Meter: a reading <{tg.GLUCOSE_LOW_BELOW:.0f}",
    "meter_high": f"Meter: most readings >{tg.GLUCOSE_HIGH_ABOVE:.0f}",
    "meter_ok": "Meter: no concerns",
    "no_data": "Diabetes: no glucose readings",
}
RISKS = ("bp_crisis", "hf_weight", "spo2_low", "inactive", "bp_high", "adherence",
         "device_silent")
RISK_LABELS = {"bp_crisis": "BP crisis", "hf_weight": "Heart-failure weight gain",
               "spo2_low": "Low SpO2", "inactive": "Unusual inactivity",
               "bp_high": "BP above target", "adherence": "Missed measurements or doses",
               "device_silent": "Device stopped reporting"}
COLUMNS = ("glucose", "bp", "weight", "spo2")
COLUMN_LABELS = {"glucose": "Glucose", "bp": "Blood pressure", "weight": "Weight",
                 "spo2": "SpO2"}
_LEVEL_OF = {"very_low": URGENT, "low": URGENT, "very_high": HIGH, "high": HIGH,
             "tir_drop": WATCH, "low_wear": WATCH, "below_goal": WATCH,
             "meter_very_low": URGENT, "meter_low": HIGH, "meter_high": WATCH,
             "no_data": WATCH}
RECENT = timedelta(days=3)
DAYS_BP, DAYS_WEIGHT, DAYS_SPO2, DAYS_MOTION = 7, 8, 3, 28
DAYS_ADHERENCE = tg.ADHERENCE_DAYS
US_PER_H = 3_600_000_000


@dataclass(frozen=True, slots=True)
class Finding:
    code: str  # a bucket of BUCKETS or a risk of RISKS
    level: int  # URGENT, HIGH or WATCH
    reason: str  # in words, with the numbers behind it


@dataclass(frozen=True, slots=True)
class Row:
    patient: PatientInfo
    figures: PatientTriage | None  # the CGM figures, for CGM wearers only
    glucose: str  # "cgm", "meter" or "" (no glucose readings)
    flags: tuple[str, ...]  # glucose buckets that apply (BUCKETS)
    bucket: str  # the most urgent of them; "" when glucose is not judged
    findings: tuple[Finding, ...]  # every finding, most urgent first
    columns: dict[str, str]  # condition -> what it is now, in a few words
    level: int
    score: float  # sort key within the board: higher is more urgent

    @property
    def risks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.code for f in self.findings if f.code in RISK_LABELS))


def _pct(x: float) -> str:
    return f"{x:.1f}%" if x < 10 else f"{x:.0f}%"


def own_flags(p: PatientTriage, targets: dict[str, object]) -> tuple[str, ...]:
    """The CGM flags of one CGM wearer against their own targets (module docstring)."""
    goal = tg.cgm_targets(bool(targets.get("older_adult", False)))
    checks = (
        ("very_low", p.below_54 > tg.CGM_BELOW_54_UNDER),
        ("low", p.below_70 > goal.below_70_under),
        ("very_high", p.above_250 > goal.above_250_under),
        ("high", goal.above_180_under is not None and p.above_180 > goal.above_180_under),
        ("tir_drop", p.tir_first_half - p.tir_second_half > tg.TIR_DROP_POINTS),
        ("low_wear", p.wear_percent < tg.WEAR_MIN_PERCENT),
    )
    flags = tuple(name for name, hit in checks if hit)
    own_goal = float(targets.get("tir_percent", goal.tir_above))  # type: ignore[arg-type]
    if not flags and p.time_in_range < own_goal:
        flags = ("below_goal",)
    return flags


def _cgm_findings(p: PatientTriage, flags: tuple[str, ...],
                  targets: dict[str, object]) -> list[Finding]:
    goal = tg.cgm_targets(bool(targets.get("older_adult", False)))
    own_goal = float(targets.get("tir_percent", goal.tir_above))  # type: ignore[arg-type]
    words = {
        "very_low": f"CGM: {_pct(p.below_54)} of the time below "
                    f"{tg.GLUCOSE_VERY_LOW_BELOW:.0f} mg/dL (target under "
                    f"{tg.CGM_BELOW_54_UNDER:.0f}%)",
        "low": f"CGM: {_pct(p.below_70)} of the time below {tg.GLUCOSE_LOW_BELOW:.0f} mg/dL "
               f"(target under {goal.below_70_under:.0f}%)",
        "very_high": f"CGM: {_pct(p.above_250)} of the time above "
                     f"{tg.GLUCOSE_VERY_HIGH_ABOVE:.0f} mg/dL (target under "
                     f"{goal.above_250_under:.0f}%)",
        "high": f"CGM: {_pct(p.above_180)} of the time above {tg.GLUCOSE_HIGH_ABOVE:.0f} mg/dL "
                f"(target under {goal.above_180_under or 0:.0f}%)",
        "tir_drop": f"CGM: time in range fell {p.tir_first_half - p.tir_second_half:.0f} "
                    f"points in the last 7 days",
        "low_wear": f"CGM worn {p.wear_percent:.0f}% of the time "
                    f"(target {tg.WEAR_MIN_PERCENT:.0f}% or more)",
        "below_goal": f"CGM: time in range {p.time_in_range:.0f}% (own goal {own_goal:.0f}%)",
    }
    return [Finding(f, _LEVEL_OF[f], words[f]) for f in flags]


def _meter_findings(values: np.ndarray) -> tuple[tuple[str, ...], list[Finding]]:
    lowest = float(values.min())
    flags: list[str] = []
    found: list[Finding] = []
    if lowest < tg.GLUCOSE_LOW_BELOW:
        code = "meter_very_low" if lowest < tg.GLUCOSE_VERY_LOW_BELOW else "meter_low"
        below = tg.GLUCOSE_VERY_LOW_BELOW if code == "meter_very_low" else tg.GLUCOSE_LOW_BELOW
        n = int((values < below).sum())
        flags.append(code)
        found.append(Finding(code, _LEVEL_OF[code],
                             f"Meter: {n} reading{'s' * (n != 1)} below {below:.0f} mg/dL in "
                             f"14 days (lowest {lowest:.0f})"))
    high = 100.0 * float((values > tg.GLUCOSE_HIGH_ABOVE).mean())
    if high > tg.METER_HIGH_SHARE_PERCENT:
        flags.append("meter_high")
        found.append(Finding("meter_high", WATCH, f"Meter: {high:.0f}% of readings above "
                             f"{tg.GLUCOSE_HIGH_ABOVE:.0f} mg/dL in 14 days"))
    return tuple(flags), found


def _silent(series: Series, kind: str, what: str, end_us: int) -> Finding | None:
    """A device that reported in the window but not for its usual rhythm and slack."""
    if not len(series):
        return None
    hours = (end_us - int(series.times_us[-1])) / US_PER_H
    if hours <= tg.SILENT_AFTER_H[kind]:
        return None
    span = f"{hours / 24:.0f} days" if hours >= 2 * 24 else f"{hours:.0f} h"
    return Finding("device_silent", WATCH, f"No {what} for {span}")


def _local(us: int, tz: str) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).astimezone(ZoneInfo(tz)).strftime("%d %b %H:%M")


def _full_days(end: datetime, tz: str) -> tuple[int, int]:
    """The last DAYS_ADHERENCE whole local days before the day of ``end`` (epoch µs)."""
    midnight = end.astimezone(ZoneInfo(tz)).replace(hour=0, minute=0, second=0, microsecond=0)
    return to_epoch_us(midnight - timedelta(days=DAYS_ADHERENCE)), to_epoch_us(midnight)


def _date(label: str) -> str:
    """'2026-03-12' as '12 Mar'."""
    return datetime.strptime(label, "%Y-%m-%d").strftime("%d %b")


@dataclass
class _Judged:
    findings: list[Finding] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    seen: bool = False  # any reading at all

    def add(self, finding: Finding | None) -> None:
        if finding is not None:
            self.findings.append(finding)


def _judge_bp(store: TimeSeriesStore, patient: PatientInfo, end: datetime, out: _Judged) -> None:
    end_us = to_epoch_us(end)
    sys_ = store.read_series(patient.id, Metric.SYSTOLIC, end - timedelta(days=DAYS_BP), end)
    if not len(sys_):
        return
    dia = store.read_series(patient.id, Metric.DIASTOLIC, end - timedelta(days=DAYS_BP), end)
    out.seen = True
    if len(dia) != len(sys_):
        return
    out.columns["bp"] = f"{sys_.values[-1]:.0f}/{dia.values[-1]:.0f}"
    recent = sys_.times_us >= to_epoch_us(end - RECENT)
    urgent = [c for c in crises(sys_.times_us[recent], sys_.values[recent], dia.values[recent],
                                now_us=end_us) if c.urgent]
    if urgent:
        c = urgent[-1]
        how = "confirmed on re-measuring" if c.repeat else "not re-measured"
        out.add(Finding("bp_crisis", URGENT, f"BP {c.systolic:.0f}/{c.diastolic:.0f} on "
                        f"{_local(c.time_us, patient.timezone)}, {how}"))
    target = (float(patient.targets.get("bp_systolic", tg.BP_HOME_ESH[0])),
              float(patient.targets.get("bp_diastolic", tg.BP_HOME_ESH[1])))
    # the protocol's average only where it can be valid and above target (a third of a build
    # otherwise: most patients measure once a day, or well below their target)
    if len(sys_) > tg.BP_MIN_READINGS and (sys_.values.max() >= target[0]
                                           or dia.values.max() >= target[1]):
        home = home_bp(sys_.times_us, sys_.values, dia.values, tz=patient.timezone,
                       days=DAYS_BP + 1)
    else:
        home = None
    if home is not None and home.valid and (home.systolic >= target[0]
                                            or home.diastolic >= target[1]):
        out.columns["bp"] = f"avg {home.systolic:.0f}/{home.diastolic:.0f}"
        out.add(Finding("bp_high", WATCH, f"Home BP average {home.systolic:.0f}/"
                        f"{home.diastolic:.0f} over {home.days_used} days (target under "
                        f"{target[0]:.0f}/{target[1]:.0f})"))
    out.add(_silent(sys_, "bp_cuff", "blood pressure reading", end_us))


def _judge_weight(store: TimeSeriesStore, patient: PatientInfo, end: datetime,
                  out: _Judged) -> None:
    end_us = to_epoch_us(end)
    weight = store.read_series(patient.id, Metric.WEIGHT, end - timedelta(days=DAYS_WEIGHT), end)
    heart_failure = "heart_failure" in patient.conditions
    if len(weight):
        out.seen = True
        # weight_summary's warnings, without its Theil-Sen weekly trend (a fifth of a build)
        day, daily = daily_values(weight.times_us, weight.values, tz=patient.timezone,
                                  how="first")
        out.columns["weight"] = f"{daily[-1]:.1f} kg"
        if weight.times_us[-1] >= to_epoch_us(end - RECENT):
            for w in heart_failure_warnings(day, daily)[:1]:
                since = _date(w.from_date)
                out.columns["weight"] = f"+{w.gain_kg:.1f} kg since {since}"
                out.add(Finding("hf_weight", URGENT, f"Weight up {w.gain_kg:.1f} kg since "
                                f"{since} ({w.from_kg:.1f} to {w.to_kg:.1f} kg)"))
        out.add(_silent(weight, "scale", "weigh-in", end_us))
    if heart_failure:  # daily weighing is their self-care (docs/CLINICAL.md)
        start_us, stop_us = _full_days(end, patient.timezone)
        kept = weight.times_us[(weight.times_us >= start_us) & (weight.times_us < stop_us)]
        done = weigh_ins(kept, start_us=start_us, end_us=stop_us, tz=patient.timezone)
        if len(done.days_missed) >= tg.ADHERENCE_DAYS_MISSED:
            weighed = len(done.days) - len(done.days_missed)
            out.add(Finding("adherence", WATCH, f"Weighed on {weighed} of the last "
                            f"{len(done.days)} days (daily weighing advised)"))


def _judge_spo2(store: TimeSeriesStore, patient: PatientInfo, end: datetime,
                out: _Judged) -> None:
    spo2 = store.read_series(patient.id, Metric.SPO2, end - timedelta(days=DAYS_SPO2), end)
    if not len(spo2):
        return
    out.seen = True
    target, urgent = tg.spo2_limits(patient.targets, patient.conditions)
    day = spo2.times_us >= to_epoch_us(end - timedelta(hours=24))
    if day.any():
        i = int(np.argmin(np.where(day, spo2.values, np.inf)))
        lowest = float(spo2.values[i])
        out.columns["spo2"] = f"lowest {lowest:.0f}% (24 h)"
        if lowest < target:
            n = int((spo2.values[day] < target).sum())
            how = (f"at or below the urgent {urgent:.0f}%" if lowest <= urgent
                   else f"target {target:.0f}% or more")
            out.add(Finding("spo2_low", URGENT, f"SpO2 {lowest:.0f}% at "
                            f"{_local(int(spo2.times_us[i]), patient.timezone)} ({how}; {n} "
                            f"reading{'s' * (n != 1)} below {target:.0f}% in 24 h)"))
    else:
        out.columns["spo2"] = f"{spo2.values[-1]:.0f}%"
    out.add(_silent(spo2, "pulse_oximeter", "SpO2 reading", to_epoch_us(end)))


def _judge_activity(store: TimeSeriesStore, patient: PatientInfo, end: datetime,
                    out: _Judged) -> None:
    end_us = to_epoch_us(end)
    motion = store.read_series(patient.id, Metric.MOTION, end - timedelta(days=DAYS_MOTION), end)
    if len(motion):
        out.seen = True
        quiet = unusual_inactivity(motion.times_us, motion.values, now_us=end_us,
                                   tz=patient.timezone)
        if quiet is not None:
            out.add(Finding("inactive", HIGH, f"No movement at home since "
                            f"{_local(quiet.since_us, patient.timezone)}; usually up and about "
                            f"by {quiet.usual_first_motion}"))
    doses = patient.targets.get("medication_times")
    if isinstance(doses, list | tuple) and doses:
        start_us, stop_us = _full_days(end, patient.timezone)
        opened = store.read_series(patient.id, Metric.MEDICATION_TAKEN,
                                   datetime.fromtimestamp(start_us / 1e6, UTC),
                                   datetime.fromtimestamp(stop_us / 1e6, UTC))
        out.seen = out.seen or bool(len(opened))
        taken = pill_box(opened.times_us, doses_per_day=len(doses), start_us=start_us,
                         end_us=stop_us, tz=patient.timezone)
        if len(taken.days_missed) >= tg.ADHERENCE_DAYS_MISSED:
            out.add(Finding("adherence", WATCH, f"Pill box: {taken.received:.0f} of "
                            f"{taken.expected:.0f} doses in the last {len(taken.days)} days"))


def judge(store: TimeSeriesStore, patient: PatientInfo, *, end: datetime,
          days: int = 14) -> Row:
    """One patient's row: every condition they have, judged by its own rules."""
    start = end - timedelta(days=days)
    start_us, end_us = to_epoch_us(start), to_epoch_us(end)
    out = _Judged()
    figures: PatientTriage | None = None
    flags: tuple[str, ...] = ()
    glucose = ""
    cgm = store.read_series(patient.id, Metric.GLUCOSE, start, end, source=GlucoseMethod.CGM)
    if len(cgm):
        glucose = "cgm"
        figures = triage(patient.id, cgm.times_us, cgm.values, start_us=start_us, end_us=end_us)
        flags = own_flags(figures, patient.targets)
        out.findings += _cgm_findings(figures, flags, patient.targets)
        out.columns["glucose"] = (f"CGM: in range {figures.time_in_range:.0f}%, "
                                  f"<{tg.GLUCOSE_LOW_BELOW:.0f} {_pct(figures.below_70)}")
        out.add(_silent(cgm, "cgm", "CGM reading", end_us))
    else:
        meter = store.read_series(patient.id, Metric.GLUCOSE, start, end,
                                  source=GlucoseMethod.METER)
        if len(meter):
            glucose = "meter"
            flags, found = _meter_findings(meter.values)
            out.findings += found
            out.columns["glucose"] = (f"Meter: {len(meter) / days:.1f}/day, lowest "
                                      f"{float(meter.values.min()):.0f}")
            out.add(_silent(meter, "glucose_meter", "meter reading", end_us))
        elif any("diabetes" in c for c in patient.conditions):
            flags = ("no_data",)
            out.findings.append(Finding("no_data", WATCH,
                                        f"No glucose readings in {days} days (diabetes)"))
    out.seen = bool(glucose)
    for step in (_judge_bp, _judge_weight, _judge_spo2, _judge_activity):
        step(store, patient, end, out)
    if not out.seen and "no_data" not in flags:
        out.findings.append(Finding("device_silent", WATCH, f"No readings in {days} days"))
    bucket = flags[0] if flags else {"cgm": "meeting", "meter": "meter_ok"}.get(glucose, "")
    findings = tuple(sorted(out.findings, key=lambda f: -f.level))
    level = findings[0].level if findings else NONE
    gri = figures.gri if figures is not None and math.isfinite(figures.gri) else 0.0
    top = sum(1 for f in findings if f.level == level)
    score = level * 10_000.0 + min(top, 9) * 1_000.0 + min(len(findings), 9) * 100.0 + gri
    return Row(patient, figures, glucose, flags, bucket, findings, out.columns, level, score)


def build_rows(store: TimeSeriesStore, patients: Sequence[PatientInfo], *, end: datetime,
               days: int = 14) -> list[Row]:
    """Every patient's row, most urgent first. The patients are judged on the process's
    reading threads (analytics/population.py reader_pool): most of a row's time is the
    store's reads, which run outside the interpreter, so on 2 cores one patient's reads
    overlap another's arithmetic."""
    if len(patients) < 2 * READERS:
        rows = [judge(store, patient, end=end, days=days) for patient in patients]
    else:
        rows = list(reader_pool().map(lambda p: judge(store, p, end=end, days=days), patients))
    rows.sort(key=lambda r: (-r.score, r.patient.display_name.casefold(), r.patient.id))
    return rows


def encode_rows(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts, to share a board between processes (ids, no names)."""
    return [{"id": r.patient.id,
             "figures": dataclasses.asdict(r.figures) if r.figures is not None else None,
             "glucose": r.glucose, "flags": r.flags, "bucket": r.bucket,
             "findings": [dataclasses.astuple(f) for f in r.findings], "columns": r.columns,
             "level": r.level, "score": r.score} for r in rows]


def decode_rows(data: list[dict[str, Any]], patients: Sequence[PatientInfo]) -> list[Row]:
    """encode_rows' rows again, with today's records of ``patients`` (in the stored order;
    a patient whose record is gone is left out)."""
    by_id = {p.id: p for p in patients}
    rows = []
    for d in data:
        patient = by_id.get(d["id"])
        if patient is not None:
            f = d["figures"]
            figures = None if f is None else PatientTriage(**(f | {"flags": tuple(f["flags"])}))
            rows.append(Row(patient, figures, d["glucose"], tuple(d["flags"]), d["bucket"],
                            tuple(Finding(*x) for x in d["findings"]), dict(d["columns"]),
                            int(d["level"]), float(d["score"])))
    return rows


@dataclass(frozen=True, slots=True)
class Board:
    as_of: datetime
    key: frozenset[str]
    rows: tuple[Row, ...]

    counted: dict[str, int] = field(default_factory=dict, compare=False)

    def counts(self) -> dict[str, int]:
        """Patients with each glucose bucket, each risk and each level (what each filter
        would show), once."""
        if not self.counted:
            out = {b: 0 for b in BUCKETS} | {r: 0 for r in RISKS} | {
                f"level_{n}": 0 for n in LEVEL_LABELS}
            for row in self.rows:
                for name in row.flags or ((row.bucket,) if row.bucket else ()):
                    out[name] += 1
                for risk in row.risks:
                    out[risk] += 1
                out[f"level_{row.level}"] += 1
            self.counted.update(out)
        return dict(self.counted)

    def select(self, *, bucket: str | None = None, risk: str | None = None,
               query: str | None = None, level: int | None = None) -> list[Row]:
        q = (query or "").strip().casefold()
        return [r for r in self.rows
                if (bucket is None or bucket in r.flags or bucket == r.bucket)
                and (risk is None or risk in r.risks)
                and (level is None or r.level == level)
                and (not q or q in r.patient.display_name.casefold()
                     or q in r.patient.id.casefold())]


class TriageBoards:
    """Keeps one board per set of patients, refreshed every ``refresh``."""

    def __init__(self, store: TimeSeriesStore, *, refresh: timedelta = timedelta(minutes=5),
                 days: int = 14, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 shared: SharedBoards | None = None) -> None:
        """``shared``: build each board once for every server process (shared_boards.py)."""
        self._store = store
        self._shared = shared
        self._refresh = refresh
        self._days = days
        self._clock = clock
        self._boards: dict[frozenset[str], Board] = {}
        self._lock = threading.Lock()
        self._building: set[frozenset[str]] = set()
        self._first_builds: dict[frozenset[str], threading.Lock] = {}

    def window_end(self, now: datetime) -> datetime:
        step = int(self._refresh.total_seconds())
        epoch = int(now.timestamp())
        return datetime.fromtimestamp(epoch - epoch % step, UTC)

    def board(self, patient_ids: Iterable[str],
              load: Callable[[frozenset[str]], Sequence[PatientInfo]]) -> Board:
        """The board of these patients as of the current refresh period.

        ``load`` gives the patients' records (names, time zones, own targets) and is
        called only when a board is built, so a request costs one set of ids."""
        key = frozenset(patient_ids)
        end = self.window_end(self._clock())
        with self._lock:
            kept = self._boards.get(key)
            if kept is not None and kept.as_of == end:
                return kept
            if kept is not None:  # serve the previous board while the next one is built
                if key not in self._building:
                    self._building.add(key)
                    threading.Thread(target=self._build, args=(key, load, end),
                                     daemon=True, name="triage-refresh").start()
                return kept
            first = self._first_builds.setdefault(key, threading.Lock())
        with first:  # one first build per key; the others wait for it
            with self._lock:
                kept = self._boards.get(key)
            if kept is not None:
                return kept
            return self._build(key, load, end)

    def _build(self, key: frozenset[str], load: Callable[[frozenset[str]], Sequence[PatientInfo]],
               end: datetime) -> Board:
        try:
            patients = list(load(key))
            if self._shared is None:
                rows = build_rows(self._store, patients, end=end, days=self._days)
            else:
                rows = decode_rows(self._shared.get_or_build(key, end, lambda: encode_rows(
                    build_rows(self._store, patients, end=end, days=self._days))), patients)
            board = Board(end, key, tuple(rows))
            with self._lock:
                if len(self._boards) > 64:
                    self._boards.clear()
                self._boards[key] = board
            log.info("triage board built: %d patients", len(rows))
            return board
        finally:
            with self._lock:
                self._building.discard(key)


def finite(x: float | None) -> float | None:
    return round(float(x), 1) if x is not None and np.isfinite(x) else None
