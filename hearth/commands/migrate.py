"""`hearth migrate`: bring the application database to the newest schema (Alembic)."""

from __future__ import annotations

import click


@click.command()
@click.option("--revision", default="head", show_default=True,
              help="Alembic revision to upgrade to.")
def migrate(revision: str) -> None:
    """Run the application-database migrations (HEARTH_DATABASE_URL)."""
    from core.appdb import migrations
    from core.config import get_settings

    at = migrations.upgrade(get_settings().resolved_database_url(), revision)
    click.echo(f"hearth migrate: application database at revision {at}")
