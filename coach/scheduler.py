"""The scheduled path: APScheduler 3 jobs in the application database, run once each.

APScheduler supplies the persistent job store (``SQLAlchemyJobStore`` on the
``apscheduler_jobs`` table, so jobs survive restarts), the triggers (cron in a
patient's time zone, intervals) and its job API. The run loop is ours, for two
reasons APScheduler 3 does not cover:

- **No job runs twice when several coach processes share the store.** Before
  running, a process inserts (job id, scheduled run time) into
  ``coach_job_runs``; the primary key lets the first insert win and the others
  skip. The lease is taken per *scheduled* run time, so two processes whose
  clocks differ slightly still agree on what "this run" is.
- **Time is injected.** ``run_pending(now)`` takes the clock's time, so tests
  walk a simulated week without sleeping.

Restarts: the jobs stay in the store with their next run time. ``ensure``
never replaces a job that exists (a replaced job would get a fresh next run
time and silently drop a run that fell due while the coach was down), so on
restart a run missed during the outage is made up once (missed runs of one job
coalesce into one: one catch-up digest, not three). Each run is at most once:
a process that dies in the middle of a run leaves its lease, and the run is
not repeated; the next scheduled run covers its window.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coach.settings import CoachSettings
from core.appdb.delivery import APSCHEDULER_TABLE, JobRun
from core.clock import Clock, SystemClock

log = logging.getLogger(__name__)

JobHandler = Callable[..., object]  # handler(run_time, *args)


def stored_job(kind: str, *args: Any, **_kwargs: Any) -> None:
    """What the job store names as each job's function; the run loop calls handlers
    by ``kind`` instead, so that each process runs its own collaborators."""
    raise RuntimeError(f"coach job {kind!r} must be run by CoachScheduler")


@dataclass(frozen=True, slots=True)
class JobSpec:
    id: str
    kind: str
    trigger: BaseTrigger
    args: tuple[Any, ...] = ()
    shards: int = 1  # >1: each run is split into shards that several processes share


DIGEST_PREFIX = "digest:"
# The daily engagement evaluation (care/engagement.py), at 03:30 UTC: after every UK and
# European day has ended, before anyone's morning digest (Hearth's choice).
ENGAGEMENT_HOUR_UTC, ENGAGEMENT_MINUTE = 3, 30
# The clinics' service agreements measured (care/agreements.py) every hour: breaches reach
# the patients' pages and the clinic queues within the hour even when nobody opens a page
# (the pages measure what they show on each view too). Hearth's choice.
SERVICE_MEASURE_MINUTES = 60
RUN_RECORD_KEPT = timedelta(days=14)  # how long coach_job_runs remembers a run
SHARD_SEP = "#"
# How long a shard's owner holds it without renewing (the loop renews every poll), and
# how old a run may be for an abandoned shard of it still to be taken over (an older
# trend check is covered by the next one). Hearth's choices.
SHARD_LEASE = timedelta(minutes=2)
SHARD_TAKEOVER_WINDOW = timedelta(hours=1)


def shard_job_id(job_id: str, shard: int, shards: int) -> str:
    return f"{job_id}{SHARD_SEP}{shard}/{shards}"


def parse_shard(shard_id: str) -> tuple[str, int, int]:
    job_id, _, part = shard_id.rpartition(SHARD_SEP)
    k, _, n = part.partition("/")
    return job_id, int(k), int(n)


def coach_jobs(settings: CoachSettings, timezones: Iterable[str], now: datetime) -> list[JobSpec]:
    """The coach's jobs: trend checks, one morning digest per patient time zone,
    weekly peer-group prompts, monthly self-assessment reminders, escalation ticks, the
    daily engagement evaluation, the hourly measure of the clinics' service agreements."""
    specs = [
        JobSpec("trend-checks", "trend_check",
                IntervalTrigger(minutes=settings.trend_check_minutes, start_date=now,
                                timezone=UTC),
                shards=settings.trend_check_shards),
        JobSpec("peer-group-prompts", "peer_prompts",
                CronTrigger(day_of_week=settings.peer_prompt_day,
                            hour=settings.peer_prompt_hour, minute=0, timezone=UTC)),
        JobSpec("self-assessment-reminders", "self_assessment_reminders",
                CronTrigger(day=settings.self_assessment_day, hour=10, minute=0, timezone=UTC)),
        JobSpec("escalation-ticks", "escalation_tick",
                IntervalTrigger(seconds=settings.escalation_tick_s, start_date=now,
                                timezone=UTC)),
        JobSpec("engagement-daily", "engagement",
                CronTrigger(hour=ENGAGEMENT_HOUR_UTC, minute=ENGAGEMENT_MINUTE, timezone=UTC)),
        JobSpec("service-standards", "service_standards",
                IntervalTrigger(minutes=SERVICE_MEASURE_MINUTES, start_date=now, timezone=UTC)),
    ]
    for tz in sorted(set(timezones)):
        # One job per time zone (not per patient): 10,000 patients are a few dozen jobs.
        specs.append(JobSpec(f"{DIGEST_PREFIX}{tz}", "digest",
                             CronTrigger(hour=settings.digest_hour,
                                         minute=settings.digest_minute, timezone=tz),
                             (tz,)))
    return specs


