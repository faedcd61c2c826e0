"""What the two paths run: context -> rules -> dispatcher, per patient, in one transaction.

The pure parts belong to the coaching rules (coach/context.py, coach/engine.py,
coach/rules/), the policy to coach/dispatch.py and coach/escalation.py, plans and
self-assessment to their modules; this module only strings them together for
the real-time path, the scheduled jobs and the benchmark, and returns the
``Outbound`` messages for delivery once the transaction that recorded them has
committed (a message is never sent for a decision that was rolled back). The reads of
patients and devices, the write lock and the transactions are coach/store.py's.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock_time
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from analytics.forecast import live_model
from care.messages import Outbound
from coach import episodes, escalation
from coach.context import ContextSettings, build_context
from coach.dispatch import DispatchState, build_digest, dispatch
from coach.engine import metrics_of, needs_of, run_rules
from coach.policy import Policy, load_policies, load_policy
from coach.rules.base import FlagRequest, RulePath
from coach.rules.registry import EnabledRule, enabled_rules
from coach.store import CoachStore, digest_since, patients_with_goals
from core.appdb.delivery import CLAIM_LEASE, stale_claims
from core.appdb.directory import DeviceBinding, PatientInfo, SqlDirectory
from core.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CycleStats:
    patients: int = 0
    flags: int = 0
    messages: int = 0
    failed_patients: int = 0
    failed_rules: int = 0
    cpu_s: float = 0.0  # CPU time of the evaluating process(es): the figure load cannot inflate
    write_s: float = 0.0  # wall time inside the dispatch (write) transactions
    lock_wait_s: float = 0.0  # of which waiting for the database's write lock (SQLite)


class CoachEvaluator:
    def __init__(
        self,
        *,
        store: TimeSeriesStore,
        engine: Engine,
        context_settings: ContextSettings | None = None,
    ) -> None:
        self._store = store
        self._engine = engine
        self._db = CoachStore(engine)
        self._directory = SqlDirectory(engine)
        self._context_settings = context_settings or ContextSettings()
        self._rule_cache: dict[tuple[str, str, str | None], list[EnabledRule]] = {}
        # Every registered real-time rule's metrics: per-patient tuning can only turn
        # rules off or retune them, so this is a safe filter for every patient.
        self._realtime_metrics = frozenset(
            str(m) for m in metrics_of(enabled_rules(path="realtime")))

    # -- rules ---------------------------------------------------------------------------

    def evaluate(self, patient_id: str, now: datetime, *, path: RulePath,
                 stats: CycleStats | None = None) -> list[Outbound]:
        """Run one path's rules for one patient and dispatch what they found."""
        patient = self._directory.patient(patient_id)
        if patient is None:
            return []
        devices = self._directory.devices_of(patient_id)
        return self._evaluate_one(patient, devices, now, path, stats)

    def _evaluate_one(self, patient: PatientInfo, devices: Sequence[DeviceBinding],
                      now: datetime, path: RulePath, stats: CycleStats | None,
                      cadence: str | None = None) -> list[Outbound]:
        """Rules in a read transaction, then the dispatch in a write one (``writer``)."""
        with self._db.session() as session:
            policy, flags = self._rules(session, patient, devices, now, path, stats, cadence)
        if not flags:
            return []
        with self._db.writer() as session:
            out = dispatch(session, patient.id, flags, now, policy=policy)
            session.commit()
        return out

    def _rules(self, session: Session, patient: PatientInfo, devices: Sequence[DeviceBinding],
               now: datetime, path: RulePath, stats: CycleStats | None,
               cadence: str | None = None, *, policy: Policy | None = None,
               has_goals: bool = True) -> tuple[Policy, tuple[FlagRequest, ...]]:
        """Context and rules for one patient: reads only, no writes. ``has_goals``
        False: the caller knows the patient has no active plan goal (no query)."""
        policy = policy or load_policy(session, patient.id)
        rules = self._enabled(policy.rule_tuning, path, cadence)
        if not rules:
            return policy, ()
        needs = needs_of(rules)
        goals: tuple[Any, ...] = ()
        if "goals" in needs and has_goals:  # the goal_reached rule reads the plan's goals
            from care.plans import goal_statuses

            goals = goal_statuses(session, self._store, patient.id, now, evaluate=False)
        peers = None
        if needs & {"peers", "stories"}:  # answers to their questions, a story (issue 21)
            from care.questions import peer_news

            peers = peer_news(session, patient.id, now, offer="stories" in needs)
        ctx = build_context(self._store, patient, now, self._context_settings,
                            devices=devices, needs=needs, goals=goals, peers=peers,
                            forecast_model=live_model())
        result = run_rules(ctx, rules)
        if stats is not None:
            stats.flags += len(result.flags)
            stats.failed_rules += len(result.failed)
        return policy, result.flags

    def _enabled(self, tuning: Mapping[str, Any], path: RulePath,
                 cadence: str | None) -> list[EnabledRule]:
        """enabled_rules, validated once per distinct tuning (most patients share one)."""
        key = (json.dumps(tuning, sort_keys=True, default=str), path, cadence)
        found = self._rule_cache.get(key)
        if found is None:
            if len(self._rule_cache) > 10_000:
                self._rule_cache.clear()
            found = self._rule_cache[key] = enabled_rules(tuning, path=path, cadence=cadence)
        return found

    def realtime(self, patient_id: str, now: datetime,
                 metrics: Iterable[str] | None = None) -> list[Outbound]:
        """The real-time rules for one patient; ``metrics``: what the stored events said
        is new. Readings no real-time rule reads (steps, motion) wake nothing."""
        if metrics is not None and not self._realtime_metrics.intersection(metrics):
            return []
        return self.evaluate(patient_id, now, path="realtime")

    def scheduled(self, now: datetime, patient_ids: Iterable[str] | None = None,
                  stats: CycleStats | None = None, *, chunk: int = 200,
                  cadence: str | None = None,
                  shard: tuple[int, int] | None = None) -> list[Outbound]:
        """The periodic trend checks: the scheduled rules over every patient
        (``cadence``: only the "hourly" or the "daily" ones; None: all of them;
        ``shard`` (k, n): only the patients of shard k of n, ``shard_of``).

        Patients, devices and preferences are read in bulk, and ``chunk`` patients
        share one transaction (one commit, not one per patient). A patient whose
        evaluation raises rolls its chunk back; the chunk is then redone one patient
        per transaction, so only that patient is skipped (and logged by id).
        """
        stats = stats if stats is not None else CycleStats()
        began = time.process_time()
        ids = list(patient_ids) if patient_ids is not None else self.patient_ids()
        if shard is not None:
            ids = [p for p in ids if shard_of(p, shard[1]) == shard[0]]
        out: list[Outbound] = []
        for k in range(0, len(ids), chunk):
            part = ids[k:k + chunk]
            people, devices = self._db.people(part)
            try:
                out.extend(self._chunk(part, people, devices, now, stats, cadence))
            except Exception:
                log.warning("a trend-check chunk failed; redoing it patient by patient")
                out.extend(self._one_by_one(part, people, devices, now, stats, cadence))
            stats.patients += len(part)
        stats.messages += len(out)
        stats.cpu_s += time.process_time() - began
        return out

    def _chunk(self, ids: list[str], people: dict[str, PatientInfo],
               devices: dict[str, list[DeviceBinding]], now: datetime,
               stats: CycleStats, cadence: str | None = None) -> list[Outbound]:
        """Rules first for the whole chunk (reads only), then one short write transaction
        for the dispatcher: with several worker processes on SQLite the write lock is
        held only while dispatching, not while computing. Policies, goals and the
        dispatcher's state are read in bulk, and the chunk's rows are written by one
        flush at the commit."""
        trial = CycleStats()
        out: list[Outbound] = []
        found = []
        with self._db.session() as session:  # reads only
            policies = load_policies(session, ids)
            with_goals = patients_with_goals(session, ids)
            for patient_id in ids:
                if patient_id in people:
                    policy, flags = self._rules(session, people[patient_id],
                                                devices.get(patient_id, []), now,
                                                "scheduled", trial, cadence,
                                                policy=policies[patient_id],
                                                has_goals=patient_id in with_goals)
                    if flags:
                        found.append((patient_id, policy, flags))
        if found:
            # A transaction of its own that takes the write lock first (SQLite: waiting
            # up to the busy timeout while another worker writes), holding it only for
            # the dispatch: a few bulk reads, then one flush. Kept apart from the reads
            # so that no read snapshot is ever upgraded to a write (SQLITE_BUSY_SNAPSHOT
            # would fail at once, whatever the busy timeout).
            began = time.perf_counter()
            with self._db.writer() as session:
                trial.lock_wait_s += time.perf_counter() - began
                state = DispatchState(session, [pid for pid, _, _ in found], now)
                for patient_id, policy, flags in found:
                    out.extend(dispatch(session, patient_id, flags, now, policy=policy,
                                        state=state))
                session.commit()
            trial.write_s += time.perf_counter() - began
        stats.flags += trial.flags
        stats.failed_rules += trial.failed_rules
        stats.write_s += trial.write_s
        stats.lock_wait_s += trial.lock_wait_s
        return out

    def _one_by_one(self, ids: list[str], people: dict[str, PatientInfo],
                    devices: dict[str, list[DeviceBinding]], now: datetime,
                    stats: CycleStats, cadence: str | None = None) -> list[Outbound]:
        out: list[Outbound] = []
        for patient_id in ids:
            if patient_id not in people:
                continue
            try:
                out.extend(self._evaluate_one(people[patient_id], devices.get(patient_id, []),
                                              now, "scheduled", stats, cadence))
            except Exception:  # one patient's bad data must not stop the cycle
                stats.failed_patients += 1
                log.exception("trend check failed for patient %s", patient_id)
        return out

    # -- the other jobs ------------------------------------------------------------------

    def digests(self, timezone: str, now: datetime, *,
                daily_rules: bool = False) -> list[Outbound]:
        """The morning digest of every patient whose coaching time zone is ``timezone``;
        with ``daily_rules``, the daily-cadence scheduled rules (patterns, weekly
        averages, bests, streaks) run for them first: what the dispatcher sends at once
        goes now, what it holds for the digest is in this one."""
        out: list[Outbound] = []
        with self._db.session() as session:
            ids = [pid for pid, p in load_policies(session, self.patient_ids()).items()
                   if p.tz == timezone]
        if daily_rules:
            self._evaluate_goals(ids, now)  # finished goal periods, before goal_reached reads them
            out.extend(self.scheduled(now, ids, cadence="daily"))
        for patient_id in ids:
            with self._db.session() as session:
                digest = build_digest(session, patient_id, now)
                session.commit()
            if digest is not None:
                out.append(digest)
        return out

    def late_digests(self, now: datetime, *, hour: int, minute: int = 0,
                     shard: tuple[int, int] | None = None) -> list[Outbound]:
        """The digest of each patient whose quiet hours still ran at the digest time today
        (say 08:00, with quiet hours until 09:00): built once their quiet hours are over,
        so what was held for them is never stranded. One digest a day still holds."""
        out: list[Outbound] = []
        for patient_id in self.patient_ids(shard):
            with self._db.session() as session:
                policy = load_policy(session, patient_id)
                local = policy.local(now)
                due = datetime.combine(local.date(), clock_time(hour, minute), local.tzinfo)
                if local < due or not policy.in_quiet_hours(due) or policy.in_quiet_hours(now):
                    continue
                if digest_since(session, patient_id, policy.day_start(now)):
                    continue
                digest = build_digest(session, patient_id, now)
                session.commit()
            if digest is not None:
                out.append(digest)
        return out

    def _evaluate_goals(self, patient_ids: Sequence[str], now: datetime) -> None:
        from care.plans import evaluate_goals

        for patient_id in patient_ids:
            with self._db.session() as session:
                evaluate_goals(session, self._store, now, patient_id=patient_id)
                session.commit()

    def escalations(self, now: datetime) -> list[Outbound]:
        """The escalation timer's tick, every minute, in one process at a time (the job's
        run lease), and once at start-up: ladders whose condition cleared resolve
        themselves (coach/episodes.py), the due ladder steps are taken, the "watch" rules
        run for patients whose CGM went quiet while low, and the messages of delivery
        claims whose process died before sending are sent again (``redeliveries``)."""
        with self._db.session() as session:
            episodes.cleared(session, self._store, now)
            out = escalation.advance(session, now)
            silent = episodes.silent_candidates(session, self._store, now)
            session.commit()
        if silent:
            out += self.scheduled(now, silent, cadence="watch")
        return out + self.redeliveries(now)

    def redeliveries(self, now: datetime, lease: timedelta = CLAIM_LEASE) -> list[Outbound]:
        """Messages whose delivery was claimed before ``now - lease`` and is still pending:
        the claiming process died between the claim and the send. Delivering them again
        re-takes the dead claim (core/appdb/delivery.py take_over_claim, compare-and-set),
        so each is sent once; channels that already have it send nothing."""
        out = []
        for message in stale_claims(self._engine, now, lease):
            try:
                out.append(Outbound(**{**message, "created_at": datetime.fromisoformat(
                    message["created_at"])}))
            except (TypeError, KeyError, ValueError):
                log.error("a pending delivery's stored message is unreadable; not re-queued")
        if out:
            log.warning("re-queued %d message(s) whose delivery claim was abandoned", len(out))
        return out

    def engagement(self, now: datetime) -> list[Outbound]:
        """The daily engagement job: every patient's state recorded (care/engagement.py,
        history kept), and an outreach task opened for each disengaged person without one
        (care/outreach.py). Sends nothing: the task is for a person."""
        from care import engagement, outreach

        with self._db.session() as session:
            found = engagement.record_all(session, self._store, now)
            gone = [pid for pid, e in found.items() if e.state == engagement.DISENGAGED]
            due = {pid: timedelta(hours=engagement.settings_for(session, pid)
                                  .outreach_due_hours) for pid in gone}
            opened = outreach.open_for_disengaged(session, gone, now, due)
            session.commit()
        log.info("engagement of %d patients: %d disengaged, %d outreach tasks opened",
                 len(found), len(gone), len(opened))
        return []

    def self_assessment_reminders(self, now: datetime) -> list[Outbound]:
        from care.selfassessment import self_assessment_reminders

        with self._db.session() as session:
            out = self_assessment_reminders(session, now)
            session.commit()
        return out

    def peer_prompts(self, now: datetime) -> list[Outbound]:
        """The weekly group prompts (care/groups.py)."""
        from care import groups

        with self._db.session() as session:
            out: list[Outbound] = groups.weekly_group_prompts(session, self._store, now)
            session.commit()
        return out

    # -- who -----------------------------------------------------------------------------

    def patient_ids(self, shard: tuple[int, int] | None = None) -> list[str]:
        """Every patient, or those of shard (k, n)."""
        ids = self._db.patient_ids()
        return ids if shard is None else [p for p in ids if shard_of(p, shard[1]) == shard[0]]

    def timezones(self) -> set[str]:
        """Every coaching time zone in use (a digest job each)."""
        with self._db.session() as session:
            return {p.tz for p in load_policies(session, self.patient_ids()).values()}


