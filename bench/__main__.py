"""Run every benchmark in turn and write bench/results/latest.json and latest.md (`make bench`).

    python -m bench                  every benchmark at its full size but the long ones
                                     (under 30 minutes; `make bench`)
    python -m bench --long           every benchmark, footprint and scale too (~50 minutes)
    python -m bench --quick          every benchmark at a small size (a few minutes);
                                     results go to bench/results/quick/, not over the
                                     committed full-size results
    python -m bench --only coach     some benchmarks only (repeatable)
    python -m bench --report-only    re-render latest.* from the results on disk

Each benchmark is a module with ``main(argv)`` that writes ``<name>.json`` into its
module-level ``RESULTS`` path; the runner points that path at the output directory,
records when each benchmark started and ended and the load average around it
(``run.json``), keeps what it printed (``<name>.log``), and then bench/report.py
turns the results into one table, flagging any figure not written in this run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bench import hygiene, report

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Benchmark:
    name: str  # writes <name>.json
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    module: str = ""  # bench.<module>; the name when empty
    long: bool = False  # only with --long (or --only): too long for `make bench`'s 30 minutes


# `make bench` must finish in under 30 minutes on this machine (issue 22). The two
# longest benchmarks (footprint ~8 min, scale ~11 min in the committed runs, more
# under load) are opt-in: `python -m bench --long`, or `--only scale`.
BENCHMARKS = (  # issue 10's headline figures first, so that a run cut short still has them
    Benchmark("ingest", (), ("--quick", "--repeat", "1")),
    Benchmark("latency", (), ("--quick",)),
    # The saturated case on purpose (issues 15 and 22): the urgent path with two busy
    # loops beside the stack, against the idle stack of the same run.
    Benchmark("latency_hog", ("--hog", "2", "--output", "{out}/latency_hog.json"),
              ("--quick", "--hog", "2", "--output", "{out}/latency_hog.json"),
              module="latency"),
    Benchmark("footprint", (), ("--quick",), long=True),
    Benchmark("scale", (), ("--quick",), long=True),
    Benchmark("coach", (), ("--patients", "200", "--latency", "20", "--gap", "0.2",
                            "--workdir", "{tmp}/hearth-bench-coach-quick")),
    Benchmark("dashboard", (), ("--patients", "60", "--users", "4", "--requests", "3",
                                "--runs", "1", "--workdir", "{tmp}/hearth-bench-dashboard-quick")),
    Benchmark("storage", (), ("--quick", "--repeat", "1")),
    Benchmark("reads", (), ("--quick",)),
    Benchmark("analytics", (), ("--patients", "50", "--repeat", "5",
                                "--workdir", "{tmp}/hearth-bench-analytics-quick")),
    Benchmark("forecast", (), ("--days", "3", "--people", "1", "--workers", "2")),
    Benchmark("gateway", (), ("--readings", "1000", "--per-message", "200")),
    Benchmark("backup", (), ("--readings", "10000")),
)


class _Tee(io.TextIOBase):
    """Write to the terminal and to the benchmark's log."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def _say(text: str) -> None:
    """One line of the runner's output (sys.stdout is looked up now: it may be redirected)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _point_results_at(module: object, out: Path) -> None:
    """A benchmark's RESULTS is its results directory or its json file; move either to out."""
    current = getattr(module, "RESULTS", None)
    if current is None:
        return
    current = Path(current)
    target = out / current.name if current.suffix == ".json" else out
    module.RESULTS = target  # type: ignore[attr-defined]


