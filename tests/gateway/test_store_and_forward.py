"""Store-and-forward against a real Mosquitto and a real ingest (SQLite store).

The gateway forgets a reading only when ingest confirms its commit on
hearth/v1/ack/{device}; these tests take the link, the broker and the
gateway away at the worst moments and count what reaches the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.timeseries.sqlite import SqliteTimeSeriesStore
from gateway.readers.simulator import SimulatorReader
from gateway.service import Gateway
from ingest.service import IngestService
from tests.gateway.conftest import (
    UP_ALL,
    broker_config,
    gateway_settings,
    persistent_collector,
    up_messages,
)
from tests.support.factories import register, wait_until
from tests.support.mosquitto import MosquittoServer

KINDS = ("scale", "meter", "thermometer")  # one reading per payload


def _devices(reader: SimulatorReader) -> list[tuple[str, str]]:
    return [(d.device_id, d.kind) for d in reader.devices]


def _all_rows(store: SqliteTimeSeriesStore, patient: str) -> list[Any]:
    start = datetime.now(UTC) - timedelta(days=30)
    end = datetime.now(UTC) + timedelta(days=1)
    from core.metrics import Metric

    rows = []
    for metric in (Metric.WEIGHT, Metric.GLUCOSE, Metric.BODY_TEMPERATURE):
        rows += store.read(patient, metric, start, end)
    return rows


def test_offline_gateway_takes_5000_readings_then_delivers_each_once_in_order(
    tmp_path: Path,
    mosquitto_factory: type[MosquittoServer],
    store: SqliteTimeSeriesStore,
    app_engine: Any,
    start_ingest: Callable[..., IngestService],
    start_gateway: Callable[..., Gateway],
) -> None:
    broker = mosquitto_factory(extra_config=broker_config())
    broker.start()
    # A persistent observer of the uplink, and ingest's persistent session, exist
    # before the outage; then the broker goes away (a clean stop keeps sessions).
    with persistent_collector(broker.url, UP_ALL, "test-observer") as seen:
        start_ingest(broker.url).stop()
        broker.stop()

        reader = SimulatorReader(devices=4, kinds=KINDS, count=1250, interval_s=0, burst=50)
        register(app_engine, "pat", _devices(reader))
        settings = gateway_settings(tmp_path, resend_after_s=30.0)
        gateway = start_gateway(broker.url, reader, settings)
        wait_until(lambda: len(gateway.outbox) == 5000, timeout=30, message="5,000 in the outbox")
        assert not gateway.forwarder.connected
        assert store.count() == 0

        broker.start()  # the link returns
        start_ingest(broker.url, wait=False)
        wait_until(lambda: len(gateway.outbox) == 0, timeout=60, message="outbox drained")
        assert store.count() == 5000
        wait_until(lambda: sum(len(m["readings"]) for m in up_messages(seen)) >= 5000,
                   timeout=10, message="observer saw the uplink")

    rows = _all_rows(store, "pat")
    assert len(rows) == 5000
    assert len({(r.device_id, r.metric, r.measured_at) for r in rows}) == 5000
    # Order per device: the first sending of each message follows the device's sequence.
    first_seen: dict[str, list[int]] = defaultdict(list)
    for message in up_messages(seen):
        if message["seq"] not in first_seen[message["device_id"]]:
            first_seen[message["device_id"]].append(message["seq"])
    for device_id, seqs in first_seen.items():
        assert seqs == sorted(seqs), device_id
    # A backlog travels in batches, not one reading per message.
    assert max(len(m["readings"]) for m in up_messages(seen)) > 1
    assert gateway.forwarder.resent_messages == 0


def test_broker_killed_after_its_puback_loses_nothing_thanks_to_the_end_to_end_ack(
    tmp_path: Path,
    mosquitto_factory: type[MosquittoServer],
    store: SqliteTimeSeriesStore,
    app_engine: Any,
    start_ingest: Callable[..., IngestService],
    start_gateway: Callable[..., Gateway],
) -> None:
    # Mosquitto's default persistence: saved every 30 min (here: not within the test).
    broker = mosquitto_factory(extra_config=broker_config("autosave_interval 1800\n"))
    broker.start()
    start_ingest(broker.url).stop()  # ingest's session exists; the broker queues for it
    reader = SimulatorReader(devices=2, kinds=("scale",), count=400, interval_s=0, burst=40)
    register(app_engine, "pat", _devices(reader))
    settings = gateway_settings(tmp_path, resend_after_s=6.0, max_readings_per_message=50,
                                max_inflight_messages=100)
    with persistent_collector(broker.url, UP_ALL, "test-observer") as seen:
        gateway = start_gateway(broker.url, reader, settings)
        # The broker has every message (it routed them to the observer) and PUBACKed them...
        wait_until(lambda: sum(len(m["readings"]) for m in up_messages(seen)) >= 800,
                   timeout=20, message="broker has every reading")
    assert len(gateway.outbox) == 800  # ...but ingest has confirmed none: all kept
    broker.kill()  # kill -9 with the messages queued for ingest in memory
    broker.start()
    ingest = start_ingest(broker.url)
    wait_until(lambda: len(gateway.outbox) == 0, timeout=30, message="re-sent and confirmed")
    assert store.count() == 800
    assert ingest.stats.readings_stored == 800
    # The broker lost every original: ingest saw only the gateway's second copies.
    assert gateway.forwarder.resent_messages >= 16
    assert ingest.stats.messages <= gateway.forwarder.resent_messages


def test_a_full_outbox_holds_the_reader_back_raises_an_alert_and_drops_nothing(
    tmp_path: Path,
    mosquitto_factory: type[MosquittoServer],
    store: SqliteTimeSeriesStore,
    app_engine: Any,
    start_ingest: Callable[..., IngestService],
    start_gateway: Callable[..., Gateway],
    caplog: Any,
) -> None:
    import json
    import logging

    from core import topics

    broker = mosquitto_factory(extra_config=broker_config())
    broker.start()
    start_ingest(broker.url).stop()  # ingest is down: nothing gets confirmed
    reader = SimulatorReader(devices=2, kinds=("scale",), count=50, interval_s=0, burst=5)
    register(app_engine, "pat", _devices(reader))
    settings = gateway_settings(tmp_path, max_outbox_readings=40, warn_fraction=0.5)
    caplog.set_level(logging.INFO, logger="gateway")
    with persistent_collector(broker.url, topics.status("test-gateway"), "test-status") as status:
        gateway = start_gateway(broker.url, reader, settings)
        wait_until(lambda: gateway.sink.full_waits >= 3, timeout=15, message="reader held back")
        assert len(gateway.outbox) == 40
        assert gateway.sink.readings_accepted == 40
        wait_until(lambda: any(m.get("alert", {}).get("code") == "outbox_full"
                               for m in status.json()), timeout=10, message="alert published")
        assert any("ALERT outbox_full" in r.getMessage() for r in caplog.records)

        start_ingest(broker.url)  # confirmations free room; the reader goes on
        wait_until(lambda: store.count() == 100, timeout=30, message="all 100 stored")
        wait_until(lambda: len(gateway.outbox) == 0, timeout=15, message="outbox drained")
        wait_until(lambda: "alert" not in status.json()[-1], timeout=10, message="alert cleared")
    assert gateway.sink.readings_accepted == 100
    assert any("outbox recovered" in r.getMessage() for r in caplog.records)
    # The alert is retained: a newcomer sees the gateway's current state.
    with persistent_collector(broker.url, topics.status("test-gateway"), "late") as late:
        wait_until(lambda: len(late) > 0, timeout=5, message="retained status")
        assert json.loads(late.messages[-1][1])["state"] == "online"


def test_malformed_payloads_are_not_published_and_clock_corrections_are_stored(
    tmp_path: Path,
    mosquitto_factory: type[MosquittoServer],
    store: SqliteTimeSeriesStore,
    app_engine: Any,
    start_ingest: Callable[..., IngestService],
    start_gateway: Callable[..., Gateway],
    caplog: Any,
) -> None:
    import json
    import logging

    from core.metrics import Metric
    from gateway.readers.simulator import weight

    broker = mosquitto_factory(extra_config=broker_config())
    broker.start()
    start_ingest(broker.url)
    register(app_engine, "pat", [("scale-a", "scale"), ("scale-b", "scale")])
    now = datetime.now(UTC).replace(microsecond=0)
    wall = (now - timedelta(hours=1)).replace(tzinfo=None)
    lines = [
        {"device_id": "scale-a", "characteristic": "0x2A9D", "hex": weight(81.2, wall).hex()},
        {"device_id": "scale-a", "characteristic": "0x2A9D", "hex": "0270"},  # truncated
        {"device_id": "scale-b", "characteristic": "0x2A9D", "hex": "06703f"},  # flags lie
        {"device_id": "scale-b", "characteristic": "0x2A9D", "hex": weight(70.0, None).hex()},
    ]
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps({**line, "received_at": now.isoformat()}) + "\n"
                              for line in lines))
    caplog.set_level(logging.ERROR, logger="gateway")
    with persistent_collector(broker.url, UP_ALL, "test-observer") as seen:
        gateway = start_gateway(broker.url, SimulatorReader(replay=replay),
                                gateway_settings(tmp_path))
        wait_until(lambda: store.count() == 2, timeout=15, message="the two good readings")
        wait_until(lambda: len(gateway.outbox) == 0, timeout=10, message="confirmed")
    published = [e for m in up_messages(seen) for e in m["readings"]]
    assert sorted(e["value"] for e in published) == [70.0, 81.2]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2
    assert any("scale-a" in e and "malformed" in e for e in errors)
    assert any("scale-b" in e and "malformed" in e for e in errors)
    assert not any("81" in e or "70" in e for e in errors)  # no values in the log
    rows = store.read("pat", Metric.WEIGHT, now - timedelta(days=1), now + timedelta(hours=1))
    by_device = {r.device_id: r for r in rows}
    # No clock reference and no zone set: the device's wall clock read as UTC, tagged so.
    assert by_device["scale-a"].measured_at == now - timedelta(hours=1)
    assert by_device["scale-a"].status == ("clock:zone:UTC",)
    # No time stamp at all: the time the gateway received it.
    assert by_device["scale-b"].measured_at == now
    assert by_device["scale-b"].status == ("time:received",)


def test_a_device_clock_off_by_hours_is_corrected_and_the_correction_stored(
    tmp_path: Path,
    mosquitto_factory: type[MosquittoServer],
    store: SqliteTimeSeriesStore,
    app_engine: Any,
    start_ingest: Callable[..., IngestService],
    start_gateway: Callable[..., Gateway],
) -> None:
    from core.metrics import Metric

    broker = mosquitto_factory(extra_config=broker_config())
    broker.start()
    start_ingest(broker.url)
    # The scale's clock is 5 h 30 min behind (a wrong zone, a drifted clock): the gateway
    # knows it from the device's Current Time and shifts every reading by the offset.
    reader = SimulatorReader(devices=1, kinds=("scale",), count=5, interval_s=0, step_s=600,
                             clock_offset_s=-19_800)
    register(app_engine, "pat", _devices(reader))
    before = datetime.now(UTC)
    gateway = start_gateway(broker.url, reader, gateway_settings(tmp_path))
    wait_until(lambda: store.count() == 5, timeout=15, message="five readings")
    rows = store.read("pat", Metric.WEIGHT, before - timedelta(hours=12),
                      before + timedelta(hours=1))
    assert len(rows) == 5
    assert {r.status for r in rows} == {("clock_offset_s:+19800",)}
    # True times: 10-minute steps ending now - not 5.5 h in the past.
    latest = max(r.measured_at for r in rows)
    assert abs((latest - before).total_seconds()) < 700
    assert gateway.sink.readings_accepted == 5


def test_a_broker_restart_mid_stream_costs_nothing(
    tmp_path: Path,
    mosquitto_factory: type[MosquittoServer],
    store: SqliteTimeSeriesStore,
    app_engine: Any,
    start_ingest: Callable[..., IngestService],
    start_gateway: Callable[..., Gateway],
) -> None:
    broker = mosquitto_factory(extra_config=broker_config())
    broker.start()
    start_ingest(broker.url)
    reader = SimulatorReader(devices=3, kinds=KINDS, count=500, interval_s=0, burst=10,
                             pause_s=0.005)
    register(app_engine, "pat", _devices(reader))
    gateway = start_gateway(broker.url, reader, gateway_settings(tmp_path))
    wait_until(lambda: store.count() >= 300, timeout=20, message="stream under way")
    broker.restart()  # a clean restart: the network goes away and comes back
    assert store.count() < 1500, "the restart came after the stream had finished"
    wait_until(lambda: store.count() == 1500, timeout=40, message="every reading")
    wait_until(lambda: len(gateway.outbox) == 0, timeout=20, message="all confirmed")
    assert len(_all_rows(store, "pat")) == 1500
