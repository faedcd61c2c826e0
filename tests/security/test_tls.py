"""TLS on loopback with throwaway certificates made at test time (openssl CLI):
MQTT over TLS (mqtts://host:port?ca=...) to a real Mosquitto TLS listener, and the
dashboard served over HTTPS by `hearth dashboard --ssl-certfile/--ssl-keyfile`.

A client that does not trust the test CA must fail to connect: the certificate
is really verified, not just used for encryption.
"""

from __future__ import annotations

import getpass
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from core.mqtt import MqttEndpoint, connect, new_client
from hearth.cli import main
from tests.support.factories import wait_until
from tests.support.mosquitto import MosquittoServer
from tests.support.ports import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Certs:
    ca: Path
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA and a server certificate for 127.0.0.1/localhost, valid for a day."""
    d = tmp_path_factory.mktemp("certs")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=Hearth throwaway test CA", cwd=d)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
             cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "san.ext", cwd=d)
    return Certs(d / "ca.pem", d / "server.pem", d / "server.key")


@pytest.fixture
def tls_broker(tmp_path: Path, certs: Certs) -> Iterator[tuple[MosquittoServer, int]]:
    tls_port = free_port()
    broker = MosquittoServer(tmp_path / "broker", extra_config=(
        f"user {getpass.getuser()}\n"  # reads the key in the test's private directory
        f"listener {tls_port} 127.0.0.1\n"
        f"cafile {certs.ca}\ncertfile {certs.cert}\nkeyfile {certs.key}\n"
        "tls_version tlsv1.2\n"))
    broker.start()
    try:
        wait_for_port(tls_port)
        yield broker, tls_port
    finally:
        broker.kill()


class Session:
    """A Hearth MQTT client (core/mqtt.py) built from a URL, as the services build theirs."""

    def __init__(self, url: str, name: str) -> None:
        self.client = new_client(name)
        self.connected = threading.Event()
        self.messages: list[bytes] = []
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, msg: self.messages.append(msg.payload)
        connect(self.client, MqttEndpoint.parse(url))
        self.client.loop_start()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            self.connected.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_mqtt_over_tls_with_the_test_ca(tls_broker, certs: Certs) -> None:
    _, port = tls_broker
    url = f"mqtts://127.0.0.1:{port}?ca={certs.ca}"
    reader, writer = Session(url, "tls-reader"), Session(url, "tls-writer")
    try:
        assert reader.connected.wait(10) and writer.connected.wait(10)
        reader.client.subscribe("hearth/v1/up/+", qos=1)
        wait_until(lambda: writer.client.publish("hearth/v1/up/tls-cgm", b"over tls", qos=1)
                   and bool(reader.messages), timeout=10, interval=0.3)
        assert reader.messages[0] == b"over tls"
    finally:
        reader.close()
        writer.close()


def test_mqtt_refuses_a_server_it_cannot_verify_and_plaintext_on_the_tls_port(
        tls_broker) -> None:
    broker, port = tls_broker
    untrusting = Session(f"mqtts://127.0.0.1:{port}", "no-test-ca")  # system CAs only
    plain = Session(f"mqtt://127.0.0.1:{port}", "plaintext")
    control = Session(broker.url, "plain-listener")
    try:
        assert control.connected.wait(10)  # the broker is up; its plain listener works
        assert not untrusting.connected.wait(3)
        assert not plain.connected.is_set()
    finally:
        for s in (untrusting, plain, control):
            s.close()


def test_the_dashboard_over_https(tmp_path: Path, certs: Certs) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env |= {"HEARTH_DATA_DIR": str(tmp_path / "data"),
            "HEARTH_DASHBOARD_SSL_CERTFILE": str(certs.cert),
            "HEARTH_DASHBOARD_SSL_KEYFILE": str(certs.key)}
    log = tmp_path / "dashboard.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "hearth", "dashboard", "--port",
                                    str(port)], cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=90)
        with httpx.Client(verify=str(certs.ca)) as client:
            assert client.get(f"https://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
            login = client.get(f"https://127.0.0.1:{port}/login")
            assert login.status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"https://127.0.0.1:{port}/healthz")  # system CAs do not know it
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz")  # no plaintext on the port
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert "Uvicorn running on https://" in log.read_text()


def test_https_needs_both_the_certificate_and_its_key(certs: Certs) -> None:
    result = CliRunner().invoke(main, ["dashboard", "--ssl-certfile", str(certs.cert)])
    assert result.exit_code == 2 and "--ssl-keyfile" in result.output
