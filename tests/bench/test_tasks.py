"""``agentrt bench tasks``: Harbor task directories run in the bubblewrap container layout."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import time
from pathlib import Path

import pytest

from agentrt.bench.tasks.runner import TasksConfig, TasksOutcome, read_reward, run_tasks
from agentrt.bench.tasks.spec import TaskError, find_tasks, load_task, parse_dockerfile
from agentrt.cli.main import main

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")

PASS_IF_HELLO = """#!/bin/bash
if [ "$(cat /app/out.txt 2>/dev/null)" = "hello" ]; then echo 1 > /logs/verifier/reward.txt
else echo 0 > /logs/verifier/reward.txt; fi
"""


def make_task(
    root: Path,
    name: str,
    *,
    solve: str = "echo hello > /app/out.txt\n",
    test: str = PASS_IF_HELLO,
    toml: str = "[agent]\ntimeout_sec = 20\n[verifier]\ntimeout_sec = 20\n",
    dockerfile: str = "FROM ubuntu:24.04\nWORKDIR /app\nCOPY . /app\n",
    files: dict[str, str] | None = None,
) -> Path:
    task = root / name
    for sub in ("environment", "tests", "solution"):
        (task / sub).mkdir(parents=True)
    (task / "instruction.md").write_text("Write hello to /app/out.txt.\n")
    (task / "task.toml").write_text(toml)
    (task / "environment" / "Dockerfile").write_text(dockerfile)
    for rel, text in (files or {"input.txt": "data\n"}).items():
        (task / "environment" / rel).write_text(text)
    (task / "solution" / "solve.sh").write_text("#!/bin/bash\n" + solve)
    (task / "tests" / "test.sh").write_text(test)
    return task


def run(paths: list[Path], out: Path, **kw: object) -> TasksOutcome:
    specs = [load_task(p) for p in find_tasks(paths)]
    config = TasksConfig(out_dir=out, home=out / "home", **kw)  # type: ignore[arg-type]
    return asyncio.run(run_tasks(specs, config))


def by_id(outcome: TasksOutcome) -> dict[str, object]:
    return {t.row.id: t for t in outcome.tasks}


def test_oracle_passes_and_untouched_environment_fails(tmp_path: Path) -> None:
    make_task(tmp_path / "suite", "ok", toml='[verifier]\ntimeout_sec = 20\nenv = { WANT = "x" }\n',
              test='[ "$WANT" = x ] && cat /app/input.txt >&2 && ' + PASS_IF_HELLO.split("\n", 1)[1])  # fmt: skip
    make_task(tmp_path / "suite", "untouched", solve="true\n")
    out = run([tmp_path / "suite"], tmp_path / "out", concurrency=2)
    tasks = by_id(out)
    ok, untouched = tasks["ok"], tasks["untouched"]
    assert ok.outcome == "passed" and ok.reward == 1.0, ok  # type: ignore[attr-defined]
    assert untouched.outcome == "failed" and untouched.reward == 0.0  # type: ignore[attr-defined]
    task_dir = tmp_path / "out" / "tasks" / "ok"
    assert json.loads((task_dir / "result.json").read_text())["reward"] == 1.0
    assert (task_dir / "verifier" / "reward.txt").read_text().strip() == "1"
    assert "data" in (task_dir / "verifier.txt").read_text()
    assert (task_dir / "agent.txt").is_file()
    assert out.summary["solved"] == 1 and out.summary["harness_ms_p50"] is not None
    assert out.csv_path.is_file() and "untouched,failed,0.0" in out.tasks_csv.read_text()
    # where the figures come from, as every suite's summary says it
    assert out.summary["python"] == platform.python_version() and out.summary["agentrt_version"]
    assert str(out.summary["started_at"]) <= out.csv_path.stem.removeprefix("tasks_")
    assert "git_commit" in out.summary


def test_reward_json_and_txt(tmp_path: Path) -> None:
    (tmp_path / "reward.json").write_text('{"reward": 0.5}')
    assert read_reward(tmp_path) == 0.5
    (tmp_path / "reward.json").write_text('{"a": 1, "b": 0}')
    assert read_reward(tmp_path) == 0.5
    (tmp_path / "reward.txt").write_text("1\n")
    assert read_reward(tmp_path) == 1.0
    make_task(
        tmp_path / "s", "j", test="#!/bin/bash\necho '{\"reward\": 1.0}' > /logs/verifier/reward.json\n"
    )
    assert by_id(run([tmp_path / "s"], tmp_path / "out"))["j"].outcome == "passed"  # type: ignore[attr-defined]


def test_unsupported_dockerfile(tmp_path: Path) -> None:
    make_task(tmp_path / "s", "u", dockerfile="FROM python:3.11\nWORKDIR /app\nRUN pip install numpy\n")
    make_task(tmp_path / "s", "outside", dockerfile="FROM x\nWORKDIR /app\nCOPY input.txt /etc/input.txt\n")
    tasks = by_id(run([tmp_path / "s"], tmp_path / "out"))
    assert tasks["u"].outcome == "unsupported"  # type: ignore[attr-defined]
    assert "RUN" in tasks["u"].detail and "line 3" in tasks["u"].detail  # type: ignore[attr-defined]
    assert "outside WORKDIR" in tasks["outside"].detail  # type: ignore[attr-defined]
    assert not (tmp_path / "out" / "tasks" / "u" / "verifier.txt").exists()


def test_dockerfile_subset(tmp_path: Path) -> None:
    env = tmp_path / "environment"
    env.mkdir()
    (env / "a.txt").write_text("a")
    (env / "Dockerfile").write_text(
        "# c\nFROM ubuntu \\\n  AS base\nWORKDIR /srv\nWORKDIR app\nCOPY a.txt ./\n"
    )
    workdir, copies = parse_dockerfile(env)
    assert workdir == "/srv/app" and copies[0].dest == "/srv/app/"


def _alive(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def test_timeouts_leave_nothing_running(tmp_path: Path) -> None:
    agent_marker, verifier_marker = "777.123", "777.456"
    make_task(tmp_path / "s", "slow_agent", toml="[agent]\ntimeout_sec = 1\n",
              solve=f"setsid sleep {agent_marker} &\nsleep {agent_marker}\n")  # fmt: skip
    make_task(tmp_path / "s", "slow_verifier", toml="[verifier]\ntimeout_sec = 1\n",
              test=f"#!/bin/bash\n(sleep {verifier_marker} &)\nsleep {verifier_marker}\n")  # fmt: skip
    started = time.monotonic()
    tasks = by_id(run([tmp_path / "s"], tmp_path / "out", concurrency=2))
    assert time.monotonic() - started < 15
    slow_agent, slow_verifier = tasks["slow_agent"], tasks["slow_verifier"]
    assert slow_agent.agent_timed_out and slow_agent.outcome == "failed"  # type: ignore[attr-defined]
    assert slow_verifier.verifier_timed_out and slow_verifier.outcome == "failed"  # type: ignore[attr-defined]
    assert "timed out" in slow_verifier.detail  # type: ignore[attr-defined]
    assert _alive(agent_marker) == [] and _alive(verifier_marker) == []


def test_malformed_task_toml_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_task(tmp_path / "s", "bad", toml="[agent]\ntimeout_sec = 'soon'\n")
    with pytest.raises(TaskError, match=r"^task bad: task.toml: \[agent\] timeout_sec"):
        load_task(tmp_path / "s" / "bad")
    (tmp_path / "s" / "bad" / "task.toml").write_text("[agent\n")
    assert main(["bench", "tasks", str(tmp_path / "s"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "task bad: task.toml is not valid TOML" in err[0]


def test_agent_never_sees_tests(tmp_path: Path) -> None:
    suite = tmp_path / "s"
    host_tests = suite / "peek" / "tests" / "test.sh"
    solve = (
        f"if [ -e /tests ] || [ -e {host_tests} ] || ls {suite}/peek/tests 2>/dev/null | grep -q .; "
        "then echo seen > /app/out.txt; else echo hello > /app/out.txt; fi\n"
    )
    make_task(suite, "peek", solve=solve)
    assert by_id(run([suite], tmp_path / "out"))["peek"].outcome == "passed"  # type: ignore[attr-defined]


def test_cli_oracle_and_exec_scripted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_task(tmp_path / "s", "t1")
    assert main(["bench", "tasks", str(tmp_path / "s"), "--out", str(tmp_path / "o1")]) == 0
    assert "solved 1/1" in capsys.readouterr().out
    script = tmp_path / "script.json"
    call = {"name": "shell", "arguments": {"command": ["bash", "-lc", "pwd; echo hello > /app/out.txt"]}}
    script.write_text(json.dumps([{"tool_calls": [call]}, "Wrote out.txt."]))
    argv = ["bench", "tasks", str(tmp_path / "s"), "--agent", "exec", "--script", str(script)]
    assert main([*argv, "--out", str(tmp_path / "o2")]) == 0
    assert "solved 1/1" in capsys.readouterr().out
    task_dir = tmp_path / "o2" / "tasks" / "t1"
    trajectory = (task_dir / "trajectory.jsonl").read_text()
    assert "echo hello" in trajectory and "/app\\n" in trajectory
    result = json.loads((task_dir / "result.json").read_text())
    assert result["outcome"] == "passed"


def make_rebuild(root: Path, name: str, solve: str) -> Path:
    task = make_task(root, name, solve=solve, dockerfile="FROM x\nWORKDIR /app\nCOPY doc.md /app/\n",
                     files={"doc.md": "upper: copy stdin upper-cased; --fail exits 3\n"},
                     toml='kind = "rebuild"\n[rebuild]\ncommand = ["bash", "/app/upper.sh"]\n')  # fmt: skip
    shutil.rmtree(task / "tests")
    (task / "cases").mkdir()
    visible = [{"args": [], "stdin": "ab\n", "stdout": "AB\n"}]
    held = [
        {"args": [], "stdin": "xy\n", "stdout": "XY\n"},
        {"args": [], "stdin": "", "stdout": ""},
        {"args": ["--fail"], "stdin": "q", "stdout": "", "exit_code": 3},
    ]
    (task / "cases" / "visible.json").write_text(json.dumps(visible))
    (task / "cases" / "held_out.json").write_text(json.dumps(held))
    return task


def test_rebuild_kind_scores_held_out_cases(tmp_path: Path) -> None:
    full = "test -f /app/visible_cases.json && test -f /app/doc.md || exit 1\n"
    full += "printf '%s\\n' '[ \"$1\" = --fail ] && exit 3; tr a-z A-Z' > /app/upper.sh\n"
    make_rebuild(tmp_path / "s", "full", full)
    make_rebuild(tmp_path / "s", "partial", "echo 'tr a-z A-Z' > /app/upper.sh\n")
    make_rebuild(tmp_path / "s", "untouched", "true\n")
    tasks = by_id(run([tmp_path / "s"], tmp_path / "out", concurrency=3))
    assert tasks["full"].outcome == "passed" and tasks["full"].reward == 1.0  # type: ignore[attr-defined]
    assert tasks["partial"].outcome == "failed"  # type: ignore[attr-defined]
    assert tasks["partial"].reward == pytest.approx(2 / 3)  # type: ignore[attr-defined]
    assert tasks["untouched"].reward == 0.0  # type: ignore[attr-defined]
    record = json.loads((tmp_path / "out" / "tasks" / "partial" / "verifier" / "reward.json").read_text())
    assert record["passed"] == 2 and record["total"] == 3
    assert "case 2 FAIL" in (tmp_path / "out" / "tasks" / "partial" / "verifier.txt").read_text()


def test_rebuild_needs_its_cases(tmp_path: Path) -> None:
    task = make_rebuild(tmp_path / "s", "r", "true\n")
    (task / "cases" / "held_out.json").write_text("[]")
    with pytest.raises(TaskError, match="^task r: cases/held_out.json must be a non-empty"):
        load_task(task)
