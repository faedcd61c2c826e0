"""Gateway benchmark: outbox intake, and draining a backlog through Mosquitto into ingest.

Figures, each beside a baseline measured in the same run:

- intake: readings/s taken into the outbox (decode + clock correction + SQLite
  WAL synchronous=FULL, in bursts), against plain SQLite inserts of the same
  number of rows in the same bursts with synchronous=FULL and =OFF (the cost
  of the gateway's work, and the cost of durability);
- drain: a backlog of N readings accumulated while the broker was away, from
  the moment the broker returns until ingest has confirmed the last one
  (the outbox is empty), against the same readings published straight to the
  broker in messages of the same size by a paced QoS 1 publisher and counted
  when stored (no outbox, no end-to-end acknowledgement);
- live: one reading at a time, from the reader's hand-over to ingest's
  confirmation, against one message published straight to the broker until
  it is stored.

The broker runs with ``set_tcp_nodelay true`` (see docs/GATEWAY.md, latency).

Usage (from the repository root): python -m bench.gateway [--readings 5000]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
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


def _say(text: str) -> None:
    """One line of the benchmark's output (sys.stdout is looked up now: the runner may tee it)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


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
    out = {"gateway_readings_per_s": n / gateway_s}
    for sync in ("OFF", "FULL"):
        out[f"plain_sqlite_sync_{sync.lower()}_readings_per_s"] = n / _plain_inserts(work, n, sync)
    return out


def _plain_inserts(work: Path, n: int, sync: str) -> float:
    """Seconds to insert n small rows in transactions of 50, nothing else."""
    rows = [(f"d{i % DEVICES}", i, '{"metric":"weight","value":70}', 0.0) for i in range(n)]
    db = sqlite3.connect(work / f"plain-{sync}.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={sync}")
    db.execute("CREATE TABLE r (d TEXT, s INTEGER, e TEXT, c REAL)")
    began = time.perf_counter()
    for i in range(0, n, 50):
        db.execute("BEGIN")
        db.executemany("INSERT INTO r VALUES (?, ?, ?, ?)", rows[i : i + 50])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - began
    db.close()
    return elapsed


def _ingest(url: str, store: SqliteTimeSeriesStore, engine: Any) -> IngestService:
    service = IngestService(endpoint=MqttEndpoint.parse(url), store=store,
                            registry=SqlDirectory(engine),
                            settings=IngestSettings(client_id="bench-ingest"))
    service.start()
    assert service.wait_connected(15)
    return service


def drain(work: Path, n: int, per_message: int) -> dict[str, float]:
    broker = MosquittoServer(work / "mosquitto")  # the fixture sets set_tcp_nodelay
    engine = app_database(work / "hearth.db")
    register(engine, "pat", [(f"scale-{d}", "scale") for d in range(DEVICES)]
             + [("scale-live", "scale"), ("scale-direct", "scale")])
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
    live_sink = OutboxSink(outbox=outbox, normaliser=Normaliser(), forwarder=forwarder,
                           stop=threading.Event())  # as in the gateway: a write wakes the forwarder
    live = _live_latencies(live_sink, outbox)
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
    direct_live = _direct_latencies(broker.url, store)
    ingest.stop()
    store.close()
    broker.kill()
    return {"gateway_drain_s": gateway_s, "gateway_readings_per_s": n / gateway_s,
            "direct_publish_s": direct_s, "direct_readings_per_s": n / direct_s,
            "live_p50_ms": _pct(live, 50), "live_p95_ms": _pct(live, 95),
            "direct_live_p50_ms": _pct(direct_live, 50),
            "direct_live_p95_ms": _pct(direct_live, 95)}


LIVE = 40


def _live_sample(device_id: str, k: int) -> Sample:
    now = datetime.now(UTC)
    when = (now - timedelta(seconds=LIVE - k)).replace(tzinfo=None, microsecond=0)
    return Sample(device_id, 0x2A9D, weight(70 + k * 0.05, when), now)


def _live_latencies(sink: OutboxSink, outbox: Outbox) -> list[float]:
    """One reading at a time: from the reader's hand-over to ingest's confirmation."""
    out = []
    for k in range(LIVE):
        began = time.perf_counter()
        sink.submit([_live_sample("scale-live", k)])
        wait_until(lambda: len(outbox) == 0, timeout=30, interval=0.0005, message="confirmed")
        out.append((time.perf_counter() - began) * 1000)
    return out


def _direct_latencies(url: str, store: SqliteTimeSeriesStore) -> list[float]:
    """Baseline: one message published straight to the broker, until it is in the store."""
    out = []
    with publisher(url) as pub:
        for k in range(LIVE):
            [(_, entry)] = Normaliser().normalise(_live_sample("scale-direct", k))
            before = store.count()
            began = time.perf_counter()
            pub.publish(topics.up("scale-direct"),
                        encode_message(device_id="scale-direct", seq=k, readings=[entry]))
            wait_until(lambda b=before: store.count() > b, timeout=30, interval=0.0005,
                       message="stored")
            out.append((time.perf_counter() - began) * 1000)
    return out


def _pct(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=5000)
    parser.add_argument("--per-message", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        taken = intake(work, args.readings)
        gw = taken["gateway_readings_per_s"]
        full, off = (taken["plain_sqlite_sync_full_readings_per_s"],
                     taken["plain_sqlite_sync_off_readings_per_s"])
        _say(f"intake: {gw:,.0f} readings/s into the outbox (decode, clock, WAL "
             f"synchronous=FULL, bursts of 50); plain SQLite inserts in the same bursts: "
             f"synchronous=FULL {full:,.0f}/s (x{full / gw:.2f}), OFF {off:,.0f}/s "
             f"(x{off / gw:.1f})")
        drained = drain(work, args.readings, args.per_message)
        _say(f"drain: {args.readings:,} readings backlog confirmed by ingest in "
             f"{drained['gateway_drain_s']:.2f} s ({drained['gateway_readings_per_s']:,.0f}/s); "
             f"direct publish to store without outbox {drained['direct_publish_s']:.2f} s "
             f"({drained['direct_readings_per_s']:,.0f}/s); ratio "
             f"{drained['gateway_drain_s'] / drained['direct_publish_s']:.2f}")
        _say(f"live: one reading from the reader to ingest's confirmation p50 "
             f"{drained['live_p50_ms']:.1f} ms, p95 {drained['live_p95_ms']:.1f} ms; "
             f"published straight to the broker until stored p50 "
             f"{drained['direct_live_p50_ms']:.1f} ms, p95 {drained['direct_live_p95_ms']:.1f} ms")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gateway.json").write_text(json.dumps(
        {"readings": args.readings, "per_message": args.per_message, "intake": taken,
         "drain": drained, "measured_at": datetime.now(UTC).isoformat()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
