"""Dead letters: a rejected message keeps its original payload and a readable reason.

Ingest publishes each on ``hearth/v1/dead/{device_id}``; the keeper
(ingest/deadletter_keeper.py, ``hearth dead-letters keep``) stores it for the
operator (core/appdb/deadletters.py). A letter is at most DEAD_LETTER_MAX_BYTES,
so that the broker (``max_packet_size``, deploy/mosquitto/mosquitto.conf) never
refuses it: a refused letter would leave its message unacknowledged for ever.

- A payload within the contract's limit (MAX_PAYLOAD_BYTES) is kept whole: as
  UTF-8 text, or as base64 when it is not UTF-8 or its escaped JSON would be
  longer than base64 of the largest payload (4/3 of 256 KiB).
- A bigger payload (refused as ``too_large`` before it is parsed) keeps only its
  first TRUNCATED_KEEP_BYTES, with its size and SHA-256 (``payload_truncated``).
- The reasons and errors are kept whole up to ERRORS_BUDGET_BYTES; past it the
  first ones are kept and the rest counted (``errors_omitted``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.contract import MAX_PAYLOAD_BYTES, SCHEMA_VERSION, Rejection

TRUNCATED_KEEP_BYTES = 4096
ERRORS_BUDGET_BYTES = 12 * 1024
# base64 of the largest payload kept whole, the errors' budget twice (list and
# reason) and the envelope (ids and topic of at most 128 + 141 characters, escaped).
DEAD_LETTER_MAX_BYTES = 360 * 1024
_BASE64_OF_LARGEST = (MAX_PAYLOAD_BYTES + 2) // 3 * 4


def dead_letter_payload(
    *,
    device_id: str,
    topic: str,
    payload: bytes,
    rejections: Sequence[Rejection],
    received_at: datetime,
) -> bytes:
    body: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "device_id": device_id,
        "topic": topic,
        "received_at": received_at.isoformat().replace("+00:00", "Z"),
    }
    body.update(_reasons(rejections))
    body.update(_original(payload))
    return json.dumps(body, separators=(",", ":")).encode()


def _reasons(rejections: Sequence[Rejection]) -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    reasons: list[str] = []
    used = 0
    for rejection in rejections:
        error = {"code": rejection.code, "reason": rejection.reason, "index": rejection.index}
        size = len(json.dumps(error)) + len(rejection.reason) + 2
        if errors and used + size > ERRORS_BUDGET_BYTES:
            break
        errors.append(error)
        reasons.append(rejection.reason if size <= ERRORS_BUDGET_BYTES
                       else rejection.reason[:1024] + "…")
        used += size
    omitted = len(rejections) - len(errors)
    if errors and len(json.dumps(errors[0])) > ERRORS_BUDGET_BYTES:
        errors[0]["reason"] = str(errors[0]["reason"])[:1024] + "…"
    reason = "; ".join(reasons) + (f"; and {omitted} more" if omitted else "")
    out: dict[str, Any] = {"reason": reason, "errors": errors}
    if omitted:
        out["errors_omitted"] = omitted
    return out


def _original(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        return {
            "payload": base64.b64encode(payload[:TRUNCATED_KEEP_BYTES]).decode("ascii"),
            "payload_encoding": "base64",
            "payload_truncated": True,
            "payload_bytes": len(payload),
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
        }
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    # Escaped JSON can grow six times (\u0000); base64 by a third, so past base64's size
    # of the largest payload the letter carries base64.
    if text is not None and len(json.dumps(text)) - 2 <= _BASE64_OF_LARGEST:
        return {"payload": text, "payload_encoding": "utf-8"}
    return {"payload": base64.b64encode(payload).decode("ascii"), "payload_encoding": "base64"}
