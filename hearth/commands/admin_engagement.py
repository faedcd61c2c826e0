"""`hearth admin engagement`: a clinic's engagement thresholds (care/engagement_config.py),
the same as the clinic page /staff/engagement.

    hearth admin engagement show riverside
    hearth admin engagement set riverside sign_in_disengaged_days=21 expected_days.scale=7
    hearth admin engagement set riverside --reset          # back to Hearth's defaults

A change is checked as a whole (every error said, nothing saved unless all are right) and
written to the audit log as "change engagement thresholds" by the operator ("hearth-admin").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine

ACTOR = "hearth-admin"


def _engine() -> Engine:
    from core.config import get_settings
    from hearth import wiring

    return wiring.app_engine(get_settings())


@click.group("engagement")
def engagement() -> None:
    """Show or change a clinic's engagement thresholds (docs/COACH.md "Engagement")."""


@engagement.command("show")
@click.argument("clinic_id")
def show(clinic_id: str) -> None:
    """Every threshold: what applies to CLINIC_ID, and Hearth's default."""
    from care import engagement_config as config

    current = config.read(_engine(), clinic_id)
    if current is None:
        raise click.ClickException(f"no clinic {clinic_id}")
    base = config.defaults()
    click.echo(f"engagement thresholds of {current.clinic_id} ({current.clinic_name})")
    for t in config.thresholds():
        mark = "*" if t.name in current.overrides else " "
        click.echo(f"{mark} {t.name} = {current.values[t.name]:g}   (default {base[t.name]:g}; "
                   f"{t.low:g}-{t.high:g}) {t.meaning}")
    if current.updated_by:
        click.echo(f"changed by {current.updated_by} at {current.updated_at}; * = the clinic's")


@engagement.command("set")
@click.argument("clinic_id")
@click.argument("values", nargs=-1, metavar="NAME=VALUE...")
@click.option("--reset", is_flag=True, help="Drop every override first (the defaults apply).")
def set_(clinic_id: str, values: tuple[str, ...], reset: bool) -> None:
    """Change thresholds of CLINIC_ID: NAME=VALUE each (NAME= alone: back to the default);
    the other thresholds keep the clinic's values unless --reset."""
    from care import engagement_config as config
    from core.appdb.audit_log import AuditEntry, AuditLog

    engine = _engine()
    current = config.read(engine, clinic_id)
    if current is None:
        raise click.ClickException(f"no clinic {clinic_id}")
    if not values and not reset:
        raise click.ClickException("give NAME=VALUE pairs, or --reset")
    wanted = {} if reset else {k: f"{v:g}" for k, v in current.overrides.items()}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.ClickException(f"{item}: write NAME=VALUE")
        wanted[name.strip()] = value.strip()
    try:
        overrides = config.check(wanted)
    except config.ThresholdError as refused:
        raise click.ClickException("nothing saved:\n" + "\n".join(
            f"  {k}: {v}" for k, v in refused.errors.items())) from None
    now = datetime.now(UTC)
    config.save(engine, clinic_id, overrides, by=ACTOR, now=now)
    AuditLog(engine).record([AuditEntry(now, ACTOR, "admin", f"clinic:{clinic_id}",
                                        "change engagement thresholds", "hearth admin")])
    click.echo(f"engagement thresholds of {clinic_id} saved ({len(overrides)} differ from "
               "the defaults)")
