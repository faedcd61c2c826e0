"""The nurse's population triage: every clinic patient in a risk bucket, with other risks beside.

Glucose buckets are the ones clinicians triage on (DESIGN.md §6; Battelino
et al., Diabetes Care 2019, Figure 3), judged against each patient's own
targets (``PatientInfo.targets``):

  very_low   time <54 mg/dL  > 1%
  low        time <70 mg/dL  > 4%   (older/high-risk, ``older_adult``: > 1%)
  very_high  time >250 mg/dL > 5%   (older/high-risk: > 10%)
  high       time >180 mg/dL > 25%  (older/high-risk: no such target)
  tir_drop   time in range fell by more than 15 points (last 7 days vs the 7 before)
  low_wear   CGM worn < 70% of the time
  below_goal none of the above, but time in range below the patient's own goal
             (``tir_percent``; default 70%, older/high-risk 50%)
  meeting    meeting targets

The figures come from analytics.population.triage (the same numbers as
the AGP report), over CGM readings only: a fingerstick beside the sensor is not
time in range, and a patient with only a meter is "no CGM data".  Beside them,
the non-glucose risks (DESIGN.md §6):
  bp_crisis  an urgent BP crisis (>=180 systolic or >=120 diastolic, confirmed
             or not re-measured; analytics.bp.crises) in the last 3 days
  hf_weight  a heart-failure weight warning on the latest weigh-in of the last
             3 days (>2 kg in 3 days or >1 kg overnight; analytics.weight)
  spo2_low   an SpO2 reading in the last 24 h below the patient's own target
             (``spo2_percent``, default 92%)
  inactive   unusual inactivity now, against the person's own motion pattern
             (analytics.activity.unusual_inactivity)

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

import numpy as np

from analytics.activity import unusual_inactivity
from analytics.bp import crises
from analytics.population import PatientTriage, triage
from analytics.trends import daily_values
from analytics.weight import heart_failure_warnings
from core.appdb.directory import PatientInfo
from core.metrics import GlucoseMethod, Metric
from core.readings import to_epoch_us
from core.timeseries import TimeSeriesStore
from dashboard.views.shared_boards import SharedBoards

log = logging.getLogger(__name__)

BUCKETS = ("very_low", "low", "very_high", "high", "tir_drop", "low_wear", "no_data",
           "below_goal", "meeting")
BUCKET_LABELS = {
    "very_low": "Very low >1%", "low": "Low >4%", "very_high": "Very high >5%",
    "high": "High >25%", "tir_drop": "TIR fell >15 points", "low_wear": "Wear <70%",
    "no_data": "No CGM data", "below_goal": "TIR below own goal", "meeting": "Meeting targets",
}
RISKS = ("bp_crisis", "hf_weight", "spo2_low", "inactive")
RISK_LABELS = {"bp_crisis": "BP crisis", "hf_weight": "Heart-failure weight gain",
               "spo2_low": "Low SpO2", "inactive": "Unusual inactivity"}
DEFAULT_SPO2_TARGET = 92.0  # DESIGN.md §6: SpO2 <92% is a warning sign
RECENT = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class Row:
    patient: PatientInfo
    figures: PatientTriage
    flags: tuple[str, ...]
    bucket: str
    risks: tuple[str, ...]
    score: float  # sort key within the board: higher is more urgent


def own_flags(p: PatientTriage, targets: dict[str, object]) -> tuple[str, ...]:
    """The glucose flags of one patient against their own targets (module docstring)."""
    if p.readings == 0:
        return ("no_data", "low_wear")
    older = bool(targets.get("older_adult", False))
    checks = (
        ("very_low", p.below_54 > 1.0),
        ("low", p.below_70 > (1.0 if older else 4.0)),
        ("very_high", p.above_250 > (10.0 if older else 5.0)),
        ("high", (not older) and p.above_180 > 25.0),
        ("tir_drop", p.tir_first_half - p.tir_second_half > 15.0),
        ("low_wear", p.wear_percent < 70.0),
    )
    flags = tuple(name for name, hit in checks if hit)
    goal = float(targets.get("tir_percent", 50.0 if older else 70.0))  # type: ignore[arg-type]
    if not flags and p.time_in_range < goal:
        flags = ("below_goal",)
    return flags


def _score(bucket: str, p: PatientTriage, risks: tuple[str, ...]) -> float:
    """Buckets in BUCKETS order; inside one, highest GRI first; each other risk lifts a row."""
    gri = p.gri if math.isfinite(p.gri) else 0.0
    return (len(BUCKETS) - BUCKETS.index(bucket)) * 1000.0 + gri + 10.0 * len(risks)


def other_risks(store: TimeSeriesStore, patient: PatientInfo, end: datetime) -> tuple[str, ...]:
    found: list[str] = []
    end_us = to_epoch_us(end)
    recent = end - RECENT
    sys_ = store.read_series(patient.id, Metric.SYSTOLIC, recent, end)
    if len(sys_):
        dia = store.read_series(patient.id, Metric.DIASTOLIC, recent, end)
        if len(dia) == len(sys_) and any(c.urgent for c in crises(
                sys_.times_us, sys_.values, dia.values, now_us=end_us)):
            found.append("bp_crisis")
    weight = store.read_series(patient.id, Metric.WEIGHT, end - timedelta(days=7), end)
    if len(weight) and weight.times_us[-1] >= to_epoch_us(recent):
        # weight_summary's warnings, without its Theil-Sen weekly trend (a fifth of a build)
        day, daily = daily_values(weight.times_us, weight.values, tz=patient.timezone,
                                  how="first")
        if heart_failure_warnings(day, daily):
            found.append("hf_weight")
    spo2 = store.read_series(patient.id, Metric.SPO2, end - timedelta(hours=24), end)
    target = float(patient.targets.get("spo2_percent", DEFAULT_SPO2_TARGET))
    if len(spo2) and float(spo2.values.min()) < target:
        found.append("spo2_low")
    motion = store.read_series(patient.id, Metric.MOTION, end - timedelta(days=28), end)
    if len(motion) and unusual_inactivity(motion.times_us, motion.values, now_us=end_us,
                                          tz=patient.timezone) is not None:
        found.append("inactive")
    return tuple(found)


def build_rows(store: TimeSeriesStore, patients: Sequence[PatientInfo], *, end: datetime,
               days: int = 14) -> list[Row]:
    start = end - timedelta(days=days)
    start_us, end_us = to_epoch_us(start), to_epoch_us(end)
    rows = []
    for patient in patients:
        series = store.read_series(patient.id, Metric.GLUCOSE, start, end,
                                   source=GlucoseMethod.CGM)
        figures = triage(patient.id, series.times_us, series.values, start_us=start_us,
                         end_us=end_us)
        flags = own_flags(figures, patient.targets)
        bucket = flags[0] if flags else "meeting"
        risks = other_risks(store, patient, end)
        rows.append(Row(patient, figures, flags, bucket, risks, _score(bucket, figures, risks)))
    rows.sort(key=lambda r: (-r.score, r.patient.id))
    return rows


def encode_rows(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts, to share a board between processes (ids, no names)."""
    return [{"id": r.patient.id, "figures": dataclasses.asdict(r.figures), "flags": r.flags,
             "bucket": r.bucket, "risks": r.risks, "score": r.score} for r in rows]


