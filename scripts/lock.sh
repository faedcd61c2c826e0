#!/usr/bin/env bash
# Regenerate the locks of the whole install from pyproject.toml, with every file's hash:
#   requirements-test.lock  runtime + test extras (scripts/bootstrap.sh, so `make test`)
#   requirements.lock       runtime only, the same versions (the Dockerfile)
# Run it after changing a pin in pyproject.toml; tests/test_lock.py fails until you do.
# The tool is pinned: uv 0.13.8 (installed into a throwaway venv when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
uv="${UV:-}"
if [ -z "$uv" ]; then
  tools="${TMPDIR:-/tmp}/hearth-lock-tools"
  if [ ! -x "$tools/bin/uv" ] || [ "$("$tools/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    python3 -m venv "$tools"
    "$tools/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  uv="$tools/bin/uv"
fi
common=(--generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28
        --custom-compile-command scripts/lock.sh)
"$uv" pip compile pyproject.toml --extra test "${common[@]}" -o requirements-test.lock --quiet
"$uv" pip compile pyproject.toml -c requirements-test.lock "${common[@]}" -o requirements.lock --quiet
