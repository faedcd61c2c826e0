"""Several broker addresses in one MQTT URL (docs/DEPLOY.md, "A clustered broker"): the
URL's parsing, and a client moving to the next broker when its broker dies, with the
service's own disconnect callback still called, on two real Mosquittos."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from core.errors import ConfigurationError
from core.mqtt import MQTT_V5, MQTT_V311, MqttEndpoint, connect, new_client


def test_a_url_may_list_the_brokers_of_a_cluster() -> None:
    one = MqttEndpoint.parse("mqtt://ingest:s3cret@node-1:1883")
    assert one.alternates == () and one.addresses == (("node-1", 1883),)
    many = MqttEndpoint.parse("mqtt://ingest:a,b@node-1:1883, mqtt://ingest:a,b@node-2:1884,"
                              "mqtt://ingest:a,b@node-3")
    assert (many.host, many.port, many.username, many.password) == (
        "node-1", 1883, "ingest", "a,b")  # a comma in the password is not a separator
    assert many.addresses == (("node-1", 1883), ("node-2", 1884), ("node-3", 1883))
    with pytest.raises(ConfigurationError, match="share"):
        MqttEndpoint.parse("mqtt://ingest:a@node-1:1883,mqtt://coach:b@node-2:1883")
    with pytest.raises(ConfigurationError, match="share"):
        MqttEndpoint.parse("mqtt://node-1:1883,mqtts://node-2:8883")


def _wait(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.mark.parametrize("protocol", [MQTT_V311, MQTT_V5])
def test_a_client_moves_to_the_next_broker_when_its_broker_dies(
        mosquitto_factory: Any, protocol: str) -> None:
    first, second = mosquitto_factory(), mosquitto_factory()
    first.start()
    second.start()
    connected: list[int] = []
    lost = threading.Event()
    client = new_client(f"failover-{protocol}", protocol=protocol, clean_session=False)
    client.on_connect = lambda c, _u, _f, reason, _p: connected.append(c.port)
    client.on_disconnect = lambda *_a: lost.set()  # the service's own callback
    endpoint = MqttEndpoint.parse(f"{first.url},{second.url}")
    connect(client, endpoint)
    client.loop_start()
    try:
        _wait(lambda: connected == [first.port])
        first.kill()
        _wait(lambda: connected == [first.port, second.port])
        assert lost.is_set()
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_dead_first_address_is_skipped(mosquitto_factory: Any) -> None:
    live = mosquitto_factory()
    live.start()
    gone = mosquitto_factory()  # configured, never started: nothing listens on its port
    connected = threading.Event()
    client = new_client("failover-skip", protocol=MQTT_V311)
    client.on_connect = lambda c, *_a: connected.set() if c.port == live.port else None
    connect(client, MqttEndpoint.parse(f"{gone.url},{live.url}"))
    client.loop_start()
    try:
        assert connected.wait(60)
    finally:
        client.disconnect()
        client.loop_stop()
