"""`hearth up`: everything in one process, with a simulated household."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from devices.profiles import PatientProfile
    from hearth.demo import DemoAccount
    from hearth.stack import Stack


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Dashboard port (0: a free one, printed in the banner).")
@click.option("--mqtt-port", type=click.IntRange(0, 65535), default=1883, show_default=True,
              help="Port of the embedded broker (0 or taken: a free one, printed in the banner).")
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
    """Run broker, ingest, coach, simulator and dashboard on the embedded defaults."""
    from core.config import get_settings
    from devices.profiles import DEFAULT_HOUSEHOLD, load_profiles, replicate
    from hearth.stack import PortInUseError, Stack, StackOptions

    settings = get_settings()
    household = load_profiles(profiles or DEFAULT_HOUSEHOLD)
    if patients is not None:
        household = replicate(household, patients)
    options = StackOptions(
        host=host, port=port, mqtt_port=mqtt_port, backfill_days=backfill_days, speed=speed,
        profiles=household, home_assistant=home_assistant,
    )

    def announce(stack: Stack) -> None:
        """The banner, once start-up is over (backfill stored, coach checked), so that the
        sign-ins are the last lines on the screen."""
        broker = stack.broker.url if stack.broker else settings.mqtt_url
        seeded = stack.seeded.summary() if stack.seeded else "none"
        click.echo(
            "\nHearth is up.\n"
            f"  Dashboard:   http://{host}:{stack.port}/\n"
            f"  API docs:    http://{host}:{stack.port}/docs\n"
            f"  MQTT broker: {broker}\n"
            f"  Data:        {settings.data_dir.resolve()}\n"
            f"  Patients:    {_names(options.profiles)}\n"
            f"  History:     {stack.backfilled} readings over {backfill_days:g} days; "
            f"coaching: {seeded}\n"
            f"{_credentials(stack.credentials, stack.accounts_file)}"
            "Streaming live readings. Press Ctrl-C to stop.\n", nl=False)

    try:
        Stack(settings, options).run(announce)
    except PortInUseError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it handled, after shutting down
        pass
    click.echo("Hearth stopped.")


def _credentials(accounts: Sequence[DemoAccount], saved: Path) -> str:
    """Demo sign-ins for the banner (user-facing output; never logged)."""
    if not accounts:
        return ""
    from hearth.demo import accounts_text

    return ("  Sign in as (role, name, password; new passwords on every start; kept in\n"
            f"  {saved.resolve()}, readable by you only: `hearth demo --accounts`):\n"
            + accounts_text(accounts))


def _names(profiles: Sequence[PatientProfile]) -> str:
    names = [p.name for p in profiles]
    if len(names) <= 6:
        return ", ".join(names)
    return f"{', '.join(names[:4])} and {len(names) - 4} more"
