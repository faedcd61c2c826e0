"""`hearth dashboard --workers 2`: two real server processes on one port, one database.

A session made through one process is honoured by the other (sessions live in the
application database), and each process has a broker connection of its own for the
Nightscout uploads (one shared client id would make the broker drop one of them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from hearth.cli import main
from tests.support.accounts import PASSWORD, sign_in
from tests.support.factories import subscribed, wait_until
from tests.support.mosquitto import MosquittoServer
from tests.support.ports import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]


def test_two_worker_processes_share_sessions_and_each_has_its_own_broker_client(
        tmp_path: Path, mosquitto: MosquittoServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env |= {"HEARTH_DATA_DIR": str(tmp_path / "data"), "HEARTH_MQTT_URL": mosquitto.url}
    added = CliRunner().invoke(main, ["admin", "add-user", "ada", "--role", "admin", "--name",
                                      "Ada", "--password-stdin"], input=f"{PASSWORD}\n", env=env)
    assert added.exit_code == 0, added.output
    port = free_port()
    log = tmp_path / "dashboard.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "hearth", "dashboard", "--port",
                                   str(port), "--workers", "2"], cwd=REPO, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, timeout=90)
        workers = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True,
                                 text=True).stdout.split()
        assert len(workers) >= 2, log.read_text()  # uvicorn's workers (and its own helper)

        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base) as first:
            assert sign_in(first, "ada").status_code == 303
            cookies = dict(first.cookies)
        # New connections, so the kernel spreads them over both processes' accept queues.
        for _ in range(30):
            with httpx.Client(base_url=base, cookies=cookies,
                              headers={"Connection": "close"}) as fresh:
                assert fresh.get("/api/audit").status_code == 200

        # The broker's count every second (sys_interval 1), this probe's connection included.
        with subscribed(mosquitto.url, "$SYS/broker/clients/connected") as counts:
            def last() -> int:
                return int(counts.messages[-1][1]) if len(counts) else 0

            wait_until(lambda: last() == 3, timeout=30, message="two dashboard clients")
            seen = len(counts)
            time.sleep(4)  # the broker publishes the count when it changes
            with counts.lock:  # they stayed connected (with one shared id they take turns)
                assert [int(p) for _, p in counts.messages[seen - 1:]] == [3]
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=60)
    assert ("Started parent process" in log.read_text()
            or "Started server process" in log.read_text())


def test_a_setting_that_does_not_validate_is_a_clear_message_not_a_traceback(
        tmp_path: Path) -> None:
    env = {"HEARTH_DATA_DIR": str(tmp_path / "data"), "HEARTH_DASHBOARD_WORKERS": "two"}
    result = CliRunner().invoke(main, ["dashboard"], env=env)
    assert result.exit_code == 1
    assert "invalid settings (DashboardSettings): workers: Input should be a valid integer" \
        in result.output
    assert "Traceback" not in result.output

    env = {"HEARTH_DATA_DIR": str(tmp_path / "data"), "HEARTH_ENVIRONMENT": "production",
           "HEARTH_SECRET_KEY": "", "HEARTH_DASHBOARD_SECRET_KEY": ""}
    result = CliRunner().invoke(main, ["dashboard"], env=env)
    assert result.exit_code == 1 and "must be set to a real secret" in result.output
