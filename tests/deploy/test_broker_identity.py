"""A device can only ever be itself on the shipped broker (issue #16, "client-id takeover").

With the old single listener, a device that logged in with its own credentials but
ingest's client id while ingest was down took over ingest's session: with a clean
start the broker threw ingest's queue away (0 of 200 readings stored afterwards), with
a resumed one the device received them. Now the device listener gives every client its
login as client id, and the services log in on a listener no device can reach.

Real Mosquitto through the shipped entrypoint and ACL, real ingest (SQLite store), the
coach's persistent session as the coach opens it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from paho.mqtt.subscribeoptions import SubscribeOptions

from core import topics
from core.appdb.directory import SqlDirectory
from core.contract import encode_message
from core.mqtt import MqttEndpoint
from core.provisioning import Provisioner, hash_password_pbkdf2
from core.timeseries.sqlite import SqliteTimeSeriesStore
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.deploy.shipped_broker import (
    ACCEPTED,
    SERVICE_PASSWORDS,
    WAIT_S,
    ShippedBroker,
    open_session,
    sessions,
)
from tests.support.factories import app_database, register, wait_until

READINGS = 200


def test_a_device_cannot_take_over_ingest_or_the_coach_and_nothing_is_lost(
        tmp_path: Path) -> None:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [])
    register(engine, "mallory", [])
    provisioner = Provisioner(engine, hasher=hash_password_pbkdf2)
    ann = provisioner.add(device_id="ann-cgm", patient_id="ann", kind="cgm").secret
    mallory = provisioner.add(device_id="mallory-cgm", patient_id="mallory", kind="cgm").secret
    store = SqliteTimeSeriesStore(tmp_path / "timeseries.db")
    broker = ShippedBroker(tmp_path / "broker")
    broker.render_devices(engine)
    broker.start()
    endpoint = MqttEndpoint.parse(broker.url("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"]))
    settings = IngestSettings(client_id="hearth-ingest-1", shared_group="hearth",
                              session_expiry_s=3600)

    def start_ingest() -> IngestService:
        service = IngestService(endpoint=endpoint, store=store, registry=SqlDirectory(engine),
                                settings=settings)
        service.start()
        assert service.wait_connected(WAIT_S), "ingest did not connect"
        return service

    try:
        # Both services have their persistent sessions, then go down.
        ingest = start_ingest()
        coach = open_session(broker.service_port, "hearth-coach",
                             SERVICE_PASSWORDS["hearth-coach"], client_id="hearth-coach",
                             clean_start=False, session_expiry_s=3600)
        assert coach.accepted
        coach.client.subscribe([(topics.shared("hearth-coach", topics.STORED_ALL),
                                 SubscribeOptions(qos=1)),
                                (topics.shared("hearth-coach", topics.STORED_BATCH),
                                 SubscribeOptions(qos=1))])
        assert coach.wait(lambda: coach.subacks != []), "no SUBACK for the coach"
        coach.close()
        ingest.stop()

        now = datetime.now(UTC)
        with sessions(broker.device_port) as device, sessions(broker.service_port) as service:
            cgm = device("ann-cgm", ann)
            for seq in range(READINGS):
                payload = encode_message(device_id="ann-cgm", seq=seq, readings=[{
                    "metric": "glucose", "unit": "mg/dL", "source": "cgm", "value": 100 + seq % 50,
                    "time": now - timedelta(minutes=5 * (READINGS - seq))}])
                assert cgm.publish(topics.up("ann-cgm"), payload) in ACCEPTED

            # The takeover, as the issue found it: own credentials, a service's client id,
            # a clean and a resumed session; and on the services' listener.
            for client_id in ("hearth-ingest-1", "hearth-coach"):
                for clean_start in (True, False):
                    hostile = device("mallory-cgm", mallory, client_id=client_id,
                                     clean_start=clean_start, session_expiry_s=3600)
                    assert hostile.accepted  # as itself, mallory-cgm
                    hostile.subscribe(topics.STORED_ALL)
                    hostile.subscribe(topics.STORED_BATCH)
                    hostile.subscribe(topics.UP_ALL)
                    hostile.close()
                assert not service("mallory-cgm", mallory, client_id=client_id).accepted

            # Ingest comes back under its id: every queued reading is stored.
            ingest = start_ingest()
            wait_until(lambda: store.count() == READINGS, timeout=WAIT_S * 2,
                       message=f"{READINGS} readings stored")
            assert store.count() == READINGS
            ingest.stop()

            # The coach comes back: the stored events queued for it are there.
            coach = open_session(broker.service_port, "hearth-coach",
                                 SERVICE_PASSWORDS["hearth-coach"], client_id="hearth-coach",
                                 clean_start=False, session_expiry_s=3600)
            # ingest's batch stored events (docs/CONTRACT.md), one for many patients
            assert coach.wait(lambda: coach.received(topics.STORED_BATCH) != [])
            event = json.loads(coach.received(topics.STORED_BATCH)[0])
            assert event["patients"] == {"ann": ["glucose"]}
            coach.close()
            assert " as mallory-cgm " in broker.log()
    finally:
        broker.kill()
        store.close()
