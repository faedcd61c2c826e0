"""The benchmark aggregator (bench/report.py) on sample results, and one real quick benchmark."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import report
from bench.__main__ import main as run_bench

NOW = datetime.now(UTC)


def _run_json(tmp: Path, names: list[str], *, started: datetime = NOW - timedelta(minutes=5),
              status: str = "ok") -> None:
    # finished "now", after the result files were written: NOW is import time, which in a
    # whole-suite run is minutes before this test writes its files.
    entries = [{"name": n, "argv": [], "status": status, "started_at": started.isoformat(),
                "finished_at": datetime.now(UTC).isoformat(), "seconds": 1.0,
                "load_start": [1.0, 2.0, 3.0], "load_end": [1.5, 2.0, 3.0]} for n in names]
    (tmp / "run.json").write_text(json.dumps({"started_at": started.isoformat(), "quick": False,
                                              "cpus": 2, "benchmarks": entries}))


def _ingest_json(tmp: Path) -> None:
    def res(consumer: str, workload: str, rate: float, rss: float = 80.0) -> dict[str, object]:
        return {"consumer": consumer, "workload": workload, "readings": 20000,
                "readings_per_s": rate, "latency_p50_ms": 5.0, "latency_p99_ms": 9.0,
                "peak_rss_mb": rss, "stored": 20000}

    (tmp / "ingest.json").write_text(json.dumps({"measured_at": NOW.isoformat(), "results": [
        res("null", "backlog, 1/msg", 5000.0), res("naive", "backlog, 1/msg", 1000.0),
        res("hearth", "backlog, 1/msg", 4500.0, rss=160.0),
        res("null", "backlog, 20/msg", 80000.0), res("naive", "backlog, 20/msg", 8000.0),
        res("hearth", "backlog, 20/msg", 40000.0),
    ]}))


def _rows(rows: list[report.Row], bench: str) -> list[report.Row]:
    return [r for r in rows if r.bench == bench]


def test_ingest_rows_carry_baselines_ratios_and_verdicts(tmp_path: Path) -> None:
    _ingest_json(tmp_path)
    _run_json(tmp_path, ["ingest"])
    rows = _rows(report.collect(tmp_path), "ingest")
    single = [r for r in rows if r.figure == "ingest readings/s, backlog, 1/msg"]
    vs_null = next(r for r in single if r.baseline_name.startswith("do-nothing"))
    vs_naive = next(r for r in single if r.baseline_name.startswith("commit-per-message"))
    assert vs_null.ratio == 0.9 and vs_null.met is True
    assert vs_naive.ratio == 4.5 and vs_naive.met is None
    batched = next(r for r in rows if r.figure.endswith("20/msg, SQLite"))
    assert batched.baseline == 50_000 and batched.met is False
    rss = next(r for r in rows if "RSS" in r.figure)
    assert rss.value == 160.0 and rss.met is False
    assert all(not r.stale and r.load == "1.0 -> 1.5 (15 min 3.0)" for r in rows)


def test_a_result_older_than_its_run_is_flagged_stale(tmp_path: Path) -> None:
    _ingest_json(tmp_path)
    data = json.loads((tmp_path / "ingest.json").read_text())
    data["measured_at"] = (NOW - timedelta(hours=1)).isoformat()
    (tmp_path / "ingest.json").write_text(json.dumps(data))
    old = time.time() - 3600
    os.utime(tmp_path / "ingest.json", (old, old))
    _run_json(tmp_path, ["ingest"])
    rows = _rows(report.collect(tmp_path), "ingest")
    assert rows and all(r.stale for r in rows)
    assert "not written in this run" in rows[0].note


def test_failed_missing_and_unrun_benchmarks_are_stale(tmp_path: Path) -> None:
    _ingest_json(tmp_path)
    _run_json(tmp_path, ["ingest"], status="failed")
    rows = report.collect(tmp_path)
    assert all(r.stale for r in _rows(rows, "ingest"))
    coach = _rows(rows, "coach")
    assert len(coach) == 1 and coach[0].stale and coach[0].value is None


def test_log_only_benchmarks_are_read_from_what_they_printed(tmp_path: Path) -> None:
    (tmp_path / "analytics.log").write_text(
        "  ALL: metrics + events + AGP + daily + MAGE + MODD    wall median   4.50 ms (max  5.00)"
        "   CPU median   3.00 ms (max   4.00)\n"
        "population: 1000 patients x 14 days in SQLite (/tmp/x.db)\n"
        "  population summary (target <= 5 s): wall median 6.00 s (max 7.00), CPU median 2.50 s"
        " (max 2.60) over 3 runs; 10 of 1000 patients flagged\n")
    _run_json(tmp_path, ["analytics"])
    rows = _rows(report.collect(tmp_path), "analytics")
    one, population = rows
    assert (one.value, one.ratio, one.met) == (4.5, 0.45, True)
    assert (population.value, population.met) == (6.0, False)
    assert not one.stale


def test_a_quick_size_gives_no_verdict_on_a_full_size_target(tmp_path: Path) -> None:
    cycle = {"wall_s": 3.0, "processes": 1, "patients": 200, "cpu_per_patient_ms": 4.0}
    (tmp_path / "coach.json").write_text(json.dumps({"cycle_1p": cycle}))
    _run_json(tmp_path, ["coach"])
    (row,) = _rows(report.collect(tmp_path), "coach")
    assert row.value == 3.0 and row.ratio == 0.05 and row.met is None


def test_write_renders_json_and_markdown(tmp_path: Path) -> None:
    _ingest_json(tmp_path)
    _run_json(tmp_path, ["ingest"])
    rows = report.write(tmp_path)
    latest = json.loads((tmp_path / "latest.json").read_text())
    assert len(latest["rows"]) == len(rows)
    md = (tmp_path / "latest.md").read_text()
    assert "| ingest readings/s, backlog, 1/msg | 4,500 readings/s | 5,000 (do-nothing" in md
    assert "0.90 | >= 0.90 x do-nothing | yes |" in md  # one reading a message
    assert "0.50 | >= 0.80 x do-nothing | **no** |" in md  # 20 a message
    assert "**STALE** coach: no results" in md


def test_quick_run_of_one_cheap_benchmark_produces_its_rows(tmp_path: Path) -> None:
    """The real runner and the real gateway benchmark (Mosquitto, ingest) at --quick size."""
    assert run_bench(["--quick", "--only", "gateway", "--out", str(tmp_path)]) == 0
    rows = [r for r in json.loads((tmp_path / "latest.json").read_text())["rows"]
            if r["bench"] == "gateway"]
    assert {r["figure"] for r in rows} == {
        "gateway outbox intake", "gateway backlog drain to ingest", "gateway live reading p95"}
    assert all(not r["stale"] and r["value"] > 0 and r["ratio"] > 0 for r in rows)
    assert (tmp_path / "gateway.log").read_text().startswith("intake:")


def test_latency_rows_compare_loaded_with_the_limit_and_the_idle_stack(tmp_path: Path) -> None:
    (tmp_path / "latency.json").write_text(json.dumps({
        "target_p99_ms": 1000.0, "store": "influx", "ingest_processes": 1, "coach_processes": 1,
        "idle": {"sent": 50, "received": 50, "p99_ms": 200.0},
        "loaded": {"sent": 100, "received": 100, "p99_ms": 800.0},
        "background": {"target_per_s": 1000.0, "stored_per_s": 990.0}}))
    _run_json(tmp_path, ["latency"])
    limit, idle = _rows(report.collect(tmp_path), "latency")
    assert (limit.value, limit.baseline, limit.ratio, limit.met) == (800.0, 1000.0, 0.8, True)
    assert (idle.baseline, idle.ratio, idle.met) == (200.0, 4.0, None)


def test_scale_and_footprint_rows_come_from_their_json(tmp_path: Path) -> None:
    (tmp_path / "scale.json").write_text(json.dumps({"rows": [
        {"figure": "scale: stored once", "value": 10, "unit": "readings",
         "baseline_name": "published", "baseline": 10, "target": "not stored 0", "met": True}]}))
    (tmp_path / "footprint.json").write_text(json.dumps({"results": [
        {"what": "hearth ingest", "peak_mb": 160.0, "steady_mb": 120.0, "limit_mb": 150.0}]}))
    _run_json(tmp_path, ["scale", "footprint"])
    rows = report.collect(tmp_path)
    (scale,) = _rows(rows, "scale")
    assert (scale.ratio, scale.met) == (1.0, True)
    (rss,) = _rows(rows, "footprint")
    assert (rss.value, rss.met) == (160.0, False) and "steady 120 MB" in rss.note


def test_dashboard_rows_take_the_median_p95_and_the_strictest_named_target(tmp_path: Path) -> None:
    (tmp_path / "dashboard.json").write_text(json.dumps({"patients": 1000, "users": 20, "results": [
        {"scenario": "baseline", "p95_ms": 10.0, "median_p95_ms": 12.0},
        {"scenario": "triage board build", "seconds": 3.0},
        {"scenario": "triage", "p95_ms": 700.0, "median_p95_ms": 600.0, "best_p95_ms": 400.0,
         "targets_p95_ms": {"issue 6": 1000.0, "issue 10": 500.0}}]}))
    _run_json(tmp_path, ["dashboard"])
    (row,) = _rows(report.collect(tmp_path), "dashboard")
    assert (row.value, row.baseline, row.ratio) == (600.0, 12.0, 50.0)
    assert row.target == "<= 500 ms (issue 10)" and row.met is False
    assert "best p95 400 ms" in row.note


def test_dashboard_runs_alternating_process_counts_get_a_row_each(tmp_path: Path) -> None:
    def page(p95: float) -> list[dict[str, object]]:
        return [{"scenario": "baseline", "p95_ms": 5.0},
                {"scenario": "trends, cold", "p95_ms": p95, "targets_p95_ms": {"issue 6": 300.0}}]

    (tmp_path / "dashboard.json").write_text(json.dumps({
        "patients": 1000, "users": 20, "workers": 1, "results": page(450.0),
        "by_workers": {"1": page(450.0), "2": page(250.0)}}))
    _run_json(tmp_path, ["dashboard"])
    one, two = _rows(report.collect(tmp_path), "dashboard")
    assert one.figure.endswith("20 users, 1 process") and (one.value, one.met) == (450.0, False)
    assert two.figure.endswith("20 users, 2 processes") and (two.value, two.met) == (250.0, True)


def test_store_reads_compare_influxdb_with_sqlite(tmp_path: Path) -> None:
    (tmp_path / "reads.json").write_text(json.dumps({"patients": 200, "rows": [
        {"read": "latest, every metric", "sqlite_median_ms": 0.5, "sqlite_p95_ms": 1.0,
         "influxdb_median_ms": 5.0, "influxdb_p95_ms": 9.0, "ratio_influxdb_to_sqlite": 10.0}]}))
    _run_json(tmp_path, ["reads"])
    (row,) = _rows(report.collect(tmp_path), "reads")
    assert (row.value, row.baseline, row.ratio) == (5.0, 0.5, 10.0)


def test_a_file_without_its_own_stamp_is_judged_by_its_modification_time(tmp_path: Path) -> None:
    (tmp_path / "backup.json").write_text(json.dumps({"results": [
        {"store": "SQLite", "rows": 10, "backup_s": 1.0, "restore_s": 1.0, "same_data": True}]}))
    old = time.time() - 3600
    os.utime(tmp_path / "backup.json", (old, old))
    _run_json(tmp_path, ["backup"])
    (row,) = _rows(report.collect(tmp_path), "backup")
    assert row.stale


def test_a_result_overwritten_after_its_benchmark_finished_is_stale(tmp_path: Path) -> None:
    _ingest_json(tmp_path)
    _run_json(tmp_path, ["ingest"], started=NOW - timedelta(hours=2))
    entry = json.loads((tmp_path / "run.json").read_text())
    entry["benchmarks"][0]["finished_at"] = (NOW - timedelta(hours=1)).isoformat()
    (tmp_path / "run.json").write_text(json.dumps(entry))
    rows = _rows(report.collect(tmp_path), "ingest")
    assert rows and all(r.stale for r in rows)
    assert "overwritten after" in rows[0].note


def test_merge_adds_a_second_runners_part_with_its_timestamps(tmp_path: Path) -> None:
    main_dir, part = tmp_path / "main", tmp_path / "part"
    main_dir.mkdir()
    part.mkdir()
    _run_json(main_dir, ["coach"])
    _ingest_json(part)
    _run_json(part, ["ingest"])
    assert run_bench(["--out", str(main_dir), "--merge", str(part)]) == 0
    run = json.loads((main_dir / "run.json").read_text())
    assert [e["name"] for e in run["benchmarks"]] == ["coach", "ingest"]
    rows = json.loads((main_dir / "latest.json").read_text())["rows"]
    assert all(not r["stale"] for r in rows if r["bench"] == "ingest")
    assert "separate runner" in (main_dir / "latest.md").read_text()


def test_make_bench_leaves_the_long_benchmarks_out_and_runs_the_hog_case() -> None:
    from bench.__main__ import choose

    default = [b.name for b in choose(None)]
    assert "scale" not in default and "footprint" not in default
    assert "latency_hog" in default and "dashboard" in default
    assert {"scale", "footprint"} <= {b.name for b in choose(None, long=True)}
    assert [b.name for b in choose(["scale"])] == ["scale"]


def test_hog_rows_and_the_runner_s_cpu_and_loaded_mark(tmp_path: Path) -> None:
    (tmp_path / "latency_hog.json").write_text(json.dumps({
        "target_p99_ms": 1000.0, "store": "influx", "hog_processes": 2,
        "idle": {"sent": 50, "received": 50, "p99_ms": 200.0},
        "loaded": {"sent": 100, "received": 100, "p99_ms": 1500.0, "p50_ms": 300.0},
        "background": {"target_per_s": 1000.0, "stored_per_s": 990.0}}))
    _run_json(tmp_path, ["latency_hog"])
    run = json.loads((tmp_path / "run.json").read_text())
    run["benchmarks"][0].update(cpu_s=42.0, loaded=True)
    (tmp_path / "run.json").write_text(json.dumps(run))
    hog, idle = _rows(report.collect(tmp_path), "latency_hog")
    assert "2 busy loops" in hog.figure and (hog.ratio, hog.met) == (1.5, False)
    assert (idle.baseline, idle.ratio) == (200.0, 7.5)
    assert "CPU 42 s in 1 s" in hog.load and "LOADED" in hog.load


def test_population_summary_against_sequential_reads_of_the_same_run(tmp_path: Path) -> None:
    (tmp_path / "analytics.log").write_text(
        "population: 1000 patients x 14 days in SQLite (/tmp/x.db)\n"
        "  population summary (target <= 5 s): wall median 1.50 s (max 1.70), CPU median 2.10 s"
        " (max 2.20) over 3 runs; 10 of 1000 patients flagged\n"
        "  population summary, one patient after another (same run, alternating): wall median "
        "2.50 s, CPU median 2.00 s; ratio median 0.60; load 0.5-1.5 on 2 cores; 0 of 6 runs "
        "LOADED\n")
    _run_json(tmp_path, ["analytics"])
    summary, against = _rows(report.collect(tmp_path), "analytics")
    assert (summary.value, summary.baseline, summary.met) == (1.5, 2.0, True)
    assert "0 of 6 runs LOADED" in summary.note
    assert (against.baseline, against.ratio) == (2.5, 0.6)


def test_dashboard_scenarios_use_their_own_baseline_and_say_the_build_is_in(tmp_path: Path) -> None:
    (tmp_path / "dashboard.json").write_text(json.dumps({"patients": 1000, "users": 20, "results": [
        {"scenario": "baseline", "p95_ms": 10.0},
        {"scenario": "triage", "p95_ms": 900.0, "baseline_p95_ms": 30.0,
         "server_cpu_ms_per_request": 12.5, "load_start": 3.0, "load_end": 4.0, "loaded": True,
         "targets_p95_ms": {"issue 10": 500.0}}]}))
    _run_json(tmp_path, ["dashboard"])
    (row,) = _rows(report.collect(tmp_path), "dashboard")
    assert (row.baseline, row.ratio, row.met) == (30.0, 30.0, False)
    assert "includes the board's build" in row.note and "LOADED" in row.note
    assert "server CPU 12.5 ms a request" in row.note
