"""The gateway deletes only what is stored or kept (docs/GATEWAY.md).

A gateway forgets a message when ingest acknowledges it, and ingest acknowledges a
refused message once its dead letter is accepted by the broker. Under the shipped ACL
nobody used to read the dead letters, so a refused reading was gone from everywhere.
Now the keeper's persistent session holds the letter from the moment the broker
accepts it, the keeper stores it, and an operator can replay it.

Shipped broker (entrypoint, rendered ACL), real gateway (outbox, forwarder), real
ingest and keeper.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from core.appdb.deadletters import DeadLetterStore
from core.appdb.directory import SqlDirectory
from core.mqtt import MqttEndpoint
from core.provisioning import Provisioner, hash_password_pbkdf2
from core.timeseries.sqlite import SqliteTimeSeriesStore
from gateway.forwarder import Forwarder
from gateway.normaliser import Normaliser
from gateway.outbox import Outbox
from gateway.readers import Sample, SampleSink
from gateway.readers.simulator import weight
from gateway.service import Gateway
from ingest.deadletter_keeper import DeadLetterKeeper, KeeperSettings, replay_letter
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.deploy.shipped_broker import SERVICE_PASSWORDS, WAIT_S, ShippedBroker
from tests.gateway.conftest import gateway_settings
from tests.support.factories import app_database, register, wait_until


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


def weights(n: int, start: datetime) -> list[Sample]:
    return [Sample("ann-scale", 0x2A9D,
                   weight(70 + i * 0.5, (start + timedelta(minutes=i)).replace(tzinfo=None)),
                   datetime.now(UTC)) for i in range(n)]


def test_a_refused_forwarded_reading_the_gateway_forgets_is_kept_and_replayable(
        tmp_path: Path) -> None:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [])
    provisioner = Provisioner(engine, hasher=hash_password_pbkdf2)
    hub = provisioner.add(device_id="ann-hub", patient_id="ann", kind="hub", role="gateway")
    provisioner.add(device_id="ann-scale", patient_id="ann", kind="scale", via="ann-hub")
    assert hub.secret is not None
    store = SqliteTimeSeriesStore(tmp_path / "timeseries.db")
    letters = DeadLetterStore(engine)
    broker = ShippedBroker(tmp_path / "broker")
    broker.render_devices(engine)
    broker.start()
    service = MqttEndpoint.parse(broker.url("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"]))
    ingest = IngestService(endpoint=service, store=store, registry=SqlDirectory(engine),
                           settings=IngestSettings(client_id="hearth-ingest-1",
                                                   shared_group="hearth"))
    keeper = DeadLetterKeeper(endpoint=service, store=letters, settings=KeeperSettings())
    settings = gateway_settings(tmp_path, gateway_id="ann-hub", resend_after_s=2.0)
    outbox = Outbox(settings.outbox_path, max_readings=settings.max_outbox_readings)
    reader = QueueReader()
    gateway = Gateway(
        reader=reader, outbox=outbox, normaliser=Normaliser(),
        forwarder=Forwarder(endpoint=MqttEndpoint.parse(
            f"mqtt://ann-hub:{quote(hub.secret, safe='')}@127.0.0.1:{broker.device_port}"),
            outbox=outbox, settings=settings),
        warn_fraction=settings.warn_fraction)
    try:
        ingest.start()
        keeper.start()
        assert ingest.wait_connected(WAIT_S) and keeper.wait_connected(WAIT_S)
        gateway.start()
        assert gateway.forwarder.wait_connected(WAIT_S)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)

        reader.put(weights(3, start))
        wait_until(lambda: store.count() == 3 and len(gateway.outbox) == 0, timeout=WAIT_S,
                   message="three readings stored and forgotten by the gateway")

        # Revoked in the registry (the broker still lets the hub forward it): refused.
        provisioner.revoke("ann-scale")
        reader.put(weights(2, start + timedelta(hours=1)))
        wait_until(lambda: len(gateway.outbox) == 0 and letters.count() >= 1
                   and sum(len(json.loads(x.payload)["readings"]) for x in letters.list()) == 2,
                   timeout=WAIT_S, message="the refused readings kept and forgotten")
        assert store.count() == 3
        assert all(x.codes == ("unknown_device",) for x in letters.list())

        # Added back: the operator replays the letters; nothing was lost.
        provisioner.add(device_id="ann-scale", patient_id="ann", kind="scale", via="ann-hub")
        for kept in letters.list():
            outcome = replay_letter(kept, registry=SqlDirectory(engine), store=store,
                                    settings=IngestSettings(), now=datetime.now(UTC))
            assert outcome.refused is None
        assert store.count() == 5
    finally:
        gateway.stop()
        keeper.stop()
        ingest.stop()
        broker.kill()
        store.close()
