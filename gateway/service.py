"""The gateway: a reader feeds the outbox, the forwarder drains it.

The outbox-full policy lives here. When a batch of readings does not fit,
``submit`` does not drop anything: it blocks the reader (backpressure; a
Bluetooth device keeps its records until it is asked again), logs one
warning, and raises an alert in the retained status message
``hearth/v1/status/{gateway_id}`` (``"alert": {"code": "outbox_full", ...}``).
Above ``warn_fraction`` of the limit the alert is ``outbox_nearly_full``.
When the outbox drains below the warning level the alert is cleared and
"recovered" is logged once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from core.topics import valid_topic_id
from gateway.forwarder import Forwarder
from gateway.normaliser import Normaliser
from gateway.outbox import Outbox, OutboxFullError
from gateway.readers import Reader, Sample

log = logging.getLogger(__name__)

FULL = "outbox_full"
NEARLY_FULL = "outbox_nearly_full"


class OutboxSink:
    """What readers submit to: decode, correct the time, write durably, wake the forwarder."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        normaliser: Normaliser,
        forwarder: Forwarder | None,
        stop: threading.Event,
        warn_fraction: float = 0.8,
        retry_s: float = 0.2,
    ) -> None:
        self._outbox = outbox
        self._normaliser = normaliser
        self._forwarder = forwarder
        self._stop = stop
        self._warn_at = max(1, int(outbox.max_readings * warn_fraction))
        self._retry_s = retry_s
        self._room = threading.Condition()
        self._alert: str | None = None
        self._alert_lock = threading.Lock()
        self.readings_accepted = 0
        self.full_waits = 0
        self.refused = 0

    def submit(self, samples: Sequence[Sample]) -> bool:
        items: list[tuple[str, dict[str, Any]]] = []
        for sample in samples:
            if not valid_topic_id(sample.device_id):
                self.refused += 1
                log.error("a device id that cannot stand in a topic (%r): payload not taken; "
                          "check the reader's configuration", sample.device_id[:140])
                continue
            items += self._normaliser.normalise(sample)
        return self.store(items)

    def flush(self) -> bool:
        """Store measurements held back for a context that never came."""
        held = self._normaliser.flush()
        return self.store(held) if held else True

    def store(self, items: list[tuple[str, dict[str, Any]]]) -> bool:
        step = max(1, min(len(items), self._outbox.max_readings))
        for start in range(0, len(items), step):
            if not self._store_chunk(items[start : start + step]):
                return False
        return True

    def _store_chunk(self, chunk: list[tuple[str, dict[str, Any]]]) -> bool:
        while True:
            try:
                self._outbox.add(chunk, now=time.time())
            except OutboxFullError as exc:
                self.full_waits += 1
                self._raise_full(str(exc))
                with self._room:
                    self._room.wait(timeout=self._retry_s)
                if self._stop.is_set():
                    log.warning("stopping with %d readings not taken (the device keeps them)",
                                len(chunk))
                    return False
                continue
            self.readings_accepted += len(chunk)
            self.check_level()
            if self._forwarder is not None:
                self._forwarder.wake()
            return True

    def check_level(self) -> None:
        """Raise, lower or clear the alert from the outbox's level (also after confirmations,
        from the MQTT thread)."""
        level = len(self._outbox)
        with self._alert_lock:
            if level >= self._outbox.max_readings:
                self._raise(FULL, "outbox is full")
            elif level >= self._warn_at:
                self._raise(NEARLY_FULL, "outbox is nearly full")
            elif self._alert is not None:
                log.info("outbox recovered: %d of %d readings", level, self._outbox.max_readings)
                self._set(None)
        with self._room:
            self._room.notify_all()

    def _raise_full(self, why: str) -> None:
        with self._alert_lock:
            self._raise(FULL, why)

    def _raise(self, code: str, why: str) -> None:
        if self._alert == code:
            return
        if code == FULL:
            log.error("ALERT %s: %s; new readings are held back at the devices until "
                      "ingest confirms what is queued", code, why)
        else:
            log.warning("ALERT %s: %d of %d readings held", code, len(self._outbox),
                        self._outbox.max_readings)
        self._set(code)

    def _set(self, code: str | None) -> None:
        self._alert = code
        if self._forwarder is not None:
            self._forwarder.set_alert(
                None
                if code is None
                else {"code": code, "readings": len(self._outbox),
                      "max_readings": self._outbox.max_readings}
            )

    @property
    def alert(self) -> str | None:
        return self._alert


class Gateway:
    """Wires one reader, the outbox and the forwarder; ``run`` until stopped."""

    def __init__(self, *, reader: Reader, outbox: Outbox, forwarder: Forwarder,
                 normaliser: Normaliser, warn_fraction: float = 0.8) -> None:
        self.stop_event = threading.Event()
        self.reader = reader
        self.outbox = outbox
        self.forwarder = forwarder
        self.sink = OutboxSink(outbox=outbox, normaliser=normaliser, forwarder=forwarder,
                               stop=self.stop_event, warn_fraction=warn_fraction)
        forwarder.on_confirmed = self.sink.check_level
        self._reader_thread = threading.Thread(target=self._read, name="gateway-reader",
                                               daemon=True)

    def start(self) -> None:
        self.forwarder.start()
        self._reader_thread.start()

    def _read(self) -> None:
        try:
            self.reader.run(self.sink, self.stop_event)
            self.sink.flush()
            log.info("reader %s %s", self.reader.name,
                     "stopped" if self.stop_event.is_set() else "finished (source exhausted)")
        except Exception:
            log.exception("reader %s failed", self.reader.name)

    def stop(self) -> None:
        self.stop_event.set()
        self._reader_thread.join(timeout=10)
        self.forwarder.stop()
        self.outbox.close()
