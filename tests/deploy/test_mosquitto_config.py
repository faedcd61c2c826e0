"""deploy/mosquitto/ run by the real broker (Debian's Mosquitto 2.0.11) through its entrypoint.

The configuration, ACL and entrypoint are the ones docker-compose mounts; only the
paths and the two listeners' ports are moved into a temporary directory
(tests/deploy/shipped_broker.py). Devices log in on the device listener, services on
the services' listener.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core import topics
from core.appdb.credentials import MqttAccount
from core.appdb.models import Device
from core.provisioning import Provisioner, hash_password_pbkdf2
from tests.deploy.shipped_broker import (
    ACCEPTED,
    DEPLOY,
    NOT_AUTHORIZED,
    SERVICE_PASSWORDS,
    Session,
    ShippedBroker,
    sessions,
)
from tests.support.factories import app_database, register

Login = Callable[..., Session]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[ShippedBroker, dict[str, str]]]:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [])
    provisioner = Provisioner(engine, hasher=hash_password_pbkdf2)
    secrets = {d: provisioner.add(device_id=d, patient_id="ann", kind="cgm").secret or ""
               for d in ("cgm-1", "cgm-2")}
    server = ShippedBroker(tmp_path / "broker")
    server.render_devices(engine)
    server.start()
    try:
        yield server, secrets
    finally:
        server.kill()


@pytest.fixture
def logins(broker: tuple[ShippedBroker, dict[str, str]]
           ) -> Iterator[tuple[Login, Login, dict[str, str]]]:
    """(device listener login, services' listener login, device secrets)."""
    server, secrets = broker
    with sessions(server.device_port) as device_login, \
            sessions(server.service_port) as service_login:
        yield device_login, service_login, secrets


def test_anonymous_and_wrong_passwords_are_refused(logins) -> None:
    device, service, s = logins
    for login in (device, service):
        assert not login(None).accepted
        assert not login("hearth-ingest", "wrong").accepted
        assert not login("cgm-1", "wrong").accepted
    assert service("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"]).accepted
    assert device("cgm-1", s["cgm-1"]).accepted


def test_each_listener_knows_only_its_own_logins(logins) -> None:
    device, service, s = logins
    assert not service("cgm-1", s["cgm-1"]).accepted  # a device never reaches the services'
    for user, password in SERVICE_PASSWORDS.items():
        assert not device(user, password).accepted, user
        assert service(user, password).accepted, user


def test_a_device_reaches_ingest_through_the_shared_subscription(logins) -> None:
    device, service, s = logins
    ingest = service("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"])
    cgm = device("cgm-1", s["cgm-1"])

    assert ingest.subscribe("$share/hearth/hearth/v1/up/+") == 1
    assert cgm.publish("hearth/v1/up/cgm-1") in ACCEPTED
    assert ingest.wait(lambda: ingest.messages != [])
    assert ingest.messages == [("hearth/v1/up/cgm-1", b"{}")]


def test_a_device_gets_its_own_login_as_client_id_whatever_it_asks(broker, logins) -> None:
    server, _s = broker
    device, service, s = logins
    ingest = service("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"],
                     client_id="hearth-ingest-1")
    cgm = device("cgm-1", s["cgm-1"], client_id="hearth-ingest-1")
    assert cgm.accepted
    # Had the device taken the id, the broker would have closed ingest's connection.
    assert not ingest.wait(lambda: ingest.disconnected, timeout=2)
    assert " as cgm-1 " in server.log()  # Mosquitto's connection message names the id


def test_a_device_cannot_write_as_another_device(logins) -> None:
    device, _service, s = logins
    cgm = device("cgm-1", s["cgm-1"])

    assert cgm.publish("hearth/v1/up/cgm-2") == NOT_AUTHORIZED
    assert cgm.publish("hearth/v1/down/someone") == NOT_AUTHORIZED
    assert cgm.publish("hearth/v1/dead/cgm-1") == NOT_AUTHORIZED
    assert cgm.publish("hearth/v1/status/cgm-1") in ACCEPTED


