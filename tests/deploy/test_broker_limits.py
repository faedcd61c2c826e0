"""The shipped broker's size limits (issue #16, "oversized messages").

With no limit, ten 50 MB messages on a device's own topic took ingest from 85 MB to
1 GB, and another patient's readings were not stored while it was OOM-killed again
and again. Now the broker refuses any packet over ``max_packet_size`` (disconnecting
its sender before it reads the body), and ingest refuses a payload over the contract's
limit before parsing it, with a bounded dead letter that the broker accepts.

Real Mosquitto through the shipped entrypoint and ACL, real ingest and keeper.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core import topics
from core.appdb.deadletters import DeadLetterStore
from core.appdb.directory import SqlDirectory
from core.contract import MAX_PAYLOAD_BYTES, encode_message
from core.mqtt import MqttEndpoint
from core.provisioning import Provisioner, hash_password_pbkdf2
from core.timeseries.sqlite import SqliteTimeSeriesStore
from ingest.deadletter_keeper import DeadLetterKeeper, KeeperSettings
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.deploy.shipped_broker import (
    ACCEPTED,
    DEPLOY,
    SERVICE_PASSWORDS,
    WAIT_S,
    ShippedBroker,
    sessions,
)
from tests.support.factories import app_database, register, wait_until

MAX_PACKET = int(re.search(r"^max_packet_size (\d+)$",
                           (DEPLOY / "mosquitto.conf").read_text(), re.M).group(1))  # type: ignore[union-attr]
OVERSIZED = 10  # messages of 4 MB
ANN_READINGS = 60


class RawDevice:
    """An MQTT 3.1.1 client: it learns no packet limit from the broker, so it really sends
    what a broken or hostile device would."""

    def __init__(self, port: int, user: str, password: str) -> None:
        self.connected = threading.Event()
        self.disconnects = 0
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user,
                                  protocol=mqtt.MQTTv311)
        self.client.username_pw_set(user, password)
        self.client.on_connect = lambda *_a: self.connected.set()
        self.client.on_disconnect = self._on_disconnect
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.connected.wait(WAIT_S)

    def _on_disconnect(self, *_a: Any) -> None:
        with self.lock:
            self.disconnects += 1
        self.connected.clear()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_oversized_messages_are_refused_and_another_patient_is_stored_meanwhile(
        tmp_path: Path) -> None:
    engine = app_database(tmp_path / "hearth.db")
    for patient in ("ann", "bob"):
        register(engine, patient, [])
    provisioner = Provisioner(engine, hasher=hash_password_pbkdf2)
    ann = provisioner.add(device_id="ann-cgm", patient_id="ann", kind="cgm").secret or ""
    bob = provisioner.add(device_id="bob-cgm", patient_id="bob", kind="cgm").secret or ""
    store = SqliteTimeSeriesStore(tmp_path / "timeseries.db")
    letters = DeadLetterStore(engine)
    broker = ShippedBroker(tmp_path / "broker")
    broker.render_devices(engine)
    broker.start()
    endpoint = MqttEndpoint.parse(broker.url("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"]))
    ingest = IngestService(endpoint=endpoint, store=store, registry=SqlDirectory(engine),
                           settings=IngestSettings(client_id="hearth-ingest-1",
                                                   shared_group="hearth"))
    keeper = DeadLetterKeeper(endpoint=endpoint, store=letters, settings=KeeperSettings())
    hostile: RawDevice | None = None
    try:
        ingest.start()
        keeper.start()
        assert ingest.wait_connected(WAIT_S) and keeper.wait_connected(WAIT_S)
        hostile = RawDevice(broker.device_port, "bob-cgm", bob)
        huge = b"{" + b" " * (4 * 1024 * 1024) + b"}"
        now = datetime.now(UTC).replace(microsecond=0)
        with sessions(broker.device_port) as device:
            cgm = device("ann-cgm", ann)
            for seq in range(ANN_READINGS):
                if seq % (ANN_READINGS // OVERSIZED) == 0:
                    hostile.connected.wait(WAIT_S)  # paho reconnects by itself
                    hostile.client.publish(topics.up("bob-cgm"), huge, qos=1)
                payload = encode_message(device_id="ann-cgm", seq=seq, readings=[{
                    "metric": "glucose", "unit": "mg/dL", "source": "cgm", "value": 90 + seq,
                    "time": now - timedelta(minutes=5 * seq)}])
                assert cgm.publish(topics.up("ann-cgm"), payload) in ACCEPTED
            wait_until(lambda: store.count() == ANN_READINGS, timeout=WAIT_S,
                       message=f"ann's {ANN_READINGS} readings stored")
            wait_until(lambda: hostile is not None and hostile.disconnects >= OVERSIZED,
                       timeout=WAIT_S, message="the broker closing each oversized sender")
            assert not cgm.disconnected

            # Over the contract's limit but under the broker's: ingest refuses it unparsed,
            # and its (bounded) dead letter is accepted by the broker and kept.
            between = b"{" + b" " * (MAX_PAYLOAD_BYTES + 1000) + b"}"
            assert len(between) < MAX_PACKET - 1024
            assert cgm.publish(topics.up("ann-cgm"), between) in ACCEPTED
            wait_until(lambda: letters.count() == 1, timeout=WAIT_S, message="letter kept")
        (kept,) = letters.list()
        assert kept.codes == ("too_large",) and kept.payload_truncated
        assert kept.payload_bytes == len(between)
        assert store.count() == ANN_READINGS
        assert ingest.stats.messages == ANN_READINGS + 1  # nothing of bob's reached ingest
        assert "bob-cgm" in broker.log()
    finally:
        if hostile is not None:
            hostile.close()
        keeper.stop()
        ingest.stop()
        broker.kill()
        store.close()
