"""Device provisioning against the real broker (Mosquitto 2.0.11): generated password
file and ACL, refused logins, forged topics, private downlinks, revocation by reload."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core import topics
from core.appdb.directory import SqlDirectory
from core.provisioning import (
    SERVICE_RULES,
    Provisioner,
    ProvisioningError,
    ServiceAccount,
    hash_password_pbkdf2,
    hash_password_tool,
    mosquitto_passwd_tool,
    render,
    verify_password,
)
from tests.support.factories import app_database, register
from tests.support.mosquitto import MosquittoServer
from tests.support.mqtt_session import ACCEPTED, NOT_AUTHORIZED, sessions

REPO = Path(__file__).resolve().parents[2]
SERVICES = {"hearth-ingest": "ingest-pw", "hearth-coach": "coach-pw",
            "hearth-dashboard": "dashboard-pw"}


# --- the password hash, both ways -------------------------------------------------

def test_the_python_hash_is_mosquittos_format() -> None:
    hashed = hash_password_pbkdf2("s3cret pass", salt=bytes(range(12)))
    assert re.fullmatch(r"\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==", hashed)
    assert verify_password("s3cret pass", hashed)
    assert not verify_password("s3cret pasS", hashed)


def test_the_tool_and_python_agree() -> None:
    assert mosquitto_passwd_tool() is not None, "the mosquitto package provides mosquitto_passwd"
    from_tool = hash_password_tool("ünïcode and spaces")
    assert from_tool.startswith("$7$101$")
    assert verify_password("ünïcode and spaces", from_tool)
    assert not verify_password("unicode and spaces", from_tool)


# --- a household with credentials on a real broker --------------------------------

@dataclass
class Household:
    engine: Engine
    provisioner: Provisioner
    auth_dir: Path
    broker: MosquittoServer
    secrets: dict[str, str]

    def render(self) -> None:
        services = [ServiceAccount(u, hash_password_pbkdf2(p)) for u, p in SERVICES.items()]
        render(self.provisioner, self.auth_dir, services=services)


@pytest.fixture
def household(tmp_path: Path) -> Iterator[Household]:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [])
    register(engine, "bob", [])
    # One login hashed by mosquitto_passwd, the rest by the Python implementation:
    # the broker must accept both.
    provisioner = Provisioner(engine, hasher=hash_password_pbkdf2)
    issued = {
        "ann-cgm": Provisioner(engine).add(device_id="ann-cgm", patient_id="ann", kind="cgm"),
        "bob-cgm": provisioner.add(device_id="bob-cgm", patient_id="bob", kind="cgm"),
        "ann-hub": provisioner.add(device_id="ann-hub", patient_id="ann", kind="hub",
                                   role="gateway"),
        "bob-hub": provisioner.add(device_id="bob-hub", patient_id="bob", kind="hub",
                                   role="gateway"),
        "ann-xdrip": provisioner.add(device_id="ann-xdrip", patient_id="ann", kind="cgm",
                                     role="nightscout"),
    }
    provisioner.add(device_id="ann-meter", patient_id="ann", kind="meter", via="ann-hub")
    secrets = {k: v.secret for k, v in issued.items() if v.secret}
    secrets.update(SERVICES)
    auth = tmp_path / "auth"
    state = Household(engine, provisioner, auth, None, secrets)  # type: ignore[arg-type]
    state.render()
    state.broker = MosquittoServer(tmp_path / "broker", password_file=auth / "passwd",
                                   acl_file=auth / "acl")
    state.broker.start()
    yield state
    state.broker.kill()


def test_anonymous_and_wrong_passwords_are_refused(household: Household) -> None:
    with sessions(household.broker.port) as login:
        assert not login(None).accepted
        assert not login("ann-cgm", "not-the-secret").accepted
        assert not login("ann-meter", "").accepted  # forwarded by its gateway: no login
        assert not login("ann-xdrip", household.secrets["ann-xdrip"]).accepted  # HTTP only
        assert login("ann-cgm", household.secrets["ann-cgm"]).accepted  # mosquitto_passwd hash
        assert login("bob-cgm", household.secrets["bob-cgm"]).accepted  # Python hash


def test_a_device_cannot_publish_to_another_devices_topic(household: Household) -> None:
    s = household.secrets
    with sessions(household.broker.port) as login:
        ingest = login("hearth-ingest", s["hearth-ingest"])
        ingest.subscribe(topics.UP_ALL)
        ingest.subscribe(f"{topics.PREFIX}/status/+")  # not granted: nothing may arrive
        ann = login("ann-cgm", s["ann-cgm"])

        assert ann.publish(topics.up("bob-cgm"), b"forged") == NOT_AUTHORIZED
        assert ann.publish(topics.status("bob-cgm"), b"offline") == NOT_AUTHORIZED
        assert ann.publish(topics.ack("ann-cgm"), b"self-ack") == NOT_AUTHORIZED
        assert ann.publish(topics.up("ann-cgm"), b"mine") in ACCEPTED
        assert ingest.wait(lambda: ingest.received(topics.up("ann-cgm")) == [b"mine"])

        hub = login("ann-hub", s["ann-hub"])
        assert hub.publish(topics.up("ann-meter"), b"forwarded") in ACCEPTED
        assert hub.publish(topics.up("bob-cgm"), b"forged by a gateway") == NOT_AUTHORIZED
        assert hub.publish(topics.up("ann-hub"), b"hub itself") in ACCEPTED
        assert ingest.wait(lambda: len(ingest.messages) == 3)
        time.sleep(0.3)  # anything forged would have arrived by now
        assert ingest.topics() == {topics.up("ann-cgm"), topics.up("ann-meter"),
                                   topics.up("ann-hub")}


def test_the_dashboard_publishes_only_as_nightscout_uploaders(household: Household) -> None:
    """The repeated `user hearth-dashboard` block adds to the service's fixed rights."""
    s = household.secrets
    with sessions(household.broker.port) as login:
        ingest = login("hearth-ingest", s["hearth-ingest"])
        ingest.subscribe(topics.UP_ALL)
        dashboard = login("hearth-dashboard", s["hearth-dashboard"])
        assert dashboard.publish(topics.up("ann-cgm"), b"forged") == NOT_AUTHORIZED
        assert dashboard.publish(topics.up("ann-xdrip"), b"upload") in ACCEPTED
        assert ingest.wait(lambda: len(ingest.messages) == 1)
        assert ingest.topics() == {topics.up("ann-xdrip")}
        # Its fixed rights still hold: it reads device status, the broker's uptime.
        assert dashboard.subscribe("$SYS/broker/uptime") in (0, 1)
        assert dashboard.wait(lambda: "$SYS/broker/uptime" in dashboard.topics(), timeout=5)


