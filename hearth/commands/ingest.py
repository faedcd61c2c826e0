"""`hearth ingest`: MQTT readings into the time-series store."""

from __future__ import annotations

import signal
import threading

import click


@click.command()
def ingest() -> None:
    """Subscribe to readings, validate them, and store them (acknowledged after commit)."""
    from core.appdb.directory import CachedRegistry
    from core.config import get_settings
    from hearth import wiring
    from ingest.lane import LaneStores
    from ingest.service import IngestService
    from ingest.settings import IngestSettings

    settings = get_settings()
    ingest_settings = IngestSettings()
    service = IngestService(
        endpoint=wiring.mqtt_endpoint(settings),
        store=wiring.timeseries(settings),
        registry=CachedRegistry(wiring.directory(settings), ttl=ingest_settings.registry_cache_s),
        settings=ingest_settings,
        # The priority lane's scanner process commits and announces with its own stores.
        lane_stores=LaneStores(settings.resolved_timeseries_url(),
                               settings.resolved_database_url(),
                               ingest_settings.registry_cache_s),
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    service.start()
    click.echo(f"hearth ingest: running as {ingest_settings.client_id}; Ctrl-C to stop")
    done.wait()
    service.stop()
