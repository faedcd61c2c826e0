"""deploy/mosquitto/entrypoint.sh with the real broker: service users from the environment,
device logins from `hearth devices render --devices-only`, and SIGHUP to the entrypoint
(what `docker compose kill -s HUP mosquitto` sends) revoking a device without a restart.

The compose paths (/mosquitto/config, /mosquitto/auth, /mosquitto/run) are moved into a
temporary directory through the entrypoint's MOSQUITTO_*_DIR variables
(tests/deploy/shipped_broker.py). Every wait is for a condition, with a timeout sized
for a loaded two-core machine (it used to wait a fixed 10 s for the revoked session to
close, and failed under load).
"""

from __future__ import annotations

from pathlib import Path

from core import topics
from core.provisioning import Provisioner, hash_password_pbkdf2
from tests.deploy.shipped_broker import (
    ACCEPTED,
    NOT_AUTHORIZED,
    SERVICE_PASSWORDS,
    WAIT_S,
    ShippedBroker,
    sessions,
)
from tests.support.factories import app_database, register, wait_until


def test_entrypoint_builds_the_files_and_reloads_on_sighup(tmp_path: Path) -> None:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [])
    provisioner = Provisioner(engine, hasher=hash_password_pbkdf2)
    cgm = provisioner.add(device_id="ann-cgm", patient_id="ann", kind="cgm").secret
    provisioner.add(device_id="ann-xdrip", patient_id="ann", kind="cgm", role="nightscout")
    broker = ShippedBroker(tmp_path / "broker")
    broker.render_devices(engine)
    broker.start()
    try:
        with sessions(broker.device_port) as device_login, \
                sessions(broker.service_port) as service_login:
            assert not device_login(None).accepted
            device = device_login("ann-cgm", cgm)
            assert device.accepted
            assert device.publish(topics.up("ann-cgm")) in ACCEPTED
            dashboard = service_login("hearth-dashboard", SERVICE_PASSWORDS["hearth-dashboard"])
            assert dashboard.publish(topics.up("ann-xdrip")) in ACCEPTED
            assert dashboard.publish(topics.up("ann-cgm")) == NOT_AUTHORIZED

            provisioner.revoke("ann-cgm")
            broker.render_devices(engine)
            broker.reload()  # SIGHUP to the entrypoint; returns once the broker re-read

            wait_until(lambda: device.disconnected, timeout=WAIT_S,
                       message="revoked session closed")
            assert not device_login("ann-cgm", cgm).accepted
            assert service_login("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"]).accepted
            assert broker.process is not None
            assert broker.process.poll() is None  # the same broker, not restarted
    finally:
        broker.stop()


def test_the_entrypoint_refuses_to_start_without_a_service_password(tmp_path: Path) -> None:
    broker = ShippedBroker(tmp_path / "broker", env={"MQTT_COACH_PASSWORD": ""})
    try:
        broker.start()
    except RuntimeError:
        pass
    else:
        broker.kill()
        raise AssertionError("the broker started without the coach's password")
    assert "no password for MQTT user hearth-coach" in broker.stderr_path.read_text()