def test_a_device_reads_only_its_own_downlink(household: Household) -> None:
    s = household.secrets
    with sessions(household.broker.port) as login:
        ann_cgm = login("ann-cgm", s["ann-cgm"])
        ann_hub = login("ann-hub", s["ann-hub"])
        bob_hub = login("bob-hub", s["bob-hub"])
        for session in (ann_cgm, ann_hub, bob_hub):
            session.subscribe("hearth/v1/#")  # Mosquitto 2.0 checks reads message by message
        ingest = login("hearth-ingest", s["hearth-ingest"])
        coach = login("hearth-coach", s["hearth-coach"])
        for device in ("ann-cgm", "bob-cgm", "ann-hub", "ann-meter", "bob-hub"):
            assert ingest.publish(topics.ack(device), device.encode()) in ACCEPTED
        for patient in ("ann", "bob"):
            assert coach.publish(topics.down(patient), patient.encode()) in ACCEPTED
        assert coach.publish(topics.ack("ann-cgm"), b"coach may not ack") == NOT_AUTHORIZED

        assert ann_hub.wait(lambda: len(ann_hub.messages) == 3)
        assert bob_hub.wait(lambda: len(bob_hub.messages) == 2)
        assert ann_cgm.wait(lambda: len(ann_cgm.messages) == 1)
        time.sleep(0.3)
        assert ann_cgm.topics() == {topics.ack("ann-cgm")}  # a plain device: no nudges
        assert ann_hub.topics() == {topics.ack("ann-hub"), topics.ack("ann-meter"),
                                    topics.down("ann")}
        assert bob_hub.topics() == {topics.ack("bob-hub"), topics.down("bob")}


