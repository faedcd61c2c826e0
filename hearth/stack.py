"""`hearth up`: the whole system in one process on its embedded defaults."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import uvicorn

from core.appdb.account_store import AccountStore
from coach.home_assistant import HomeAssistantBridge
from coach.service import CoachService
from coach.settings import CoachSettings
from core.appdb.directory import CachedRegistry, SqlDirectory
from core.config import HearthSettings
from core.mqtt import MQTT_V5, MQTT_V311, MqttEndpoint, PacedPublisher, connect, new_client
from dashboard.app import create_app
from devices.profiles import PatientProfile
from devices.publisher import SimulatorPublisher
from devices.simulator import HouseholdSimulator
from hearth import demo, nightscout, wiring
from hearth.embedded_broker import EmbeddedBroker
from ingest.service import IngestService
from ingest.settings import IngestSettings

log = logging.getLogger(__name__)


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
        self.credentials: list[demo.DemoAccount] = []  # printed by the banner

    def run(self, announce: callable) -> None:  # type: ignore[valid-type]
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = wiring.app_engine(self.settings)
        demo.register_household(engine, self.options.profiles)
        self.credentials = demo.create_demo_accounts(engine, self.options.profiles)
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
        # The coach: nudges and alerts on the home display topic and in the inbox.
        self.coach = CoachService(
            endpoint=endpoint, store=store, engine=engine,
            # Trend checks every 10 minutes so that a fresh demo shows them soon.
            settings=CoachSettings(client_id="hearth-up-coach", protocol=protocol,
                                   trend_check_minutes=10))
        self.coach.start()
        if self.options.home_assistant:
            self.home_assistant = HomeAssistantBridge(
                endpoint=endpoint, store=store, directory=directory, protocol=protocol,
                client_id="hearth-up-home-assistant")
            self.home_assistant.start()
        app = create_app(store=store, directory=directory, accounts=AccountStore(engine))
        server = uvicorn.Server(
            uvicorn.Config(app, host=self.options.host, port=self.options.port, log_level="warning")
        )
        self._stop_nightscout = nightscout.attach(
            app, self.settings, endpoint=endpoint, protocol=protocol, client_id="hearth-up-nightscout")
        # The simulator and the banner wait for the dashboard to listen, so that
        # "Hearth is up." and "streaming live" are only said once they are true.
        self._sim_thread = threading.Thread(
            target=self._when_serving, args=(server, announce, endpoint, protocol),
            name="simulator", daemon=True,
        )
        self._sim_thread.start()
        try:
            server.run()
        finally:
            self.shutdown()
            store.close()

    def _broker_endpoint(self) -> tuple[MqttEndpoint, str]:
        if self.settings.mqtt_url:
            return MqttEndpoint.parse(self.settings.mqtt_url), MQTT_V5
        port = self.options.mqtt_port
        if not port_is_free(port):
            port = free_port()
        self.broker = EmbeddedBroker(port=port)
        self.broker.start()
        return MqttEndpoint.parse(self.broker.url), MQTT_V311

    def _when_serving(self, server: uvicorn.Server, announce: callable,  # type: ignore[valid-type]
                      endpoint: MqttEndpoint, protocol: str) -> None:
        while not server.started:
            if self.stop_event.wait(0.05) or server.should_exit:
                return
        announce(self)
        self._simulate(endpoint, protocol)

    def _simulate(self, endpoint: MqttEndpoint, protocol: str) -> None:
        client = new_client("hearth-up-simulator", protocol=protocol)
        publisher = PacedPublisher(client)
        connect(client, endpoint)
        client.loop_start()
        try:
            sim = SimulatorPublisher(
                HouseholdSimulator(self.options.profiles, seed=self.options.seed), publisher
            )
            now = datetime.now(UTC)
            count = sim.backfill(now - timedelta(days=self.options.backfill_days), now)
            publisher.wait_idle(timeout=300)
            log.info("backfilled %d readings; streaming live", count)
            sim.stream(now, now=lambda: datetime.now(UTC), stop=self.stop_event,
                       speed=self.options.speed)
        except Exception:
            log.exception("the simulator stopped")
        finally:
            publisher.wait_idle(timeout=5)
            client.disconnect()
            client.loop_stop()

    def shutdown(self) -> None:
        self.stop_event.set()
        if self._sim_thread:
            self._sim_thread.join(timeout=10)
        if self._stop_nightscout:
            self._stop_nightscout()
        if self.home_assistant:
            self.home_assistant.stop()
        if self.coach:
            self.coach.stop()
        if self.ingest:
            self.ingest.stop()
        if self.broker:
            self.broker.stop()
        log.info("hearth stopped")
