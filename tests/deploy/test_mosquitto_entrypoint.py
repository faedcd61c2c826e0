"""deploy/mosquitto/entrypoint.sh with the real broker: service users from the environment,
device logins from `hearth devices render --devices-only`, and SIGHUP to the entrypoint
(what `docker compose kill -s HUP mosquitto` sends) revoking a device without a restart.

The compose paths (/mosquitto/config, /mosquitto/auth, /mosquitto/run) are moved into a
temporary directory through the entrypoint's MOSQUITTO_*_DIR variables.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
from pathlib import Path

from core import topics
from core.provisioning import Provisioner, hash_password_pbkdf2, render
from tests.support.factories import app_database, register, wait_until
from tests.support.mqtt_session import ACCEPTED, NOT_AUTHORIZED, sessions
from tests.support.ports import free_port, wait_for_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
SERVICE_ENV = {"MQTT_INGEST_PASSWORD": "ingest-pw", "MQTT_COACH_PASSWORD": "coach-pw",
               "MQTT_DASHBOARD_PASSWORD": "dashboard-pw"}


def test_entrypoint_builds_the_files_and_reloads_on_sighup(tmp_path: Path) -> None:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [])
    provisioner = Provisioner(engine, hasher=hash_password_pbkdf2)
    cgm = provisioner.add(device_id="ann-cgm", patient_id="ann", kind="cgm").secret
    provisioner.add(device_id="ann-xdrip", patient_id="ann", kind="cgm", role="nightscout")
    config, auth, run, data = (tmp_path / d for d in ("config", "auth", "run", "data"))
    for d in (config, data):
        d.mkdir()
    render(provisioner, auth, service_names=(), passwd_name="devices.passwd",
           acl_name="devices.acl")
    shutil.copy(DEPLOY / "acl", config / "acl")
    port = free_port()
    conf = (DEPLOY / "mosquitto.conf").read_text()
    for old, new in (("listener 1883", f"listener {port} 127.0.0.1"),
                     ("/mosquitto/run/", f"{run}/"), ("/mosquitto/data/", f"{data}/"),
                     ("log_dest stdout", f"log_dest file {tmp_path / 'mosquitto.log'}")):
        assert old in conf, old
        conf = conf.replace(old, new)
    (config / "mosquitto.conf").write_text(conf + f"user {getpass.getuser()}\n")
    env = {**os.environ, **SERVICE_ENV, "MOSQUITTO_CONFIG_DIR": str(config),
           "MOSQUITTO_AUTH_DIR": str(auth), "MOSQUITTO_RUN_DIR": str(run),
           "PATH": os.environ.get("PATH", "") + ":/usr/sbin"}
    entrypoint = subprocess.Popen(["sh", str(DEPLOY / "entrypoint.sh")], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        with sessions(port) as login:
            assert not login(None).accepted
            device = login("ann-cgm", cgm)
            assert device.accepted
            assert device.publish(topics.up("ann-cgm")) in ACCEPTED
            dashboard = login("hearth-dashboard", "dashboard-pw")
            assert dashboard.publish(topics.up("ann-xdrip")) in ACCEPTED
            assert dashboard.publish(topics.up("ann-cgm")) == NOT_AUTHORIZED

            provisioner.revoke("ann-cgm")
            render(provisioner, auth, service_names=(), passwd_name="devices.passwd",
                   acl_name="devices.acl")
            entrypoint.send_signal(signal.SIGHUP)

            wait_until(lambda: device.disconnected, timeout=10, message="revoked session closed")
            assert not login("ann-cgm", cgm).accepted
            assert login("hearth-ingest", "ingest-pw").accepted
            assert entrypoint.poll() is None  # the same broker, not restarted
    finally:
        entrypoint.send_signal(signal.SIGTERM)
        entrypoint.wait(timeout=15)
