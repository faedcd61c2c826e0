"""`hearth coach`: the real-time path and the scheduled jobs, delivering nudges and alerts."""

from __future__ import annotations

import signal
import threading

import click


@click.command()
@click.option("--no-scheduler", is_flag=True,
              help="Run only the real-time path (another coach process runs the jobs).")
def coach(no_scheduler: bool) -> None:
    """Evaluate new readings as they are stored, run the scheduled jobs, deliver messages."""
    from coach.evaluation import StoreUrls
    from coach.service import CoachService
    from coach.settings import CoachSettings
    from core.config import get_settings
    from hearth import wiring

    settings = get_settings()
    coach_settings = CoachSettings()
    service = CoachService(
        endpoint=wiring.mqtt_endpoint(settings),
        store=wiring.timeseries(settings),
        engine=wiring.app_engine(settings),
        settings=coach_settings,
        urls=StoreUrls(settings.resolved_timeseries_url(), settings.resolved_database_url()),
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    service.start(scheduler=not no_scheduler)
    click.echo(f"hearth coach: running as {coach_settings.client_id}; Ctrl-C to stop")
    done.wait()
    service.stop()
