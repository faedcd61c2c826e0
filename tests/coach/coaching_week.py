"""A simulated coach week: the real store and application database, an injected clock
in 5-minute steps. Each step writes the readings measured in it, runs the real-time rules
for every patient who got new readings (as the coach does on
``hearth/v1/stored/{patient_id}``; only when a reading of a metric those rules read came
in: ``coach.engine.metrics_of``), runs the scheduled rules on the hour, takes scripted
acknowledgements, advances the escalation ladders, and builds each patient's digest at
the end of their quiet hours, as the coach's escalation tick does: ladders whose condition
cleared resolve, due steps are taken, and the "watch" rules run for patients whose CGM
went quiet while low. ``restart_at`` drops every object but the databases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care import alerts as care_alerts
from care.messages import Outbound
from coach import episodes, escalation
from coach.context import build_context
from coach.dispatch import build_digest, dispatch
from coach.engine import metrics_of, needs_of, run_rules
from coach.policy import load_policy
from coach.rules.registry import EnabledRule, enabled_rules
from core.appdb.coaching import CoachAlert
from core.appdb.directory import DeviceBinding, PatientInfo, bind_devices
from core.appdb.engine import make_engine
from core.readings import Reading
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.coach.coaching_support import add_patient, database

STEP = timedelta(minutes=5)
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@dataclass
class Sent:
    when: datetime
    message: Outbound
    tz: str = "UTC"

    @property
    def local(self) -> datetime:
        return self.when.astimezone(ZoneInfo(self.tz))

    @property
    def row(self) -> tuple[str, str, str, str, str]:
        return (self.message.patient_id, DAYS[self.local.weekday()], self.message.kind,
                self.message.recipient_role, self.message.flag_type)


@dataclass
class Week:
    tmp_path: Path
    patients: Mapping[str, PatientInfo]
    devices: Mapping[str, Sequence[tuple[str, str]]]
    readings: Sequence[Reading]
    start: datetime
    prefs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # patient, by, role ("snooze": snoozed for an hour instead of acknowledged)
    acks: dict[datetime, tuple[str, str, str]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    realtime_every: int = 1  # steps between real-time runs (ingest may batch its events)

    def __post_init__(self) -> None:
        self.engine: Engine = database(self.tmp_path)
        for pid, info in self.patients.items():
            add_patient(self.engine, pid, tz=info.timezone, conditions=info.conditions,
                        targets=dict(info.targets), **dict(self.prefs.get(pid, {})))
            with Session(self.engine) as session:
                bind_devices(session, pid, list(self.devices[pid]))
                session.commit()
        self.store = SqliteTimeSeriesStore(":memory:")
        self.pending = sorted(self.readings, key=lambda x: x.measured_at)
        self._written = 0
        self.realtime = enabled_rules(path="realtime")
        self.scheduled = [r for r in enabled_rules(path="scheduled")
                          if getattr(r.rule, "cadence", "hourly") != "watch"]
        self.watch = enabled_rules(path="scheduled", cadence="watch")
        self.realtime_metrics = metrics_of(self.realtime)
        self.write_until(self.start)

    def write_until(self, now: datetime) -> set[str]:
        """Store what was measured by ``now``; the patients with news for real-time rules."""
        first = self._written
        while self._written < len(self.pending) and self.pending[self._written].measured_at <= now:
            self._written += 1
        batch = self.pending[first:self._written]
        if batch:
            self.store.write(batch)
        return {x.patient_id for x in batch if x.metric in self.realtime_metrics}

    def restart(self) -> None:
        """A new coach process: nothing in memory survives but the databases."""
        url = self.engine.url
        self.engine.dispose()
        self.engine = make_engine(url.render_as_string(hide_password=False))

    def evaluate(self, patient: str, now: datetime, rules: list[EnabledRule]) -> list[Outbound]:
        devices = [DeviceBinding(d, patient, kind, True) for d, kind in self.devices[patient]]
        ctx = build_context(self.store, self.patients[patient], now, devices=devices,
                            needs=needs_of(rules))
        result = run_rules(ctx, rules)
        assert not result.failed, result.failed
        if not result.flags:  # as the service does (coach/evaluation.py): nothing to dispatch
            return []
        with Session(self.engine) as session:
            out = dispatch(session, patient, result.flags, now)
            session.commit()
        return out

    def step(self, now: datetime, index: int = 0) -> None:
        due = index % self.realtime_every == 0 or now.minute == 0
        fresh = self.write_until(now) if due else set()
        out: list[Outbound] = []
        for patient in sorted(fresh):
            out += self.evaluate(patient, now, self.realtime)
        if now.minute == 0:
            for patient in self.patients:
                out += self.evaluate(patient, now, self.scheduled)
        if now in self.acks:  # the newest open ladder of the patient
            patient, by, role = self.acks[now]
            with Session(self.engine) as session:
                alert = session.scalars(select(CoachAlert).where(
                    CoachAlert.patient_id == patient, CoachAlert.kind == "escalation",
                    CoachAlert.state == "open").order_by(CoachAlert.created_at.desc())).first()
                assert alert is not None
                if role == "snooze":
                    assert care_alerts.snooze(session, alert.id, now + timedelta(hours=1), by,
                                              now)
                else:
                    assert care_alerts.acknowledge(session, alert.id, by, now, role=role)
                session.commit()
        with Session(self.engine) as session:  # the escalation tick (evaluation.escalations)
            episodes.cleared(session, self.store, now)
            out += escalation.advance(session, now)
            silent = episodes.silent_candidates(session, self.store, now)
            session.commit()
        for patient in silent:
            out += self.evaluate(patient, now, self.watch)
        with Session(self.engine) as session:
            for patient in self.patients:
                if load_policy(session, patient).quiet_end_after(now - STEP) == now:
                    d = build_digest(session, patient, now)
                    out += [d] if d else []
            session.commit()
        self.sent += [Sent(now, o, self.patients[o.patient_id].timezone) for o in out]

    def run(self, *, days: int = 7, restart_at: datetime | None = None) -> None:
        now, index = self.start + STEP, 1
        while now <= self.start + timedelta(days=days):
            if now == restart_at:
                self.restart()
            self.step(now, index)
            now += STEP
            index += 1
