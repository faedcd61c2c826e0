"""Coach service settings (env prefix HEARTH_COACH_).

Times of day are choices of this project, not clinical thresholds: a morning
digest at 08:00 in each patient's own time zone, peer-group prompts on Monday
mornings, self-assessment reminders on the first of the month. Change them here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.cpu_priority import SAFETY_NICE


class CoachSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEARTH_COACH_", extra="ignore")

    # -- MQTT: the real-time path (hearth/v1/stored/+) and the home display -------------
    client_id: str = "hearth-coach"
    protocol: Literal["5", "3.1.1"] = "5"
    # The broker queues stored events for an absent coach this long (persistent session).
    session_expiry_s: int = Field(default=86_400, ge=0)
    # Several coach processes split the stored events through the MQTT 5 shared
    # subscription $share/{shared_group}/hearth/v1/stored/+ (each event reaches one of
    # them; each process needs its own client_id). None: a plain subscription (every
    # process gets every event). MQTT 3.1.1 (the embedded broker) always subscribes plainly.
    shared_group: str | None = "hearth-coach"
    # Events for one patient within this window are evaluated once (the routine lane).
    coalesce_s: float = Field(default=0.2, ge=0)
    realtime_workers: int = Field(default=2, ge=1)  # the routine lane
    urgent_workers: int = Field(default=2, ge=1)  # the urgent lane, never used by routine work
    # The nice value of the urgent lane's threads, the MQTT thread that files events and
    # the urgent delivery pools (core/cpu_priority.py); 0 turns it off.
    urgent_nice: int = Field(default=SAFETY_NICE, ge=-20, le=0)
    # Triage gathers events this long, then reads the newest values of all their patients
    # in one go (coach/realtime.py).
    triage_window_s: float = Field(default=0.02, ge=0)
    triage_workers: int = Field(default=2, ge=1)  # batches triaged at the same time
    # Routine events waiting unacknowledged, at most; beyond it the oldest are acknowledged
    # early, so that the broker's in-flight window (max_inflight_messages, 1,000 in
    # deploy/mosquitto) never fills and holds back an urgent event.
    max_unacked: int = Field(default=200, ge=0)
    # Patients and their rule tuning are cached this long by the real-time path.
    realtime_cache_s: float = Field(default=30.0, ge=0)
    # The real-time path logs its counts (events, evaluations, queue) this often.
    report_s: float = Field(default=30.0, gt=0)

    # -- the scheduler -------------------------------------------------------------------
    # Name of this process in the run-lease table (several coach processes may run).
    instance: str | None = None
    scheduler_poll_s: float = Field(default=1.0, gt=0)
    scheduler_workers: int = Field(default=2, ge=1)
    trend_check_minutes: int = Field(default=60, ge=1)
    # Worker processes for the trend checks (bench/coach.py: 10,000 patients need 2 on a
    # 2-core machine to finish within 60 s). 1 runs them in the coach's own process.
    trend_check_processes: int = Field(default=1, ge=1)
    # Shards of each trend-check run, claimed by whichever coach processes run (each shard
    # once; a dead process's shard is taken over when its lease passes). 1: not split.
    trend_check_shards: int = Field(default=1, ge=1)
    digest_hour: int = Field(default=8, ge=0, le=23)  # local time of each patient
    digest_minute: int = Field(default=0, ge=0, le=59)
    peer_prompt_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    peer_prompt_hour: int = Field(default=10, ge=0, le=23)  # UTC: a group spans time zones
    self_assessment_day: int = Field(default=1, ge=1, le=28)  # of each month, 10:00 UTC
    escalation_tick_s: int = Field(default=60, ge=5)

    # -- delivery ------------------------------------------------------------------------
    delivery_attempts: int = Field(default=3, ge=1)
    delivery_backoff_initial_s: float = Field(default=0.5, gt=0)
    delivery_backoff_cap_s: float = Field(default=10.0, gt=0)
    delivery_timeout_s: float = Field(default=10.0, gt=0)
    delivery_workers_per_channel: int = Field(default=4, ge=1)
