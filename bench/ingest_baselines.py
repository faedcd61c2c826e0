"""Baseline consumers for the ingest benchmark, run as their own processes.

- ``null``: a paho subscriber that truly does nothing: it counts the messages it
  receives (paho acknowledges each to the broker, the PUBACK of QoS 1) and publishes
  nothing; the broker-delivery limit. When it has received ``HEARTH_BENCH_EXPECT``
  messages it writes, to ``HEARTH_BENCH_RESULT``, the arrival times of its first and
  last message (``time.perf_counter``) and its own CPU time, and goes on idling.
  (Until issue 22 it published an acknowledgement per device every 20 ms, which with
  one reading a message was about one publish per message received: it was slower
  than its label said.)
- ``naive``: validates like ingest but commits once per message, with paho's
  automatic acknowledgement, and publishes the ``hearth/v1/ack/{device}`` message of
  the contract after each commit (the common hand-written bridge).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import topics
from core.acks import ack_payload
from core.appdb.directory import SqlDirectory
from core.appdb.engine import make_engine
from core.contract import decode_message
from core.mqtt import MqttEndpoint, connect, new_client
from core.timeseries.sqlite import SqliteTimeSeriesStore


def _say(text: str) -> None:
    """One line of the benchmark's output (sys.stdout is looked up now: the runner may tee it)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _cpu_s() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


class _Count:
    """The null consumer's whole state: how many, when the first and the last."""

    def __init__(self, expect: int, result: Path | None) -> None:
        self.expect = expect
        self.result = result
        self.n = 0
        self.first = 0.0
        self.cpu_first = 0.0

    def on_message(self, _c: Any, _u: Any, _msg: Any) -> None:
        at = time.perf_counter()
        self.n += 1
        if self.n == 1:
            self.first, self.cpu_first = at, _cpu_s()
        if self.n == self.expect and self.result is not None:
            partial = self.result.with_suffix(".partial")
            partial.write_text(json.dumps({
                "messages": self.n, "first": self.first, "last": at,
                "cpu_s": _cpu_s() - self.cpu_first}))
            partial.replace(self.result)  # whole, or not there


def main(mode: str) -> None:
    endpoint = MqttEndpoint.parse(os.environ["HEARTH_MQTT_URL"])
    # A persistent session, like ingest's, so a backlog can wait for the consumer.
    client = new_client(os.environ["HEARTH_INGEST_CLIENT_ID"])
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
        assert store is not None and directory is not None
        binding = directory.binding(device_id)
        decoded = decode_message(msg.payload, topic_device_id=device_id, now=datetime.now(UTC))
        store.write([m.bind(binding.patient_id) for m in decoded.measurements])  # type: ignore[union-attr]
        c.publish(topics.ack(device_id), ack_payload(device_id, [decoded.seq]), qos=1)

    client.on_connect = on_connect
    if mode == "null":
        result = os.environ.get("HEARTH_BENCH_RESULT")
        count = _Count(int(os.environ.get("HEARTH_BENCH_EXPECT", "0")),
                       Path(result) if result else None)
        client.on_message = count.on_message
    else:
        client.on_message = on_message
    connect(client, endpoint, clean_start=False, session_expiry_s=3600)
    client.loop_start()
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1])
