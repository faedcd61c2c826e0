"""Baseline consumers for the ingest benchmark, run as their own processes.

- ``null``: a paho subscriber that does nothing but count and acknowledge: the
  broker-delivery limit.
- ``naive``: validates like ingest but commits once per message, with paho's
  automatic acknowledgement (the common hand-written bridge).

Both publish the same ``hearth/v1/ack/{device}`` message Hearth's ingest
publishes after commit, so the benchmark measures every consumer alike.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from core import topics
from core.appdb.directory import SqlDirectory
from core.appdb.engine import make_engine
from core.contract import decode_message
from core.mqtt import MqttEndpoint, connect, new_client
from core.timeseries.sqlite import SqliteTimeSeriesStore


def _say(text: str) -> None:
    """One line of the benchmark's output (sys.stdout is looked up now: the runner may tee it)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _ack(client: Any, device_id: str, seqs: list[int]) -> None:
    client.publish(topics.ack(device_id), json.dumps({"schema": 1, "device_id": device_id,
                                                      "seqs": seqs}), qos=1)


class _Pending:
    """The null consumer acknowledges in batches every 20 ms, as ingest does per batch."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.lock = threading.Lock()
        self.seqs: dict[str, list[int]] = {}
        threading.Thread(target=self._flush_forever, daemon=True).start()

    def add(self, device_id: str, seq: int) -> None:
        with self.lock:
            self.seqs.setdefault(device_id, []).append(seq)

    def _flush_forever(self) -> None:
        while True:
            time.sleep(0.02)
            with self.lock:
                pending, self.seqs = self.seqs, {}
            for device_id, seqs in pending.items():
                _ack(self.client, device_id, seqs)


def main(mode: str) -> None:
    endpoint = MqttEndpoint.parse(os.environ["HEARTH_MQTT_URL"])
    # A persistent session, like ingest's, so a backlog can wait for the consumer.
    client = new_client(os.environ["HEARTH_INGEST_CLIENT_ID"])
    pending = _Pending(client)
    store = None
    directory = None
    if mode == "naive":
        store = SqliteTimeSeriesStore(os.environ["HEARTH_TIMESERIES_URL"].removeprefix("sqlite:///"))
        directory = SqlDirectory(make_engine(os.environ["HEARTH_DATABASE_URL"]))

    def on_connect(c: Any, *_: Any) -> None:
        c.subscribe(topics.UP_ALL, qos=1)
        _say(f"subscribed to {topics.UP_ALL}")

    def on_message(c: Any, _u: Any, msg: Any) -> None:
        device_id = msg.topic.rsplit("/", 1)[-1]
        if mode == "null":
            pending.add(device_id, json.loads(msg.payload)["seq"])
            return
        assert store is not None and directory is not None
        binding = directory.binding(device_id)
        decoded = decode_message(msg.payload, topic_device_id=device_id, now=datetime.now(UTC))
        store.write([m.bind(binding.patient_id) for m in decoded.measurements])  # type: ignore[union-attr]
        _ack(c, device_id, [decoded.seq])

    client.on_connect, client.on_message = on_connect, on_message
    connect(client, endpoint, clean_start=False, session_expiry_s=3600)
    client.loop_start()
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1])
