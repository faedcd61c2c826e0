"""Killing ingest mid-stream loses nothing; replaying a stream duplicates nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.metrics import Metric
from core.timeseries.sqlite import SqliteTimeSeriesStore
from ingest.service import IngestService
from tests.support.factories import Collector, publisher, register, subscribed, wait_until
from tests.support.ingest_processes import IngestProcess, glucose_stream
from tests.support.mosquitto import MosquittoServer

DEVICES = 20


DROPPED, UPTIME = "$SYS/broker/publish/messages/dropped", "$SYS/broker/uptime"


def _sys(collector: Collector, topic: str) -> list[bytes]:
    with collector.lock:
        return [payload for t, payload in collector.messages if t == topic]


def _stream(per_device: int, start: datetime) -> list[tuple[str, bytes]]:
    return list(glucose_stream(devices=DEVICES, messages_per_device=per_device,
                               readings_per_message=1, start=start))


def test_sigkill_mid_stream_then_restart_stores_every_reading_exactly_once(
    tmp_path: Path, mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, app_engine
) -> None:
    register(app_engine, "pat", [(f"cgm-{d}", "cgm") for d in range(DEVICES)])
    env = {
        "HEARTH_MQTT_URL": mosquitto.url,
        "HEARTH_TIMESERIES_URL": f"sqlite:///{tmp_path / 'timeseries.db'}",
        "HEARTH_DATABASE_URL": f"sqlite:///{tmp_path / 'hearth.db'}",
    }
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    stream = _stream(1000, start)  # 20,000 single-reading messages
    # Mosquitto's $SYS values are retained for 60 s only (message expiry): a subscriber
    # that comes later, on a loaded machine, may find none. Listening from the start, the
    # first value (0) arrives now, and a drop is published at the next $SYS update (each
    # second, with the uptime).
    with subscribed(mosquitto.url, "$SYS/broker/#") as sys_tree:
        wait_until(lambda: bool(_sys(sys_tree, DROPPED)), timeout=30,
                   message="$SYS dropped counter")
        first = IngestProcess(tmp_path, client_id="ingest-a", env=env).start()
        # a new Python process importing ingest: seconds when idle, over 20 s at load 30
        wait_until(first.subscribed, timeout=90, message="ingest subscribed")

        def publish_all() -> None:
            with publisher(mosquitto.url, window=500) as pub:
                for topic, payload in stream:
                    pub.publish(topic, payload)

        sender = threading.Thread(target=publish_all)
        sender.start()
        wait_until(lambda: store.count() >= 3000, timeout=120, message="ingest under way")
        first.kill()
        killed_at = store.count()
        sender.join(timeout=120)
        assert killed_at < len(stream), "the kill came after the stream had finished"

        second = IngestProcess(tmp_path, client_id="ingest-a", env=env).start()
        try:
            wait_until(lambda: store.count() >= len(stream), timeout=120, message="every reading")
        finally:
            second.stop()
        # Two $SYS updates after the end: a drop would have been published by then.
        ticks = len(_sys(sys_tree, UPTIME))
        wait_until(lambda: len(_sys(sys_tree, UPTIME)) >= ticks + 2, timeout=30,
                   message="two $SYS updates")
    # The broker dropped nothing for the absent session (max_queued_messages is sized).
    assert _sys(sys_tree, DROPPED)[-1] == b"0"
    assert store.count() == len(stream)
    for d in (0, DEVICES - 1):
        rows = [r for r in store.read("pat", Metric.GLUCOSE, start, start + timedelta(days=5))
                if r.device_id == f"cgm-{d}"]
        assert [r.value for r in rows] == [70 + i % 200 for i in range(1000)]
    assert "Traceback" not in second.log()


def test_the_same_stream_published_twice_is_stored_once(
    mosquitto: MosquittoServer, store: SqliteTimeSeriesStore, app_engine, ingest: IngestService
) -> None:
    register(app_engine, "pat", [(f"cgm-{d}", "cgm") for d in range(DEVICES)])
    # within ingest's backfill limit whenever the test runs (docs/CONTRACT.md)
    stream = _stream(100, datetime.now(UTC).replace(microsecond=0) - timedelta(days=30))
    for _ in range(2):
        with publisher(mosquitto.url) as pub:
            for topic, payload in stream:
                pub.publish(topic, payload)
    wait_until(lambda: ingest.stats.messages == 2 * len(stream), timeout=30,
               message="both copies handled")
    assert store.count() == len(stream)
    assert ingest.stats.readings_stored == len(stream)
    assert ingest.stats.readings_duplicate == len(stream)
