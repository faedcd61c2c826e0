"""The priority lane (ingest/priority.py, ingest/service.py) and the announcer.

A safety-class reading is committed and announced (``"urgent": true`` on the
priority connection) while the batch it came in is still held by the store; its
message is acknowledged only after that batch's own commit; everything is stored
exactly once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from core.appdb.directory import SqlDirectory
from core.contract import encode_message
from core.cpu_priority import SAFETY_NICE
from core.metrics import Metric
from core.mqtt import MqttEndpoint
from core.readings import Reading
from core.timeseries import Series
from core.timeseries.sqlite import SqliteTimeSeriesStore
from ingest.lane import LaneStores
from ingest.priority import PriorityTest
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.factories import publisher, register, subscribed, wait_until
from tests.support.mosquitto import MosquittoServer

NOW = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)


def reading(metric: Metric, value: float, *, minutes_ago: float = 1.0,
            device: str = "cgm-1") -> Reading:
    at = NOW - timedelta(minutes=minutes_ago)
    return Reading("p1", device, metric, value, at, "cgm", value, "mg/dL")


def test_the_safety_classes_and_nothing_else() -> None:
    test = PriorityTest()
    chosen = test.select([
        reading(Metric.GLUCOSE, 69.9, device="a"), reading(Metric.GLUCOSE, 70.0, device="b"),
        reading(Metric.SPO2, 92.0), reading(Metric.SPO2, 93.0),
        reading(Metric.SYSTOLIC, 180.0), reading(Metric.SYSTOLIC, 179.0),
        reading(Metric.DIASTOLIC, 120.0), reading(Metric.DIASTOLIC, 119.0),
        reading(Metric.HEART_RATE, 30.0),
    ], NOW)
    assert [(r.metric, r.value) for r in chosen] == [
        (Metric.GLUCOSE, 69.9), (Metric.SPO2, 92.0), (Metric.SYSTOLIC, 180.0),
        (Metric.DIASTOLIC, 120.0)]
    # Old readings (a backfill) are not "now": the urgent rules would not read them.
    assert test.select([reading(Metric.GLUCOSE, 40.0, minutes_ago=16, device="c"),
                        reading(Metric.SYSTOLIC, 200.0, minutes_ago=16)], NOW) == []


def test_a_fast_fall_is_chosen_from_the_devices_previous_reading() -> None:
    test = PriorityTest()
    assert test.select([reading(Metric.GLUCOSE, 150.0, minutes_ago=10)], NOW) == []
    # 150 -> 134 in 5 minutes: 3.2 mg/dL a minute, the DoubleDown arrow.
    falling = reading(Metric.GLUCOSE, 134.0, minutes_ago=5)
    assert test.select([falling], NOW) == [falling]
    # 134 -> 124 in 5 minutes: 2 mg/dL a minute, not fast.
    assert test.select([reading(Metric.GLUCOSE, 124.0, minutes_ago=0)], NOW) == []
    # Readings seconds apart: a rate over them is rounding noise, not a fall.
    noisy = PriorityTest()
    at = NOW - timedelta(minutes=1)
    values = [120.0, 119.9, 120.0, 119.9, 119.8]
    assert all(noisy.select([Reading("p1", "cgm-9", Metric.GLUCOSE, v,
                                     at + timedelta(seconds=2 * k), "cgm", v, "mg/dL")], NOW)
               == [] for k, v in enumerate(values))
    # Another device's history is its own.
    assert test.select([reading(Metric.GLUCOSE, 100.0, device="cgm-2")], NOW) == []


class GatedStore:
    """A real SQLite store whose writes of ordinary readings wait for ``gate``."""

    def __init__(self, inner: SqliteTimeSeriesStore) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.held = threading.Event()  # a batch is waiting at the gate

    def write(self, readings: Sequence[Reading]) -> int:
        if any(r.value >= 70 for r in readings):
            self.held.set()
            assert self.gate.wait(60)
        return self.inner.write(readings)

    def read(self, patient_id: str, metric: Metric, start: datetime,
             end: datetime) -> list[Reading]:
        return self.inner.read(patient_id, metric, start, end)

    def read_series(self, patient_id: str, metric: Metric, start: datetime,
                    end: datetime) -> Series:
        return self.inner.read_series(patient_id, metric, start, end)

    def latest(self, patient_id: str, metrics: Iterable[Metric] | None = None
               ) -> dict[Metric, Reading]:
        return self.inner.latest(patient_id, metrics)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("own_stores", [False, True], ids=["through-ingest", "own-stores"])
def test_an_urgent_low_is_stored_and_announced_while_ordinary_work_is_stuck(
    mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, app_engine, tmp_path: Path,
    own_stores: bool,
) -> None:
    """One message a batch: the writer holds the first, the planner the next ones, so the
    urgent message behind them is never planned until the gate opens. Only the scanner
    can find it (and commit it through ingest's process, or with stores of its own, as
    ``hearth ingest`` runs it); it is still acknowledged only after its own batch."""
    register(app_engine, "pat", [("cgm", "cgm")])
    register(app_engine, "other", [("cgm-other", "cgm")])
    gated = GatedStore(store)
    stores = LaneStores(f"sqlite:///{tmp_path / 'timeseries.db'}",
                        f"sqlite:///{tmp_path / 'hearth.db'}") if own_stores else None
    service = IngestService(endpoint=MqttEndpoint.parse(mosquitto.url), store=gated,
                            registry=SqlDirectory(app_engine),
                            settings=IngestSettings(client_id="priority-ingest",
                                                    max_batch_readings=1),
                            lane_stores=stores)
    at = datetime.now(UTC) - timedelta(seconds=30)
    service.start()
    try:
        assert service.wait_connected(10)
        assert service.lane is not None and service.lane.wait_scanning(30)
        if os.geteuid() == 0:  # the scanner runs at the safety path's CPU priority
            scanners = [c for c in psutil.Process().children()
                        if "spawn_main" in " ".join(c.cmdline())]
            assert scanners and {c.nice() for c in scanners} == {SAFETY_NICE}
        # hearth/v1/stored/# : the lane's urgent events per patient, the batches' on .../stored
        with subscribed(mosquitto.url, "hearth/v1/stored/#") as events, \
                subscribed(mosquitto.url, "hearth/v1/ack/+") as acks, \
                publisher(mosquitto.url) as pub:
            for seq in range(1, 6):
                pub.publish("hearth/v1/up/cgm-other", encode_message(
                    device_id="cgm-other", seq=seq, readings=[
                        {"time": (at - timedelta(minutes=seq)).isoformat(),
                         "metric": "glucose", "value": 120, "unit": "mg/dL",
                         "source": "cgm"}]))
            pub.publish("hearth/v1/up/cgm", encode_message(device_id="cgm", seq=7, readings=[
                {"time": (at - timedelta(minutes=5)).isoformat(), "metric": "glucose",
                 "value": 80, "unit": "mg/dL", "source": "cgm"},
                {"time": at.isoformat(), "metric": "glucose", "value": 45, "unit": "mg/dL",
                 "source": "cgm"}]))
            wait_until(lambda: any(e.get("urgent") for e in events.json()), timeout=30,
                       message="the urgent stored event")
            assert gated.held.is_set() and not gated.gate.is_set()
            assert events.json() == [{"schema": 1, "patient_id": "pat",
                                      "metrics": ["glucose"], "urgent": True}]
            low = store.read("pat", Metric.GLUCOSE, at - timedelta(hours=1), at + timedelta(1))
            assert [r.value for r in low] == [45.0]  # committed ahead of its batch
            assert len(acks) == 0  # its message waits for the batch's own commit

            gated.gate.set()
            wait_until(lambda: sorted(s for a in acks.json() for s in a["seqs"])
                       == [1, 2, 3, 4, 5, 7], timeout=30, message="every message acknowledged")
            wait_until(lambda: {p for e in events.json() if not e.get("urgent")
                                for p in e["patients"]} == {"pat", "other"},
                       timeout=30, message="the batches' stored events")
        assert store.count() == 7  # the low once, though it was written twice
        assert service.lane is not None and service.lane.stats.readings == 1
        # With stores of its own the scanner process committed it; ingest bound nothing.
        assert service.lane.stats.scanned == (0 if own_stores else 1)
    finally:
        service.stop()
