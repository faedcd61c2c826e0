"""bench/hygiene.py: the conditions every benchmark figure is recorded with (issue 22)."""

from __future__ import annotations

import subprocess
import sys
import time

from bench import hygiene

BUSY = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"


def test_a_quiet_machine_is_not_waited_for_and_a_loaded_one_is_marked() -> None:
    quiet = hygiene.wait_for_quiet(max_wait_s=5, threshold=10_000)
    assert not quiet.loaded and quiet.waited_s < 5
    loaded = hygiene.wait_for_quiet(max_wait_s=0, threshold=-1)
    assert loaded.loaded and loaded.load >= 0


def test_cpu_of_children_and_of_named_processes_counts() -> None:
    with hygiene.measure("child", wait=False, say=False) as fig:
        subprocess.run([sys.executable, "-c", BUSY], check=True)
    assert fig.cpu_s >= 0.3 and fig.wall_s >= 0.3
    # a process outliving the block whose CPU is sampled by pid (a server under test)
    server = subprocess.Popen([sys.executable, "-c", BUSY + "import sys; sys.stdin.read()\n"],
                              stdin=subprocess.PIPE)
    try:
        with hygiene.measure("server", pids=[server.pid], wait=False, say=False) as fig:
            deadline = time.monotonic() + 60
            while hygiene.tree_cpu([server.pid]) < 0.3 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert fig.cpu_s >= 0.2
    finally:
        server.communicate(b"", timeout=60)
    row = fig.as_dict()
    assert {"wall_s", "cpu_s", "load_start", "load_end", "loaded", "waited_s"} <= set(row)


def test_alternate_runs_figure_and_baseline_in_turn_and_gives_ratios() -> None:
    order: list[str] = []

    def figure() -> dict[str, float]:
        order.append("figure")
        return {"rate": 50.0}

    def baseline() -> dict[str, float]:
        order.append("baseline")
        return {"rate": 100.0}

    pairs = hygiene.alternate("f", figure, "b", baseline, rounds=3, wait=False,
                              value=lambda r: r["rate"])
    assert order == ["baseline", "figure", "figure", "baseline", "baseline", "figure"]
    summary = pairs.summary()
    assert summary["ratios"] == [0.5, 0.5, 0.5] and summary["median_ratio"] == 0.5
    assert summary["rounds"][0]["figure"]["cpu_s"] >= 0
    assert "load" in hygiene.conditions_note([summary["rounds"][0]["figure"]])
