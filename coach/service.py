"""The coach service: the real-time path and the scheduler, delivering through the channels.

Built with its collaborators (docs/STYLE.md): hearth/commands/coach.py and
hearth/stack.py make the real ones. One MQTT client serves both the real-time
subscription and the home display.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from care.agreements import refresh as measure_service_agreements
from care.messages import Outbound
from coach.channels import Channel
from coach.channels.external import EXTERNAL_CHANNELS, AppriseChannel
from coach.channels.home_display import HomeDisplayChannel
from coach.channels.inbox import InboxChannel
from coach.dispatch import route_coach_messages
from coach.evaluation import CoachEvaluator, StoreUrls, parallel_cycle
from coach.notify import DeliveryOutcome, DeliveryPolicy, Notifier
from coach.realtime import RealtimePath
from coach.realtime_eval import RealtimeEvaluator
from coach.scheduler import DIGEST_PREFIX, CoachScheduler, coach_jobs
from coach.settings import CoachSettings
from core.clock import Clock, SystemClock
from core.mqtt import MqttEndpoint
from core.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)


class Evaluator(Protocol):
    """What the paths run (coach/evaluation.py's CoachEvaluator in production)."""

    def realtime(self, patient_id: str, now: datetime,
                 metrics: Iterable[str] | None = None) -> list[Outbound]: ...

    def scheduled(self, now: datetime, *, cadence: str | None = None,
                  shard: tuple[int, int] | None = None) -> list[Outbound]: ...

    def digests(self, timezone: str, now: datetime, *,
                daily_rules: bool = False) -> list[Outbound]: ...

    def escalations(self, now: datetime) -> list[Outbound]: ...

    def late_digests(self, now: datetime, *, hour: int, minute: int = 0,
                     shard: tuple[int, int] | None = None) -> list[Outbound]: ...

    def peer_prompts(self, now: datetime) -> list[Outbound]: ...

    def self_assessment_reminders(self, now: datetime) -> list[Outbound]: ...

    def engagement(self, now: datetime) -> list[Outbound]: ...

    def timezones(self) -> set[str]: ...

    def patient_ids(self, shard: tuple[int, int] | None = None) -> list[str]: ...


class CoachService:
    def __init__(
        self,
        *,
        endpoint: MqttEndpoint,
        store: TimeSeriesStore,
        engine: Engine,
        settings: CoachSettings,
        clock: Clock | None = None,
        evaluator: Evaluator | None = None,
        channels: Mapping[str, Channel] | None = None,
        urls: StoreUrls | None = None,
    ) -> None:
        """``urls``: where trend-check worker processes open the stores
        (``settings.trend_check_processes`` > 1); without them the checks run here."""
        self._settings = settings
        self._engine = engine
        self._urls = urls
        self._clock = clock or SystemClock()
        if evaluator is None:
            evaluator = CoachEvaluator(store=store, engine=engine)
        self.evaluator = evaluator
        if isinstance(evaluator, CoachEvaluator):
            # Production: triage for the urgent lane, and the rules whose metrics arrived.
            fast = RealtimeEvaluator(store=store, engine=engine,
                                     cache_s=settings.realtime_cache_s)
            self.realtime = RealtimePath(endpoint=endpoint, settings=settings,
                                         evaluate=fast.evaluate, deliver=self.deliver,
                                         triage=fast.triage, wakes=fast.wakes,
                                         clock=self._clock)
        else:
            self.realtime = RealtimePath(endpoint=endpoint, settings=settings,
                                         evaluate=self.evaluator.realtime,
                                         deliver=self.deliver, clock=self._clock)
        built: dict[str, Channel] = {
            "home_display": HomeDisplayChannel(self.realtime.client, clock=self._clock,
                                               timeout=settings.delivery_timeout_s),
            "inbox": InboxChannel(engine),
            **{name: AppriseChannel(name) for name in EXTERNAL_CHANNELS},
        }
        built.update(channels or {})
        self.notifier = Notifier(
            engine=engine, channels=built, clock=self._clock,
            policy=DeliveryPolicy(
                attempts=settings.delivery_attempts,
                backoff_initial_s=settings.delivery_backoff_initial_s,
                backoff_cap_s=settings.delivery_backoff_cap_s,
                send_timeout_s=settings.delivery_timeout_s,
                workers_per_channel=settings.delivery_workers_per_channel,
                urgent_nice=settings.urgent_nice,
            ),
        )
        self.scheduler = CoachScheduler(
            engine=engine, clock=self._clock, owner=settings.instance,
            poll_s=settings.scheduler_poll_s, workers=settings.scheduler_workers,
            handlers={
                "trend_check": self._trend_check,
                # Daily rules (patterns, weekly averages) just before each morning digest.
                "digest": lambda run_time, tz: self._send(
                    self.evaluator.digests(tz, run_time, daily_rules=True)),
                "peer_prompts": lambda t: self._send(self.evaluator.peer_prompts(t)),
                "self_assessment_reminders":
                    lambda t: self._send(self.evaluator.self_assessment_reminders(t)),
                # every minute: the ladders, and telling patients their coach wrote
                # (within their budget: coach/dispatch.py route_coach_messages)
                "escalation_tick": lambda t: self._send(
                    self.evaluator.escalations(t) + self.coach_messages(t)),
                "engagement": lambda t: self._send(self.evaluator.engagement(t)),
                "service_standards": self.measure_service,
            },
        )

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, *, scheduler: bool = True) -> None:
        self.realtime.start()
        if scheduler:
            self.declare_jobs()
            self.scheduler.start()

    def wait_connected(self, timeout: float) -> bool:
        return self.realtime.wait_connected(timeout)

    def stop(self) -> None:
        self.scheduler.stop()
        self.realtime.stop()
        self.notifier.close(wait=False)

    def declare_jobs(self) -> None:
        now = self._clock.now()
        specs = coach_jobs(self._settings, self.evaluator.timezones(), now)
        self.scheduler.ensure(specs, prune_prefixes=[DIGEST_PREFIX], now=now)

    def coach_messages(self, now: datetime) -> list[Outbound]:
        """Notifications of the coaches' new messages, routed by the patients' policies."""
        with Session(self._engine) as session:
            out = route_coach_messages(session, now)
            session.commit()
        return out

    def measure_service(self, now: datetime) -> int:
        """The clinics' service agreements measured (care/agreements.py): new breaches
        reach the patients' service pages and the clinic queues; nothing is sent."""
        new = measure_service_agreements(self._engine, now)
        if new:
            log.info("service agreements: %d new breaches", new)
        return new

    # -- delivery ------------------------------------------------------------------------

    def deliver(self, outbound: Outbound) -> Future[list[DeliveryOutcome]]:
        return self.notifier.deliver(outbound)

    def _send(self, messages: list[Outbound]) -> int:
        for future in [self.deliver(m) for m in messages]:
            future.result()
        return len(messages)

    def _trend_check(self, run_time: datetime, *_args: Any,
                     shard: tuple[int, int] | None = None) -> None:
        # shard (k, n): this process's share of a run split between coach processes
        processes = self._settings.trend_check_processes
        if self._urls is not None and processes > 1:
            messages, _ = parallel_cycle(self._urls, self.evaluator.patient_ids(shard),
                                         run_time, processes=processes, cadence="hourly")
        else:
            messages = self.evaluator.scheduled(run_time, cadence="hourly", shard=shard)
        messages += self.evaluator.late_digests(run_time, hour=self._settings.digest_hour,
                                                minute=self._settings.digest_minute,
                                                shard=shard)
        sent = self._send(messages)
        log.info("trend check of %s: %d messages", run_time.isoformat(), sent)
        self.declare_jobs()  # a new patient's time zone gets its digest job
