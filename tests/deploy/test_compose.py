"""docker-compose.yml, checked without Docker: it must run as it is once .env is filled in.

Compose cannot run here, so this reads the file as Compose would (YAML with
merge keys, ``${VAR}`` interpolation from .env.example) and checks it against
the code: every command is a `hearth` subcommand with valid options, every
HEARTH_* variable is one a Settings class accepts (and accepts with that
value), every URL points at a service on the port it listens on with the
credentials that service was given, and ports, volumes, health checks and
start-up order hang together.
"""

from __future__ import annotations

import copy
import functools
import importlib
import pkgutil
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import click
import pytest
import yaml
from pydantic_settings import BaseSettings

from core.config import HearthSettings
from core.contract import MAX_PAYLOAD_BYTES, encode_message
from core.mqtt import MqttEndpoint
from core.timeseries.influxdb import InfluxSettings
from hearth.cli import COMMANDS, main
from ingest.deadletter import DEAD_LETTER_MAX_BYTES

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
MOSQUITTO_DIR = REPO / "deploy" / "mosquitto"
SERVICE_PACKAGES = ("core", "analytics", "care", "devices", "gateway", "ingest", "coach",
                    "dashboard", "hearth")
# Read with os.environ rather than a Settings class; the file named must still read it.
DIRECT_VARIABLES = {"HEARTH_LOG_LEVEL": REPO / "core" / "logs.py"}
# The promise in docs/DEPLOY.md: a 24-hour ingest outage at 10,000 patients.
PROMISED_PATIENTS, MESSAGES_PER_PATIENT_DAY, OUTAGE_DAYS = 10_000, 350, 1.0
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


# -- reading the file as Compose does --------------------------------------------------------


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def filled_env() -> dict[str, str]:
    """.env.example with each empty required value filled as a user would (URL-safe, random-ish)."""
    return {name: value or f"{name.lower().replace('_', '')}0123456789abcdef"
            for name, value in env_example().items()}


def interpolate(text: str, env: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name)
        if op in (":-", "-"):
            return value if value or (op == "-" and value is not None) else arg
        if op in (":?", "?") and not value:
            raise AssertionError(f"compose would refuse to start: {name}: {arg}")
        assert value is not None, f"${{{name}}} is neither in .env.example nor defaulted"
        return value

    return _VARIABLE.sub(replace, text)


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    text = interpolate(COMPOSE.read_text(), env or filled_env())
    return copy.deepcopy(_parsed(text))  # a copy: a test may change what it gets


@functools.lru_cache(maxsize=8)
def _parsed(text: str) -> dict[str, Any]:
    """The YAML parse, once per distinct text (the helpers below ask for it often)."""
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def app_services() -> dict[str, dict[str, Any]]:
    """The services that run the Hearth image."""
    return {name: s for name, s in services().items() if "build" in s}


def mosquitto_conf() -> dict[str, str]:
    conf = {}
    for line in (MOSQUITTO_DIR / "mosquitto.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf.setdefault(key, value.strip())
    return conf


def mosquitto_listeners() -> dict[int, dict[str, str]]:
    """Each listener's own settings (per_listener_settings), by port."""
    listeners: dict[int, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in (MOSQUITTO_DIR / "mosquitto.conf").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key == "listener":
            current = listeners.setdefault(int(value.split()[0]), {})
        elif current is not None and key in ("allow_anonymous", "password_file", "acl_file",
                                             "use_username_as_clientid"):
            current[key] = value.strip()
        else:
            current = None  # a global setting ends the listener's block
    return listeners


def device_and_service_listeners() -> tuple[int, int]:
    (device,) = [p for p, c in mosquitto_listeners().items()
                 if c.get("use_username_as_clientid") == "true"]
    (service,) = [p for p in mosquitto_listeners() if p != device]
    return device, service


def container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).rsplit(":", 1)[-1]) for p in service.get("ports", [])}


def host_ports(service: dict[str, Any]) -> list[str]:
    return [str(p).rsplit(":", 1)[0] for p in service.get("ports", [])]


# -- the environment ---------------------------------------------------------------------------


def test_env_example_names_exactly_the_variables_compose_uses() -> None:
    used = {m.group("name") for m in _VARIABLE.finditer(COMPOSE.read_text()) if m.group("name")}
    assert used == set(env_example())


def test_compose_refuses_to_start_without_the_secrets() -> None:
    with pytest.raises(AssertionError, match="compose would refuse to start"):
        compose(env_example())


# -- commands ---------------------------------------------------------------------------------


