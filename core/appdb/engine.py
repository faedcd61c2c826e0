"""Engines and schema for the application database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

SQLITE_POOL_SIZE = 40  # anyio's default thread-pool size: every worker thread may hold one


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        in_memory = parsed.database in (None, "", ":memory:")
        # One shared connection, or every thread would see its own empty database. A file
        # keeps up to SQLITE_POOL_SIZE connections open: one for each worker thread of a
        # web server under load (anyio's default is 40). With SQLAlchemy's default of 5
        # the connections past it were closed on return and opened again, pragmas and
        # all, on every request beyond the fifth at once (docs/DASHBOARD.md).
        pool = {"poolclass": StaticPool} if in_memory else {
            "pool_size": SQLITE_POOL_SIZE, "max_overflow": 20}
        engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Bring the schema to the newest migration: the embedded default takes the
    same path as production, so both always have the same tables."""
    from core.appdb import migrations  # it imports this module

    # "heads": while people add revisions side by side the tree may briefly branch;
    # tests/core/test_appdb_migrations.py insists on one line before anything lands.
    migrations.upgrade_engine(engine, "heads")
