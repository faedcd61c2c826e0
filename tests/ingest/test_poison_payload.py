"""A payload nested too deeply for Python's JSON parser is dead-lettered like any other
unreadable message, and the readings beside it are stored (found by the fault suite's
hostile device, `make chaos`, issue 16).

Before: the contract refused it ("nested too deeply"), but the planner's second look at
it (for the sequence number to acknowledge) raised RecursionError, which failed the whole
batch; ingest reconnected for a redelivery, the broker redelivered the same message, and
the batch failed again, for ever: every reading queued behind one 200 kB message from
one device waited, and no other patient's reading on that connection was stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from core.appdb.directory import DeviceBinding
from core.contract import encode_message
from core.timeseries.sqlite import SqliteTimeSeriesStore
from ingest.pipeline import Inbound, plan_batch
from ingest.service import IngestService
from tests.support.factories import publisher, register, wait_until
from tests.support.mosquitto import MosquittoServer

NESTED = b"[" * 100_000 + b"]" * 100_000  # 200 kB: under the contract's 256 KiB


class Registry:
    def binding(self, device_id: str) -> DeviceBinding | None:
        return DeviceBinding(device_id, f"pat-{device_id}", "cgm", True)


def glucose(device_id: str, seq: int, at: datetime) -> bytes:
    return encode_message(device_id=device_id, seq=seq, readings=[{
        "metric": "glucose", "value": 100 + seq, "unit": "mg/dL", "source": "cgm", "time": at}])


def test_the_planner_letters_a_too_deeply_nested_payload_and_keeps_the_rest() -> None:
    now = datetime.now(UTC)
    plan = plan_batch([Inbound("hearth/v1/up/mallory", NESTED),
                       Inbound("hearth/v1/up/ann", glucose("ann", 1, now - timedelta(hours=1)))],
                      registry=Registry(), now=now, max_payload_bytes=256 * 1024,
                      future_tolerance=timedelta(minutes=5))
    assert [r.device_id for r in plan.readings] == ["ann"]
    ((topic, letter),) = plan.dead_letters
    assert topic == "hearth/v1/dead/mallory"
    assert "nested too deeply" in json.loads(letter)["reason"]
    assert dict(plan.handled_seqs) == {"ann": [1]}


def test_ingest_stores_another_patients_readings_after_a_too_deeply_nested_payload(
        mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, app_engine,
        ingest: IngestService) -> None:
    register(app_engine, "mallory", [("mallory-cgm", "cgm")])
    register(app_engine, "ann", [("ann-cgm", "cgm")])
    now = datetime.now(UTC).replace(microsecond=0)
    with publisher(mosquitto.url) as paced:
        paced.publish("hearth/v1/up/mallory-cgm", NESTED)
        for seq in range(20):
            paced.publish("hearth/v1/up/ann-cgm",
                          glucose("ann-cgm", seq, now - timedelta(minutes=5 * (seq + 1))))
    wait_until(lambda: store.count() == 20, timeout=60, message="ann's 20 readings stored")
    wait_until(lambda: ingest.stats.dead_letters >= 1, timeout=60,
               message="the nested payload dead-lettered")
