"""`hearth up`: the whole system in one process on its embedded defaults."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import uvicorn
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from coach.home_assistant import HomeAssistantBridge
from coach.service import CoachService
from coach.settings import CoachSettings
from core.appdb.account_store import AccountStore
from core.appdb.delivery import JobRun
from core.appdb.directory import CachedRegistry, SqlDirectory
from core.config import HearthSettings
from core.mqtt import MqttEndpoint, PacedPublisher, connect, new_client
from core.timeseries import TimeSeriesStore
from dashboard.app import create_app
from devices.profiles import PatientProfile
from devices.publisher import SimulatorPublisher
from devices.simulator import HouseholdSimulator
from hearth import demo, demo_seed, nightscout, wiring
from hearth.embedded_broker import EmbeddedBroker
from ingest.service import IngestService
from ingest.settings import IngestSettings

log = logging.getLogger(__name__)

Protocol = Literal["5", "3.1.1"]  # core.mqtt's MQTT_V5 and MQTT_V311

# Generous: a loaded two-core machine stores a 14-day backfill of the demo household
# (about 9,000 readings) in a few seconds; the limits only stop a stuck start-up.
BACKFILL_STORED_TIMEOUT_S = 300.0
FIRST_CHECK_TIMEOUT_S = 120.0


class PortInUseError(RuntimeError):
    """The dashboard's port is taken: the user chooses another (``--port``)."""


