"""The care programme's tests run on SQLite and on PostgreSQL (tests/care/plan_support.py)."""

from tests.care.plan_support import app_store

__all__ = ["app_store"]