def shard_of(patient_id: str, shards: int) -> int:
    """The shard of a patient: a stable hash (CRC-32 of the id), the same in every process
    and every run (Python's hash() is salted per process)."""
    return zlib.crc32(patient_id.encode()) % shards if shards > 1 else 0


# -- the cycle over several processes ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreUrls:
    """Where a worker process opens its own store and database (they cannot be shared)."""

    timeseries: str
    database: str


def _cycle_part(urls: StoreUrls, ids: list[str], now: datetime,
                cadence: str | None = None) -> tuple[list[Outbound], CycleStats]:
    from core.appdb.engine import make_engine
    from core.timeseries.factory import open_store

    store, engine = open_store(urls.timeseries), make_engine(urls.database)
    try:
        stats = CycleStats()
        out = CoachEvaluator(store=store, engine=engine).scheduled(now, ids, stats,
                                                                   cadence=cadence)
        return out, stats
    finally:
        store.close()
        engine.dispose()


def parallel_cycle(urls: StoreUrls, patient_ids: Sequence[str], now: datetime, *,
                   processes: int, cadence: str | None = None
                   ) -> tuple[list[Outbound], CycleStats]:
    """The trend checks split over ``processes`` worker processes (the rules are CPU-bound
    Python; threads would share one core). Spawned, not forked: the caller runs MQTT and
    scheduler threads whose locks a fork would copy mid-use."""
    slices = [list(patient_ids[k::processes]) for k in range(processes)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        parts = pool.starmap(_cycle_part,
                             [(urls, part, now, cadence) for part in slices if part])
    out: list[Outbound] = []
    total = CycleStats()
    for messages, stats in parts:
        out.extend(messages)
        for name in ("patients", "flags", "messages", "failed_patients", "failed_rules", "cpu_s",
                     "write_s", "lock_wait_s"):
            setattr(total, name, getattr(total, name) + getattr(stats, name))
    return out, total
