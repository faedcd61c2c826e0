"""The gateway under the provisioned broker (password file and ACL from core.provisioning):
it forwards the devices linked to it, and a device it may not forward loses nothing -
its readings wait in the outbox until an administrator links it."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from core.provisioning import Provisioner, ServiceAccount, hash_password_pbkdf2, render
from core.timeseries.sqlite import SqliteTimeSeriesStore
from gateway.readers import Sample, SampleSink
from gateway.readers.simulator import weight
from gateway.service import Gateway
from ingest.service import IngestService
from tests.gateway.conftest import gateway_settings
from tests.support.factories import register, wait_until
from tests.support.mosquitto import MosquittoServer


class QueueReader:
    """A reader the test feeds by hand."""

    name = "queue"

    def __init__(self) -> None:
        self.samples: queue.Queue[list[Sample]] = queue.Queue()

    def put(self, samples: Sequence[Sample]) -> None:
        self.samples.put(list(samples))

    def run(self, sink: SampleSink, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                batch = self.samples.get(timeout=0.1)
            except queue.Empty:
                continue
            if not sink.submit(batch):
                return


def _weights(device_id: str, n: int, start: datetime) -> list[Sample]:
    return [Sample(device_id, 0x2A9D,
                   weight(70 + i * 0.5, (start + timedelta(minutes=i)).replace(tzinfo=None)),
                   datetime.now(UTC)) for i in range(n)]


def _url(port: int, user: str, secret: str) -> str:
    return f"mqtt://{quote(user, safe='')}:{quote(secret, safe='')}@127.0.0.1:{port}"


def test_the_gateway_forwards_only_linked_devices_and_holds_the_rest_until_linked(
    tmp_path: Path,
    mosquitto_factory: type[MosquittoServer],
    store: SqliteTimeSeriesStore,
    app_engine: Any,
    start_ingest: Callable[..., IngestService],
    start_gateway: Callable[..., Gateway],
    caplog: pytest.LogCaptureFixture,
) -> None:
    register(app_engine, "ann", [])
    provisioner = Provisioner(app_engine, hasher=hash_password_pbkdf2)
    hub = provisioner.add(device_id="ann-hub", patient_id="ann", kind="hub", role="gateway")
    provisioner.add(device_id="ann-scale", patient_id="ann", kind="scale", via="ann-hub")
    provisioner.add(device_id="ann-cuff", patient_id="ann", kind="bp_cuff")  # its own login
    auth = tmp_path / "auth"

    def render_all() -> None:
        render(provisioner, auth,
               services=[ServiceAccount("hearth-ingest", hash_password_pbkdf2("ingest-pw"))])

    render_all()
    broker = mosquitto_factory(password_file=auth / "passwd", acl_file=auth / "acl")
    broker.start()
    start_ingest(_url(broker.port, "hearth-ingest", "ingest-pw"))
    assert hub.secret is not None
    reader = QueueReader()
    settings = gateway_settings(tmp_path, gateway_id="ann-hub", resend_after_s=1.0,
                                resend_max_s=2.0, subscribe_retry_s=0.5)
    caplog.set_level(logging.INFO, logger="gateway")
    gateway = start_gateway(_url(broker.port, "ann-hub", hub.secret), reader, settings)
    assert gateway.forwarder.wait_connected(10)

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    reader.put(_weights("ann-scale", 3, start) + _weights("ann-cuff", 2, start))
    wait_until(lambda: store.count() == 3, timeout=15, message="the linked scale's readings")
    wait_until(lambda: any("ann-cuff" in r.getMessage() and "refused" in r.getMessage()
                           for r in caplog.records), timeout=10, message="refusal logged")
    wait_until(lambda: len(gateway.outbox) == 2, timeout=10, message="scale confirmed")
    assert {r.device_id for r in store.read("ann", _weight(), start, datetime.now(UTC))} == {
        "ann-scale"}

    # The administrator links the cuff to the hub; the broker reloads its ACL.
    provisioner.add(device_id="ann-cuff", patient_id="ann", kind="bp_cuff", via="ann-hub")
    render_all()
    broker.reload()
    wait_until(lambda: len(gateway.outbox) == 0, timeout=20, message="cuff readings delivered")
    assert store.count() == 5
    assert any("ann-cuff: the broker now accepts it" in r.getMessage() for r in caplog.records)

    # Revoked: the broker refuses its messages; they are kept, and logged.
    provisioner.revoke("ann-scale")
    render_all()
    broker.reload()
    refused_before = gateway.forwarder.refused_messages
    reader.put(_weights("ann-scale", 1, start + timedelta(hours=1)))
    wait_until(lambda: gateway.forwarder.refused_messages > refused_before, timeout=15,
               message="publish refused by the broker")
    assert len(gateway.outbox) == 1
    assert store.count() == 5


def _weight() -> Any:
    from core.metrics import Metric

    return Metric.WEIGHT