def decode_rows(data: list[dict[str, Any]], patients: Sequence[PatientInfo]) -> list[Row]:
    """encode_rows' rows again, with today's records of ``patients`` (in the stored order;
    a patient whose record is gone is left out)."""
    by_id = {p.id: p for p in patients}
    rows = []
    for d in data:
        patient = by_id.get(d["id"])
        if patient is not None:
            figures = PatientTriage(**(d["figures"] | {"flags": tuple(d["figures"]["flags"])}))
            rows.append(Row(patient, figures, tuple(d["flags"]), d["bucket"], tuple(d["risks"]),
                            float(d["score"])))
    return rows


@dataclass(frozen=True, slots=True)
class Board:
    as_of: datetime
    key: frozenset[str]
    rows: tuple[Row, ...]

    counted: dict[str, int] = field(default_factory=dict, compare=False)

    def counts(self) -> dict[str, int]:
        """Patients with each flag and each risk (what each filter would show), once."""
        if not self.counted:
            out = {b: 0 for b in BUCKETS} | {r: 0 for r in RISKS}
            for row in self.rows:
                for name in row.flags or ("meeting",):
                    out[name] += 1
                for risk in row.risks:
                    out[risk] += 1
            self.counted.update(out)
        return dict(self.counted)

    def select(self, *, bucket: str | None = None, risk: str | None = None,
               query: str | None = None) -> list[Row]:
        q = (query or "").strip().casefold()
        return [r for r in self.rows
                if (bucket is None or bucket in r.flags or (bucket == "meeting" and not r.flags))
                and (risk is None or risk in r.risks)
                and (not q or q in r.patient.display_name.casefold() or q in r.patient.id.casefold())]


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


def finite(x: float) -> float | None:
    return round(float(x), 1) if x is not None and np.isfinite(x) else None
