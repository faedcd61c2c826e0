"""`hearth up` runs everything on the embedded defaults, shows data and stops on SIGINT."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select

from coach.device_kinds import DEVICE_KINDS
from core.appdb.coaching import CoachAlert, CoachFlag
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.support.accounts import session_csrf, sign_in
from tests.support.factories import wait_until
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
WRONG_PASSWORD = "not-the-password-9f2c"  # noqa: S105 - a mistyped password, on purpose
CREDENTIAL = re.compile(r"^ {4}(patient|caregiver|coach|nurse|admin) +(\S+) +(\S+)$", re.M)
DASHBOARD = re.compile(r"^  Dashboard: +http://127\.0\.0\.1:(\d+)/$", re.M)
BROKER = re.compile(r"^  MQTT broker: +mqtt://127\.0\.0\.1:(\d+)$", re.M)


def clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env["HEARTH_DATA_DIR"] = str(data_dir)
    return env


def banner_credentials(log_path: Path) -> dict[str, tuple[str, str]]:
    """role -> (name, password) from the banner, once it is printed."""
    wait_until(lambda: "Hearth is up." in log_path.read_text(), timeout=60, message="banner")
    return {m[1]: (m[2], m[3]) for m in CREDENTIAL.finditer(log_path.read_text())}


def test_hearth_up_serves_the_demo_household_and_stops_cleanly(tmp_path: Path) -> None:
    port, mqtt_port = free_port(), free_port()
    env = clean_env(tmp_path / "data")
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hearth", "up", "--port", str(port), "--mqtt-port",
             str(mqtt_port), "--backfill-days", "2"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base)
    try:
        credentials = banner_credentials(log_path)
        assert set(credentials) == {"patient", "caregiver", "coach", "nurse", "admin"}
        at_banner = log_path.read_text()
        banner = at_banner.index("Hearth is up.")
        # start-up's log lines come first: the backfill stored, then the coach's first check
        stored = at_banner.index("readings, all stored")
        assert stored < at_banner.index("coach connected") < banner
        assert at_banner.index("trend check of") < banner
        assert "coaching: 4 plans with 8 goals" in at_banner[banner:]
        # The coach checked the devices after their history was stored: a device it calls
        # quiet has no reading in the store within its kind's interval (before the fix all
        # 18 were, their backfill not stored yet; in 2 days a door may well stay shut).
        engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'hearth.db'}")
        with engine.connect() as conn:
            quiet = conn.execute(select(CoachFlag.patient_id, CoachFlag.evidence,
                                        CoachFlag.created_at).where(
                CoachFlag.flag_type == "device_silent")).all()
            assert conn.scalar(select(func.count()).select_from(CoachAlert).where(
                CoachAlert.state == "open")) >= 2  # the seeded history's open alerts
        engine.dispose()
        assert len(quiet) < 3, quiet
        store = SqliteTimeSeriesStore(tmp_path / "data" / "timeseries.db")
        for patient_id, evidence, at in quiet:
            metric = DEVICE_KINDS[evidence["kind"]].metric
            assert metric is not None
            at = at.replace(tzinfo=UTC)
            recent = store.read(patient_id, metric,
                                at - timedelta(hours=evidence["expected_within_h"]), at)
            assert not [r for r in recent if r.device_id == evidence["device_id"]], evidence
        store.close()
        # the same sign-ins again, from the 0600 file in the data directory
        again = subprocess.run([sys.executable, "-m", "hearth", "demo", "--accounts"], cwd=REPO,
                               env=env, capture_output=True, text=True, timeout=120, check=True)
        assert {m[1]: (m[2], m[3]) for m in CREDENTIAL.finditer(again.stdout)} == credentials
        assert oct((tmp_path / "data" / "demo-accounts.txt").stat().st_mode & 0o777) == "0o600"
        assert httpx.get(f"{base}/api/patients/ann/latest").status_code == 401
        assert sign_in(client, *credentials["nurse"]).status_code == 303

        def glucose_count() -> int:
            try:
                r = client.get("/api/patients/ann/readings", params={"metric": "glucose"})
            except httpx.HTTPError:
                return 0
            return len(r.json()["readings"]) if r.status_code == 200 else 0

        wait_until(lambda: glucose_count() > 200, timeout=60, interval=0.5,
                   message="24 h of glucose on the API")
        page = client.get("/patients/ann")
        assert page.status_code == 200
        assert "Ann Hughes" in page.text and "Glucose, last 24 hours" in page.text
        assert 'data-metric="systolic"' in page.text  # the latest blood pressure card
        carla = client.get("/patients/carla").text
        assert 'data-metric="weight"' in carla
        assert httpx.get(f"{base}/static/vendor/uplot/uPlot.iife.min.js").status_code == 200
        assert (tmp_path / "data" / "timeseries.db").exists()
        assert (tmp_path / "data" / "hearth.db").exists()
    finally:
        client.close()
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    output = log_path.read_text()
    assert "Hearth is up." in output and f"http://127.0.0.1:{port}/" in output
    assert code == 0, output
    assert "Hearth stopped." in output
    assert "Traceback" not in output


def test_a_verbose_run_logs_no_names_and_no_readings(tmp_path: Path) -> None:
    """Health data is personal: even at DEBUG the logs carry ids and counts only."""
    from devices.profiles import load_profiles

    env = clean_env(tmp_path / "data")
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:  # port 0: a free port each, printed in the banner
        process = subprocess.Popen(
            [sys.executable, "-m", "hearth", "-v", "demo", "--port", "0", "--mqtt-port", "0",
             "--backfill-days", "1"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    client = httpx.Client()
    try:
        credentials = banner_credentials(log_path)
        banner = log_path.read_text()
        port, mqtt_port = int(DASHBOARD.findall(banner)[0]), int(BROKER.findall(banner)[0])
        assert port > 0 and mqtt_port > 0
        with socket.create_connection(("127.0.0.1", mqtt_port), timeout=10):
            pass  # the broker listens where the banner says
        client.base_url = httpx.URL(f"http://127.0.0.1:{port}")
        # Secrets that pass through the process: a mistyped password, session ids, CSRF tokens.
        assert sign_in(client, credentials["nurse"][0], WRONG_PASSWORD).status_code != 303
        signed_in = sign_in(client, *credentials["nurse"])
        assert signed_in.status_code == 303
        secrets = [WRONG_PASSWORD, *(password for _, password in credentials.values()),
                   signed_in.cookies["hearth_session"], session_csrf(client)]
        for patient in ("ann", "bob", "carla", "dev"):
            assert client.get(f"/patients/{patient}").status_code == 200
            assert client.get(f"/api/patients/{patient}/latest").status_code == 200
    finally:
        client.close()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    output = log_path.read_text()
    start, end = output.index("Hearth is up."), output.index("Press Ctrl-C to stop.")
    logs = output[:start] + output[end:]  # the banner is the CLI's output for its user
    assert "DEBUG" in logs and "INFO" in logs
    for profile in load_profiles():
        for part in profile.name.split():  # as a word: "Dev" is a name, "Device" is not
            assert not re.search(rf"\b{re.escape(part)}\b", logs), f"a name in the logs: {part}"
    for fragment in ('"value"', "mg/dL", "mmHg", "original_value"):
        assert fragment not in logs, f"reading data appears in the logs: {fragment}"
    assert len(secrets) == 8
    for secret in secrets:  # only the banner, the CLI's output for its user, shows passwords
        assert secret not in logs, "a password or token appears in the logs"
    for fragment in ("$argon2", "$7$", "api-secret", "Authorization", "Cookie:"):
        assert fragment not in logs, f"credential material appears in the logs: {fragment}"


def test_a_dashboard_port_in_use_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "hearth", "up", "--port", str(port), "--mqtt-port", "0"],
            cwd=REPO, env=clean_env(tmp_path / "data"), capture_output=True, text=True,
            timeout=120)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr
    assert "--port" in result.stderr and "Traceback" not in result.stderr + result.stdout
    bad = subprocess.run([sys.executable, "-m", "hearth", "up", "--port", "70000"], cwd=REPO,
                         env=clean_env(tmp_path / "data"), capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "70000 is not in the range 0<=x<=65535" in bad.stderr


def test_make_demo_passes_its_ports_to_hearth() -> None:
    """`make demo PORT=... MQTT_PORT=...` (a dry run: the command make would run)."""
    # as a person types it: not inside the `make test` that runs this suite (its MAKEFLAGS
    # and MAKELEVEL make the inner make print "Entering directory" lines)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    dry = subprocess.run(["make", "--no-print-directory", "-n", "demo", "PORT=8123",
                          "MQTT_PORT=0"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    assert dry.stdout.split() == ["scripts/demo.sh", "--port", "8123", "--mqtt-port", "0"]
    plain = subprocess.run(["make", "--no-print-directory", "-n", "demo"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=60, check=True)
    assert plain.stdout.split() == ["scripts/demo.sh"]
