"""What the real-time path runs: a cheap triage for many patients, then the rules.

Triage (``triage``): for a batch of patients with new readings, the newest glucose
and blood-pressure value of each, read in one go (``newest_values``, part of the store
interface), compared with the urgent rules' own thresholds: the patient's
tuned ``urgent_low`` threshold, else its default (<54 mg/dL, Battelino 2019), and
the hypertensive-crisis level of ``bp_crisis`` (>=180 or >=120 mmHg, AHA; see
analytics/bp.py). A patient over a threshold goes to the urgent lane; the
others wait for the routine lane. Triage only decides the order: what is said is
decided by the real rules and the dispatcher in ``evaluate``.

Evaluation (``evaluate``): the real-time rules whose metrics arrived (a glucose
event runs the glucose rules, not the BP or SpO2 ones), on a context holding only
the windows those rules read, built once. With no finding nothing touches the
application database (no transaction, no commit); with a finding the patient's
policy is read fresh and the dispatcher decides in one transaction. Messages come
back urgent first.

Patients and their rule tuning are cached for ``cache_s`` seconds (one query for a
whole batch): a change of tuning reaches the real-time path within that time. The
dispatcher's policy (quiet hours, budget, cool-downs) is never cached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from analytics.bp import CRISIS_DIASTOLIC, CRISIS_SYSTOLIC
from analytics.forecast import live_model
from care.messages import Outbound
from coach.context import ContextSettings, build_context
from coach.dispatch import dispatch
from coach.engine import metrics_of, needs_of, run_rules
from coach.policy import load_policy
from coach.rules.registry import RULES, EnabledRule, enabled_rules
from coach.rules.thresholds import ThresholdRule
from core.appdb.coaching import CoachingPreference
from core.appdb.directory import DeviceBinding, PatientInfo
from core.appdb.models import Device, Patient
from core.metrics import Metric
from core.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)

URGENT_METRICS = (Metric.GLUCOSE, Metric.SYSTOLIC, Metric.DIASTOLIC)
_TRIAGE_WINDOW = timedelta(minutes=60)  # longer than any urgent rule's max_age_min
_DISPATCH_ATTEMPTS = 3  # a dispatch that raced another coach process's is done again


@dataclass(frozen=True, slots=True)
class _Known:
    info: PatientInfo | None  # None: no such patient
    tuning: Mapping[str, Any] = field(default_factory=dict)
    expires: float = 0.0


class RealtimeEvaluator:
    def __init__(self, *, store: TimeSeriesStore, engine: Engine,
                 context_settings: ContextSettings | None = None,
                 cache_s: float = 30.0) -> None:
        self._store = store
        self._engine = engine
        self._context_settings = context_settings or ContextSettings()
        self._cache_s = cache_s
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()
        self._realtime_metrics = frozenset(
            str(m) for m in metrics_of(enabled_rules(path="realtime")))

    # -- triage --------------------------------------------------------------------------

    def wakes(self, metrics: Iterable[str]) -> bool:
        """Whether readings of these metrics can make any real-time rule speak."""
        return not self._realtime_metrics.isdisjoint(metrics)

    def triage(self, batch: Mapping[str, set[str]], now: datetime) -> set[str]:
        """The patients of ``batch`` (patient -> metrics that arrived) whose newest
        readings cross an urgent rule's threshold."""
        candidates = [p for p, m in batch.items()
                      if not {str(x) for x in URGENT_METRICS}.isdisjoint(m)]
        if not candidates:
            return set()
        known = self._patients(candidates)
        since = now - _TRIAGE_WINDOW
        # Only what arrived: a glucose event needs no BP read, and the other way round.
        newest = self._newest([p for p in candidates if "glucose" in batch[p]],
                              (Metric.GLUCOSE,), since)
        newest.update(self._newest([p for p in candidates if not {"systolic", "diastolic"}
                                    .isdisjoint(batch[p])],
                                   (Metric.SYSTOLIC, Metric.DIASTOLIC), since))
        urgent: set[str] = set()
        for pid in candidates:
            entry = known.get(pid)
            if entry is None or entry.info is None:
                continue
            if _urgent_glucose(newest.get((pid, Metric.GLUCOSE)), entry.tuning, now) or \
                    _crisis_bp(newest.get((pid, Metric.SYSTOLIC)),
                               newest.get((pid, Metric.DIASTOLIC))):
                urgent.add(pid)
        return urgent

    def _newest(self, ids: Sequence[str], metrics: tuple[Metric, ...],
                since: datetime) -> dict[tuple[str, Metric], tuple[int, float]]:
        if not ids:
            return {}
        return self._store.newest_values(ids, metrics, since)

    # -- evaluation ----------------------------------------------------------------------

    def evaluate(self, patient_id: str, now: datetime,
                 metrics: Iterable[str] | None = None) -> list[Outbound]:
        arrived = None if metrics is None else {str(m) for m in metrics}
        entry = self._patients([patient_id]).get(patient_id)
        if entry is None or entry.info is None:
            return []
        rules = [r for r in enabled_rules(entry.tuning, path="realtime")
                 if arrived is None or not arrived.isdisjoint(str(m) for m in metrics_of([r]))]
        if not rules:
            return []
        flags = self._findings(entry.info, rules, now)
        if not flags:
            return []
        for attempt in range(1, _DISPATCH_ATTEMPTS + 1):
            try:
                with Session(self._engine) as session:
                    if session.get_bind().dialect.name == "sqlite":
                        session.execute(text("PRAGMA busy_timeout = 60000"))
                    policy = load_policy(session, patient_id)
                    out = dispatch(session, patient_id, flags, now, policy=policy)
                    session.commit()
                break
            except IntegrityError:
                # Another coach process dispatched for this patient at the same moment
                # (its event and ours went to different members of the shared
                # subscription) and committed first. Nothing of ours was sent: dispatch
                # again, on its record, whose cool-downs keep a message from going twice.
                if attempt == _DISPATCH_ATTEMPTS:
                    raise
                log.info("patient %s: dispatched by another coach process at the same "
                         "moment; dispatching again", patient_id)
        return sorted(out, key=lambda o: not o.urgent)

    def _findings(self, info: PatientInfo, rules: list[EnabledRule], now: datetime) -> Any:
        needs = needs_of(rules)
        devices: list[DeviceBinding] = []
        if "devices" in needs:
            devices = self._devices(info.id)
        ctx = build_context(self._store, info, now, self._context_settings,
                            devices=devices, needs=needs, forecast_model=live_model())
        return run_rules(ctx, rules).flags

    # -- the application database, cached ---------------------------------------------------

    def _patients(self, ids: Sequence[str]) -> dict[str, _Known]:
        clock = time.monotonic()
        with self._lock:
            out = {p: k for p in ids if (k := self._known.get(p)) and k.expires > clock}
        missing = [p for p in ids if p not in out]
        if not missing:
            return out
        fresh: dict[str, _Known] = {}
        with Session(self._engine) as session:
            for start in range(0, len(missing), 500):
                part = missing[start:start + 500]
                tunings: dict[str, Any] = {pid: tuning for pid, tuning in session.execute(
                    select(CoachingPreference.patient_id, CoachingPreference.rule_tuning)
                    .where(CoachingPreference.patient_id.in_(part)))}
                for row in session.scalars(select(Patient).where(Patient.id.in_(part))):
                    info = PatientInfo(id=row.id, display_name=row.display_name,
                                       timezone=row.timezone,
                                       conditions=tuple(row.conditions or ()),
                                       targets=dict(row.targets or {}))
                    fresh[row.id] = _Known(info, dict(tunings.get(row.id) or {}),
                                           clock + self._cache_s)
        for pid in missing:
            fresh.setdefault(pid, _Known(None, {}, clock + self._cache_s))
        with self._lock:
            if len(self._known) > 100_000:
                self._known.clear()
            self._known.update(fresh)
        return {**out, **fresh}

    def _devices(self, patient_id: str) -> list[DeviceBinding]:
        with Session(self._engine) as session:
            rows = session.scalars(select(Device).where(Device.patient_id == patient_id)
                                   .order_by(Device.id)).all()
            return [DeviceBinding(d.id, d.patient_id, d.kind, d.active) for d in rows]


def _urgent_glucose(newest: tuple[int, float] | None, tuning: Mapping[str, Any],
                    now: datetime) -> bool:
    if newest is None:
        return False
    settings = _URGENT_LOW.settings(tuning.get("urgent_low"))
    if not settings.enabled:
        return False
    limit = settings.threshold if settings.threshold is not None else \
        _URGENT_LOW.row.default_threshold
    age_min = (now.timestamp() * 1e6 - newest[0]) / 60e6
    return newest[1] < limit and age_min <= settings.max_age_min


def _urgent_low_rule() -> ThresholdRule:
    """The urgent_low rule, whose threshold and tuning triage reads (an error at import
    if it is missing or not a threshold rule, not a silent default)."""
    rule = RULES["urgent_low"]
    if not isinstance(rule, ThresholdRule):
        raise TypeError("triage reads urgent_low as a threshold rule (coach/rules/thresholds.py)")
    return rule


_URGENT_LOW = _urgent_low_rule()


def _crisis_bp(systolic: tuple[int, float] | None, diastolic: tuple[int, float] | None) -> bool:
    return (systolic is not None and systolic[1] >= CRISIS_SYSTOLIC) or \
        (diastolic is not None and diastolic[1] >= CRISIS_DIASTOLIC)