@dataclass
class StackOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    mqtt_port: int = 1883
    backfill_days: float = 14.0
    speed: float = 1.0
    seed: int = 1
    home_assistant: bool = False
    profiles: list[PatientProfile] = field(default_factory=list)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Stack:
    """Start-up order: the broker, ingest and the dashboard; then the simulator's backfill,
    waited for until ingest has committed all of it; then the seeded coaching history;
    then the coach, whose first checks so see the household's 14 days (started before
    the backfill was stored, it found every device quiet); then the banner, last, once
    the coach's first trend check is done; then live readings."""

    def __init__(self, settings: HearthSettings, options: StackOptions) -> None:
        self.settings = settings
        self.options = options
        self.stop_event = threading.Event()
        self.broker: EmbeddedBroker | None = None
        self.ingest: IngestService | None = None
        self.coach: CoachService | None = None
        self.home_assistant: HomeAssistantBridge | None = None
        self._stop_nightscout: Callable[[], None] | None = None
        self._sim_thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()  # the coach starts in one thread, stops in another
        self.credentials: list[demo.DemoAccount] = []  # printed by the banner
        self.accounts_file = demo.accounts_path(settings.data_dir)
        self.port = options.port  # the dashboard's real port once it listens (0: chosen then)
        self.backfilled = 0
        self.seeded: demo_seed.Seeded | None = None

    def run(self, announce: Callable[[Stack], None]) -> None:
        if self.options.port and not port_is_free(self.options.port, self.options.host):
            raise PortInUseError(
                f"port {self.options.port} on {self.options.host} is in use: stop what uses "
                "it, or choose another with --port (make demo PORT=...); --port 0 picks a "
                "free one")
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = wiring.app_engine(self.settings)
        demo.register_household(engine, self.options.profiles)
        self.credentials = demo.create_demo_accounts(engine, self.options.profiles)
        demo.save_accounts(self.accounts_file, self.credentials)
        directory = SqlDirectory(engine)
        store = wiring.timeseries(self.settings)
        endpoint, protocol = self._broker_endpoint()
        self.ingest = IngestService(
            endpoint=endpoint,
            store=store,
            registry=CachedRegistry(directory, ttl=30),
            settings=IngestSettings(client_id="hearth-up-ingest", protocol=protocol),
        )
        self.ingest.start()
        app = create_app(store=store, directory=directory, accounts=AccountStore(engine))
        server = uvicorn.Server(
            uvicorn.Config(app, host=self.options.host, port=self.options.port,
                           log_level="warning")
        )
        self._stop_nightscout = nightscout.attach(
            app, self.settings, endpoint=endpoint, protocol=protocol,
            client_id="hearth-up-nightscout")
        self._sim_thread = threading.Thread(
            target=self._start_up,
            args=(server, announce, endpoint, protocol, engine, store, directory),
            name="start-up", daemon=True,
        )
        self._sim_thread.start()
        try:
            server.run()
        finally:
            self.shutdown()
            store.close()

    def _broker_endpoint(self) -> tuple[MqttEndpoint, Protocol]:
        if self.settings.mqtt_url:
            return MqttEndpoint.parse(self.settings.mqtt_url), "5"
        port = self.options.mqtt_port
        if port == 0 or not port_is_free(port):
            port = free_port()  # the banner prints the one chosen
        self.broker = EmbeddedBroker(port=port)
        self.broker.start()
        return MqttEndpoint.parse(self.broker.url), "3.1.1"

    def _start_up(self, server: uvicorn.Server, announce: Callable[[Stack], None],
                  endpoint: MqttEndpoint, protocol: Protocol, engine: Engine,
                  store: TimeSeriesStore, directory: SqlDirectory) -> None:
        try:
            while not server.started:
                if self.stop_event.wait(0.05) or server.should_exit:
                    return
            self.port = _listening_port(server, self.options.port)
            client = new_client("hearth-up-simulator", protocol=protocol)
            publisher = PacedPublisher(client)
            connect(client, endpoint)
            client.loop_start()
        except Exception:
            log.exception("start-up failed")
            server.should_exit = True
            return
        try:
            sim = SimulatorPublisher(
                HouseholdSimulator(self.options.profiles, seed=self.options.seed), publisher)
            now = datetime.now(UTC)
            self.backfilled = sim.backfill(now - timedelta(days=self.options.backfill_days), now)
            publisher.wait_idle(timeout=BACKFILL_STORED_TIMEOUT_S)
            if not self._wait_stored(self.backfilled):
                return
            log.info("backfilled %d readings, all stored", self.backfilled)
            try:
                self.seeded = demo_seed.seed_history(engine, store, self.options.profiles,
                                                     now=datetime.now(UTC))
            except Exception:  # the demo runs on without its history
                log.exception("seeding the demo's coaching history failed")
            if not self._start_services(endpoint, protocol, engine, store, directory):
                return
            announce(self)
            sim.stream(now, now=lambda: datetime.now(UTC), stop=self.stop_event,
                       speed=self.options.speed)
        except Exception:
            log.exception("the simulator stopped")
        finally:
            publisher.wait_idle(timeout=5)
            client.disconnect()
            client.loop_stop()

    def _wait_stored(self, published: int) -> bool:
        """Wait until ingest has committed (or counted as duplicates or refused) every
        reading of the backfill; False if asked to stop first."""
        assert self.ingest is not None
        stats = self.ingest.stats
        deadline = time.monotonic() + BACKFILL_STORED_TIMEOUT_S
        while (stats.readings_stored + stats.readings_duplicate
               + stats.readings_rejected) < published:
            if self.stop_event.wait(0.05):
                return False
            if time.monotonic() > deadline:
                log.warning("the backfill was not all stored after %.0f s; starting anyway",
                            BACKFILL_STORED_TIMEOUT_S)
                break
        return True

    def _start_services(self, endpoint: MqttEndpoint, protocol: Protocol, engine: Engine,
                        store: TimeSeriesStore, directory: SqlDirectory) -> bool:
        """The coach (trend checks every 10 minutes, so that a fresh demo shows them
        soon) and Home Assistant discovery; waits for the coach's first trend check."""
        with self._lifecycle:
            if self.stop_event.is_set():
                return False
            started = datetime.now(UTC)
            self.coach = CoachService(
                endpoint=endpoint, store=store, engine=engine,
                settings=CoachSettings(client_id="hearth-up-coach", protocol=protocol,
                                       trend_check_minutes=10))
            self.coach.start()
            if self.options.home_assistant:
                self.home_assistant = HomeAssistantBridge(
                    endpoint=endpoint, store=store, directory=directory, protocol=protocol,
                    client_id="hearth-up-home-assistant")
                self.home_assistant.start()
        self.coach.wait_connected(timeout=FIRST_CHECK_TIMEOUT_S)
        deadline = time.monotonic() + FIRST_CHECK_TIMEOUT_S
        while not first_check_done(engine, started):
            if self.stop_event.wait(0.1):
                return False
            if time.monotonic() > deadline:
                log.warning("the coach's first trend check has not finished after %.0f s",
                            FIRST_CHECK_TIMEOUT_S)
                break
        return True

    def shutdown(self) -> None:
        self.stop_event.set()
        if self._sim_thread:
            self._sim_thread.join(timeout=10)
        if self._stop_nightscout:
            self._stop_nightscout()
        with self._lifecycle:
            if self.home_assistant:
                self.home_assistant.stop()
            if self.coach:
                self.coach.stop()
        if self.ingest:
            self.ingest.stop()
        if self.broker:
            self.broker.stop()
        log.info("hearth stopped")


def first_check_done(engine: Engine, since: datetime) -> bool:
    """The coach's scheduled trend check that started at or after ``since`` has finished."""
    with Session(engine) as session:
        rows = session.execute(
            select(JobRun.started_at, JobRun.status).where(
                JobRun.job_id.like("trend-checks%"))).all()
    return any(status in ("done", "failed") and _aware(at) >= since - timedelta(seconds=1)
               for at, status in rows)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _listening_port(server: uvicorn.Server, asked: int) -> int:
    """The port the dashboard listens on (the one chosen by the system for --port 0)."""
    for srv in getattr(server, "servers", []):
        for sock in srv.sockets:
            return int(sock.getsockname()[1])
    return asked
