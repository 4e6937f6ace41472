"""Summary, results files and terminal table of a benchmark run."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentrt.bench.report import (
    SUMMARY_KEYS,
    git_commit,
    percentile,
    render_table,
    summarize,
    timestamp,
    write_results,
)
from agentrt.bench.result import CSV_COLUMNS, TaskResult
from agentrt.bench.telemetry import ResourceReport, Sample

LISTED_KEYS = [
    "tasks",
    "passed",
    "pass_at_1",
    "first_attempt",
    "first_attempt_pass_rate",
    "recovered",
    "failed",
    "errors",
    "avg_retries",
    "wall_s",
    "task_wall_p50_s",
    "task_wall_p95_s",
    "task_wall_p99_s",
    "model_p50_s",
    "model_p95_s",
    "model_p99_s",
    "ttft_p50_s",
    "ttft_p95_s",
    "ttft_p99_s",
    "test_p50_s",
    "test_p95_s",
    "test_p99_s",
    "peak_rss_mib",
    "peak_children_rss_mib",
    "peak_live_children",
    "runtime_cpu_s",
    "children_cpu_s",
    "prompt_tokens",
    "completion_tokens",
    "runtime_cpu_ms_per_1k_tokens",
]

META = {"model": "sim-coder", "simulated": True, "concurrency": 100, "dataset": "humaneval"}


def _results() -> list[TaskResult]:
    return [
        TaskResult("HumanEval/0", "passed", 1, 0, True, 1.0, 0.5, 0.1, 0.3, 100, 50),
        TaskResult("HumanEval/1", "passed", 3, 2, False, 3.0, 2.0, 0.2, 0.9, 300, 150),
        TaskResult(
            "HumanEval/2", "failed", 4, 3, False, 4.0, 3.0, None, 1.2, 400, 200, 'bad, "quoted"\nline'
        ),
        TaskResult("HumanEval/3", "error", 0, 0, False, 0.5, 0.0, None, 0.0, 0, 0, "model error"),
    ]


def _resources() -> ResourceReport:
    return ResourceReport(
        peak_rss_mib=31.23456,
        peak_children_rss_mib=812.5,
        peak_live_children=97,
        runtime_cpu_s=1.2,
        children_cpu_s=40.0,
        timeline=(Sample(0.0, 30.0, 0.0, 0),),
    )


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 0, 1.0),
        ([1, 2, 3, 4], 100, 4.0),
        ([1, 2, 3, 4], 25, 1.75),
        ([30, 10, 20], 95, 29.0),  # unsorted input; rank 1.9 between 20 and 30
        ([15, 20, 35, 40, 50], 40, 29.0),  # rank 1.6: 20 + 0.6 * 15
        ([15, 20, 35, 40, 50], 99, 49.6),  # rank 3.96: 40 + 0.96 * 10
        ([7.5], 99, 7.5),
    ],
)
def test_percentile_hand_computed(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == pytest.approx(expected)


def test_percentile_empty_and_out_of_range() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        percentile([1.0], -1)


@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50),
    st.floats(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=100),
)
def test_percentile_monotone_and_bounded(values: list[float], p: float, q: float) -> None:
    low, high = sorted((p, q))
    a, b = percentile(values, low), percentile(values, high)
    assert a is not None and b is not None
    assert min(values) <= a <= b <= max(values)


def test_summarize_counts_and_percentiles() -> None:
    summary = summarize(_results(), resources=_resources(), wall_s=12.345678, meta=META)
    assert set(summary) == set(LISTED_KEYS) | set(META)
    assert set(SUMMARY_KEYS) == set(LISTED_KEYS)
    assert summary["tasks"] == 4
    assert summary["passed"] == 2
    assert summary["pass_at_1"] == 0.5
    assert summary["first_attempt"] == 1
    assert summary["first_attempt_pass_rate"] == 0.25  # 1 of 4, where pass_at_1 counts 2
    assert summary["recovered"] == 1
    assert summary["failed"] == 1
    assert summary["errors"] == 1
    assert summary["avg_retries"] == 1.25
    assert summary["wall_s"] == 12.3457
    assert summary["task_wall_p50_s"] == 2.0  # of 0.5, 1, 3, 4
    assert summary["ttft_p50_s"] == 0.15  # the two None ttfts are left out
    assert summary["test_p99_s"] == round(0.9 + 0.97 * 0.3, 4)
    assert summary["prompt_tokens"] == 800
    assert summary["completion_tokens"] == 400
    assert summary["peak_rss_mib"] == 31.2346
    assert summary["peak_live_children"] == 97
    assert summary["runtime_cpu_ms_per_1k_tokens"] == 3000.0  # 1.2 s CPU over 400 tokens
    for key, value in META.items():
        assert summary[key] == value


def test_summarize_without_resources_tasks_or_tokens() -> None:
    summary = summarize([], resources=None, wall_s=0.0, meta={"interrupted": True})
    assert set(summary) == set(LISTED_KEYS) | {"interrupted"}
    assert summary["tasks"] == summary["passed"] == summary["errors"] == 0
    assert summary["pass_at_1"] is None and summary["first_attempt_pass_rate"] is None
    assert summary["avg_retries"] is None
    for key in ("task_wall_p50_s", "ttft_p99_s", "peak_rss_mib", "runtime_cpu_s", "peak_live_children"):
        assert summary[key] is None
    assert summary["runtime_cpu_ms_per_1k_tokens"] is None
    no_tokens = [TaskResult("t", "error", error="x")]
    summary = summarize(no_tokens, resources=_resources(), wall_s=1.0, meta={})
    assert summary["runtime_cpu_ms_per_1k_tokens"] is None
    assert summary["ttft_p50_s"] is None
    assert summary["runtime_cpu_s"] == 1.2


def test_computed_keys_win_over_meta() -> None:
    summary = summarize(_results(), resources=None, wall_s=1.0, meta={"tasks": "bogus", "model": "m"})
    assert summary["tasks"] == 4
    assert summary["model"] == "m"


def test_write_results_round_trip(tmp_path: Path) -> None:
    results = _results()
    summary = summarize(results, resources=_resources(), wall_s=3.0, meta=META)
    csv_path, json_path = write_results(tmp_path / "results", results, summary, stamp="20261127T101530Z")
    assert csv_path == tmp_path / "results" / "raw" / "python_20261127T101530Z.csv"
    assert json_path == tmp_path / "results" / "raw" / "python_20261127T101530Z_summary.json"
    assert sorted(os.listdir(csv_path.parent)) == sorted([csv_path.name, json_path.name])

    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    assert [row["id"] for row in rows] == [r.id for r in results]
    first, failed = rows[0], rows[2]
    assert first["first_attempt_pass"] == "true"
    assert failed["first_attempt_pass"] == "false"
    assert first["wall_s"] == "1.0000"
    assert first["ttft_s"] == "0.1000"
    assert failed["ttft_s"] == ""
    assert failed["attempts"] == "4"
    assert failed["error"] == 'bad, "quoted"\nline'

    loaded = json.loads(json_path.read_text(encoding="utf-8"))
    assert set(loaded) == set(LISTED_KEYS) | set(META)
    assert loaded == summary


def test_write_results_prefix_and_existing_dir(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    csv_path, json_path = write_results(tmp_path, [], {"tasks": 0}, stamp="S", prefix="go")
    assert csv_path.name == "go_S.csv"
    assert json_path.name == "go_S_summary.json"
    assert csv_path.read_text(encoding="utf-8") == ",".join(CSV_COLUMNS) + "\n"
    # A second write replaces the files whole and leaves no temporaries behind.
    write_results(tmp_path, _results(), {"tasks": 4}, stamp="S", prefix="go")
    assert sorted(os.listdir(tmp_path / "raw")) == ["go_S.csv", "go_S_summary.json"]
    assert json.loads(json_path.read_text(encoding="utf-8")) == {"tasks": 4}


def test_write_results_under_a_regular_file_fails_with_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(OSError, match="not-a-dir"):
        write_results(blocker, _results(), {}, stamp="S")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_write_results_unwritable_dir_fails_and_leaves_nothing(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    raw.chmod(0o500)
    try:
        with pytest.raises(OSError, match=str(raw)):
            write_results(tmp_path, _results(), {}, stamp="S")
        assert os.listdir(raw) == []
    finally:
        raw.chmod(0o700)


def test_render_table_labels_simulated_model_and_handles_missing_values() -> None:
    summary = summarize(_results(), resources=_resources(), wall_s=3.0, meta=META)
    table = render_table(summary)
    assert "model: sim-coder (simulated)" in table
    for text in ("pass@1", "first-attempt", "recovered", "p50", "p95", "p99", "task wall", "MiB", "tokens"):
        assert text in table
    assert "812.5 MiB" in table
    assert "\t" not in table

    empty = render_table(summarize([], resources=None, wall_s=0.0, meta={"model": "m", "interrupted": True}))
    assert "model: m" in empty
    assert "(simulated)" not in empty
    assert "INTERRUPTED" in empty


def test_render_table_says_prompt_tokens_not_reported_rather_than_zero() -> None:
    summary = dict(summarize(_results(), resources=None, wall_s=3.0, meta={}))
    assert isinstance(summary["completion_tokens"], int) and summary["completion_tokens"] > 0
    summary["prompt_tokens"] = 0  # a server whose stream reports no usage (replies counted by agentrt)
    tokens = next(line for line in render_table(summary).splitlines() if line.startswith("tokens"))
    assert "prompt not reported" in tokens and "prompt 0" not in tokens
    summary["prompt_tokens"] = 812
    tokens = next(line for line in render_table(summary).splitlines() if line.startswith("tokens"))
    assert "prompt 812" in tokens


def test_render_table_aligns_percentile_columns() -> None:
    table = render_table(summarize(_results(), resources=None, wall_s=3.0, meta={}))
    rows = [line for line in table.splitlines() if line.startswith(("task wall", "model ", "ttft", "test"))]
    assert len(rows) == 4
    assert len({len(line) for line in rows}) == 1


def test_timestamp_is_utc_and_filename_safe() -> None:
    assert re.fullmatch(r"\d{8}T\d{6}Z", timestamp())


def test_git_commit_outside_and_inside_a_repository(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None
    if shutil.which("git") is None:
        return
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", str(tmp_path)], check=True)
    assert git_commit(tmp_path) is None  # a repository without commits
    subprocess.run([*git, "-C", str(tmp_path), "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    commit = git_commit(tmp_path)
    assert commit is not None
    assert re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", commit)


def test_test_runs_line_gives_the_median_task_beside_the_mean() -> None:
    """One heavy test pulls the mean CPU per run; the median task's shows what a run usually costs."""
    from agentrt.bench.report import _test_rows
    from agentrt.bench.runner import _test_stats

    light = [TaskResult(f"t/{i}", "passed", test_runs=1, test_cpu_s=0.040 + 0.002 * i) for i in range(4)]
    retried = TaskResult("t/r", "passed", test_runs=2, test_cpu_s=0.100)
    heavy = TaskResult("t/heavy", "passed", test_runs=1, test_cpu_s=0.400)
    stats = _test_stats([*light, retried, heavy], [], children_cpu_s=9.9)
    assert stats["test_runs"] == 7
    assert stats["test_cpu_ms_per_run"] == 96.0, "672 ms over 7 runs"
    assert stats["test_cpu_ms_per_run_median_task"] == 45.0, "between 44 and 46 of 40, 42, 44, 46, 50, 400"
    line = next(text for label, text in _test_rows({**stats, "executor": "fork"}) if label == "test runs")
    assert "96.0 ms CPU/run (median task 45.0 ms)" in line
    unknown = _test_stats([TaskResult("t/s", "passed", test_runs=2)], [], children_cpu_s=0.1)
    assert unknown["test_cpu_ms_per_run_median_task"] is None, "spawn: no per-run CPU to take a median of"
    assert "median" not in next(text for label, text in _test_rows(unknown) if label == "test runs")
