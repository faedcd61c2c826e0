"""docker-compose.yml's ``clustered`` profile, checked without Docker (as
tests/deploy/test_compose.py checks the rest): three RabbitMQ nodes that name each other,
each with its own data volume and host port, the settings tests/cluster proves on
loopback, and the services' logins with the passwords the Hearth services are given."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.deploy.test_compose import REPO, compose, hearth_variables, services
from tests.support.rabbitmq_cluster import RabbitCluster

CONF = REPO / "deploy" / "rabbitmq" / "rabbitmq.conf"


def conf() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in CONF.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def nodes() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services().items() if "clustered" in s.get("profiles", [])}


def test_the_clustered_profile_runs_three_broker_nodes_that_name_each_other() -> None:
    found = nodes()
    assert sorted(found) == ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"]
    peers = {v for k, v in conf().items()
             if k.startswith("cluster_formation.classic_config.nodes.")}
    assert peers == {f"rabbit@{s['hostname']}" for s in found.values()}
    assert len({str(s["image"]) for s in found.values()}) == 1
    data = [str(v) for s in found.values() for v in s["volumes"]
            if str(v).endswith(":/var/lib/rabbitmq")]
    assert len(set(data)) == 3 and all(v.split(":")[0] in compose()["volumes"] for v in data)
    for service in found.values():
        assert "./deploy/rabbitmq:/etc/rabbitmq/hearth:ro" in service["volumes"]
        assert service["entrypoint"][-1] == "/etc/rabbitmq/hearth/entrypoint.sh"
    # Mosquitto stays the default: nothing else is in the profile, no Hearth service needs it.
    for service in services().values():
        assert not set(service.get("depends_on", {})) & set(found)


def test_the_nodes_keep_sessions_as_the_tested_cluster_does(tmp_path: Path) -> None:
    shipped = conf()
    assert shipped["mqtt.durable_queue_type"] == "quorum"
    assert shipped["mqtt.allow_anonymous"] == "false"
    assert shipped["cluster_partition_handling"] == "pause_minority"
    assert shipped["mqtt.listeners.tcp.default"] == "1883"
    assert (REPO / "deploy" / "rabbitmq" / "enabled_plugins").read_text().strip() == (
        "[rabbitmq_mqtt].")
    # The loopback cluster of tests/cluster runs the same MQTT settings.
    tested = RabbitCluster(tmp_path, users={"x": "y"})
    text = (tested.nodes[0].workdir / "rabbitmq.conf").read_text()
    for key in ("mqtt.durable_queue_type", "mqtt.prefetch", "mqtt.allow_anonymous",
                "cluster_partition_handling", "mqtt.vhost", "mqtt.exchange"):
        assert f"{key} = {shipped[key]}" in text, key


def test_the_entrypoint_creates_each_service_login_with_its_password() -> None:
    entrypoint = (REPO / "deploy" / "rabbitmq" / "entrypoint.sh").read_text()
    logins = dict(re.findall(r'^add_user (\S+) "\$\{(\w+):-\}"', entrypoint, re.MULTILINE))
    assert set(logins) == {"hearth-ingest", "hearth-coach", "hearth-dashboard"}
    for node in nodes().values():
        environment = node["environment"]
        for url in {v["HEARTH_MQTT_URL"] for v in hearth_variables().values()
                    if "HEARTH_MQTT_URL" in v}:
            login = re.match(r"mqtt://([^:]+):([^@]+)@", url)
            assert login is not None, url
            user, password = login.groups()
            if user in logins:
                assert environment[logins[user]] == password, user
        assert "RABBITMQ_ERLANG_COOKIE_VALUE" in environment
