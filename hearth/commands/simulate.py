"""`hearth simulate`: the synthetic household publishing over MQTT."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click


@click.command()
@click.option("--profiles", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Patient profiles (TOML); the demo household by default.")
@click.option("--backfill-days", type=click.FloatRange(min=0), default=14.0, show_default=True)
@click.option("--live/--no-live", default=True, show_default=True,
              help="Keep streaming readings in real time after the backfill.")
@click.option("--speed", type=click.FloatRange(min=0.1), default=1.0, show_default=True,
              help="Accelerate simulated time (never ahead of the wall clock).")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--register/--no-register", default=True, show_default=True,
              help="Register the profiles' patients and devices in the application database.")
def simulate(profiles: Path | None, backfill_days: float, live: bool, speed: float, seed: int,
             register: bool) -> None:
    """Publish a household's readings: a backfill of history, then live readings."""
    from core.config import get_settings
    from core.mqtt import PacedPublisher, connect, new_client
    from devices.profiles import DEFAULT_HOUSEHOLD, load_profiles
    from devices.publisher import SimulatorPublisher
    from devices.simulator import HouseholdSimulator
    from hearth import demo, wiring

    settings = get_settings()
    loaded = load_profiles(profiles or DEFAULT_HOUSEHOLD)
    if register:
        demo.register_household(wiring.app_engine(settings), loaded)
    client = new_client(f"hearth-simulator-{seed}")
    publisher = PacedPublisher(client)
    connect(client, wiring.mqtt_endpoint(settings))
    client.loop_start()
    sim = SimulatorPublisher(HouseholdSimulator(loaded, seed=seed), publisher)
    now = datetime.now(UTC)
    sent = sim.backfill(now - timedelta(days=backfill_days), now)
    publisher.wait_idle(timeout=120)
    click.echo(f"backfilled {sent} readings for {len(loaded)} patients")
    if live:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        click.echo("streaming live readings; Ctrl-C to stop")
        sim.stream(now, now=lambda: datetime.now(UTC), stop=stop, speed=speed)
    publisher.wait_idle(timeout=30)
    client.disconnect()
    client.loop_stop()
