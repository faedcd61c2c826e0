"""Run every benchmark in turn (`make bench`)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["bench.ingest", "bench.storage", "bench.gateway", "bench.coach", "bench.dashboard",
              "bench.backup", "bench.analytics", "bench.forecast"]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== {name}", flush=True)
        try:
            importlib.import_module(name).main([])
        except Exception as exc:  # report and go on to the next benchmark
            print(f"{name} failed: {exc!r}", flush=True)
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
