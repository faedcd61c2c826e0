"""The end-to-end acknowledgement of the message contract (docs/CONTRACT.md): after it
commits readings, ingest tells their sender on ``hearth/v1/ack/{device_id}`` which
message sequence numbers are stored, and the sender (a gateway's outbox, the Nightscout
API's upload outbox) forgets exactly those. Written and read here only."""

from __future__ import annotations

import json
from collections.abc import Iterable

from core import topics
from core.contract import SCHEMA_VERSION


def ack_payload(device_id: str, seqs: Iterable[int]) -> bytes:
    """What ingest publishes once these messages of ``device_id`` are committed."""
    return json.dumps({"schema": SCHEMA_VERSION, "device_id": device_id,
                       "seqs": sorted(set(seqs))}, separators=(",", ":")).encode()


def read_ack(topic: str, payload: bytes | bytearray) -> tuple[str, list[int]]:
    """(device id, sequence numbers) of an acknowledgement; ValueError, with the reason,
    for one that is unreadable or names another device than its topic."""
    device_id = topics.last_level(topic, "ack")
    try:
        body = json.loads(payload)
        seqs = [int(s) for s in body["seqs"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"unreadable acknowledgement on {topic}") from exc
    if device_id is None or body.get("device_id") != device_id:
        raise ValueError(f"acknowledgement for another device on {topic}")
    return device_id, seqs
