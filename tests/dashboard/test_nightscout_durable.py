"""Issue 16, "answer only what is durable": a Nightscout upload answered 2xx is stored, even
if the broker is killed right after the answer while ingest is down; when the upload
outbox cannot take an upload, the answer is 503 with Retry-After and nothing of it is
taken; an upload sent again after a 503 (or twice) is stored once.

Real Mosquitto (SIGKILL, restarted on the same port), real ingest (IngestService with its
persistent session), the real dashboard app over HTTP (TestClient), the real outbox file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.appdb.account_store import AccountStore
from core.appdb.directory import SqlDirectory
from core.metrics import Metric
from core.mqtt import MqttEndpoint
from core.provisioning import Provisioner
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from dashboard.nightscout_backend import ConfirmedPublisher, NightscoutBackend
from dashboard.upload_outbox import RETRY_AFTER_S, UploadOutbox
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.support.factories import app_database, register, wait_until
from tests.support.mosquitto import MosquittoServer

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
# The shipped broker saves its queues every autosave_interval (deploy/mosquitto: 30 s); a
# kill loses what arrived since the last save. An hour here puts the kill inside that
# window every time, however slow the machine.
BROKER_CONFIG = "autosave_interval 3600\n"


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def entries(first: datetime, count: int, value: int = 100) -> list[dict[str, Any]]:
    return [{"type": "sgv", "sgv": value + i % 50,
             "date": int((first + timedelta(minutes=5 * i)).timestamp() * 1000)}
            for i in range(count)]


@dataclass
class Rig:
    tmp: Path
    broker: MosquittoServer
    endpoint: MqttEndpoint
    engine: Engine
    store: SqliteTimeSeriesStore
    secrets: dict[str, str]
    ingest: IngestService | None = None

    def start_ingest(self) -> None:
        self.ingest = IngestService(endpoint=self.endpoint, store=self.store,
                                    registry=SqlDirectory(self.engine),
                                    settings=IngestSettings(client_id="test-ingest"))
        self.ingest.start()
        assert self.ingest.wait_connected(30)

    def stop_ingest(self) -> None:
        if self.ingest is not None:
            self.ingest.stop()
            self.ingest = None

    def app(self, backend: NightscoutBackend) -> TestClient:
        app: FastAPI = create_app(store=self.store, directory=SqlDirectory(self.engine),
                                  accounts=AccountStore(self.engine))
        app.state.nightscout = backend
        return TestClient(app)

    def outbox(self, **kwargs: Any) -> UploadOutbox:
        queue = UploadOutbox(self.endpoint, self.tmp / "outbox", client_prefix="test-ns",
                             resend_after_s=2.0, resend_max_s=5.0, **kwargs)
        assert queue.start(timeout=30)
        return queue

    def glucose(self, patient_id: str) -> list[tuple[datetime, float]]:
        found = self.store.read(patient_id, Metric.GLUCOSE, NOW - timedelta(days=30),
                                NOW + timedelta(days=1))
        return [(r.measured_at, r.value) for r in found]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    broker = MosquittoServer(tmp_path / "mosquitto", extra_config=BROKER_CONFIG)
    broker.start()
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [])
    register(engine, "bob", [])
    provisioner = Provisioner(engine)
    secrets: dict[str, str] = {}
    for device_id, patient_id in (("ann-xdrip", "ann"), ("bob-juggluco", "bob")):
        issued = provisioner.add(device_id=device_id, patient_id=patient_id, kind="cgm",
                                 role="nightscout").secret
        assert issued
        secrets[device_id] = issued
    store = SqliteTimeSeriesStore(tmp_path / "timeseries.db")
    rig = Rig(tmp_path, broker, MqttEndpoint.parse(broker.url), engine, store, secrets)
    try:
        yield rig
    finally:
        rig.stop_ingest()
        broker.kill()
        store.close()


def post(client: TestClient, secret: str, docs: list[dict[str, Any]]) -> Any:
    return client.post("/api/v1/entries", json=docs, headers={"api-secret": sha1(secret)})


def test_what_was_answered_2xx_survives_a_broker_kill_while_ingest_is_down(rig: Rig) -> None:
    rig.start_ingest()  # ingest's persistent session: the broker queues for it while away
    rig.stop_ingest()

    # Control, the old behaviour: answered once the broker's PUBACK came (bob's uploader).
    publisher = ConfirmedPublisher(rig.endpoint, client_id="test-old-publisher")
    assert publisher.start(timeout=30)
    old = rig.app(NightscoutBackend(Provisioner(rig.engine), publisher))
    queue = rig.outbox()
    new = rig.app(NightscoutBackend(Provisioner(rig.engine), None, queue=queue))

    first = NOW - timedelta(hours=10)
    answered_old = post(old, rig.secrets["bob-juggluco"], entries(first, 100))
    answered_new = post(new, rig.secrets["ann-xdrip"], entries(first, 100))
    assert answered_old.status_code == 200, answered_old.text
    assert answered_new.status_code == 200, answered_new.text
    assert len(queue) == 100  # on disk before the answer
    # The outbox has handed everything to the broker (PUBACK) too: the kill finds both
    # uploads in the broker's memory only.
    wait_until(lambda: queue.outbox.stats().unsent == 0, timeout=60,
               message="the outbox's messages published")

    rig.broker.kill()  # SIGKILL, ingest still down
    publisher.stop()
    # The dashboard process goes too: its outbox file is all that is left of the upload.
    queue.stop()
    rig.broker.start()
    rig.start_ingest()
    queue = rig.outbox()  # the restarted dashboard takes the same slot and file
    assert queue.slot == 0 and len(queue) == 100
    try:
        wait_until(lambda: len(rig.glucose("ann")) == 100, timeout=120,
                   message="every reading answered 2xx stored")
        wait_until(lambda: len(queue) == 0, timeout=60,
                   message="the outbox emptied by ingest's acknowledgements")
    finally:
        queue.stop()
    assert [v for _, v in rig.glucose("ann")] == [100.0 + i % 50 for i in range(100)]
    # What the old path answered 200 for is gone: the broker lost it, the app will never
    # send it again. (Ingest has drained whatever the restarted broker still held: the
    # outbox's copies, sent after ingest's re-subscription, were all stored.)
    assert rig.glucose("bob") == []


def test_a_full_outbox_answers_503_with_retry_after_and_a_resent_upload_is_stored_once(
        rig: Rig) -> None:
    queue = rig.outbox(max_readings=50)  # ingest down: what is taken stays in the outbox
    client = rig.app(NightscoutBackend(Provisioner(rig.engine), None, queue=queue))
    secret = rig.secrets["ann-xdrip"]
    a = entries(NOW - timedelta(hours=10), 40)
    b = entries(NOW - timedelta(hours=5), 20, value=200)
    try:
        assert post(client, secret, a).status_code == 200
        refused = post(client, secret, b)
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == str(RETRY_AFTER_S)
        body = refused.json()
        assert body["status"] == 503 and "send it again" in body["description"]
        assert "queue is full" in body["description"]
        assert len(queue) == 40  # nothing of b was taken: all of a, none of b

        rig.start_ingest()
        wait_until(lambda: len(queue) == 0, timeout=120, message="the outbox drained")
        stored = rig.glucose("ann")
        assert len(stored) == 40  # a, and not half of b
        assert all(v < 200 for _, v in stored)

        # The app sends b again (and, being unsure, a and b once more): each reading once.
        for docs in (b, a, b):
            again = post(client, secret, docs)
            assert again.status_code == 200, again.text
            wait_until(lambda: len(queue) == 0, timeout=120, message="the re-sent upload acked")
        stored = rig.glucose("ann")
        assert len(stored) == 60
        assert len({t for t, _ in stored}) == 60
        assert sorted(v for _, v in stored) == sorted(
            [100.0 + i % 50 for i in range(40)] + [200.0 + i for i in range(20)])

        # The outbox closed under the API (a dashboard shutting down): 503 too.
        queue.stop()
        closed = post(client, secret, entries(NOW - timedelta(hours=1), 3))
        assert closed.status_code == 503, closed.text
        assert closed.headers["Retry-After"] == str(RETRY_AFTER_S)
        assert "cannot be written" in closed.json()["description"]
    finally:
        queue.stop()


@dataclass
class Guarded:
    """A broker with the rendered password file and ACL, ingest logged in as itself."""

    engine: Engine
    secret: str
    broker: MosquittoServer
    store: SqliteTimeSeriesStore
    ingest: IngestService

    def as_(self, user: str) -> MqttEndpoint:
        return MqttEndpoint("127.0.0.1", self.broker.port, username=user,
                            password=PASSWORDS[user])

    def stored(self) -> int:
        return len(self.store.read("ann", Metric.GLUCOSE, NOW - timedelta(days=1),
                                   NOW + timedelta(days=1)))


PASSWORDS = {"hearth-ingest": "ingest-pw", "hearth-dashboard": "dashboard-pw"}


@pytest.fixture
def guarded(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Guarded]:
    from core.provisioning import ServiceAccount, hash_password_pbkdf2, render

    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [])
    provisioner = Provisioner(engine, hasher=hash_password_pbkdf2)
    secret = provisioner.add(device_id="ann-xdrip", patient_id="ann", kind="cgm",
                             role="nightscout").secret
    assert secret
    auth = tmp_path / "auth"
    render(provisioner, auth,
           services=[ServiceAccount(u, hash_password_pbkdf2(p)) for u, p in PASSWORDS.items()])
    if getattr(request, "param", "") == "without the ack right":  # an ACL rendered before
        acl = (auth / "acl").read_text()
        assert "topic read hearth/v1/ack/ann-xdrip\n" in acl
        (auth / "acl").write_text(acl.replace("topic read hearth/v1/ack/ann-xdrip\n", ""))
    broker = MosquittoServer(tmp_path / "broker", password_file=auth / "passwd",
                             acl_file=auth / "acl")
    broker.start()
    store = SqliteTimeSeriesStore(tmp_path / "timeseries.db")
    ingest = IngestService(endpoint=MqttEndpoint("127.0.0.1", broker.port,
                                                 username="hearth-ingest",
                                                 password=PASSWORDS["hearth-ingest"]),
                           store=store, registry=SqlDirectory(engine),
                           settings=IngestSettings(client_id="hearth-ingest"))
    ingest.start()
    try:
        assert ingest.wait_connected(30)
        yield Guarded(engine, secret, broker, store, ingest)
    finally:
        ingest.stop()
        broker.kill()
        store.close()


def test_the_wired_outbox_reads_ingests_acks_under_the_rendered_acl(
        tmp_path: Path, guarded: Guarded) -> None:
    """`hearth dashboard`'s wiring (hearth/nightscout.py) on a broker with the rendered
    password file and ACL: the dashboard's login may read its uploaders' commit acks, so
    an upload leaves the outbox once stored."""
    from core.config import HearthSettings
    from hearth import nightscout

    settings = HearthSettings(data_dir=tmp_path / "data",
                              database_url=f"sqlite:///{tmp_path / 'hearth.db'}")
    app: FastAPI = create_app(store=guarded.store, directory=SqlDirectory(guarded.engine),
                              accounts=AccountStore(guarded.engine))
    stop = nightscout.attach(app, settings, endpoint=guarded.as_("hearth-dashboard"))
    try:
        queue = app.state.nightscout.queue
        assert isinstance(queue, UploadOutbox) and queue.connected
        assert (tmp_path / "data" / "nightscout-outbox-0.db").exists()
        answer = post(TestClient(app), guarded.secret, entries(NOW - timedelta(hours=2), 12))
        assert answer.status_code == 200, answer.text
        wait_until(lambda: guarded.stored() == 12, timeout=60, message="the upload stored")
        wait_until(lambda: len(queue) == 0, timeout=60,
                   message="the outbox emptied by ingest's acks (the ACL lets it read them)")
        assert queue.confirmed_readings == 12
    finally:
        stop()


@pytest.mark.parametrize("guarded", ["without the ack right"], indirect=True)
def test_without_the_ack_right_the_outbox_keeps_the_upload_and_says_why(
        tmp_path: Path, guarded: Guarded, caplog: pytest.LogCaptureFixture) -> None:
    """An ACL rendered before this right existed: Mosquitto grants the subscription and
    withholds the acks. Nothing is lost (the upload stays and is re-sent; ingest stores it
    once) and a warning names the topic and the fix."""
    queue = UploadOutbox(guarded.as_("hearth-dashboard"), tmp_path / "outbox",
                         resend_after_s=0.2, resend_max_s=0.5)
    assert queue.start(timeout=30)
    app = create_app(store=guarded.store, directory=SqlDirectory(guarded.engine),
                     accounts=AccountStore(guarded.engine))
    app.state.nightscout = NightscoutBackend(Provisioner(guarded.engine), None, queue=queue)
    client = TestClient(app)
    try:
        with caplog.at_level("WARNING", logger="dashboard.upload_outbox"):
            answer = post(client, guarded.secret, entries(NOW - timedelta(hours=2), 12))
            assert answer.status_code == 200, answer.text
            wait_until(lambda: "no commit acknowledgement for uploader ann-xdrip" in
                       caplog.text, timeout=60, message="the warning")
        assert "hearth/v1/ack/ann-xdrip" in caplog.text and "hearth devices render" in caplog.text
        wait_until(lambda: guarded.stored() == 12, timeout=60, message="the upload stored")
        assert len(queue) == 12  # kept: nothing confirmed it (stored once, however often sent)
    finally:
        queue.stop()


def test_a_sigkilled_dashboard_process_loses_nothing_it_answered(tmp_path: Path) -> None:
    """The production command (`hearth dashboard`), SIGKILLed right after its 200 with
    ingest down, the broker SIGKILLed too; all three restarted: every reading stored."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    from contextlib import closing

    import httpx

    from tests.support.ports import free_port, wait_for_port

    repo = Path(__file__).resolve().parents[2]
    data = tmp_path / "data"
    data.mkdir()
    broker = MosquittoServer(tmp_path / "broker", extra_config=BROKER_CONFIG)
    broker.start()
    engine = app_database(data / "hearth.db")  # the command's default database
    register(engine, "ann", [])
    secret = Provisioner(engine).add(device_id="ann-xdrip", patient_id="ann", kind="cgm",
                                     role="nightscout").secret
    assert secret
    store = SqliteTimeSeriesStore(data / "timeseries.db")  # and its default store
    rig = Rig(tmp_path, broker, MqttEndpoint.parse(broker.url), engine, store, {})
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env |= {"HEARTH_DATA_DIR": str(data), "HEARTH_MQTT_URL": broker.url}
    port = free_port()
    log = tmp_path / "dashboard.log"

    def dashboard() -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "hearth", "dashboard", "--port", str(port),
                 "--workers", "1"], cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_for_port(port, timeout=90)
        return server

    rig.start_ingest()
    rig.stop_ingest()  # down, with its session kept by the broker
    server = dashboard()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            answer = client.post("/api/v1/entries", json=entries(NOW - timedelta(hours=9), 100),
                                 headers={"api-secret": sha1(secret)})
        assert answer.status_code == 200, answer.text
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        broker.kill()

        broker.start()
        rig.start_ingest()
        server = dashboard()
        wait_until(lambda: len(rig.glucose("ann")) == 100, timeout=120,
                   message="every reading answered 200 stored")
        assert [v for _, v in rig.glucose("ann")] == [100.0 + i % 50 for i in range(100)]

        def waiting() -> int:  # what the restarted process's outbox still holds
            with closing(sqlite3.connect(data / "nightscout-outbox-0.db")) as db:
                return int(db.execute("SELECT count(*) FROM readings").fetchone()[0])
        wait_until(lambda: waiting() == 0, timeout=60, message="the outbox emptied by acks")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
            server.wait(timeout=60)
        rig.stop_ingest()
        broker.kill()
        store.close()
