#!/usr/bin/env bash
# Create the virtual environment and install Hearth with the given extras.
# Usage: scripts/bootstrap.sh [extras]   (e.g. "test")
# Every dependency comes from a lock with hashes (scripts/lock.sh writes them):
# requirements-test.lock with the test extras, requirements.lock without; then
# Hearth itself, editable, which must find everything it needs already there.
# The installer is uv (pinned; about 30 s for a fresh venv here, where pip takes
# minutes): it checks every hash and never resolves anything of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
uv=(.venv/bin/uv pip install --quiet --python .venv/bin/python)
lock=requirements.lock
[[ ",$extras," == *,test,* ]] && lock=requirements-test.lock
"${uv[@]}" --require-hashes --no-deps -r "$lock"
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
# Without --no-deps, so uv checks that the lock satisfies pyproject.toml (an extra
# outside the lock, such as ble, is added here).
"${uv[@]}" -e "$spec"
