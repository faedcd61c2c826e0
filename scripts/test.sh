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
# The suite on pytest-xdist workers: most tests wait on servers and processes, so more
# workers than cores pays (4 on 2 cores: docs/STYLE.md, Tests). Files that share a
# fixture stay on one worker; slow tests are handed out first (tests/support/parallel.py).
# HEARTH_TEST_WORKERS=0 runs it in one process; arguments after these override them.
exec .venv/bin/python -m pytest -n "${HEARTH_TEST_WORKERS:-4}" --dist loadgroup \
    --no-loadscope-reorder --durations=30 "$@"
