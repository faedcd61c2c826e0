"""`hearth`: one console command with a subcommand per service or tool.

Subcommands are loaded lazily so that `hearth --help` stays quick; add one line
to COMMANDS for a new one ("name": "module:attribute").
"""

from __future__ import annotations

import importlib

import click

COMMANDS: dict[str, str] = {
    "up": "hearth.commands.up:up",
    "demo": "hearth.commands.demo:demo",
    "admin": "hearth.commands.admin:admin",
    "ingest": "hearth.commands.ingest:ingest",
    "coach": "hearth.commands.coach:coach",
    "dashboard": "hearth.commands.dashboard:dashboard",
    "simulate": "hearth.commands.simulate:simulate",
    "migrate": "hearth.commands.migrate:migrate",
    "export": "hearth.commands.export:export",
    "import": "hearth.commands.import_:import_",
    "check": "hearth.commands.check:check",
    "metrics": "hearth.commands.metrics:metrics",
    "gateway": "hearth.commands.gateway:gateway",
    "decode": "hearth.commands.decode:decode",
    "devices": "hearth.commands.devices:devices",
    "dead-letters": "hearth.commands.dead_letters:dead_letters",
    "home-assistant": "hearth.commands.home_assistant:home_assistant",
    "backup": "hearth.commands.backup:backup",
    "restore": "hearth.commands.backup:restore",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command

    def invoke(self, ctx: click.Context) -> object:
        """A setting that does not validate (HEARTH_* in the environment or .env) is a
        clear message naming the setting and why, not a traceback."""
        from pydantic import ValidationError

        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"]
                for e in exc.errors())
            raise click.ClickException(f"invalid settings ({exc.title}): {problems}") from exc


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def main(verbose: bool) -> None:
    """Hearth: home health monitoring and self-management."""
    from core.logs import configure_logging

    configure_logging(verbose=verbose)