def test_a_device_reads_only_its_own_acks(logins) -> None:
    # Mosquitto 2.0 grants a SUBSCRIBE and checks read access per delivered message.
    device, service, s = logins
    cgm = device("cgm-1", s["cgm-1"])
    ingest = service("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"])
    assert cgm.subscribe("hearth/v1/ack/+") == 1
    assert cgm.subscribe("hearth/v1/dead/+") == 1

    assert ingest.publish("hearth/v1/ack/cgm-2") in ACCEPTED
    assert ingest.publish("hearth/v1/dead/cgm-1") in ACCEPTED
    assert ingest.publish("hearth/v1/ack/cgm-1") in ACCEPTED

    assert cgm.wait(lambda: cgm.messages != [])
    assert [topic for topic, _ in cgm.messages] == ["hearth/v1/ack/cgm-1"]


def test_services_are_limited_to_their_own_topics(logins) -> None:
    device, service, s = logins
    coach = service("hearth-coach", SERVICE_PASSWORDS["hearth-coach"])
    ingest = service("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"])
    cgm = device("cgm-1", s["cgm-1"])
    assert coach.subscribe("hearth/v1/#") == 1

    assert cgm.publish("hearth/v1/up/cgm-1") in ACCEPTED  # not for the coach's eyes
    assert ingest.publish("hearth/v1/dead/cgm-1") in ACCEPTED  # nor this
    assert ingest.publish("hearth/v1/stored/p1") in ACCEPTED

    assert coach.wait(lambda: coach.messages != [])
    assert [topic for topic, _ in coach.messages] == ["hearth/v1/stored/p1"]
    assert coach.publish("hearth/v1/down/p1") in ACCEPTED
    assert coach.publish("hearth/v1/up/cgm-1") == NOT_AUTHORIZED
    assert ingest.publish("hearth/v1/down/p1") == NOT_AUTHORIZED
    for topic in ("hearth/v1/ack/cgm-1", "hearth/v1/dead/cgm-1", "hearth/v1/stored/p1"):
        assert ingest.publish(topic) in ACCEPTED, topic


def test_the_dead_letter_keeper_reads_the_dead_letters(logins) -> None:
    """Under the shipped ACL someone may read hearth/v1/dead/+: ingest's account, as
    `hearth dead-letters keep` (it used to be nobody, and the broker dropped them)."""
    _device, service, _s = logins
    keeper = service("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"],
                     client_id="hearth-dead-letters")
    ingest = service("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"])
    assert keeper.subscribe(topics.DEAD_ALL) == 1

    assert ingest.publish(topics.dead("cgm-1"), b"letter") == 0  # 0: it has a reader
    assert keeper.wait(lambda: keeper.messages != [])
    assert keeper.messages == [(topics.dead("cgm-1"), b"letter")]


def test_the_health_check_login_sees_the_broker_uptime(logins) -> None:
    _device, service, _s = logins
    dashboard = service("hearth-dashboard", SERVICE_PASSWORDS["hearth-dashboard"])

    assert dashboard.subscribe("$SYS/broker/uptime") == 1
    assert dashboard.wait(lambda: dashboard.messages != [])
    assert dashboard.messages[0][0] == "$SYS/broker/uptime"


def test_a_device_login_named_like_a_service_is_left_out(tmp_path: Path) -> None:
    """Even if the database holds one (written before provisioning refused such names),
    the entrypoint does not give the broker a device login whose client id would be a
    service's."""
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [])
    provisioner = Provisioner(engine, hasher=hash_password_pbkdf2)
    from sqlalchemy.orm import Session as DbSession

    with DbSession(engine) as db:
        db.add(Device(id="hearth-ingest-1", patient_id="ann", kind="cgm", active=True))
        db.flush()
        db.add(MqttAccount(device_id="hearth-ingest-1", role="device",
                           password_hash=hash_password_pbkdf2("hostile-pw")))
        db.commit()
    assert "hearth-ingest-1" in provisioner.mqtt_hashes()
    server = ShippedBroker(tmp_path / "broker")
    server.render_devices(engine)
    server.start()
    try:
        with sessions(server.device_port) as device, sessions(server.service_port) as service:
            assert not device("hearth-ingest-1", "hostile-pw").accepted
            assert not service("hearth-ingest-1", "hostile-pw").accepted
        assert "device login hearth-ingest-1 is named like a service" in (
            server.stderr_path.read_text())
    finally:
        server.kill()


def test_the_entrypoint_is_valid_shell() -> None:
    subprocess.run(["sh", "-n", str(DEPLOY / "entrypoint.sh")], check=True)
