"""``agentrt bench humaneval`` end to end, as a user runs it: a real process, real files, real servers."""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agentrt.bench.report import SUMMARY_KEYS
from agentrt.model.sim.process import SimProcess

AGENTRT = [sys.executable, "-m", "agentrt"]


def agentrt(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AGENTRT, *args], capture_output=True, text=True, timeout=timeout, env=env)


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_", "BENCH_"))}
    env["TMPDIR"] = str(tmp_path)
    return env


def read_outputs(out: Path) -> tuple[list[dict[str, str]], dict[str, object]]:
    csvs = [p for p in sorted((out / "raw").glob("python_*.csv")) if not p.name.endswith("_timeline.csv")]
    summaries = sorted((out / "raw").glob("python_*_summary.json"))
    assert len(csvs) == 1 and len(summaries) == 1
    with csvs[0].open() as f:
        rows = list(csv.DictReader(f))
    return rows, json.loads(summaries[0].read_text())


def assert_one_line_error(proc: subprocess.CompletedProcess[str], pattern: str) -> None:
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("agentrt: error:")]
    assert len(lines) == 1, proc.stderr
    assert re.search(pattern, lines[0], re.I), lines[0]
    assert "Traceback" not in proc.stderr


def test_simulated_run_writes_csv_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = agentrt(
        "bench",
        "humaneval",
        "--limit",
        "8",
        "--concurrency",
        "4",
        "--fail-rate",
        "0.25",
        "--temperature",
        "0.3",
        "--max-output-tokens",
        "900",
        "--out",
        str(out),
        "--work-dir",
        str(tmp_path),
        env=clean_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    rows, summary = read_outputs(out)
    assert summary["temperature"] == 0.3 and summary["max_output_tokens"] == 900
    assert [r["id"] for r in rows] == [f"HumanEval/{i}" for i in range(8)]
    assert all(r["status"] == "passed" for r in rows)
    assert summary["tasks"] == 8 and summary["passed"] == 8
    assert summary["recovered"] == 2 and summary["first_attempt"] == 6
    assert sum(r["first_attempt_pass"] == "false" for r in rows) == 2
    assert summary["simulated"] is True and summary["concurrency"] == 4
    assert set(SUMMARY_KEYS) <= set(summary)
    for key in ("model", "base_url", "python", "platform", "agentrt_version", "git_commit"):
        assert key in summary
    assert isinstance(summary["peak_rss_mib"], float) and summary["peak_rss_mib"] > 5
    assert "(simulated)" in proc.stdout
    assert not list(tmp_path.glob("agentrt-bench-*")), "workspaces are removed after the run"


def test_export_then_run_any_dataset_file(tmp_path: Path) -> None:
    exported = tmp_path / "he.json"
    assert agentrt("bench", "humaneval", "--limit", "3", "--export", str(exported)).returncode == 0
    tasks = json.loads(exported.read_text())
    assert [t["id"] for t in tasks] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert {"id", "spec", "test", "solution"} <= set(tasks[0])
    custom = [
        {
            "id": "mine/add",
            "spec": 'def add(a, b):\n    """Sum."""\n',
            "test": "from solution import *\n\ndef test_add():\n    assert add(2, 3) == 5\n",
            "solution": "    return a + b\n",
        }
    ]
    path = tmp_path / "custom.json"
    path.write_text(json.dumps(custom))
    out = tmp_path / "out"
    proc = agentrt(
        "bench",
        "humaneval",
        "--dataset",
        str(path),
        "--fail-rate",
        "1",
        "--out",
        str(out),
        env=clean_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    rows, summary = read_outputs(out)
    assert rows[0]["id"] == "mine/add" and rows[0]["status"] == "passed" and rows[0]["attempts"] == "2"
    assert summary["recovered"] == 1


@pytest.mark.slow
def test_validate_says_100_of_100() -> None:
    proc = agentrt("bench", "humaneval", "--validate", timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "100/100" in proc.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sim_server() -> Iterator[object]:
    sims: list[SimProcess] = []

    def start(*args: str) -> str:
        sims.append(SimProcess(args))
        return sims[-1].start()

    yield start
    for sim in sims:
        sim.close()


def test_unreachable_endpoint_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = agentrt(
        "bench", "humaneval", "--limit", "2", "--base-url", url, "--model", "m", "--out", str(tmp_path / "o")
    )
    assert_one_line_error(proc, "cannot connect")


def test_unknown_model_is_one_line(tmp_path: Path, sim_server) -> None:  # type: ignore[no-untyped-def]
    url = sim_server()
    proc = agentrt(
        "bench",
        "humaneval",
        "--limit",
        "2",
        "--base-url",
        url,
        "--model",
        "nope",
        "--out",
        str(tmp_path / "o"),
    )
    assert_one_line_error(proc, "model 'nope' is not served")


def test_auth_failure_is_one_line(tmp_path: Path, sim_server) -> None:  # type: ignore[no-untyped-def]
    url = sim_server("--api-key", "sekrit")
    env = clean_env(tmp_path) | {"LLM_API_KEY": "wrong", "LLM_BASE_URL": url, "LLM_MODEL": "agentrt-sim"}
    proc = agentrt("bench", "humaneval", "--limit", "2", "--out", str(tmp_path / "o"), env=env)
    assert_one_line_error(proc, "HTTP 401")
    env["LLM_API_KEY"] = "sekrit"
    ok = agentrt("bench", "humaneval", "--limit", "2", "--out", str(tmp_path / "o"), env=env)
    assert ok.returncode == 0, ok.stderr


def test_malformed_server_output_errors_every_task_but_writes_results(tmp_path: Path, sim_server) -> None:  # type: ignore[no-untyped-def]
    url = sim_server("--fault", "malformed", "--fault-count", "-1")
    out = tmp_path / "o"
    proc = agentrt(
        "bench",
        "humaneval",
        "--limit",
        "3",
        "--base-url",
        url,
        "--model",
        "agentrt-sim",
        "--out",
        str(out),
        "--no-progress",
    )
    assert proc.returncode == 1
    assert "MalformedResponse" in proc.stderr and "Traceback" not in proc.stderr
    rows, summary = read_outputs(out)
    assert summary["errors"] == 3 and all(r["status"] == "error" for r in rows)
    assert summary["simulated"] is True  # an outside sim-server says so in a header, and is labelled


def test_unwritable_out_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = agentrt("bench", "humaneval", "--limit", "1", "--out", str(blocker / "results"))
    assert_one_line_error(proc, "cannot write results")


def test_checksum_mismatch_refuses(tmp_path: Path) -> None:
    bad = tmp_path / "HumanEval.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"task_id": "HumanEval/0"}\n'))
    proc = agentrt("bench", "humaneval", "--dataset", str(bad), "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, "checksum mismatch")


def test_bad_arguments_are_usage_errors() -> None:
    assert agentrt("bench", "humaneval", "--concurrency", "0").returncode == 2
    bad = agentrt("bench", "humaneval", "--temperature", "5")
    assert bad.returncode == 2 and "must be between 0 and 2" in bad.stderr
    proc = agentrt("bench", "humaneval", "--model", "m")
    assert_one_line_error(proc, "needs an endpoint")


def test_a_work_dir_that_is_missing_is_refused_before_anything_runs(tmp_path: Path) -> None:
    proc = agentrt("bench", "humaneval", "--work-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and f"--work-dir {tmp_path / 'nope'}: no such directory" in proc.stderr
    assert not (tmp_path / "o" / "raw").exists() or not any((tmp_path / "o" / "raw").iterdir())


def processes_with_cwd_under(root: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(root)):
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_promptly_writes_partial_results_and_leaves_no_child(tmp_path: Path, sig: int) -> None:
    slow = [
        {
            "id": f"slow/{i}",
            "spec": "def f():\n",
            "test": "import time\nfrom solution import *\n\ndef test_f():\n    time.sleep(60)\n",
            "solution": "    return 1\n",
        }
        for i in range(4)
    ]
    dataset = tmp_path / "slow.json"
    dataset.write_text(json.dumps(slow))
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "o"
    env = clean_env(work)
    proc = subprocess.Popen(
        [*AGENTRT, "bench", "humaneval", "--dataset", str(dataset), "--out", str(out), "--no-progress"]
        + ["--work-dir", str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 30
    while len(processes_with_cwd_under(work)) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(processes_with_cwd_under(work)) >= 4, "pytest children did not start"
    t0 = time.monotonic()
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=20)
    assert time.monotonic() - t0 < 10
    assert proc.returncode == 130, stderr
    assert "partial results" in stderr
    rows, summary = read_outputs(out)
    assert summary["interrupted"] is True
    assert [r["status"] for r in rows] == ["error"] * 4
    time.sleep(0.2)
    assert processes_with_cwd_under(work) == []
    assert not list(work.glob("agentrt-bench-*")), "the workspaces are removed"


def test_agent_exec_runs_the_coding_agent_and_says_so(tmp_path: Path) -> None:
    from agentrt.bench.runner import prove_sandbox
    from agentrt.sandbox import SandboxUnavailable

    try:
        prove_sandbox(tmp_path / "home")
    except SandboxUnavailable as exc:
        pytest.skip(f"no OS sandbox here: {exc}")
    out = tmp_path / "results"
    proc = agentrt(
        "bench", "humaneval", "--agent", "exec", "--limit", "4", "--concurrency", "4",
        "--fail-rate", "0.25", "--out", str(out), "--work-dir", str(tmp_path), env=clean_env(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "the coding agent" in proc.stderr
    rows, summary = read_outputs(out)
    assert summary["agent"] == "exec" and summary["passed"] == 4
    assert (summary["first_attempt"], summary["recovered"]) == (3, 1)
    assert sorted(int(r["attempts"]) for r in rows) == [4, 4, 4, 6]
    assert not list(tmp_path.glob("agentrt-bench-*")), "workspaces are removed after the run"


def test_fork_executor_repeat_and_memory_budget(tmp_path: Path) -> None:
    out = tmp_path / "results"
    args = ["bench", "humaneval", "--limit", "3", "--repeat", "2", "--executor", "fork"]
    args += ["--memory-budget", "512MiB", "--fail-rate", "0.34", "--out", str(out)]
    proc = agentrt(*args, env=clean_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    rows, summary = read_outputs(out)
    assert [r["id"] for r in rows] == [f"HumanEval/{i}#{k}" for i in range(3) for k in (1, 2)]
    assert all(r["status"] == "passed" for r in rows)
    assert all(float(r["test_peak_rss_mib"]) > 5 and float(r["test_cpu_s"]) > 0 for r in rows)
    assert sum(int(r["test_runs"]) for r in rows) == summary["test_runs"] == 8
    assert summary["executor"] == "fork" and summary["repeat"] == 2
    assert summary["read_interval_ms"] == 50.0, "replies nobody watches are read every 50 ms by default"
    assert "replies read every 50 ms" in proc.stdout
    assert summary["test_cpu_source"] == "wait4" and summary["memory_budget_mib"] == 512.0
    assert isinstance(summary["peak_children_rss_mib"], float) and summary["peak_children_rss_mib"] <= 512
    assert "3 tasks x 2 = 6 runs" in proc.stderr and "memory budget" in proc.stdout


def test_bad_memory_budget_is_a_usage_error(tmp_path: Path) -> None:
    proc = agentrt("bench", "humaneval", "--memory-budget", "lots", env=clean_env(tmp_path))
    assert proc.returncode == 2 and "not a size" in proc.stderr


@pytest.mark.parametrize(("value", "message"), [("-5", "between 0 and 10000"), ("soon", "not a number")])
def test_bad_read_interval_is_a_usage_error(tmp_path: Path, value: str, message: str) -> None:
    proc = agentrt("bench", "humaneval", "--read-interval", value, env=clean_env(tmp_path))
    assert proc.returncode == 2 and message in proc.stderr


def test_report_flag_and_report_command_write_self_contained_pages(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    outs = [tmp_path / "fork", tmp_path / "spawn"]
    for out in outs:
        args = ["bench", "humaneval", "--limit", "3", "--executor", out.name, "--no-sandbox", "--report"]
        proc = agentrt(*args, "--out", str(out), env=env)
        assert proc.returncode == 0, proc.stderr
        (summary,) = (out / "raw").glob("python_*_summary.json")
        stem = summary.name.removesuffix("_summary.json")
        assert (out / "raw" / f"{stem}_timeline.csv").read_text().startswith("t_s,rss_mib,")
        page = (out / "raw" / f"{stem}_report.html").read_text()
        assert f"report: {out / 'raw' / stem}_report.html" in proc.stderr
        assert "3/3 (100.0%)" in page and f"{out.name} · loop/{out.name}" in page
        loop = json.loads(summary.read_text())["event_loop"]
        assert loop == ("uvloop" if out.name == "fork" else "asyncio"), (
            "--loop auto: uvloop only for fork runs"
        )
    target = tmp_path / "both.html"
    proc = agentrt("bench", "report", *map(str, outs), "-o", str(target), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "(2 runs)" in proc.stderr
    page = target.read_text()
    assert "fork · loop/fork" in page and "spawn · loop/spawn" in page and "<script" not in page
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(agentrt("bench", "report", str(empty), env=env), "no benchmark run in")


def test_the_default_executor_forks_where_landlock_confines_and_says_so(tmp_path: Path) -> None:
    from agentrt.sandbox import SandboxUnavailable, choose_sandbox, policy_for

    try:  # what the run itself proves first
        choose_sandbox(
            policy_for("workspace-write", tmp_path, home=tmp_path / "h", raw={}), mechanisms=("landlock",)
        )
        expected = "fork"
    except SandboxUnavailable:
        expected = "spawn"
    out = tmp_path / "out"
    proc = agentrt(
        "bench", "humaneval", "--limit", "3", "--out", str(out), "--no-progress", env=clean_env(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr
    assert f"the contract loop ({expected} test runs)" in proc.stderr
    rows, summary = read_outputs(out)
    assert summary["executor"] == expected and all(r["status"] == "passed" for r in rows)
    spawned = agentrt("bench", "humaneval", "--limit", "1", "--executor", "spawn", "--out", str(tmp_path / "o2"),
                      "--no-progress", env=clean_env(tmp_path))  # fmt: skip
    assert "the contract loop (spawn test runs)" in spawned.stderr


def test_retry_options_override_the_local_defaults_one_by_one() -> None:
    from agentrt.bench.humaneval.strategy import LOCAL_RETRY, RetryStrategy
    from agentrt.cli.bench import retry_strategy
    from agentrt.cli.main import build_parser

    def strategy(*argv: str) -> RetryStrategy:
        return retry_strategy(build_parser().parse_args(["bench", "humaneval", *argv]))

    assert strategy() == RetryStrategy()  # an endpoint's own: as the first attempt
    assert strategy("--local") == LOCAL_RETRY
    assert strategy("--local", "--no-retry-reason", "--retry-context", "continue") == RetryStrategy(
        temperature=LOCAL_RETRY.temperature, seed=LOCAL_RETRY.seed, feedback=LOCAL_RETRY.feedback
    )
    assert strategy("--retry-temperature", "0.4", "--retry-seed", "9").as_dict() == {
        "temperature": 0.4, "seed": 9, "feedback": "output", "reason": False, "context": "continue",
        "code": True,
    }  # fmt: skip
    assert strategy("--local").code is False and strategy("--local", "--retry-code") == replace(
        LOCAL_RETRY, code=True
    )
    # --local's "no code" means nothing to a continued conversation, which holds the code: recorded as shown
    with pytest.raises(ValueError, match="--no-retry-code needs --retry-context fresh"):
        strategy("--local", "--no-retry-code", "--retry-context", "continue")


def test_a_retry_temperature_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentrt", "bench", "humaneval", "--retry-temperature", "3"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "--retry-temperature: must be between 0 and 2, got 3" in done.stderr


def test_local_threads_without_local_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentrt", "bench", "humaneval", "--local-threads", "1", "--limit", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "agentrt: error: --local-threads sets the threads of the --local server: give --local too"
    ]
