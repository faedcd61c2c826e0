#!/usr/bin/env bash
# Create the virtual environment and install Hearth with the given extras.
# Usage: scripts/bootstrap.sh [extras]   (e.g. "test")
# Every dependency comes from a lock with hashes (scripts/lock.sh writes them):
# requirements-test.lock with the test extras, requirements.lock without; then
# Hearth itself, editable, which must find everything it needs already there.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
pip=(.venv/bin/python -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install pip==26.3
lock=requirements.lock
[[ ",$extras," == *,test,* ]] && lock=requirements-test.lock
"${pip[@]}" install --require-hashes --no-deps -r "$lock"
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
# Without --no-deps, so pip checks the lock satisfies pyproject.toml (and adds an
# unlocked extra such as ble).
"${pip[@]}" install -e "$spec"
