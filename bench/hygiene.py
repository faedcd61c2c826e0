"""Benchmark hygiene shared by every benchmark (issue 22: figures a noisy machine cannot fool).

The machine these benchmarks run on is shared; another engineer's test run can
double a wall-clock figure. So every figure carries what it was measured under:

- the 1-minute load average at its start and at its end;
- the CPU time it cost (this process, its waited-for children, and any other
  processes named, e.g. a server started with ``subprocess.Popen`` and its workers)
  beside its wall time: CPU time is what the load does not inflate the way it
  inflates the wall clock;
- whether it was **loaded**: before each figure :func:`wait_for_quiet` waits (bounded,
  60 s by default) for the 1-minute load average to drop below the number of cores,
  and a figure whose wait ran out is marked ``loaded`` (measured anyway, and said so).

A figure is a ratio against a baseline measured in the same run, alternating with it
(:func:`alternate`: baseline, figure, baseline, figure, ...), so that both meet the same
load; the ratio of each round and their median are printed and kept.

    from bench import hygiene

    with hygiene.measure("trends, cold", pids=[server.pid]) as fig:
        ...                       # the work
    fig.as_dict()                 # wall_s, cpu_s, load_start, load_end, loaded, waited_s

    pairs = hygiene.alternate("ingest 20/msg", run_hearth, "do-nothing", run_null,
                              rounds=3, value=lambda r: r["readings_per_s"])
    pairs.summary()               # per-round ratios, median ratio, loads, CPU

Environment: ``HEARTH_BENCH_QUIET_WAIT`` (seconds, default 60; 0 = never wait)
bounds each wait, ``HEARTH_BENCH_QUIET_BUDGET`` (default 300) all waits of the process
together; ``HEARTH_BENCH_QUIET_LOAD`` overrides the load threshold (default the number
of cores).
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

CORES = os.cpu_count() or 1
MAX_WAIT_S = float(os.environ.get("HEARTH_BENCH_QUIET_WAIT", "60"))
QUIET_LOAD = float(os.environ.get("HEARTH_BENCH_QUIET_LOAD", str(CORES)))
# All the waiting one process may do (the whole suite runs in one): on a machine that
# stays loaded, waiting 60 s before every figure would eat `make bench`'s 30 minutes, so
# once this is spent figures are measured at once and marked LOADED.
WAIT_BUDGET_S = float(os.environ.get("HEARTH_BENCH_QUIET_BUDGET", "300"))
_waited_total = 0.0


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def load1() -> float:
    return round(os.getloadavg()[0], 2)


@dataclass
class Quiet:
    """What :func:`wait_for_quiet` found: the load when the figure started."""

    load: float
    waited_s: float
    loaded: bool  # the load was still >= the threshold when the wait ran out


def wait_for_quiet(max_wait_s: float | None = None, threshold: float | None = None,
                   *, poll_s: float = 2.0) -> Quiet:
    """Wait until the 1-minute load average is below ``threshold`` (the number of cores),
    at most ``max_wait_s``; a condition polled, never a fixed sleep."""
    global _waited_total
    limit = QUIET_LOAD if threshold is None else threshold
    budget = MAX_WAIT_S if max_wait_s is None else max_wait_s
    budget = max(0.0, min(budget, WAIT_BUDGET_S - _waited_total))
    began = time.monotonic()
    while True:
        now = load1()
        waited = time.monotonic() - began
        if now < limit or waited >= budget:
            _waited_total += waited
            return Quiet(now, round(waited, 1), now >= limit)
        time.sleep(min(poll_s, max(0.1, budget - waited)))


def process_cpu() -> float:
    """CPU seconds so far of this process (every thread) and its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


_own_cpu = process_cpu


def tree_cpu(pids: Iterable[int]) -> float:
    """CPU seconds (user + system) so far of these processes and their live descendants."""
    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system
    return total


@dataclass
class Figure:
    """One measured figure and the conditions it was measured under."""

    name: str
    wall_s: float = 0.0
    cpu_s: float = 0.0  # this process + its waited-for children + the named processes' trees
    load_start: float = 0.0
    load_end: float = 0.0
    waited_s: float = 0.0
    loaded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(out.pop("extra"))
        return out

    def conditions(self) -> str:
        """One line: the wall, the CPU and the load it was measured under."""
        mark = " LOADED" if self.loaded else ""
        return (f"wall {self.wall_s:.2f} s, CPU {self.cpu_s:.2f} s, load {self.load_start:.1f} -> "
                f"{self.load_end:.1f} on {CORES} cores{mark}"
                + (f" (waited {self.waited_s:.0f} s for quiet)" if self.waited_s >= 1 else ""))


