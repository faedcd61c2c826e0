"""Wiring for the Nightscout-compatible API (dashboard/nightscout.py): who uploads, and a
broker connection that confirms each upload.

    stop = hearth.nightscout.attach(app, settings)          # after create_app(...)
    ...
    stop()                                                  # on shutdown
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI

from core.config import HearthSettings
from core.mqtt import MQTT_V5, MqttEndpoint
from core.provisioning import Provisioner
from dashboard.nightscout_backend import ConfirmedPublisher, NightscoutBackend
from hearth import wiring

log = logging.getLogger(__name__)


def attach(app: FastAPI, settings: HearthSettings, *, endpoint: MqttEndpoint | None = None,
           protocol: str = MQTT_V5, client_id: str = "hearth-dashboard-nightscout",
           ) -> Callable[[], None]:
    """Enable uploads and reads on ``app`` (``app.state.nightscout``); returns a closer."""
    publisher = ConfirmedPublisher(endpoint or wiring.mqtt_endpoint(settings),
                                   client_id=client_id, protocol=protocol)
    if not publisher.start(timeout=10):
        log.warning("nightscout: broker not reachable yet; uploads answer 503 until it is")
    app.state.nightscout = NightscoutBackend(Provisioner(wiring.app_engine(settings)), publisher)
    return publisher.stop
