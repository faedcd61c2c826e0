"""`hearth dashboard`: the web app, in one process or several on one socket."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from fastapi import FastAPI


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Server processes sharing the port [default: HEARTH_DASHBOARD_WORKERS, "
              "else 1]; about one per CPU core suits a busy clinic (docs/DASHBOARD.md).")
@click.option("--ssl-certfile", envvar="HEARTH_DASHBOARD_SSL_CERTFILE", default=None,
              help="Serve HTTPS with this PEM certificate (chain); needs --ssl-keyfile.")
@click.option("--ssl-keyfile", envvar="HEARTH_DASHBOARD_SSL_KEYFILE", default=None,
              help="The certificate's private key (PEM).")
def dashboard(host: str, port: int, workers: int | None, ssl_certfile: str | None,
              ssl_keyfile: str | None) -> None:
    """Serve the dashboards and the JSON API."""
    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise click.UsageError("HTTPS needs both --ssl-certfile and --ssl-keyfile")
    import uvicorn

    from core.config import get_settings
    from dashboard.settings import DashboardSettings
    from hearth import wiring

    if workers is None:
        workers = DashboardSettings().workers

    # Migrate once, here, before any worker starts: workers racing through the same
    # migrations would fail on each other's tables.
    wiring.app_engine(get_settings()).dispose()
    uvicorn.run("hearth.commands.dashboard:app_from_settings", factory=True, workers=workers,
                host=host, port=port, log_level="info", ssl_certfile=ssl_certfile,
                ssl_keyfile=ssl_keyfile)


def app_from_settings() -> FastAPI:
    """uvicorn's factory, called in every worker process: its own stores, caches, audit
    writer and broker connection (a client id of its own, or the broker would drop one)."""
    from core.appdb.account_store import AccountStore
    from core.appdb.directory import SqlDirectory
    from core.appdb.engine import make_engine
    from core.config import get_settings
    from dashboard.app import create_app
    from dashboard.settings import DashboardSettings
    from hearth import wiring

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url())  # migrated by the command
    app = create_app(store=wiring.timeseries(settings), directory=SqlDirectory(engine),
                     accounts=AccountStore(engine), settings=DashboardSettings())
    if settings.mqtt_url:  # Nightscout uploads go through the broker to ingest
        from hearth import nightscout

        nightscout.attach(app, settings)  # an outbox slot and client id per worker
    return app