def _command_cases() -> Iterator[Any]:
    for name, service in app_services().items():
        yield pytest.param(service["command"], id=name)
        for test in _healthcheck_hearth_commands(service):
            yield pytest.param(test, id=f"{name}-healthcheck")


def _healthcheck_hearth_commands(service: dict[str, Any]) -> list[list[str]]:
    test = service.get("healthcheck", {}).get("test", [])
    if test[:2] == ["CMD", "hearth"]:
        return [test[2:]]
    return []


@pytest.mark.parametrize("command", list(_command_cases()))
def test_every_command_is_a_hearth_subcommand_with_valid_options(command: list[str]) -> None:
    assert command[0] in COMMANDS, f"`hearth {command[0]}` does not exist"
    subcommand = main.get_command(click.Context(main), command[0])
    assert subcommand is not None
    # Parsing (not running) refuses unknown options and bad values.
    subcommand.make_context(f"hearth {command[0]}", list(command[1:]))


def test_the_image_runs_hearth_as_its_entrypoint_and_holds_every_package() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["hearth"]' in dockerfile
    for package in SERVICE_PACKAGES:
        assert f"COPY {package} ./{package}" in dockerfile, f"the image lacks {package}/"
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")


# -- settings ---------------------------------------------------------------------------------


def settings_classes() -> list[type[BaseSettings]]:
    """Every Settings class in core.config and in a `settings` module of any package."""
    modules = ["core.config"]
    for package in SERVICE_PACKAGES:
        path = REPO / package
        modules += [f"{package}.{m.name}" for m in pkgutil.iter_modules([str(path)])
                    if m.name == "settings"]
    classes = []
    for module in map(importlib.import_module, modules):
        classes += [v for v in vars(module).values() if isinstance(v, type)
                    and issubclass(v, BaseSettings) and v is not BaseSettings
                    and v.__module__ == module.__name__]
    return classes


def accepted_variables() -> dict[str, type[BaseSettings]]:
    accepted = {}
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        for field in cls.model_fields:
            accepted[f"{prefix}{field.upper()}"] = cls
    return accepted


def hearth_variables() -> dict[str, dict[str, str]]:
    """HEARTH_* variables of each app service."""
    return {name: {k: str(v) for k, v in s.get("environment", {}).items()
                   if k.startswith("HEARTH_")}
            for name, s in app_services().items()}


@pytest.mark.parametrize("service", sorted(app_services()))
def test_every_hearth_variable_is_one_the_settings_accept(service: str) -> None:
    accepted = accepted_variables()
    for name in hearth_variables()[service]:
        if name in DIRECT_VARIABLES:
            assert name in DIRECT_VARIABLES[name].read_text(), f"nothing reads {name} any more"
            continue
        assert name in accepted, f"{service}: no Settings class accepts {name}"


