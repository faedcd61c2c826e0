#!/usr/bin/env bash
# Install everything the tests need, then run the whole suite.
# Servers (Mosquitto, InfluxDB, PostgreSQL, Chromium) are started by the tests'
# fixtures on free loopback ports in temporary directories.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-packages.sh
scripts/bootstrap.sh test
exec .venv/bin/python -m pytest "$@"
