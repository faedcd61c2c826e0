"""`hearth devices add|list|revoke|render` as an administrator runs it, with the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core import topics
from tests.support.factories import app_database, register
from tests.support.mosquitto import MosquittoServer
from tests.support.mqtt_session import ACCEPTED, sessions

REPO = Path(__file__).resolve().parents[2]


def hearth(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "hearth", "devices", *args], cwd=REPO,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def test_add_render_revoke_and_reload(tmp_path: Path) -> None:
    register(app_database(tmp_path / "hearth.db"), "ann", [])
    env = {"HEARTH_DATA_DIR": str(tmp_path),
           "HEARTH_DATABASE_URL": f"sqlite:///{tmp_path / 'hearth.db'}",
           "MQTT_INGEST_PASSWORD": "ingest-pw"}
    added = hearth(env, "add", "ann-cgm", "--patient", "ann", "--kind", "cgm").stdout
    secret = added.split("MQTT password (shown once): ")[1].split()[0]
    auth = tmp_path / "auth"
    rendered = hearth(env, "render", "--out", str(auth))
    assert "1 device logins" in rendered.stdout
    assert "hearth-coach" in rendered.stderr  # no password in the environment: said so
    assert secret not in (auth / "passwd").read_text()
    assert oct((auth / "passwd").stat().st_mode & 0o777) == "0o600"

    broker = MosquittoServer(tmp_path / "broker", password_file=auth / "passwd",
                             acl_file=auth / "acl")
    broker.start()
    try:
        with sessions(broker.port) as login:
            device = login("ann-cgm", secret)
            assert device.accepted
            assert device.publish(topics.up("ann-cgm")) in ACCEPTED
            assert login("hearth-ingest", "ingest-pw").accepted

            listed = [json.loads(line)
                      for line in hearth(env, "list", "--json").stdout.splitlines()]
            assert [(a["device_id"], a["patient_id"], a["role"], a["active"]) for a in listed] == [
                ("ann-cgm", "ann", "device", True)]

            revoked = hearth(env, "revoke", "ann-cgm", "--render", str(auth),
                             "--reload-pidfile", str(broker.pid_path))
            assert "sent SIGHUP" in revoked.stdout
            assert device.wait(lambda: device.disconnected, timeout=10)
            assert not login("ann-cgm", secret).accepted
            assert login("hearth-ingest", "ingest-pw").accepted
            assert broker.process is not None and broker.process.poll() is None  # not restarted
    finally:
        broker.kill()
