"""Dead letters: a rejected message keeps its original payload and a readable reason."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime

from core.contract import SCHEMA_VERSION, Rejection


def dead_letter_payload(
    *,
    device_id: str,
    topic: str,
    payload: bytes,
    rejections: Sequence[Rejection],
    received_at: datetime,
) -> bytes:
    try:
        original, encoding = payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        original, encoding = base64.b64encode(payload).decode("ascii"), "base64"
    body = {
        "schema": SCHEMA_VERSION,
        "device_id": device_id,
        "topic": topic,
        "received_at": received_at.isoformat().replace("+00:00", "Z"),
        "reason": "; ".join(r.reason for r in rejections),
        "errors": [{"code": r.code, "reason": r.reason, "index": r.index} for r in rejections],
        "payload": original,
        "payload_encoding": encoding,
    }
    return json.dumps(body, separators=(",", ":")).encode()
