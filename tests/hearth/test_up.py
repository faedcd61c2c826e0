"""`hearth up` runs everything on the embedded defaults, shows data and stops on SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import re

import httpx

from tests.support.accounts import session_csrf, sign_in
from tests.support.factories import wait_until
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
WRONG_PASSWORD = "not-the-password-9f2c"  # noqa: S105 - a mistyped password, on purpose
CREDENTIAL = re.compile(r"^ {4}(patient|caregiver|coach|nurse|admin) +(\S+) +(\S+)$", re.M)


def banner_credentials(log_path: Path) -> dict[str, tuple[str, str]]:
    """role -> (name, password) from the banner, once it is printed."""
    wait_until(lambda: "Hearth is up." in log_path.read_text(), timeout=60, message="banner")
    return {m[1]: (m[2], m[3]) for m in CREDENTIAL.finditer(log_path.read_text())}


def test_hearth_up_serves_the_demo_household_and_stops_cleanly(tmp_path: Path) -> None:
    port, mqtt_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env["HEARTH_DATA_DIR"] = str(tmp_path / "data")
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

    port, mqtt_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env["HEARTH_DATA_DIR"] = str(tmp_path / "data")
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hearth", "-v", "up", "--port", str(port), "--mqtt-port",
             str(mqtt_port), "--backfill-days", "1"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}")
    try:
        credentials = banner_credentials(log_path)
        wait_until(lambda: "streaming live" in log_path.read_text(), timeout=60,
                   message="backfill done")
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
            assert not re.search(rf"\b{re.escape(part)}\b", logs), f"a name appears in the logs: {part}"
    for fragment in ('"value"', "mg/dL", "mmHg", "original_value"):
        assert fragment not in logs, f"reading data appears in the logs: {fragment}"
    assert len(secrets) == 8
    for secret in secrets:  # only the banner, the CLI's output for its user, shows passwords
        assert secret not in logs, "a password or token appears in the logs"
    for fragment in ("$argon2", "$7$", "api-secret", "Authorization", "Cookie:"):
        assert fragment not in logs, f"credential material appears in the logs: {fragment}"
