"""ingest/deadletter.py: a dead letter is never bigger than the broker accepts, and what
it keeps gives the original back (or says it kept only the start)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from core.contract import MAX_PAYLOAD_BYTES, MAX_READINGS_PER_MESSAGE, Rejection
from ingest.deadletter import DEAD_LETTER_MAX_BYTES, TRUNCATED_KEEP_BYTES, dead_letter_payload

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"
LONG_ID = "d" * 128


def letter(payload: bytes, rejections: list[Rejection]) -> dict:
    raw = dead_letter_payload(device_id=LONG_ID, topic=f"hearth/v1/up/{LONG_ID}",
                              payload=payload, rejections=rejections, received_at=NOW)
    assert len(raw) <= DEAD_LETTER_MAX_BYTES, len(raw)
    return json.loads(raw)


def original(body: dict) -> bytes:
    if body["payload_encoding"] == "base64":
        return base64.b64decode(body["payload"])
    return body["payload"].encode()


def test_the_worst_payloads_within_the_contract_are_kept_whole() -> None:
    worst = [
        b"\x00" * MAX_PAYLOAD_BYTES,  # escaped JSON: six times as long
        b'"' * MAX_PAYLOAD_BYTES,  # twice
        "é".encode() * (MAX_PAYLOAD_BYTES // 2),  # \u00e9: three times
        bytes(range(256)) * (MAX_PAYLOAD_BYTES // 256),  # not UTF-8
        b'{"schema":1}' + b" " * (MAX_PAYLOAD_BYTES - 12),
    ]
    many = [Rejection("out_of_range", f"reading {i}: value {i} mg/dL is outside the "
                      "plausible range for glucose (10–1000 mg/dL)", i)
            for i in range(MAX_READINGS_PER_MESSAGE)]
    for payload in worst:
        body = letter(payload, many)
        assert original(body) == payload
        assert "payload_truncated" not in body
        assert body["errors_omitted"] == MAX_READINGS_PER_MESSAGE - len(body["errors"])
        assert body["reason"].endswith(f"; and {body['errors_omitted']} more")


def test_an_ordinary_letter_is_unchanged() -> None:
    payload = b'{"schema":1,"device_id":"d","seq":1,"metric":"glucose","value":1e9}'
    body = letter(payload, [Rejection("out_of_range", "value too high", 0)])
    assert body["payload"] == payload.decode() and body["payload_encoding"] == "utf-8"
    assert body["errors"] == [{"code": "out_of_range", "reason": "value too high", "index": 0}]
    assert body["reason"] == "value too high" and "errors_omitted" not in body


def test_an_oversized_payload_keeps_its_start_size_and_digest() -> None:
    payload = b"x" * (MAX_PAYLOAD_BYTES * 3)
    body = letter(payload, [Rejection("too_large", "payload is too large")])
    assert body["payload_truncated"] is True
    assert original(body) == payload[:TRUNCATED_KEEP_BYTES]
    assert body["payload_bytes"] == len(payload)
    assert body["payload_sha256"] == hashlib.sha256(payload).hexdigest()


def test_one_huge_reason_is_cut() -> None:
    body = letter(b"{}", [Rejection("invalid_message", "x" * 100_000)])
    assert len(body["errors"]) == 1 and len(body["reason"]) < 2000


def test_the_broker_accepts_the_largest_letter() -> None:
    """max_packet_size covers the letter, its topic, the fixed header and room to spare."""
    size = int(re.search(r"^max_packet_size (\d+)$", CONF.read_text(), re.M).group(1))
    topic = len(f"hearth/v1/dead/{LONG_ID}") + 2
    assert DEAD_LETTER_MAX_BYTES + topic + 5 + 2 + 1024 <= size