@pytest.mark.parametrize("service", sorted(app_services()))
def test_the_settings_accept_the_values_too(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in hearth_variables()[service].items():
        monkeypatch.setenv(name, value)
    for cls in {cls for name, cls in accepted_variables().items()
                if name in hearth_variables()[service]}:
        cls()  # a ValidationError names the variable and the problem
    settings = HearthSettings()
    assert settings.environment == "production"
    if settings.timeseries_url:
        InfluxSettings.from_url(settings.timeseries_url)
    if settings.mqtt_url:
        MqttEndpoint.parse(settings.mqtt_url)


# -- the servers, their ports and credentials -------------------------------------------------


def _one_value(variable: str) -> set[str]:
    return {v[variable] for v in hearth_variables().values() if variable in v}


def test_the_broker_url_points_at_mosquitto_with_users_it_knows() -> None:
    assert mosquitto_conf()["per_listener_settings"] == "true"
    broker = services()["mosquitto"]
    device_port, listener_port = device_and_service_listeners()
    # Devices reach their listener from outside; the services' listener stays inside.
    assert container_ports(broker) == {device_port}
    assert f"-p {listener_port} -u hearth-dashboard" in broker["healthcheck"]["test"][1]
    entrypoint = (MOSQUITTO_DIR / "entrypoint.sh").read_text()
    acl_users = set(re.findall(r"^user (\S+)", (MOSQUITTO_DIR / "acl").read_text(), re.MULTILINE))
    for url in _one_value("HEARTH_MQTT_URL"):
        endpoint = MqttEndpoint.parse(url)
        assert (endpoint.host, endpoint.port) == ("mosquitto", listener_port)
        assert endpoint.username in acl_users
        password_variable = re.search(
            rf"add_user \"\$services.new\" {re.escape(str(endpoint.username))} "
            rf"\"\$\{{(\w+):-\}}\"", entrypoint)
        assert password_variable, f"entrypoint.sh does not create {endpoint.username}"
        assert broker["environment"][password_variable.group(1)] == endpoint.password


def test_the_store_url_points_at_influxdb_with_its_user() -> None:
    influx = services()["influxdb"]
    (url,) = _one_value("HEARTH_TIMESERIES_URL")
    settings = InfluxSettings.from_url(url)
    assert settings.base_url == "http://influxdb:8086"
    assert 8086 in container_ports(influx)
    environment = influx["environment"]
    assert settings.database == environment["INFLUXDB_DB"]
    assert (settings.username, settings.password) == (
        environment["INFLUXDB_USER"], environment["INFLUXDB_USER_PASSWORD"])
    assert environment["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    # docs/STORAGE.md: the default limits refuse writes before 100,000 patients.
    assert environment["INFLUXDB_DATA_MAX_SERIES_PER_DATABASE"] == "0"
    assert environment["INFLUXDB_DATA_MAX_VALUES_PER_TAG"] == "0"


def test_the_database_url_points_at_postgres_with_its_user() -> None:
    postgres = services()["postgres"]
    (url,) = _one_value("HEARTH_DATABASE_URL")
    parsed = urlparse(url)
    assert parsed.scheme == "postgresql+psycopg"
    assert (parsed.hostname, parsed.port) == ("postgres", 5432)
    assert 5432 in container_ports(postgres)
    environment = postgres["environment"]
    assert parsed.path.strip("/") == environment["POSTGRES_DB"]
    assert (parsed.username, unquote(str(parsed.password))) == (
        environment["POSTGRES_USER"], environment["POSTGRES_PASSWORD"])


def test_published_ports_are_distinct_and_match_what_listens() -> None:
    published = [p for s in services().values() for p in host_ports(s)]
    assert len(published) == len(set(published))
    dashboard = services()["dashboard"]
    port = dashboard["command"][dashboard["command"].index("--port") + 1]
    assert container_ports(dashboard) == {int(port)}
    assert port in " ".join(dashboard["healthcheck"]["test"])
    # The servers that hold health data are reachable from the host's loopback only.
    for name in ("influxdb", "postgres"):
        assert all(p.startswith("127.0.0.1:") for p in host_ports(services()[name])), name


# -- volumes ------------------------------------------------------------------------------


def test_named_volumes_are_declared_and_used_and_bind_mounts_exist() -> None:
    declared = set(compose()["volumes"])
    used = set()
    for service in services().values():
        for volume in service.get("volumes", []):
            source, target = str(volume).split(":")[:2]
            if source.startswith("."):
                assert (REPO / source).exists(), f"bind mount {source} is not in the repository"
            else:
                used.add(source)
            assert target.startswith("/")
    assert used == declared


def test_the_mosquitto_configuration_lives_where_it_is_mounted() -> None:
    broker = services()["mosquitto"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in broker["volumes"]}
    assert mounts["/mosquitto/config"] == "./deploy/mosquitto"
    assert mounts["/mosquitto/data"] == "mosquitto-data"
    conf = mosquitto_conf()
    assert conf["persistence_location"].startswith("/mosquitto/data")
    device, service = (mosquitto_listeners()[p] for p in device_and_service_listeners())
    # Built at start by the entrypoint, outside the read-only mount.
    assert device["acl_file"] == service["acl_file"] == "/mosquitto/run/acl"
    assert device["password_file"] == "/mosquitto/run/devices.passwd"
    assert service["password_file"] == "/mosquitto/run/services.passwd"
    assert device["allow_anonymous"] == service["allow_anonymous"] == "false"
    entrypoint = (MOSQUITTO_DIR / "entrypoint.sh").read_text()
    assert "run=${MOSQUITTO_RUN_DIR:-/mosquitto/run}" in entrypoint
    assert "services=$run/services.passwd" in entrypoint
    assert "devices=$run/devices.passwd" in entrypoint and "acl=$run/acl" in entrypoint
    assert "config=${MOSQUITTO_CONFIG_DIR:-/mosquitto/config}" in entrypoint
    assert 'mosquitto -c "$config/mosquitto.conf"' in entrypoint
    assert broker["entrypoint"][-1] == "/mosquitto/config/entrypoint.sh"


def test_the_broker_keeps_what_it_promised() -> None:
    conf = mosquitto_conf()
    assert conf["allow_anonymous"] == "false"
    assert conf["persistence"] == "true"
    # With every ingest replica down, each session queues its share of the traffic.
    replicas = len(ingest_services())
    per_session = PROMISED_PATIENTS * MESSAGES_PER_PATIENT_DAY * OUTAGE_DAYS / replicas
    queued = int(conf["max_queued_messages"])
    assert queued >= per_session, f"max_queued_messages {queued} < {per_session:.0f}"
    # A session's bytes are bounded (a flood of large messages cannot exhaust the broker)
    # and still hold the promised outage of ordinary readings (docs/DEPLOY.md, "Limits").
    ordinary = len(encode_message(device_id="x" * 40, seq=10**9, readings=[{
        "metric": "glucose", "unit": "mg/dL", "source": "cgm", "value": 104,
        "time": "2026-11-23T08:00:00Z"}]))
    assert 0 < int(conf["max_queued_bytes"])
    assert per_session * ordinary <= int(conf["max_queued_bytes"]), ordinary
    # Every legitimate message, and ingest's dead letter of it, fits in a packet.
    packet = int(conf["max_packet_size"])
    assert MAX_PAYLOAD_BYTES < DEAD_LETTER_MAX_BYTES + 2 + 143 + 5 + 2 < packet


# -- health and order -------------------------------------------------------------------------


def test_every_long_running_service_has_a_health_check_and_restarts() -> None:
    for name, service in services().items():
        if service.get("restart") == "no":
            continue
        assert "healthcheck" in service, name
        assert service["restart"] in ("unless-stopped", "always"), name


def test_services_start_after_what_they_need() -> None:
    everything = services()
    for name, service in app_services().items():
        needs = service.get("depends_on", {})
        assert set(needs) <= set(everything), name
        assert needs["postgres"]["condition"] == "service_healthy", name
        if name != "migrate":
            for server in ("mosquitto", "influxdb"):
                assert needs[server]["condition"] == "service_healthy", name
            assert needs["migrate"]["condition"] == "service_completed_successfully", name
    assert everything["migrate"]["command"] == ["migrate"]


# -- horizontal ingest ------------------------------------------------------------------------


def ingest_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in app_services().items() if s["command"][0] == "ingest"}


def test_ingest_replicas_share_one_subscription_under_their_own_fixed_ids() -> None:
    replicas = ingest_services()
    assert len(replicas) >= 2
    env = [s["environment"] for s in replicas.values()]
    assert len({e["HEARTH_INGEST_SHARED_GROUP"] for e in env}) == 1
    client_ids = [e["HEARTH_INGEST_CLIENT_ID"] for e in env]
    assert len(set(client_ids)) == len(client_ids)
    # A dead replica's share waits in its session until it returns (docs/DEPLOY.md).
    assert all(int(e["HEARTH_INGEST_SESSION_EXPIRY_S"]) >= 86_400 for e in env)
    acl = (MOSQUITTO_DIR / "acl").read_text()
    group = env[0]["HEARTH_INGEST_SHARED_GROUP"]
    assert f"topic read $share/{group}/hearth/v1/up/+" in acl


def test_health_check_commands_are_well_formed_shell() -> None:
    for name, service in services().items():
        test = service.get("healthcheck", {}).get("test", [])
        if test and test[0] == "CMD-SHELL":
            shlex.split(test[1])  # raises on unbalanced quotes
        else:
            assert not test or test[0] == "CMD", name


def test_the_dead_letter_keeper_runs_before_ingest_as_ingests_login() -> None:
    """Its persistent session must exist before ingest refuses a message, or the broker
    drops that letter (docs/DEPLOY.md, "Dead letters")."""
    keeper = services()["dead-letters"]
    assert keeper["command"] == ["dead-letters", "keep"]
    url = MqttEndpoint.parse(keeper["environment"]["HEARTH_MQTT_URL"])
    assert url.username == "hearth-ingest"
    assert "topic read hearth/v1/dead/+" in (MOSQUITTO_DIR / "acl").read_text()
    for name, replica in ingest_services().items():
        assert replica["depends_on"]["dead-letters"]["condition"] == "service_healthy", name


def test_the_safety_path_may_take_the_cpu_first() -> None:
    """Ingest's priority lane and the coach's urgent lane lower their nice value
    (core/cpu_priority.py), which needs CAP_SYS_NICE inside a container."""
    services = compose()["services"]
    for name in ("ingest-1", "ingest-2", "coach"):
        assert "SYS_NICE" in services[name].get("cap_add", []), name
    assert "SYS_NICE" not in services["dashboard"].get("cap_add", [])
