"""Logging set-up, done once at start-up by the CLI.

No personal health data in logs: log ids, counts and error categories, never
values, names or payloads.
"""

from __future__ import annotations

import logging
import os


def configure_logging(*, verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else os.environ.get("HEARTH_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request line at INFO: InfluxDB query URLs of ~10 kB each.
    for noisy in ("amqtt", "transitions", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
