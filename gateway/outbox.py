"""The gateway's on-disk outbox: core/outbox.py (shared with the Nightscout API's upload
outbox, dashboard/upload_outbox.py)."""

from core.outbox import (
    SCHEMA,
    Batch,
    Outbox,
    OutboxError,
    OutboxFullError,
    OutboxStats,
    resend_delay,
)

__all__ = ["SCHEMA", "Batch", "Outbox", "OutboxError", "OutboxFullError", "OutboxStats",
           "resend_delay"]
