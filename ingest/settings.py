"""Ingest settings (env prefix HEARTH_INGEST_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.contract import FUTURE_TOLERANCE, MAX_PAYLOAD_BYTES
from core.cpu_priority import SAFETY_NICE


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEARTH_INGEST_", extra="ignore")

    client_id: str = "hearth-ingest"
    # Set a group name to split the load between several ingest processes
    # ($share/{group}/hearth/v1/up/+). Each process needs its own client_id.
    shared_group: str | None = None
    protocol: Literal["5", "3.1.1"] = "5"
    # How long the broker keeps this session (and queues its messages) while
    # ingest is down. Bounded, so that a member that never returns does not
    # strand its share of a shared subscription forever.
    session_expiry_s: int = Field(default=7 * 86_400, ge=0)
    max_batch_readings: int = Field(default=5_000, ge=1)
    max_payload_bytes: int = Field(default=MAX_PAYLOAD_BYTES, ge=1024)
    future_tolerance_s: float = Field(default=FUTURE_TOLERANCE.total_seconds(), ge=0)
    registry_cache_s: float = Field(default=30.0, ge=0)
    publish_acks: bool = True  # hearth/v1/ack/{device}: gateways forget what is committed
    publish_stored_events: bool = True  # the coach's real-time path (docs/CONTRACT.md)
    # "batch": one event on hearth/v1/stored for the patients of what was committed
    # (issue 22); "patient": one on hearth/v1/stored/{patient} each, for consumers that
    # know only that form. The priority lane's urgent events are per patient either way.
    stored_events_form: Literal["batch", "patient"] = "batch"
    # Acknowledgements and stored events awaiting the broker's PUBACK at once; beyond it
    # they wait, merged per device and per patient (ingest/announce.py).
    announce_window: int = Field(default=200, ge=1)
    # Devices and patients with an announcement waiting; beyond it the writer waits.
    announce_max_pending: int = Field(default=100_000, ge=1)
    # Safety-class readings committed and announced ahead of their batch, on a second
    # connection (client id ``{client_id}-priority``; ingest/priority.py).
    priority_lane: bool = True
    # The nice value of the lane's threads and scanner process (core/cpu_priority.py):
    # below the default 0 so that a CPU hog does not delay an urgent low; 0 turns it off.
    priority_nice: int = Field(default=SAFETY_NICE, ge=-20, le=0)
    shutdown_flush_s: float = Field(default=10.0, ge=0)
