"""MQTT ACLs on the shipped Mosquitto (deploy/mosquitto through its entrypoint, with the
rendered device ACL): wildcard subscriptions never deliver another patient's readings or
dead letters. (Publishing as another device, anonymous and wrong-password logins, client
ids bound to logins, private downlinks and revocation: tests/core/test_provisioning.py and
tests/deploy/.)

Mosquitto 2.0 accepts a wildcard SUBSCRIBE and then checks each message against the
subscriber's read rights, so the proof is what arrives: bob's device publishes
readings that ingest receives (the control) and that ann's devices, subscribed
to every wildcard that covers them, never see.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import topics
from core.provisioning import Provisioner, hash_password_pbkdf2
from tests.deploy.shipped_broker import ACCEPTED, SERVICE_PASSWORDS, ShippedBroker, sessions
from tests.support.factories import app_database, register

WILDCARDS = ("#", "hearth/#", "hearth/v1/#", "hearth/v1/up/+", "hearth/v1/+/bob-cgm",
             "+/+/+/+", "hearth/v1/up/bob-cgm", "hearth/v1/stored/+", "$share/g/hearth/v1/up/+",
             "hearth/v1/dead/+", "$share/hearth/hearth/v1/up/+")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[ShippedBroker, dict[str, str]]]:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [])
    register(engine, "bob", [])
    provisioner = Provisioner(engine, hasher=hash_password_pbkdf2)
    secrets = {d: provisioner.add(device_id=d, patient_id=d.split("-")[0], kind=k, role=r).secret
               for d, k, r in (("ann-cgm", "cgm", "device"), ("ann-hub", "hub", "gateway"),
                               ("bob-cgm", "cgm", "device"))}
    server = ShippedBroker(tmp_path / "broker")
    server.render_devices(engine)
    server.start()
    try:
        yield server, {k: v for k, v in secrets.items() if v}
    finally:
        server.kill()


def test_wildcard_subscribers_never_receive_another_patients_readings(broker) -> None:
    server, s = broker
    with sessions(server.device_port) as login, sessions(server.service_port) as service:
        ingest = service("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"])
        ingest.subscribe(topics.UP_ALL)
        # (ann-hub asks for ingest's client id: it gets its own, and no more rights)
        snoopers = [login("ann-cgm", s["ann-cgm"]),
                    login("ann-hub", s["ann-hub"], client_id="hearth-ingest-1")]
        for snooper in snoopers:
            for pattern in WILDCARDS:
                snooper.subscribe(pattern)
        bob = login("bob-cgm", s["bob-cgm"])
        for seq in range(5):
            assert bob.publish(topics.up("bob-cgm"), b'{"seq": %d}' % seq) in ACCEPTED
        assert ingest.wait(lambda: len(ingest.received(topics.up("bob-cgm"))) == 5)
        assert ingest.publish(topics.dead("bob-cgm"), b"bob's dead letter") in ACCEPTED
        # A batch stored event names many patients (issue 22): no device may read it.
        assert ingest.publish(topics.STORED_BATCH,
                              b'{"schema":1,"patients":{"bob":["glucose"]}}') in ACCEPTED
        # The control: the same wildcard subscriptions deliver what ann may read.
        assert ingest.publish(topics.ack("ann-cgm"), b"committed") in ACCEPTED
        assert snoopers[0].wait(lambda: snoopers[0].received(topics.ack("ann-cgm")) != [])
        time.sleep(0.5)  # anything leaked would have arrived by now
        for snooper in snoopers:
            assert snooper.received(topics.up("bob-cgm")) == []
            assert snooper.received(topics.STORED_BATCH) == []
            assert not [t for t in snooper.topics() if "bob" in t]
