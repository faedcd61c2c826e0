#!/usr/bin/env bash
# Install Hearth and run the whole system on its embedded defaults with demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/hearth up "$@"