@contextmanager
def measure(name: str, *, pids: Iterable[int] = (), wait: bool = True,
            max_wait_s: float | None = None, say: bool = True) -> Iterator[Figure]:
    """Time the block: wall and CPU time, the load at its start and end; wait for quiet
    first (``wait``), marking the figure ``loaded`` when the wait ran out.

    ``pids``: other processes whose CPU (with their descendants) counts, such as a server
    under test; their CPU is sampled at the start and the end, so they must outlive the block.
    """
    fig = Figure(name)
    if wait:
        quiet = wait_for_quiet(max_wait_s)
        fig.waited_s, fig.loaded = quiet.waited_s, quiet.loaded
    watched = list(pids)
    fig.load_start = load1()
    cpu0, other0 = _own_cpu(), tree_cpu(watched)
    t0 = time.perf_counter()
    try:
        yield fig
    finally:
        fig.wall_s = round(time.perf_counter() - t0, 3)
        fig.cpu_s = round(_own_cpu() - cpu0 + tree_cpu(watched) - other0, 3)
        fig.load_end = load1()
        if say:
            _say(f"  [{name}] {fig.conditions()}")


@dataclass
class Round:
    figure: dict[str, Any]
    baseline: dict[str, Any]
    ratio: float | None


@dataclass
class Pairs:
    """A figure and its baseline measured alternately in one run, with their ratios."""

    figure: str
    baseline: str
    rounds: list[Round]

    def ratios(self) -> list[float]:
        return [r.ratio for r in self.rounds if r.ratio is not None]

    def summary(self) -> dict[str, Any]:
        ratios = self.ratios()
        loads = [x for r in self.rounds for f in (r.figure, r.baseline)
                 for x in (f["load_start"], f["load_end"])]
        return {
            "figure": self.figure, "baseline": self.baseline,
            "rounds": [asdict(r) for r in self.rounds],
            "ratios": ratios,
            "median_ratio": statistics.median(ratios) if ratios else None,
            "best_ratio": None if not ratios else max(ratios),
            "worst_ratio": None if not ratios else min(ratios),
            "load_1min": [min(loads), max(loads)] if loads else [],
            "loaded_rounds": sum(r.figure["loaded"] or r.baseline["loaded"] for r in self.rounds),
        }


def alternate(figure: str, run_figure: Callable[[], Any], baseline: str,
              run_baseline: Callable[[], Any], *, rounds: int = 3,
              value: Callable[[Any], float] = float, pids: Iterable[int] = (),
              wait: bool = True) -> Pairs:
    """Measure the baseline and the figure in turn ``rounds`` times (baseline first in odd
    rounds, the figure first in even ones, so neither always follows the other); each
    round's ratio is figure / baseline of ``value(result)``."""
    watched = list(pids)
    done: list[Round] = []
    for n in range(rounds):
        order = ((baseline, run_baseline), (figure, run_figure))
        if n % 2:
            order = order[::-1]
        got: dict[str, dict[str, Any]] = {}
        for label, run in order:
            with measure(f"{label}, round {n + 1}", pids=watched, wait=wait) as fig:
                result = run()
            fig.extra["value"] = value(result)
            if isinstance(result, dict):
                fig.extra["result"] = result
            got[label] = fig.as_dict()
        base = got[baseline]["value"]
        ratio = got[figure]["value"] / base if base else None
        done.append(Round(got[figure], got[baseline], ratio))
        _say(f"  round {n + 1}: {figure} {got[figure]['value']:.4g} / {baseline} "
             f"{base:.4g} = {'-' if ratio is None else f'{ratio:.3f}'}")
    pairs = Pairs(figure, baseline, done)
    s = pairs.summary()
    if s["median_ratio"] is not None:
        _say(f"  {figure} / {baseline}: median ratio {s['median_ratio']:.3f} "
             f"(rounds {', '.join(f'{r:.3f}' for r in s['ratios'])}); load "
             f"{s['load_1min'][0]:.1f}-{s['load_1min'][1]:.1f} on {CORES} cores; "
             f"{s['loaded_rounds']} round(s) loaded")
    return pairs


def conditions_note(figs: Iterable[dict[str, Any]]) -> str:
    """For a results table: the load range, the CPU beside the wall, loaded rounds."""
    figs = list(figs)
    if not figs:
        return ""
    loads = [x for f in figs for x in (f.get("load_start", 0.0), f.get("load_end", 0.0))]
    wall = sum(f.get("wall_s", 0.0) for f in figs)
    cpu = sum(f.get("cpu_s", 0.0) for f in figs)
    loaded = sum(bool(f.get("loaded")) for f in figs)
    return (f"load {min(loads):.1f}-{max(loads):.1f}/{CORES} cores; wall {wall:.1f} s, "
            f"CPU {cpu:.1f} s" + (f"; {loaded} of {len(figs)} LOADED" if loaded else ""))