def test_a_revoked_device_is_refused_after_a_reload(household: Household) -> None:
    s = household.secrets
    with sessions(household.broker.port) as login:
        ingest = login("hearth-ingest", s["hearth-ingest"])
        ingest.subscribe(topics.UP_ALL)
        connected = login("ann-cgm", s["ann-cgm"])
        assert connected.publish(topics.up("ann-cgm"), b"before") in ACCEPTED

        household.provisioner.revoke("ann-cgm")
        household.render()
        household.broker.reload()  # SIGHUP: no restart

        assert not login("ann-cgm", s["ann-cgm"]).accepted
        # The session it had open is closed by the reload, and its reconnects are refused.
        assert connected.wait(lambda: NOT_AUTHORIZED in connected.connack[1:], timeout=10)
        assert connected.publish(topics.up("ann-cgm"), b"after", wait=2) is None
        assert login("bob-cgm", s["bob-cgm"]).accepted  # everyone else is unaffected
        time.sleep(0.3)
        assert ingest.received(topics.up("ann-cgm")) == [b"before"]
    binding = SqlDirectory(household.engine).binding("ann-cgm")
    assert binding is not None and not binding.active  # ingest refuses its data too


def test_registration_rules(household: Household) -> None:
    p = household.provisioner
    with pytest.raises(ProvisioningError, match="no patient"):
        p.add(device_id="x-1", patient_id="nobody", kind="cgm")
    with pytest.raises(ProvisioningError, match="topic level"):
        p.add(device_id="a/b", patient_id="ann", kind="cgm")
    with pytest.raises(ProvisioningError, match="another patient"):
        p.add(device_id="ann-cgm", patient_id="bob", kind="cgm")
    with pytest.raises(ProvisioningError, match="not an active gateway"):
        p.add(device_id="x-2", patient_id="ann", kind="meter", via="ann-cgm")
    with pytest.raises(ProvisioningError, match="another patient"):
        p.add(device_id="x-3", patient_id="ann", kind="meter", via="bob-hub")
    with pytest.raises(ProvisioningError, match="service account"):
        p.add(device_id="hearth-ingest", patient_id="ann", kind="cgm")
    roles = {a.device_id: (a.role, a.active) for a in p.accounts()}
    assert roles["ann-meter"] == ("linked", True) and roles["ann-xdrip"] == ("nightscout", True)
    # Re-registering issues a new secret; the old one stops working at the next render.
    again = p.add(device_id="bob-cgm", patient_id="bob", kind="cgm")
    assert again.secret and again.secret != household.secrets["bob-cgm"]
    household.render()
    household.broker.reload()
    with sessions(household.broker.port) as login:
        assert not login("bob-cgm", household.secrets["bob-cgm"]).accepted
        assert login("bob-cgm", again.secret).accepted


def test_the_deploy_acl_grants_the_services_what_the_generator_grants() -> None:
    """deploy/mosquitto/acl (the compose broker's service rights) and SERVICE_RULES agree."""
    blocks: dict[str, list[str]] = {}
    user = None
    for line in (REPO / "deploy" / "mosquitto" / "acl").read_text().splitlines():
        if line.startswith("user "):
            user = line.split()[1]
            blocks[user] = []
        elif line.startswith("topic ") and user is not None:
            blocks[user].append(line.removeprefix("topic "))
    assert {u: tuple(r) for u, r in blocks.items()} == SERVICE_RULES
