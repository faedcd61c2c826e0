"""Gateway benchmark: outbox intake, and draining a backlog through Mosquitto into ingest.

Figures, each beside a baseline measured in the same run:

- intake: readings/s taken into the outbox (decode + clock correction + SQLite
  WAL synchronous=FULL, in bursts), against plain SQLite inserts of the same
  rows with synchronous=OFF (the cost of durability and decoding);
- drain: a backlog of N readings accumulated while the broker was away, from
  the moment the broker returns until ingest has confirmed the last one
  (the outbox is empty), against the same readings published straight to the
  broker in messages of the same size by a paced QoS 1 publisher and counted
  when stored (no outbox, no end-to-end acknowledgement).

Usage (from the repository root): python -m bench.gateway [--readings 5000]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core import topics
from core.appdb.directory import SqlDirectory
from core.contract import encode_message
from core.mqtt import MqttEndpoint
from core.timeseries.sqlite import SqliteTimeSeriesStore
from gateway.forwarder import Forwarder
from gateway.normaliser import Normaliser
from gateway.outbox import Outbox
from gateway.readers import Sample
from gateway.readers.simulator import weight
from gateway.service import OutboxSink
from gateway.settings import GatewaySettings
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.factories import app_database, publisher, register, wait_until
from tests.support.mosquitto import MosquittoServer

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DEVICES = 4


def samples(n: int) -> list[Sample]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=n)
    now = datetime.now(UTC)
    return [
        Sample(f"scale-{i % DEVICES}", 0x2A9D,
               weight(60 + (i % 400) * 0.05, (start + timedelta(minutes=i)).replace(tzinfo=None)),
               now)
        for i in range(n)
    ]


def intake(work: Path, n: int) -> dict[str, float]:
    data = samples(n)
    outbox = Outbox(work / "intake.db", max_readings=2 * n + 1)
    sink = OutboxSink(outbox=outbox, normaliser=Normaliser(), forwarder=None,
                      stop=threading.Event())
    began = time.perf_counter()
    for i in range(0, n, 50):
        sink.submit(data[i : i + 50])
    gateway_s = time.perf_counter() - began
    outbox.close()
    rows = [(f"d{i % DEVICES}", i, '{"metric":"weight","value":70}', 0.0) for i in range(n)]
    db = sqlite3.connect(work / "plain.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("CREATE TABLE r (d TEXT, s INTEGER, e TEXT, c REAL)")
    began = time.perf_counter()
    for i in range(0, n, 50):
        db.execute("BEGIN")
        db.executemany("INSERT INTO r VALUES (?, ?, ?, ?)", rows[i : i + 50])
        db.execute("COMMIT")
    plain_s = time.perf_counter() - began
    db.close()
    return {"gateway_readings_per_s": n / gateway_s, "plain_sqlite_readings_per_s": n / plain_s}


def _ingest(url: str, store: SqliteTimeSeriesStore, engine: Any) -> IngestService:
    service = IngestService(endpoint=MqttEndpoint.parse(url), store=store,
                            registry=SqlDirectory(engine),
                            settings=IngestSettings(client_id="bench-ingest"))
    service.start()
    assert service.wait_connected(15)
    return service


def drain(work: Path, n: int, per_message: int) -> dict[str, float]:
    broker = MosquittoServer(work / "mosquitto")
    engine = app_database(work / "hearth.db")
    register(engine, "pat", [(f"scale-{d}", "scale") for d in range(DEVICES)])
    store = SqliteTimeSeriesStore(work / "timeseries.db")
    settings = GatewaySettings(gateway_id="bench-gw", outbox_path=work / "outbox.db",
                               reconnect_max_s=1, max_readings_per_message=per_message)
    outbox = Outbox(settings.outbox_path, max_readings=2 * n + 1)
    sink = OutboxSink(outbox=outbox, normaliser=Normaliser(), forwarder=None,
                      stop=threading.Event())
    data = samples(n)
    for i in range(0, n, 500):
        sink.submit(data[i : i + 500])  # the backlog, taken while the broker is away
    broker.start()
    ingest = _ingest(broker.url, store, engine)
    forwarder = Forwarder(endpoint=MqttEndpoint.parse(broker.url), outbox=outbox,
                          settings=settings)
    began = time.perf_counter()
    forwarder.start()
    wait_until(lambda: len(outbox) == 0, timeout=300, interval=0.01, message="drained")
    gateway_s = time.perf_counter() - began
    assert store.count() == n
    forwarder.stop()
    outbox.close()
    ingest.stop()
    store.close()

    # Baseline: the same readings straight to the broker, no outbox, into a fresh store.
    store = SqliteTimeSeriesStore(work / "timeseries-direct.db")
    ingest = _ingest(broker.url, store, engine)
    entries = [Normaliser().normalise(s)[0][1] for s in data]
    by_device: dict[str, list[dict[str, Any]]] = {}
    for s, e in zip(data, entries, strict=True):
        by_device.setdefault(s.device_id, []).append(e)
    began = time.perf_counter()
    with publisher(broker.url) as pub:
        for device_id, rows in by_device.items():
            for seq, i in enumerate(range(0, len(rows), per_message)):
                pub.publish(topics.up(device_id),
                            encode_message(device_id=device_id, seq=seq,
                                           readings=rows[i : i + per_message]))
    wait_until(lambda: store.count() == n, timeout=300, interval=0.01, message="stored")
    direct_s = time.perf_counter() - began
    ingest.stop()
    store.close()
    broker.kill()
    return {"gateway_drain_s": gateway_s, "gateway_readings_per_s": n / gateway_s,
            "direct_publish_s": direct_s, "direct_readings_per_s": n / direct_s}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=5000)
    parser.add_argument("--per-message", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        taken = intake(work, args.readings)
        print(f"intake: {taken['gateway_readings_per_s']:,.0f} readings/s into the outbox "
              f"(decode, clock, WAL synchronous=FULL); plain SQLite inserts "
              f"{taken['plain_sqlite_readings_per_s']:,.0f}/s "
              f"(x{taken['plain_sqlite_readings_per_s'] / taken['gateway_readings_per_s']:.1f})")
        drained = drain(work, args.readings, args.per_message)
        print(f"drain: {args.readings:,} readings backlog confirmed by ingest in "
              f"{drained['gateway_drain_s']:.2f} s ({drained['gateway_readings_per_s']:,.0f}/s); "
              f"direct publish to store without outbox {drained['direct_publish_s']:.2f} s "
              f"({drained['direct_readings_per_s']:,.0f}/s); ratio "
              f"{drained['gateway_drain_s'] / drained['direct_publish_s']:.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gateway.json").write_text(json.dumps(
        {"readings": args.readings, "per_message": args.per_message, "intake": taken,
         "drain": drained, "measured_at": datetime.now(UTC).isoformat()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
