"""`hearth up`: everything in one process, with a simulated household."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True, help="Dashboard port.")
@click.option("--mqtt-port", type=int, default=1883, show_default=True,
              help="Port of the embedded broker (a free one if taken).")
@click.option("--profiles", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Patient profiles (TOML); the demo household by default.")
@click.option("--backfill-days", type=click.FloatRange(min=0), default=14.0, show_default=True)
@click.option("--speed", type=click.FloatRange(min=0.1), default=1.0, show_default=True)
@click.option("--patients", type=click.IntRange(min=1), default=None,
              help="Simulate this many patients, cycling through the profiles.")
@click.option("--home-assistant", is_flag=True,
              help="Publish Home Assistant MQTT discovery for each patient (docs/INTEROP.md).")
def up(host: str, port: int, mqtt_port: int, profiles: Path | None, backfill_days: float,
       speed: float, patients: int | None, home_assistant: bool) -> None:
    """Run broker, ingest, simulator and dashboard on the embedded defaults."""
    from core.config import get_settings
    from devices.profiles import DEFAULT_HOUSEHOLD, load_profiles, replicate
    from hearth.stack import Stack, StackOptions

    settings = get_settings()
    household = load_profiles(profiles or DEFAULT_HOUSEHOLD)
    if patients is not None:
        household = replicate(household, patients)
    options = StackOptions(
        host=host, port=port, mqtt_port=mqtt_port, backfill_days=backfill_days, speed=speed,
        profiles=household, home_assistant=home_assistant,
    )

    def announce(stack: Stack) -> None:
        broker = stack.broker.url if stack.broker else settings.mqtt_url
        click.echo(
            "\nHearth is up.\n"
            f"  Dashboard:   http://{host}:{port}/\n"
            f"  API docs:    http://{host}:{port}/docs\n"
            f"  MQTT broker: {broker}\n"
            f"  Data:        {settings.data_dir.resolve()}\n"
            f"  Patients:    {_names(options.profiles)}\n"
            f"{_credentials(stack.credentials)}"
            f"Backfilling {backfill_days:g} days of readings, then streaming live. "
            "Press Ctrl-C to stop.\n"
        )

    try:
        Stack(settings, options).run(announce)
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it handled, after shutting down
        pass
    click.echo("Hearth stopped.")


def _credentials(accounts: list) -> str:  # type: ignore[type-arg]
    """Demo sign-ins for the banner (user-facing output; never logged)."""
    if not accounts:
        return ""
    lines = [f"    {a.role:<10} {a.user_id:<10} {a.password}" for a in accounts]
    return "  Sign in as (role, name, password; new passwords on every start):\n" + \
        "\n".join(lines) + "\n"


def _names(profiles: list) -> str:  # type: ignore[type-arg]
    names = [p.name for p in profiles]
    return ", ".join(names) if len(names) <= 6 else f"{', '.join(names[:4])} and {len(names) - 4} more"
