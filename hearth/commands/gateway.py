"""`hearth gateway`: the home hub - device readers, the on-disk outbox, store-and-forward."""

from __future__ import annotations

import signal
import threading

import click


@click.command()
def gateway() -> None:
    """Read local devices and forward their readings; forget them only once ingest confirms."""
    from zoneinfo import ZoneInfo

    from core.config import get_settings
    from gateway.forwarder import Forwarder
    from gateway.normaliser import Normaliser
    from gateway.outbox import Outbox
    from gateway.readers import load_reader
    from gateway.service import Gateway
    from gateway.settings import GatewaySettings
    from hearth import wiring

    settings = get_settings()
    gw = GatewaySettings()
    outbox = Outbox(gw.outbox_path, max_readings=gw.max_outbox_readings)
    service = Gateway(
        reader=load_reader(gw.reader, gw.options()),
        outbox=outbox,
        forwarder=Forwarder(endpoint=wiring.mqtt_endpoint(settings), outbox=outbox, settings=gw),
        normaliser=Normaliser(zone=ZoneInfo(gw.home_timezone)),
        warn_fraction=gw.warn_fraction,
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    service.start()
    click.echo(f"hearth gateway: {gw.gateway_id} reading from {gw.reader}; "
               f"outbox {gw.outbox_path} holds {len(outbox)} readings; Ctrl-C to stop")
    done.wait()
    service.stop()
