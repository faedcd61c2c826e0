"""Stored events of the message contract (docs/CONTRACT.md): what ingest tells the coach
after a commit, written and read here only. No values, only who has news of what.

- per patient, ``hearth/v1/stored/{patient_id}``:
  ``{"schema":1,"patient_id":…,"metrics":[…]}`` (``"urgent":true`` from ingest's priority
  lane);
- per batch (issue 22), ``hearth/v1/stored``: ``{"schema":1,"patients":{patient_id:[metrics],
  …}}``, at most ``BATCH_PATIENTS`` patients a message: one message for a committed batch
  of many patients' readings instead of one per patient.

Both are announcements after a commit and idempotent: a repeated event makes the coach
evaluate again, and its cool-downs and delivery keys keep that from repeating a message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping

from core import topics
from core.contract import SCHEMA_VERSION

BATCH_PATIENTS = 1_000  # patients in one batch event (about 30 KB)


def stored_payload(patient_id: str, metrics: Iterable[str], *, urgent: bool = False) -> bytes:
    body: dict[str, object] = {"schema": SCHEMA_VERSION, "patient_id": patient_id,
                               "metrics": sorted(set(metrics))}
    if urgent:
        body["urgent"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def batch_messages(touched: Mapping[str, Iterable[str]], *,
                   limit: int = BATCH_PATIENTS) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) of the batch events announcing ``touched`` (patient -> metrics)."""
    items = [(p, sorted({str(m) for m in ms})) for p, ms in touched.items()]
    for k in range(0, len(items), limit):
        body = {"schema": SCHEMA_VERSION, "patients": dict(items[k:k + limit])}
        yield topics.STORED_BATCH, json.dumps(body, separators=(",", ":")).encode()


def read_batch(payload: bytes | bytearray) -> dict[str, set[str]] | None:
    """patient -> metrics of a batch event; None when it is not one (a malformed event)."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    patients = data.get("patients") if isinstance(data, dict) else None
    if not isinstance(patients, dict):
        return None
    out: dict[str, set[str]] = {}
    for patient_id, metrics in patients.items():
        if not isinstance(metrics, list) or not topics.valid_topic_id(patient_id):
            return None
        out[patient_id] = {str(m) for m in metrics}
    return out
