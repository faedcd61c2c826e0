"""`hearth check`: can this process reach what it needs? (container health checks, debugging)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import click


@click.command()
@click.option("--mqtt", "check_mqtt", is_flag=True, help="Connect to HEARTH_MQTT_URL.")
@click.option("--store", "check_store", is_flag=True, help="Query HEARTH_TIMESERIES_URL.")
@click.option("--database", "check_database", is_flag=True, help="Query HEARTH_DATABASE_URL.")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds per check.")
def check(check_mqtt: bool, check_store: bool, check_database: bool, timeout: float) -> None:
    """Check the broker, the time-series store and the application database (all by default).

    Exits non-zero, naming what failed, if any of them cannot be reached.
    """
    from core.config import get_settings

    settings = get_settings()
    everything = not (check_mqtt or check_store or check_database)
    checks: dict[str, Callable[[], None]] = {}
    if check_mqtt or everything:
        checks["mqtt"] = lambda: _mqtt(settings.mqtt_url, timeout)
    if check_store or everything:
        checks["store"] = lambda: _store(settings.resolved_timeseries_url())
    if check_database or everything:
        checks["database"] = lambda: _database(settings.resolved_database_url(), timeout)
    failed = []
    for name, run in checks.items():
        try:
            run()
        except Exception as exc:  # report every failure by name, then exit non-zero
            failed.append(name)
            click.echo(f"{name}: FAILED ({type(exc).__name__}: {exc})", err=True)
        else:
            click.echo(f"{name}: ok")
    if failed:
        raise SystemExit(1)


def _mqtt(url: str | None, timeout: float) -> None:
    from core.errors import ConfigurationError
    from core.mqtt import MqttEndpoint, connect, new_client

    if not url:
        raise ConfigurationError("HEARTH_MQTT_URL is not set")
    answered = threading.Event()
    outcome: list[str] = []
    client = new_client(f"hearth-check-{threading.get_native_id()}")

    def on_connect(_c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        outcome.append(str(reason))
        answered.set()

    client.on_connect = on_connect
    connect(client, MqttEndpoint.parse(url))
    client.loop_start()
    try:
        if not answered.wait(timeout):
            raise TimeoutError(f"no answer from the broker within {timeout:.0f}s")
        if outcome[0] != "Success":
            raise ConnectionError(f"the broker refused: {outcome[0]}")
    finally:
        client.disconnect()
        client.loop_stop()


def _store(url: str) -> None:
    from core.metrics import Metric
    from core.timeseries.factory import open_store

    store = open_store(url)
    try:
        store.latest("hearth-check", [Metric.GLUCOSE])
    finally:
        store.close()


def _database(url: str, timeout: float) -> None:
    from sqlalchemy import text

    from core.appdb.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()