def run_one(bench: Benchmark, *, quick: bool, out: Path) -> dict[str, object]:
    """Run one benchmark in this process; return its entry for run.json."""
    import tempfile

    argv = [a.format(tmp=tempfile.gettempdir(), out=out)
            for a in (bench.quick if quick else bench.full)]
    entry: dict[str, object] = {"name": bench.name, "argv": argv, "quick": quick}
    module_name = f"bench.{bench.module or bench.name}"
    if importlib.util.find_spec(module_name) is None:
        entry.update(status="missing", error=f"{module_name} does not exist yet")
        _say(f"\n=== {module_name}: not present, skipped")
        return entry
    _say(f"\n=== {module_name} {' '.join(argv)}")
    # bounded; a benchmark that could not wait is marked (a --quick smoke run never waits)
    quiet = hygiene.wait_for_quiet(0 if quick else None)
    entry["waited_for_quiet_s"], entry["loaded"] = quiet.waited_s, quiet.loaded
    if quiet.loaded:
        _say(f"(load {quiet.load:.1f} on {hygiene.CORES} cores after {quiet.waited_s:.0f} s: "
             "measured anyway, marked LOADED)")
    entry["started_at"] = datetime.now(UTC).isoformat()
    entry["load_start"] = [round(x, 2) for x in os.getloadavg()]
    cpu_began = hygiene.process_cpu()
    began = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with (out / f"{bench.name}.log").open("w") as log:
        tee = _Tee(sys.stdout, log)
        try:
            module = importlib.import_module(module_name)
            _point_results_at(module, out)
            with contextlib.redirect_stdout(tee):  # type: ignore[type-var]
                module.main(argv)
            entry["status"] = "ok"
        except BaseException as exc:  # report and go on to the next benchmark
            if isinstance(exc, KeyboardInterrupt):
                raise
            entry.update(status="failed", error=repr(exc))
            log.write(traceback.format_exc())
            _say(f"{module_name} failed: {exc!r}")
    entry["finished_at"] = datetime.now(UTC).isoformat()
    entry["seconds"] = round(time.perf_counter() - began, 1)
    # this process and the children it waited for (the servers, brokers and workers a
    # benchmark starts and stops); not other people's work
    entry["cpu_s"] = round(hygiene.process_cpu() - cpu_began, 1)
    entry["load_end"] = [round(x, 2) for x in os.getloadavg()]
    return entry


def merge(part: Path, out: Path) -> None:
    """Copy a part's results (keeping their modification times) and its run.json entries
    into ``out``; the run's window becomes the union of both."""
    import shutil

    theirs = json.loads((part / "run.json").read_text())
    ours_path = out / "run.json"
    ours = json.loads(ours_path.read_text()) if ours_path.exists() else {"benchmarks": []}
    names = {e["name"] for e in theirs["benchmarks"]}
    ours["benchmarks"] = [e for e in ours["benchmarks"] if e["name"] not in names]
    for entry in theirs["benchmarks"]:
        for suffix in (".json", ".log"):
            source = part / f"{entry['name']}{suffix}"
            if source.exists():
                shutil.copy2(source, out / source.name)
        ours["benchmarks"].append({**entry, "runner": str(part)})
    for key, pick in (("started_at", min), ("finished_at", max)):
        values = [v for v in (ours.get(key), theirs.get(key)) if v]
        if values:
            ours[key] = pick(values)
    ours.setdefault("parts", []).append(str(part))
    ours_path.write_text(json.dumps(ours, indent=2) + "\n")


def choose(only: list[str] | None, *, long: bool = False,
           quick: bool = False) -> list[Benchmark]:
    """The benchmarks named, else all but the long ones (all of them with --long or --quick)."""
    if only:
        return [b for b in BENCHMARKS if b.name in only]
    return [b for b in BENCHMARKS if long or quick or not b.long]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every benchmark at a small size")
    parser.add_argument("--only", action="append", choices=[b.name for b in BENCHMARKS],
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--long", action="store_true",
                        help="also the long benchmarks (footprint, scale): past 30 minutes")
    parser.add_argument("--out", type=Path, help="results directory (default bench/results, "
                        "or bench/results/quick with --quick)")
    parser.add_argument("--report-only", action="store_true",
                        help="do not run anything: render latest.* from run.json and the results")
    parser.add_argument("--merge", type=Path, metavar="DIR",
                        help="add the benchmarks of another run directory (a part of the suite "
                        "run at the same time by a second runner) to this one, then render")
    args = parser.parse_args(argv)
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    if args.merge:
        merge(args.merge, out)
    elif not args.report_only:
        chosen = choose(args.only, long=args.long, quick=args.quick)
        entries: list[dict[str, object]] = []
        run = {"started_at": datetime.now(UTC).isoformat(), "quick": args.quick,
               "cpus": os.cpu_count(), "benchmarks": entries,
               "left_out": [b.name for b in BENCHMARKS if b not in chosen]}
        suite_began = time.perf_counter()
        for bench in chosen:
            entries.append(run_one(bench, quick=args.quick, out=out))
            (out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
        run["finished_at"] = datetime.now(UTC).isoformat()
        run["seconds"] = round(time.perf_counter() - suite_began, 1)
        (out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    rows = report.write(out)
    _say(f"\n{report.markdown_table(rows)}\nwritten: {out / 'latest.json'}, {out / 'latest.md'}")
    run = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    return 1 if any(e.get("status") == "failed" for e in run.get("benchmarks", [])) else 0


if __name__ == "__main__":
    sys.exit(main())
