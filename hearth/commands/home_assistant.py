"""`hearth home-assistant`: Home Assistant MQTT discovery (coach/home_assistant.py).

Publishes, retained under ``homeassistant/``, a device per patient with a sensor for
each reading the patient's own devices take (glucose with its trend arrow, blood
pressure, weight, SpO2, heart rate, body temperature), each expiring when its
value is no longer current, and an event entity for nudges; keeps their states
current from ingest's stored events. Devices registered later appear on restart.
"""

from __future__ import annotations

import signal
import threading

import click


@click.command("home-assistant")
@click.option("--discovery-prefix", default="homeassistant", show_default=True,
              help="Home Assistant's discovery prefix.")
@click.option("--state-prefix", default="hearth/ha", show_default=True,
              help="Where the entity states and the bridge's availability are published.")
@click.option("--client-id", default="hearth-home-assistant", show_default=True)
@click.option("--no-glucose-device-class", is_flag=True,
              help="Leave out device_class blood_glucose_concentration (Home Assistant < 2024.8).")
def home_assistant(discovery_prefix: str, state_prefix: str, client_id: str,
                   no_glucose_device_class: bool) -> None:
    """Publish discovery configs and live states for Home Assistant on the same broker."""
    from coach.home_assistant import HomeAssistantBridge, HomeAssistantOptions
    from core.config import get_settings
    from hearth import wiring

    settings = get_settings()
    options = HomeAssistantOptions(
        discovery_prefix=discovery_prefix, state_prefix=state_prefix,
        glucose_device_class=None if no_glucose_device_class else "blood_glucose_concentration")
    store = wiring.timeseries(settings)
    bridge = HomeAssistantBridge(endpoint=wiring.mqtt_endpoint(settings), store=store,
                                 directory=wiring.directory(settings), options=options,
                                 client_id=client_id)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    if not bridge.start():
        click.echo("hearth home-assistant: broker not reachable yet; retrying", err=True)
    click.echo(f"hearth home-assistant: discovery under {discovery_prefix}/; Ctrl-C to stop")
    done.wait()
    bridge.stop()
    store.close()
