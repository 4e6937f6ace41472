"""``--local`` for the coding-agent benchmarks (``bench tasks``, ``bench swe``): the options are checked
before anything starts, and a real llama.cpp server (the small SmolLM2 model the smoke tests use)
drives the coding agent on a task of the sample suite, then is gone."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.model.test_local_server import llama_ready

TASKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "tasks"
AGENTRT = [sys.executable, "-m", "agentrt"]


def agentrt(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_"))}
    env["AGENTRT_HOME"] = str(tmp_path / "home")
    return subprocess.run(
        [*AGENTRT, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path
    )


def one_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--local"], "--script, --base-url, --model and --local are for --agent exec"),
        (
            ["--agent", "exec", "--local", "--script", "x.json"],
            "--script replaces the model: leave out --local",
        ),
        (
            ["--agent", "exec", "--local-threads", "1"],
            "--local-threads sets the threads of the --local server",
        ),
        (
            ["--agent", "exec", "--local", "--model", "m"],
            "--local starts its own server: leave out --base-url",
        ),
        (["--agent", "exec", "--local", "no-such-model"], "unknown local model 'no-such-model' (known: "),
    ],
)
def test_bench_tasks_refuses_a_bad_local_combination_before_starting(
    tmp_path: Path, args: list[str], error: str
) -> None:
    line = one_error(agentrt(tmp_path, "bench", "tasks", str(TASKS_DIR / "fix-failing-test"), *args))
    assert line.startswith("agentrt: error: ") and error in line
    assert not (tmp_path / "results").exists()  # nothing ran, nothing written
    assert not (tmp_path / "home" / "models").exists()  # nothing installed


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--local", "--script", "x.json"], "--script replaces the model: leave out --local"),
        (["--local-threads", "2"], "--local-threads sets the threads of the --local server"),
        (["--local", "--base-url", "http://127.0.0.1:9/v1"], "--local starts its own server"),
    ],
)
def test_bench_swe_refuses_a_bad_local_combination_before_starting(
    tmp_path: Path, args: list[str], error: str
) -> None:
    instances = tmp_path / "instances.jsonl"
    line = {"instance_id": "o__r-1", "repo": "o/r", "base_commit": "0" * 40, "problem_statement": "Fix it."}
    instances.write_text(json.dumps(line) + "\n")
    (tmp_path / "repos").mkdir()
    done = agentrt(tmp_path, "bench", "swe", "--instances", str(instances), "--repos", "repos", *args)
    line = one_error(done)
    assert line.startswith("agentrt: error: ") and error in line


def _ready() -> str | None:
    if shutil.which("bwrap") is None:
        return "the task container needs bubblewrap"
    return llama_ready()


def _servers_of(home: Path) -> list[str]:
    """Command lines of live processes serving a model file under ``home``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "agentrt.model.llama_serve" in cmdline and str(home) in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.slow
def test_a_real_local_model_drives_the_coding_agent_on_a_sample_task(tmp_path: Path) -> None:
    reason = _ready()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path / "out"
    done = agentrt(
        tmp_path, "bench", "tasks", str(TASKS_DIR / "fix-failing-test"), "--agent", "exec",
        "--local", "smollm2-135m", "--local-threads", "1", "--max-turns", "2", "--out", str(out),
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "local model smollm2-135m (llama.cpp server started for this run, 1 threads)" in done.stderr
    [summary_path] = (out / "raw").glob("tasks_*_summary.json")
    summary = json.loads(summary_path.read_text())
    assert (summary["local_model"], summary["local_threads"]) == ("smollm2-135m", 1)
    [tasks_csv] = (out / "raw").glob("tasks_*_tasks.csv")
    [row] = list(csv.DictReader(tasks_csv.read_text().splitlines()))
    assert row["outcome"] in ("passed", "failed"), row  # the task ran to its verifier: no error
    [results_csv] = [p for p in (out / "raw").glob("tasks_*.csv") if p != tasks_csv]
    [result] = list(csv.DictReader(results_csv.read_text().splitlines()))
    assert int(result["attempts"]) >= 1 and int(result["completion_tokens"]) > 0  # the model answered
    assert (out / "tasks" / "fix-failing-test" / "trajectory.jsonl").stat().st_size > 0
    assert _servers_of(tmp_path / "home") == []  # the server went with the run


@pytest.mark.slow
@pytest.mark.parametrize(("agent", "n_ctx"), [("exec", 8192), ("loop", 4096)])
def test_bench_humaneval_local_serves_the_coding_agent_its_window(
    tmp_path: Path, agent: str, n_ctx: int
) -> None:
    """``--agent exec`` agents get ``exec --local``'s 8,192-token server (their window follows it); the
    contract loop's short conversations keep 4,096."""
    reason = _ready()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path / "out"
    done = agentrt(
        tmp_path, "bench", "humaneval", "--agent", agent, "--local", "smollm2-135m", "--limit", "1",
        "--max-retries", "0", "--max-output-tokens", "64", "--out", str(out), "--no-progress",
        timeout=600,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-3000:]
    [summary_path] = (out / "raw").glob("python_*_summary.json")
    summary = json.loads(summary_path.read_text())
    assert (summary["local_model"], summary["local_n_ctx"]) == ("smollm2-135m", n_ctx)
    assert summary["errors"] == 0, summary  # the one task ran to a result
    assert _servers_of(tmp_path / "home") == []
