"""Shared fixtures: real servers on free loopback ports (tests/support/)."""

pytest_plugins = [
    "tests.support.mosquitto",
]
