"""An in-process MQTT broker (amqtt) for `hearth up` when no broker URL is configured.

amqtt speaks MQTT 3.1.1 only, so the services talk 3.1.1 to it; production
uses Mosquitto with MQTT 5. It listens on loopback only and allows anonymous
clients, which is acceptable for a single-machine demo and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedBroker:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mqtt-broker",
                                        daemon=True)
        self._broker: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout)
        log.info("embedded MQTT broker listening on %s:%d", self.host, self.port)

    async def _start(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        self._broker = Broker(config)
        await self._broker.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._broker is not None:
            try:
                future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
                future.result(timeout)
            except Exception:  # shutting down anyway
                log.warning("the embedded broker did not shut down cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
