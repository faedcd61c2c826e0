"""Dead letters kept, listed, shown, replayed and pruned, under the shipped broker and ACL.

Real Mosquitto (deploy/mosquitto through its entrypoint), real ingest, the real keeper
(`hearth dead-letters keep`'s service) and the `hearth dead-letters` commands. Before,
no service could read hearth/v1/dead/+ and the broker dropped every letter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from core import topics
from core.appdb.deadletters import DeadLetterStore
from core.appdb.directory import SqlDirectory
from core.config import get_settings
from core.contract import Rejection, encode_message
from core.mqtt import MqttEndpoint
from core.provisioning import Provisioner, hash_password_pbkdf2
from core.timeseries.sqlite import SqliteTimeSeriesStore
from hearth.cli import main
from ingest.deadletter import dead_letter_payload
from ingest.deadletter_keeper import DeadLetterKeeper, KeeperSettings
from ingest.service import IngestService
from ingest.settings import IngestSettings
from tests.deploy.shipped_broker import (
    ACCEPTED,
    SERVICE_PASSWORDS,
    WAIT_S,
    ShippedBroker,
    sessions,
)
from tests.support.factories import app_database, register, wait_until


def glucose(device_id: str, seq: int, value: float, at: datetime) -> bytes:
    return encode_message(device_id=device_id, seq=seq, readings=[
        {"metric": "glucose", "unit": "mg/dL", "source": "cgm", "value": value, "time": at}])


class Site:
    def __init__(self, tmp_path: Path) -> None:
        self.db_path, self.ts_path = tmp_path / "hearth.db", tmp_path / "timeseries.db"
        self.engine = app_database(self.db_path)
        register(self.engine, "ann", [])
        self.provisioner = Provisioner(self.engine, hasher=hash_password_pbkdf2)
        self.secret = self.provisioner.add(device_id="ann-cgm", patient_id="ann",
                                           kind="cgm").secret
        self.store = SqliteTimeSeriesStore(self.ts_path)
        self.letters = DeadLetterStore(self.engine)
        self.broker = ShippedBroker(tmp_path / "broker")
        self.broker.render_devices(self.engine)
        self.endpoint = MqttEndpoint.parse(
            self.broker.url("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"]))
        self.running: list[Any] = []

    def ingest(self) -> IngestService:
        service = IngestService(endpoint=self.endpoint, store=self.store,
                                registry=SqlDirectory(self.engine),
                                settings=IngestSettings(client_id="hearth-ingest-1",
                                                        shared_group="hearth"))
        service.start()
        assert service.wait_connected(WAIT_S)
        self.running.append(service)
        return service

    def keeper(self, **settings: Any) -> DeadLetterKeeper:
        keeper = DeadLetterKeeper(endpoint=self.endpoint, store=self.letters,
                                  settings=KeeperSettings(session_expiry_s=3600, **settings))
        keeper.start()
        assert keeper.wait_connected(WAIT_S)
        self.running.append(keeper)
        return keeper

    def stop(self, service: Any) -> None:
        service.stop()
        self.running.remove(service)

    def hearth(self, *args: str) -> Result:
        env = {"HEARTH_DATABASE_URL": f"sqlite:///{self.db_path}",
               "HEARTH_TIMESERIES_URL": f"sqlite:///{self.ts_path}"}
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(main, list(args), env=env)
        finally:
            get_settings.cache_clear()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    site = Site(tmp_path)
    site.broker.start()
    try:
        yield site
    finally:
        for service in reversed(site.running):
            service.stop()
        site.broker.kill()
        site.store.close()


def test_refused_messages_are_kept_listed_shown_and_replayed(site: Site) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ingest = site.ingest()
    keeper = site.keeper()
    site.stop(keeper)  # down for a while: the broker queues the letters for its session
    with sessions(site.broker.device_port) as device:
        cgm = device("ann-cgm", site.secret)
        assert cgm.publish(topics.up("ann-cgm"), glucose("ann-cgm", 1, 5000, now)) in ACCEPTED
        assert cgm.publish(topics.up("ann-cgm"), glucose("ann-cgm", 2, 101, now)) in ACCEPTED
        wait_until(lambda: site.store.count() == 1 and ingest.stats.dead_letters == 1,
                   timeout=WAIT_S, message="one stored, one dead-lettered")
        # Revoked by mistake: ingest refuses the device's readings until it is added back.
        site.provisioner.revoke("ann-cgm")
        revoked = [glucose("ann-cgm", 3 + i, 110 + i, now - timedelta(minutes=5 * (i + 1)))
                   for i in range(3)]
        for payload in revoked:
            assert cgm.publish(topics.up("ann-cgm"), payload) in ACCEPTED
        wait_until(lambda: ingest.stats.dead_letters == 4, timeout=WAIT_S,
                   message="four dead letters")

    site.keeper()  # back: it gets every letter queued meanwhile
    wait_until(lambda: site.letters.count() == 4, timeout=WAIT_S, message="four letters kept")

    listed = site.hearth("dead-letters", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert {r["device_id"] for r in rows} == {"ann-cgm"}
    codes = sorted(e["code"] for r in rows for e in r["errors"])
    assert codes == ["out_of_range", "unknown_device", "unknown_device", "unknown_device"]
    assert all("payload" not in r for r in rows)
    plain = site.hearth("dead-letters", "list", "--code", "out_of_range")
    assert plain.exit_code == 0 and len(plain.output.splitlines()) == 1
    out_of_range = int(plain.output.split("\t")[0])

    shown = site.hearth("dead-letters", "show", str(out_of_range))
    assert shown.exit_code == 0, shown.output
    assert "outside the plausible range for glucose" in shown.output
    assert glucose("ann-cgm", 1, 5000, now).decode() in shown.output
    assert site.hearth("dead-letters", "show", "999999").exit_code != 0

    # The operator adds the device back and replays its letters: all stored, once.
    site.provisioner.add(device_id="ann-cgm", patient_id="ann", kind="cgm")
    revoked_ids = [str(r["id"]) for r in rows if r["errors"][0]["code"] == "unknown_device"]
    replayed = site.hearth("dead-letters", "replay", *revoked_ids)
    assert replayed.exit_code == 0, replayed.output
    assert replayed.output.count("1 readings stored") == 3
    assert site.store.count() == 4
    again = site.hearth("dead-letters", "replay", *revoked_ids)
    assert again.output.count("0 readings stored, 1 already stored") == 3
    assert site.store.count() == 4
    # A letter whose cause remains stays refused, and says so.
    still = site.hearth("dead-letters", "replay", str(out_of_range))
    assert still.exit_code != 0 and "still refused" in still.output
    assert site.store.count() == 4
    kept = site.letters.get(out_of_range)
    assert kept is not None and kept.replay_outcome is not None
    assert "still refused" in kept.replay_outcome
    assert site.letters.count() == 4  # a replay forgets nothing


def test_retention_forgets_old_letters_only(site: Site) -> None:
    now = datetime.now(UTC)

    def letter(seq: int, age: timedelta) -> tuple[str, bytes]:
        return topics.dead("ann-cgm"), dead_letter_payload(
            device_id="ann-cgm", topic=topics.up("ann-cgm"),
            payload=glucose("ann-cgm", seq, 5000, now), received_at=now - age,
            rejections=[Rejection("out_of_range", "too high", 0)])

    assert site.letters.keep([letter(1, timedelta(days=40)), letter(2, timedelta(days=20)),
                              letter(3, timedelta(days=1))], now=now) == 3
    assert site.letters.keep([letter(3, timedelta(0))], now=now) == 0  # the same, again
    pruned = site.hearth("dead-letters", "prune", "--days", "10")
    assert pruned.exit_code == 0 and "forgot 2 dead letters" in pruned.output
    assert [x.times for x in site.letters.list()] == [2]

    assert site.letters.keep([letter(4, timedelta(days=31))], now=now) == 1
    keeper = site.keeper(retention_days=30)  # prunes when it starts, then hourly
    wait_until(lambda: keeper.pruned == 1, timeout=WAIT_S, message="the keeper's prune")
    assert site.letters.count() == 1
    assert site.hearth("dead-letters", "prune").output.startswith("forgot 0 dead letters")


def test_the_keeper_holds_letters_while_the_database_is_locked(
        site: Site, caplog: pytest.LogCaptureFixture) -> None:
    """Nothing acknowledged before it is stored; the failure logged once, without the
    letter's contents (a database error's text quotes them)."""
    import logging
    import sqlite3

    caplog.set_level(logging.INFO, logger="ingest")
    keeper = site.keeper()
    marker = 98765.4321
    lock = sqlite3.connect(site.db_path, timeout=WAIT_S)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        with sessions(site.broker.service_port) as service:
            ingest = service("hearth-ingest", SERVICE_PASSWORDS["hearth-ingest"])
            for seq in range(3):
                body = dead_letter_payload(
                    device_id="ann-cgm", topic=topics.up("ann-cgm"),
                    payload=glucose("ann-cgm", seq, marker, datetime.now(UTC)),
                    rejections=[Rejection("out_of_range", "too high", 0)],
                    received_at=datetime.now(UTC))
                assert ingest.publish(topics.dead("ann-cgm"), body) == 0
        wait_until(lambda: any("cannot store" in r.getMessage() for r in caplog.records),
                   timeout=WAIT_S, message="the failure logged")
        assert keeper.kept == 0
    finally:
        lock.rollback()
        lock.close()
    wait_until(lambda: site.letters.count() == 3, timeout=WAIT_S, message="letters stored")
    assert sum("cannot store" in r.getMessage() for r in caplog.records) == 1
    assert not [r for r in caplog.records if str(marker) in r.getMessage()
                or (r.exc_text and str(marker) in r.exc_text)]
