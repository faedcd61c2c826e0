"""The pipelined writer (ingest/service.py) against a real Mosquitto.

The planner validates batch N+1 while the writer commits batch N. Whatever the
store does in the middle of a stream, each reading ends up stored exactly once,
and every acknowledgement on hearth/v1/ack/{device} names only messages whose
readings were already committed when it was published.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from core.appdb.directory import SqlDirectory
from core.errors import StoreError, StoreUnavailableError
from core.metrics import Metric
from core.mqtt import MqttEndpoint, connect, new_client
from core.readings import Reading
from core.timeseries import Series
from core.timeseries.sqlite import SqliteTimeSeriesStore
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.factories import publisher, register, wait_until
from tests.support.ingest_processes import glucose_stream
from tests.support.mosquitto import MosquittoServer

DEVICES = 10


class TroubledStore:
    """A real SQLite store whose ``fail_on`` writes go wrong.

    ``partial``: half of the batch is committed, then StoreError (as an InfluxDB
    request 3 of 5 failing); ``down``: StoreUnavailableError, nothing written.
    Records which keys were committed, so an acknowledgement can be checked
    against what was stored at the moment it was sent.
    """

    def __init__(self, inner: SqliteTimeSeriesStore, fail_on: dict[int, str]) -> None:
        self.inner = inner
        self.fail_on = dict(fail_on)
        self.writes = 0
        self.lock = threading.Lock()
        self.committed: set[tuple[str, datetime]] = set()

    def write(self, readings: Sequence[Reading]) -> int:
        with self.lock:
            self.writes += 1
            trouble = self.fail_on.pop(self.writes, None)
        if trouble == "down":
            raise StoreUnavailableError("the store is away for a moment")
        if trouble == "partial":
            half = list(readings)[: max(1, len(readings) // 2)]
            self._commit(half)
            raise StoreError("the store refused the rest of the batch")
        return self._commit(readings)

    def _commit(self, readings: Sequence[Reading]) -> int:
        new = self.inner.write(readings)
        with self.lock:
            self.committed.update((r.device_id, r.measured_at) for r in readings)
        return new

    def read(self, patient_id: str, metric: Metric, start: datetime,
             end: datetime) -> list[Reading]:
        return self.inner.read(patient_id, metric, start, end)

    def read_series(self, patient_id: str, metric: Metric, start: datetime,
                    end: datetime) -> Series:
        return self.inner.read_series(patient_id, metric, start, end)

    def latest(self, patient_id: str,
               metrics: Iterable[Metric] | None = None) -> dict[Metric, Reading]:
        return self.inner.latest(patient_id, metrics)

    def close(self) -> None:
        self.inner.close()


class AckAudit:
    """Subscribes to every ack; for each acknowledged seq, was its reading committed?"""

    def __init__(self, url: str, store: TroubledStore, start: datetime) -> None:
        self.store = store
        self.start = start
        self.acked: set[tuple[str, int]] = set()
        self.premature: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = new_client(f"audit-{id(self)}")
        self.client.on_connect = lambda c, *_: c.subscribe("hearth/v1/ack/+", qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = self._on_ack
        connect(self.client, MqttEndpoint.parse(url))
        self.client.loop_start()
        assert self.ready.wait(10)

    def _on_ack(self, _c: Any, _u: Any, msg: Any) -> None:
        body = json.loads(msg.payload)
        with self.store.lock:
            committed = set(self.store.committed)
        with self.lock:
            for seq in body["seqs"]:
                # glucose_stream: message seq of a device holds one reading at start + 5 min x seq
                key = (body["device_id"], self.start + timedelta(minutes=5 * seq))
                if key not in committed:
                    self.premature.append((body["device_id"], seq))
                self.acked.add((body["device_id"], seq))

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _run_stream(mosquitto: MosquittoServer, store: TroubledStore, app_engine: Any,
                client_id: str, per_device: int) -> tuple[AckAudit, datetime, int]:
    register(app_engine, "pat", [(f"cgm-{d}", "cgm") for d in range(DEVICES)])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
    stream = list(glucose_stream(devices=DEVICES, messages_per_device=per_device,
                                 readings_per_message=1, start=start))
    audit = AckAudit(mosquitto.url, store, start)
    service = IngestService(endpoint=MqttEndpoint.parse(mosquitto.url), store=store,
                            registry=SqlDirectory(app_engine),
                            settings=IngestSettings(client_id=client_id, max_batch_readings=200))
    service.start()
    try:
        assert service.wait_connected(10)
        with publisher(mosquitto.url, window=500) as pub:
            for topic, payload in stream:
                pub.publish(topic, payload)
        wait_until(lambda: audit.count() >= len(stream), timeout=90, interval=0.1,
                   message="every message acknowledged")
    finally:
        service.stop()
        audit.close()
    return audit, start, len(stream)


def _assert_each_reading_once(store: TroubledStore, start: datetime, per_device: int) -> None:
    rows = store.read("pat", Metric.GLUCOSE, start, start + timedelta(days=10))
    assert len(rows) == DEVICES * per_device
    assert len({(r.device_id, r.measured_at) for r in rows}) == len(rows)
    device = [r for r in rows if r.device_id == "cgm-3"]
    assert [r.value for r in device] == [70 + i % 200 for i in range(per_device)]


def test_a_store_error_after_a_partial_commit_neither_loses_nor_doubles_readings(
    mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, app_engine: Any
) -> None:
    troubled = TroubledStore(store, fail_on={2: "partial", 5: "partial"})
    audit, start, total = _run_stream(mosquitto, troubled, app_engine, "pipe-partial", 300)
    assert troubled.writes > 5  # both failures happened mid-stream, and ingest went on
    assert audit.premature == []
    assert len(audit.acked) == total
    _assert_each_reading_once(troubled, start, 300)


def test_a_store_away_for_a_moment_holds_its_batch_and_the_next_one_waits(
    mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, app_engine: Any
) -> None:
    troubled = TroubledStore(store, fail_on={3: "down", 4: "down", 5: "down"})
    audit, start, total = _run_stream(mosquitto, troubled, app_engine, "pipe-down", 300)
    assert troubled.writes > 5
    assert audit.premature == []
    assert len(audit.acked) == total
    _assert_each_reading_once(troubled, start, 300)
