#!/usr/bin/env bash
# Install everything the tests need, then run the whole suite.
# Servers (Mosquitto, InfluxDB, PostgreSQL, Chromium) are started by the tests'
# fixtures on free loopback ports in temporary directories.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-packages.sh
scripts/bootstrap.sh test
# One OpenMP/BLAS thread per process: the suite runs several scikit-learn users at once
# on 2 cores, and their default thread pools fight (the forecast tests: 240 s -> 14 s).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec .venv/bin/python -m pytest "$@"
