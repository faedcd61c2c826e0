"""Wiring for the Nightscout-compatible API (dashboard/nightscout.py): who uploads, and the
durable upload outbox that sends uploads to ingest (dashboard/upload_outbox.py).

    stop = hearth.nightscout.attach(app, settings)          # after create_app(...)
    ...
    stop()                                                  # on shutdown
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from core.config import HearthSettings
from core.mqtt import MQTT_V5, MqttEndpoint
from core.provisioning import Provisioner
from dashboard.nightscout_backend import NightscoutBackend
from dashboard.upload_outbox import UploadOutbox
from hearth import wiring

log = logging.getLogger(__name__)


def attach(app: FastAPI, settings: HearthSettings, *, endpoint: MqttEndpoint | None = None,
           protocol: str = MQTT_V5, client_id: str = "hearth-dashboard-nightscout",
           outbox_dir: Path | None = None) -> Callable[[], None]:
    """Enable uploads and reads on ``app`` (``app.state.nightscout``); returns a closer.

    The outbox files live in ``outbox_dir`` (default: the data directory); each process
    takes a free slot of its own, and its MQTT client id is ``{client_id}-{slot}``."""
    queue = UploadOutbox(endpoint or wiring.mqtt_endpoint(settings),
                         outbox_dir or settings.data_dir, client_prefix=client_id,
                         protocol=protocol)
    if not queue.start(timeout=10):
        log.warning("nightscout: broker not reachable yet; uploads wait on disk until it is")
    app.state.nightscout = NightscoutBackend(Provisioner(wiring.app_engine(settings)), None,
                                             queue=queue)
    return queue.stop
