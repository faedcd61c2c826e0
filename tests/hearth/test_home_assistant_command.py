"""`hearth home-assistant` as a process: discovery appears retained, SIGTERM says offline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from coach.home_assistant import node_id
from tests.support.factories import app_database, register
from tests.support.mosquitto import MosquittoServer
from tests.support.mqtt_session import sessions

REPO = Path(__file__).resolve().parents[2]


def test_the_command_publishes_discovery_and_goes_offline(mosquitto: MosquittoServer,
                                                          tmp_path: Path) -> None:
    register(app_database(tmp_path / "hearth.db"), "ann", [("ann-cgm", "cgm")])
    env = {**os.environ, "HEARTH_DATA_DIR": str(tmp_path), "HEARTH_MQTT_URL": mosquitto.url,
           "HEARTH_DATABASE_URL": f"sqlite:///{tmp_path / 'hearth.db'}",
           "HEARTH_TIMESERIES_URL": f"sqlite:///{tmp_path / 'timeseries.db'}"}
    process = subprocess.Popen([sys.executable, "-m", "hearth", "home-assistant",
                                "--discovery-prefix", "ha-test"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        with sessions(mosquitto.port) as login:
            ha = login("ha", None)
            ha.subscribe("ha-test/#")
            ha.subscribe("hearth/ha/status")
            config = f"ha-test/sensor/{node_id('ann')}/glucose/config"
            assert ha.wait(lambda: bool(ha.received(config)), timeout=30)
            assert ha.wait(lambda: ha.received("hearth/ha/status")[-1:] == [b"online"])
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
            assert ha.wait(lambda: ha.received("hearth/ha/status")[-1] == b"offline")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
