"""No secret in any log line: a real `hearth -v dashboard` (uvicorn, its access log,
DEBUG level) with the Nightscout API wired to a real Mosquitto, used with every kind
of credential (Nightscout ?token= and api_secret= in query strings, a follower's token
in a path, a password in a query string and in the login form, the broker URL's
password, the secret key, the session cookie); then every line it wrote is scanned for
every secret the test made."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from core.appdb.account_store import AccountStore
from core.logs import REDACTED, install_secret_scrubbing, scrub
from core.provisioning import Provisioner
from tests.support.accounts import csrf_from
from tests.support.factories import app_database, register
from tests.support.mosquitto import MosquittoServer
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
NURSE_PASSWORD = "plum-kettle-orbit-9-nurse"  # noqa: S105 - secrets under test
BROKER_PASSWORD = "broker-Pw-7f3kq9"  # noqa: S105
SECRET_KEY = "dashboard-secret-key-5d1e0c2a9b"  # noqa: S105
STRAY = ("stray-api-secret-41x9", "stray-password-0q7w", "wrong-token-8z2m",
         "mum-follower-token-3k9d")


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("hearth dashboard exited early")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("hearth dashboard did not answer /healthz")


def test_a_real_server_run_logs_no_secret(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [])
    secret = Provisioner(engine).add(device_id="ann-xdrip", patient_id="ann", kind="cgm",
                                     role="nightscout").secret
    assert secret
    AccountStore(engine).users.add("nina", role="nurse", display_name="Nina",
                                  password=NURSE_PASSWORD)
    engine.dispose()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    broker = mosquitto.url.replace("mqtt://", f"mqtt://svc:{BROKER_PASSWORD}@")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")} | {
        "HEARTH_DATA_DIR": str(tmp_path), "HEARTH_MQTT_URL": broker,
        "HEARTH_TIMESERIES_URL": f"sqlite:///{tmp_path / 'ts.db'}",
        "HEARTH_SECRET_KEY": SECRET_KEY, "HEARTH_LOG_LEVEL": "DEBUG"}
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hearth", "-v", "dashboard", "--port", str(port)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        made: list[str] = [secret, hashlib.sha1(secret.encode()).hexdigest(), NURSE_PASSWORD,
                           BROKER_PASSWORD, SECRET_KEY, *STRAY]
        try:
            _wait_healthy(url, process)
            with httpx.Client(base_url=url, timeout=30) as ns:
                entries = ns.get("/api/v1/entries.json", params={"token": secret, "count": 5})
                assert entries.status_code == 200, entries.text
                assert ns.get("/api/v1/status.json", params={"token": secret}).status_code == 200
                ns.post("/api/v1/entries", params={"token": secret},
                        json=[{"type": "sgv", "sgv": 120, "date": int(time.time() * 1000)}])
                ns.get(f"/api/v1/entries.json?api_secret={STRAY[0]}")
                ns.get(f"/api/v1/entries.json?TOKEN={STRAY[2]}&count=1")
                ns.get("/api/v1/entries.json",
                       headers={"api-secret": hashlib.sha1(secret.encode()).hexdigest()})
                ns.get(f"/healthz?password={quote(STRAY[1])}")
                ns.get(f"/api/v2/authorization/request/{STRAY[3]}")  # a token in the path
            with httpx.Client(base_url=url, timeout=30) as browser:
                page = browser.get(f"/login?next=/home&password={NURSE_PASSWORD}")
                signed = browser.post("/login", data={
                    "username": "nina", "password": NURSE_PASSWORD,
                    "csrf_token": csrf_from(page.text)}, follow_redirects=False)
                assert signed.status_code == 303
                made += [browser.cookies["hearth_session"], csrf_from(page.text)]
                assert browser.get("/api/me").status_code == 200
                browser.post("/login", data={"username": "nina", "password": STRAY[1],
                                             "csrf_token": "forged"})
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
    text = log_path.read_text(errors="replace")
    # The access log did run (so the scan means something), with the values redacted.
    assert f'"GET /api/v1/entries.json?token={REDACTED}&count=5 HTTP/1.1" 200' in text, text
    assert f"/api/v1/entries.json?api_secret={REDACTED}" in text
    assert "GET /login?next=/home&password=" in text
    assert f"GET /api/v2/authorization/request/{REDACTED} HTTP/1.1" in text
    leaked = [s for s in made if s and (s in text or quote(s, safe="") in text)]
    assert leaked == [], f"{len(leaked)} secret(s) in the server's log"


@pytest.mark.parametrize(("line", "expected"), [
    ("GET /api/v1/entries.json?token=abc123&count=10", f"?token={REDACTED}&count=10"),
    ("/x?API-SECRET=zz&API_SECRET=yy", f"?API-SECRET={REDACTED}&API_SECRET={REDACTED}"),
    ("connecting to mqtts://svc:pw9@broker:8883", f"mqtts://svc:{REDACTED}@broker:8883"),
    ("http://h/x?a=1&password=hunter2#frag", f"&password={REDACTED}#frag"),
    ("plain text with monkey=1 and count=3", "monkey=1 and count=3"),
    ('"GET /api/v2/authorization/request/mum-9f8e7d?x=1 HTTP/1.1" 200',
     f"/api/v2/authorization/request/{REDACTED}?x=1 HTTP/1.1"),
])
def test_scrub_redacts_values_of_secret_parameters_only(line: str, expected: str) -> None:
    assert expected in scrub(line)


def test_every_logger_is_scrubbed_including_arguments_and_tracebacks(
        caplog: pytest.LogCaptureFixture) -> None:
    install_secret_scrubbing()
    log = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO, logger="some.library"):
        log.info("%s - %s", "127.0.0.1", "/api/v1/entries?token=tok-1")
        log.info("url %(u)s", {"u": "https://x/?api_secret=tok-2"})
        try:
            raise ValueError("bad request to /status?token=tok-3")
        except ValueError:
            log.exception("failed")
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "tok-1" not in text and "tok-2" not in text and "tok-3" not in text
    assert text.count(REDACTED) >= 3  # the message, and the source line of the traceback
