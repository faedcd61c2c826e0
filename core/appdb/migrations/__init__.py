"""Alembic migrations of the application database; `hearth migrate` runs them.

Production (PostgreSQL) is created and upgraded only by migrations. The
embedded default (`hearth up`, SQLite) runs the same migrations through
``create_schema``. A database made by an early version with ``create_all``
(tables present, no ``alembic_version``) is stamped at the baseline before
upgrading.

A new or changed model needs a new revision in ``versions/``: write it by hand
or start from ``alembic revision --autogenerate`` with ``config(url)``;
tests/core/test_appdb_migrations.py fails while models and migrations differ.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from core.appdb.engine import make_engine

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
BASELINE = "0001"  # the schema `create_schema` made before migrations existed


def config(engine: Engine) -> Config:
    """An Alembic configuration that runs on this engine (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(HERE / "versions"))
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (several, comma-joined, on a branched tree)."""
    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None


def upgrade(url: str, revision: str = "head") -> str | None:
    """Bring the database at ``url`` to ``revision``; return the revision it is at."""
    engine = make_engine(url)
    try:
        return upgrade_engine(engine, revision)
    finally:
        engine.dispose()


def upgrade_engine(engine: Engine, revision: str = "head") -> str | None:
    cfg = config(engine)
    tables = set(inspect(engine).get_table_names())
    if "alembic_version" not in tables and "patients" in tables:
        logger.info("database made without migrations: stamping it at %s", BASELINE)
        command.stamp(cfg, BASELINE)
    command.upgrade(cfg, revision)
    return current_revision(engine)


def downgrade(url: str, revision: str) -> str | None:
    engine = make_engine(url)
    try:
        command.downgrade(config(engine), revision)
        return current_revision(engine)
    finally:
        engine.dispose()
