"""`hearth backup DIR` and `hearth restore DIR`: the time-series store and the application
database named by HEARTH_TIMESERIES_URL and HEARTH_DATABASE_URL (core/backup.py does it)."""

from __future__ import annotations

from pathlib import Path

import click

RPC_HELP = ("InfluxDB's RPC address for influxd backup/restore (its bind-address); "
            "default: the InfluxDB host on port 8088.")


def _stores() -> dict[str, str]:
    from core.backup import APPDB, TIMESERIES
    from core.config import get_settings

    settings = get_settings()
    return {TIMESERIES: settings.resolved_timeseries_url(),
            APPDB: settings.resolved_database_url()}


@click.command()
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@click.option("--influx-rpc", default=None, metavar="HOST:PORT", help=RPC_HELP)
def backup(target: Path, influx_rpc: str | None) -> None:
    """Back up both stores into TARGET (a new or empty directory), while they run."""
    from core.backup import BackupError, backup_all
    from core.errors import ConfigurationError

    if target.exists() and any(target.iterdir()):
        raise click.ClickException(f"{target} is not empty: back up into a new directory")
    try:
        manifest = backup_all(_stores(), target, influx_rpc_address=influx_rpc)
    except (BackupError, ConfigurationError) as exc:
        raise click.ClickException(str(exc)) from None
    for item in manifest.items:
        click.echo(f"hearth backup: {item.role} ({item.engine}) -> {target / item.path} "
                   f"in {item.seconds:.2f} s")


@click.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--influx-rpc", default=None, metavar="HOST:PORT", help=RPC_HELP)
@click.option("--replace", is_flag=True,
              help="Drop an InfluxDB database that exists before restoring it "
                   "(SQLite files and PostgreSQL objects are always replaced).")
def restore(source: Path, influx_rpc: str | None, replace: bool) -> None:
    """Restore both stores from SOURCE (stop the services that write to them first)."""
    from core.backup import BackupError, restore_all
    from core.errors import ConfigurationError

    try:
        seconds = restore_all(_stores(), source, influx_rpc_address=influx_rpc, replace=replace)
    except (BackupError, ConfigurationError) as exc:
        raise click.ClickException(str(exc)) from None
    for role, took in seconds.items():
        click.echo(f"hearth restore: {role} from {source} in {took:.2f} s")