class _StoreScheduler(BaseScheduler):  # type: ignore[misc]  # APScheduler 3 is untyped
    """APScheduler's job API over the store, without its own (wall-clock) loop."""

    def wakeup(self) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)


class CoachScheduler:
    def __init__(
        self,
        *,
        engine: Engine,
        handlers: Mapping[str, JobHandler],
        clock: Clock | None = None,
        owner: str | None = None,
        poll_s: float = 1.0,
        workers: int = 2,
        shard_lease: timedelta = SHARD_LEASE,
    ) -> None:
        self._engine = engine
        self._handlers = dict(handlers)
        self._clock = clock or SystemClock()
        self.owner = owner or f"{socket.gethostname()}-{uuid4().hex[:8]}"
        self._poll_s = poll_s
        self._store = SQLAlchemyJobStore(engine=engine, tablename=APSCHEDULER_TABLE)
        self._scheduler = _StoreScheduler(jobstores={"default": self._store}, timezone=UTC)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="coach-job")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.shard_lease = shard_lease
        self._shard_worker: Future[int] | None = None
        self._scheduler.start(paused=True)

    # -- jobs ----------------------------------------------------------------------------

    def ensure(self, specs: Sequence[JobSpec], *, prune_prefixes: Sequence[str] = (),
               now: datetime | None = None) -> None:
        """Add the jobs that are missing; keep existing ones and their next run time
        unless their trigger changed; remove jobs under ``prune_prefixes`` not listed.

        ``now``: the time the specs were made for (an interval job starting ``now``
        then first runs at once)."""
        now = now or self._clock.now()
        wanted = {s.id for s in specs}
        for spec in specs:
            existing = self._scheduler.get_job(spec.id)
            if existing is None:
                self._add(spec, now)
            elif str(existing.trigger) != str(spec.trigger) or existing.args != (
                    spec.kind, *spec.args) or existing.kwargs != _kwargs(spec):
                self._scheduler.remove_job(spec.id)
                self._add(spec, now)
        for job in self._scheduler.get_jobs():
            if job.id not in wanted and job.id.startswith(tuple(prune_prefixes)):
                self._scheduler.remove_job(job.id)

    def _add(self, spec: JobSpec, now: datetime) -> None:
        try:
            self._scheduler.add_job(
                stored_job, spec.trigger, id=spec.id, args=(spec.kind, *spec.args),
                kwargs=_kwargs(spec), next_run_time=spec.trigger.get_next_fire_time(None, now),
                coalesce=True, misfire_grace_time=None, max_instances=1,
            )
        except ConflictingIdError:
            pass  # another coach process declared it at the same moment: theirs stands

    def jobs(self) -> list[Job]:
        jobs: list[Job] = self._scheduler.get_jobs()
        return jobs

    # -- running -------------------------------------------------------------------------

    def run_pending(self, now: datetime | None = None, *, wait_s: float | None = None
                    ) -> list[tuple[str, datetime]]:
        """Start every due run this process wins the lease for; return them.

        With ``wait_s`` the call waits (that long at most) for them to finish.
        """
        now = now or self._clock.now()
        started: list[tuple[str, datetime]] = []
        futures: list[Future[Any]] = []
        for job in self._store.get_due_jobs(now):
            run_times = _run_times(job, now)
            run_times = run_times[-1:] if job.coalesce else run_times
            if not run_times:
                continue
            shards = int(job.kwargs.get("shards", 1))
            for run_time in run_times:
                if self._lease(job.id, run_time, shards):
                    started.append((job.id, run_time))
                    if shards == 1:
                        futures.append(self._pool.submit(self._run, job, run_time))
            following = job.trigger.get_next_fire_time(run_times[-1], now)
            if following is None:
                self._store.remove_job(job.id)
            else:  # the scheduler's public API: checks the value, writes the store
                self._scheduler.modify_job(job.id, "default", next_run_time=following)
        if self._shard_worker is None or self._shard_worker.done():
            if self.open_shards(now):
                self._shard_worker = self._pool.submit(self.work_shards)
        if wait_s is not None and self._shard_worker is not None:
            futures.append(self._shard_worker)
        if wait_s is not None and futures:
            wait(futures, timeout=wait_s)
        return started

    def _lease(self, job_id: str, run_time: datetime, shards: int = 1) -> bool:
        """Win (job id, run time), or not. A sharded run's winner also writes its shards,
        open for any process to claim (``work_shards``)."""
        at = run_time.astimezone(UTC)
        try:
            with Session(self._engine) as session:
                session.add(JobRun(job_id=job_id, run_time=at, owner=self.owner,
                                   started_at=self._clock.now(), status="running"))
                session.flush()
                for k in range(shards if shards > 1 else 0):
                    session.add(JobRun(job_id=shard_job_id(job_id, k, shards), run_time=at,
                                       owner="", started_at=self._clock.now(),
                                       status="open"))
                session.commit()
            return True
        except IntegrityError:
            return False

    # -- shards --------------------------------------------------------------------------

    def open_run(self, job_id: str, run_time: datetime, shards: int) -> bool:
        """Lease a run of ``job_id`` and open its ``shards`` for every process to claim
        (what ``run_pending`` does when a sharded job falls due); False if taken."""
        return self._lease(job_id, run_time, shards)

    def open_shards(self, now: datetime | None = None) -> list[tuple[str, datetime]]:
        """Shards of recent runs that nobody holds: never claimed, or whose owner's lease
        has passed (the owner is taken to be dead)."""
        return [(j, t) for j, t, *_ in self._claimable(now or self._clock.now())]

    def _claimable(self, now: datetime) -> list[tuple[str, datetime, str, str, Any]]:
        with Session(self._engine) as session:
            rows = session.execute(
                select(JobRun.job_id, JobRun.run_time, JobRun.owner, JobRun.status,
                       JobRun.lease_until)
                .where(JobRun.job_id.contains(SHARD_SEP),
                       JobRun.run_time >= now - SHARD_TAKEOVER_WINDOW,
                       or_(JobRun.status == "open",
                           (JobRun.status == "running") & (JobRun.lease_until < now)))
                .order_by(JobRun.run_time, JobRun.job_id)).all()
        return [(j, _aware(t), o, s, lease) for j, t, o, s, lease in rows]

    def claim_shard(self, now: datetime | None = None) -> tuple[str, datetime] | None:
        """Take one open (or abandoned) shard: a compare-and-set update on the row as it
        was read, so of two processes racing for it exactly one wins. The update is its
        transaction's first statement (SQLite then waits for the write lock)."""
        now = now or self._clock.now()
        for shard_id, run_time, owner, status, lease in self._claimable(now):
            with Session(self._engine) as session:
                taken = session.execute(
                    update(JobRun).where(
                        JobRun.job_id == shard_id, JobRun.run_time == run_time,
                        JobRun.owner == owner, JobRun.status == status,
                        JobRun.lease_until.is_(None) if lease is None
                        else JobRun.lease_until == lease)
                    .values(owner=self.owner, status="running", started_at=now,
                            lease_until=now + self.shard_lease)
                    .execution_options(synchronize_session=False))
                session.commit()
            if getattr(taken, "rowcount", 0) == 1:  # a CursorResult
                if status == "running":
                    log.warning("took over shard %s of %s from %s (lease passed)", shard_id,
                                run_time.isoformat(), owner)
                return shard_id, run_time
        return None

    def work_shards(self) -> int:
        """Claim and run shards until none is left; returns how many this process ran."""
        ran = 0
        while not self._stop.is_set():
            claimed = self.claim_shard()
            if claimed is None:
                return ran
            self._run_shard(*claimed)
            ran += 1
        return ran

    def _run_shard(self, shard_id: str, run_time: datetime) -> None:
        job_id, k, n = parse_shard(shard_id)
        job = self._scheduler.get_job(job_id)
        status = "failed"
        try:
            if job is None:
                raise LookupError(f"job {job_id!r} is gone")
            kind, *args = job.args
            self._handlers[kind](run_time, *args, shard=(k, n))
            status = "done"
        except Exception:
            log.exception("scheduled job %s shard %d/%d (run of %s) failed", job_id, k, n,
                          run_time.isoformat())
        finally:
            self._finish_shard(shard_id, job_id, run_time, status)

    def _finish_shard(self, shard_id: str, job_id: str, run_time: datetime,
                      status: str) -> None:
        at = run_time.astimezone(UTC)
        with Session(self._engine) as session:
            session.execute(update(JobRun).where(
                JobRun.job_id == shard_id, JobRun.run_time == at, JobRun.owner == self.owner
            ).values(status=status, finished_at=self._clock.now(), lease_until=None))
            left = session.scalar(select(func.count()).select_from(JobRun).where(
                JobRun.job_id.startswith(job_id + SHARD_SEP), JobRun.run_time == at,
                JobRun.status.in_(("open", "running"))))
            if not left:  # the last shard: the run is over
                session.execute(update(JobRun).where(
                    JobRun.job_id == job_id, JobRun.run_time == at, JobRun.status == "running"
                ).values(status="done", finished_at=self._clock.now()))
            session.commit()

    def renew_leases(self, now: datetime | None = None) -> int:
        """Extend the lease of every shard this process is running (the loop does it)."""
        now = now or self._clock.now()
        with Session(self._engine) as session:
            renewed = session.execute(update(JobRun).where(
                JobRun.owner == self.owner, JobRun.status == "running",
                JobRun.lease_until.is_not(None)).values(lease_until=now + self.shard_lease))
            session.commit()
        return int(getattr(renewed, "rowcount", 0) or 0)

    def _run(self, job: Job, run_time: datetime) -> None:
        kind, *args = job.args
        status = "failed"
        try:
            handler = self._handlers[kind]
            handler(run_time, *args)
            status = "done"
        except Exception:
            log.exception("scheduled job %s (run of %s) failed", job.id, run_time.isoformat())
        finally:
            with Session(self._engine) as session:
                session.execute(update(JobRun).where(
                    JobRun.job_id == job.id, JobRun.run_time == run_time.astimezone(UTC)
                ).values(status=status, finished_at=self._clock.now()))
                session.commit()

    def prune_runs(self, older_than: datetime) -> int:
        """Forget leases of runs scheduled before ``older_than`` (escalation ticks alone
        make 1,440 a day). Safe: a job's next run time only moves forward, so an old
        run time is never due again."""
        with Session(self._engine) as session:
            gone = session.execute(delete(JobRun).where(JobRun.run_time < older_than))
            session.commit()
        return int(getattr(gone, "rowcount", 0) or 0)

    def runs(self) -> list[tuple[str, datetime, str, str]]:
        """(job id, run time, owner, status) of every leased run, oldest first."""
        with Session(self._engine) as session:
            rows = session.execute(select(JobRun.job_id, JobRun.run_time, JobRun.owner,
                                          JobRun.status).order_by(JobRun.run_time)).all()
        return [(j, _aware(t), o, s) for j, t, o, s in rows]

    # -- the loop ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="coach-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        failing = False
        pruned_at: datetime | None = None
        while not self._stop.is_set():
            try:
                now = self._clock.now()
                if pruned_at is None or now - pruned_at > timedelta(hours=1):
                    self.prune_runs(now - RUN_RECORD_KEPT)
                    pruned_at = now
                if self._shard_worker is not None and not self._shard_worker.done():
                    self.renew_leases(now)  # only while this process works on a shard
                self.run_pending(now)
                if failing:
                    log.info("scheduler recovered")
                    failing = False
            except Exception:
                if not failing:
                    log.exception("the scheduler could not read or update its jobs")
                    failing = True
            self._stop.wait(self._poll_s)

    def stop(self, wait_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=wait_s)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._scheduler.shutdown(wait=False)  # also closes the job store's connections


def _run_times(job: Job, now: datetime) -> list[datetime]:
    """The job's scheduled run times from its next run time up to ``now`` (inclusive),
    from the trigger's public ``get_next_fire_time`` (what APScheduler's scheduler
    loop computes with its private ``Job._get_run_times``)."""
    run_times: list[datetime] = []
    following: datetime | None = job.next_run_time
    while following is not None and following <= now:
        run_times.append(following)
        following = job.trigger.get_next_fire_time(following, now)
    return run_times


def _kwargs(spec: JobSpec) -> dict[str, Any]:
    return {"shards": spec.shards} if spec.shards > 1 else {}


def _aware(value: datetime) -> datetime:
    # SQLite hands timestamps back naive (they are stored as UTC).
    return value if value.tzinfo else value.replace(tzinfo=UTC)
