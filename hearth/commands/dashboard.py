"""`hearth dashboard`: the web app."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--ssl-certfile", envvar="HEARTH_DASHBOARD_SSL_CERTFILE", default=None,
              help="Serve HTTPS with this PEM certificate (chain); needs --ssl-keyfile.")
@click.option("--ssl-keyfile", envvar="HEARTH_DASHBOARD_SSL_KEYFILE", default=None,
              help="The certificate's private key (PEM).")
def dashboard(host: str, port: int, ssl_certfile: str | None, ssl_keyfile: str | None) -> None:
    """Serve the dashboards and the JSON API."""
    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise click.UsageError("HTTPS needs both --ssl-certfile and --ssl-keyfile")
    import uvicorn

    from core.appdb.account_store import AccountStore
    from core.appdb.directory import SqlDirectory
    from core.config import get_settings
    from dashboard.app import create_app
    from dashboard.settings import DashboardSettings
    from hearth import wiring

    settings = get_settings()
    engine = wiring.app_engine(settings)
    app = create_app(store=wiring.timeseries(settings), directory=SqlDirectory(engine),
                     accounts=AccountStore(engine), settings=DashboardSettings())
    if settings.mqtt_url:  # Nightscout uploads go through the broker to ingest
        from hearth import nightscout

        nightscout.attach(app, settings)
    uvicorn.run(app, host=host, port=port, log_level="info", ssl_certfile=ssl_certfile,
                ssl_keyfile=ssl_keyfile)
