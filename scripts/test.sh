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
# workers than cores pays (4 on 2 cores: docs/STYLE.md, Tests). Each file runs on one
# worker, in its own order, the largest files handed out first (--dist loadfile): a file's
# module-scoped fixture is built once and its tests may build on each other. (loadgroup
# does not group under pytest 9.2 with xdist 3.8: the worker's @group suffix never reaches
# the node ids; docs/STYLE.md.)
# HEARTH_TEST_WORKERS=0 runs it in one process; arguments after these override them.
exec .venv/bin/python -m pytest -n "${HEARTH_TEST_WORKERS:-4}" --dist loadfile \
    --durations=30 "$@"
