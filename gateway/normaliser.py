"""From raw GATT payloads to entries of the reading message, with the device time corrected.

A payload that does not decode is logged with the device id and the reason
(lengths and flags, never a value) and yields nothing: nothing malformed is
published. A Glucose Measurement whose flags say a Context follows is held
until that Context (same sequence number) or the device's next measurement
arrives, then sent with or without it.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, tzinfo
from typing import Any

from gateway.ble import glucose
from gateway.ble.decoders import decode
from gateway.ble.errors import DecodeError
from gateway.ble.model import Decoded
from gateway.readers import Sample
from gateway.readings import entries
from gateway.timing import measured_at

log = logging.getLogger(__name__)

Entry = dict[str, Any]
Item = tuple[str, Entry]  # (device_id, entry)


class Normaliser:
    def __init__(self, *, zone: tzinfo = UTC) -> None:
        self._zone = zone
        self._held: dict[str, tuple[Decoded, Sample]] = {}
        self.counts: Counter[str] = Counter()

    def normalise(self, sample: Sample) -> list[Item]:
        """The (device, entry) pairs to store for one payload (maybe none, maybe a held one's)."""
        try:
            decoded = decode(sample.characteristic, sample.payload)
        except DecodeError as exc:
            self.counts["malformed"] += 1
            log.error("device %s sent a malformed payload, nothing published: %s",
                      sample.device_id, exc)
            return []
        self.counts["decoded"] += 1
        if decoded.characteristic == glucose.CONTEXT:
            return self._attach_context(sample, decoded)
        out = self.flush(sample.device_id)
        if decoded.context_follows:
            self._held[sample.device_id] = (decoded, sample)
            return out
        return out + self._entries(decoded, sample)

    def flush(self, device_id: str | None = None) -> list[Item]:
        """Release held measurements (of one device, or all) without their context."""
        ids = list(self._held) if device_id is None else [device_id]
        out: list[Item] = []
        for key in ids:
            held = self._held.pop(key, None)
            if held is not None:
                out += self._entries(*held)
        return out

    def _attach_context(self, sample: Sample, context: Decoded) -> list[Item]:
        held = self._held.get(sample.device_id)
        if held is None or held[0].sequence != context.sequence:
            self.counts["orphan_context"] += 1
            log.warning("device %s: glucose context without its measurement (ignored)",
                        sample.device_id)
            return self.flush(sample.device_id)
        del self._held[sample.device_id]
        return self._entries(held[0].with_context(context), held[1])

    def _entries(self, decoded: Decoded, sample: Sample) -> list[Item]:
        timing = measured_at(
            decoded, received_at=sample.received_at, reference=sample.clock, zone=self._zone
        )
        out, skipped = entries(decoded, timing)
        for s in skipped:
            self.counts[f"skipped:{s.reason}"] += 1
            log.info("device %s: %s not stored (%s)", sample.device_id, s.metric, s.reason)
        for entry in out:
            entry["time"] = entry["time"].isoformat().replace("+00:00", "Z")
        self.counts["entries"] += len(out)
        return [(sample.device_id, entry) for entry in out]
