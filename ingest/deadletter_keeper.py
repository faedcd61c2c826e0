"""The dead-letter keeper: ``hearth/v1/dead/+`` into the dead-letter store.

Ingest publishes a dead letter for every message it refuses and then
acknowledges the message (a gateway then forgets it). The keeper holds a
persistent session (QoS 1, its own client id), so while it is down the broker
queues the letters for it; it stores each batch in one transaction and only
then acknowledges the letters (manual PUBACK), so killing it loses nothing.
Once an hour (and at start) it forgets letters older than the retention.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core import topics
from core.appdb.deadletters import DeadLetter, DeadLetterStore
from core.appdb.directory import DeviceRegistry
from core.clock import Clock, SystemClock
from core.mqtt import MqttEndpoint, connect, new_client
from core.retry import Backoff
from core.timeseries import TimeSeriesStore
from ingest.pipeline import Inbound, plan_batch
from ingest.settings import IngestSettings

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0


class KeeperSettings(BaseSettings):
    """Env prefix HEARTH_DEAD_LETTERS_."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_DEAD_LETTERS_", extra="ignore")

    client_id: str = "hearth-dead-letters"
    # How long the broker queues letters while the keeper is down.
    session_expiry_s: int = Field(default=7 * 86_400, ge=0)
    # How long a kept letter stays (counted from the last time it arrived).
    retention_days: float = Field(default=30.0, gt=0)
    max_batch: int = Field(default=500, ge=1)


# (topic, payload, mid, qos, generation)
_Received = tuple[str, bytes, int, int, int]


class DeadLetterKeeper:
    def __init__(self, *, endpoint: MqttEndpoint, store: DeadLetterStore,
                 settings: KeeperSettings, clock: Clock | None = None) -> None:
        self._endpoint = endpoint
        self._store = store
        self._settings = settings
        self._clock = clock or SystemClock()
        self._queue: queue.SimpleQueue[_Received] = queue.SimpleQueue()
        self._generation = 0
        self._ack_lock = threading.Lock()
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self.kept = 0
        self.pruned = 0
        self._next_prune = 0.0
        self._client = new_client(settings.client_id, manual_ack=True, clean_session=False)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._worker = threading.Thread(target=self._run, name="dead-letter-keeper", daemon=True)

    def start(self) -> None:
        connect(self._client, self._endpoint, clean_start=False,
                session_expiry_s=self._settings.session_expiry_s)
        self._client.loop_start()
        self._worker.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._worker.join(timeout=30)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        client.subscribe(topics.DEAD_ALL, options=SubscribeOptions(qos=1))
        self._connected.set()
        log.info("connected to the broker; keeping dead letters from %s", topics.DEAD_ALL)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._ack_lock:
            self._generation += 1  # old message ids are void: the broker redelivers
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("disconnected from the broker (%s); paho will reconnect", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._queue.put((msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._generation))

    def _run(self) -> None:
        while not self._stopping.is_set() or not self._queue.empty():
            self._maybe_prune()
            batch = self._next_batch()
            if batch:
                self._keep(batch)

    def _next_batch(self) -> list[_Received]:
        try:
            batch = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(batch) < self._settings.max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _keep(self, batch: list[_Received]) -> None:
        backoff = Backoff(initial=0.2, cap=10.0)
        failing = False
        while True:
            try:
                new = self._store.keep([(r[0], r[1]) for r in batch], now=self._clock.now())
                break
            except Exception as exc:  # the database is down: keep trying, acknowledge nothing
                if not failing:
                    # The type only: a database error's text quotes its parameters, and
                    # the letters hold readings (no readings in logs).
                    log.error("cannot store %d dead letters (%s); holding them "
                              "unacknowledged and trying again", len(batch),
                              type(exc).__name__)
                    failing = True
                if self._stopping.is_set():
                    return
                time.sleep(backoff.next_delay())
        if failing:
            log.info("dead-letter store recovered")
        with self._ack_lock:
            for _topic, _payload, mid, qos, generation in batch:
                if generation == self._generation:
                    self._client.ack(mid, qos)
        self.kept += new
        log.info("kept %d dead letters (%d new)", len(batch), new)

    def _maybe_prune(self) -> None:
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        cutoff = self._clock.now() - timedelta(days=self._settings.retention_days)
        try:
            removed = self._store.prune(older_than=cutoff)
        except Exception as exc:
            log.error("pruning dead letters failed (%s); will try again in an hour",
                      type(exc).__name__)
            return
        self.pruned += removed
        if removed:
            log.info("forgot %d dead letters older than %g days", removed,
                     self._settings.retention_days)


# -- replay ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    stored: int  # readings new to the store
    duplicates: int  # readings it already held
    refused: str | None  # why (part of) the message is still refused, or None

    def describe(self) -> str:
        done = f"{self.stored} readings stored, {self.duplicates} already stored"
        return done if self.refused is None else f"{done}; still refused: {self.refused}"


def replay_letter(letter: DeadLetter, *, registry: DeviceRegistry, store: TimeSeriesStore,
                  settings: IngestSettings, now: datetime) -> ReplayOutcome:
    """Run the original message through ingest's checks again (after the operator fixed
    the cause: registered the device, corrected its clock...) and store what now passes.

    The letter stays kept (marked replayed by the caller); what is still refused is not
    dead-lettered again. Raises ValueError when only the start of the payload was kept.
    """
    original = letter.original()
    if original is None:
        raise ValueError(f"dead letter {letter.id}: only the first bytes of its "
                         f"{letter.payload_bytes}-byte payload were kept; it cannot be replayed")
    plan = plan_batch([Inbound(letter.topic, original)], registry=registry, now=now,
                      max_payload_bytes=settings.max_payload_bytes,
                      future_tolerance=timedelta(seconds=settings.future_tolerance_s))
    new = store.write(plan.readings) if plan.readings else 0
    refused = None
    if plan.dead_letters:
        refused = "; ".join(str(json.loads(body)["reason"]) for _t, body in plan.dead_letters)
    return ReplayOutcome(new, len(plan.readings) - new, refused)
