"""Triage boards built once for all of the dashboard's server processes: the repository is
core/appdb/shared_boards.py (claims, leases and stored boards in the application database)."""

from __future__ import annotations

from core.appdb.shared_boards import FORMAT, KEEP, Payload, SharedBoards, key_hash

__all__ = ["FORMAT", "KEEP", "Payload", "SharedBoards", "key_hash"]
