"""``agentrt bench tasks --resume RUN_DIR``: an interrupted run keeps what finished and continues in a
new sitting; finished tasks are not run again, errors are; another solver's results are refused."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
from tests.agentrt_cli import LiveRun
from tests.bench.test_tasks import make_task

from agentrt.bench.report import run_order
from agentrt.cli.main import main

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")


def tasks_rows(out: Path) -> list[dict[str, str]]:
    """The newest sitting's per-task CSV."""
    summary = sorted((out / "raw").glob("tasks_*_summary.json"), key=run_order)[-1]
    newest = summary.with_name(summary.name.replace("_summary.json", "_tasks.csv"))
    return list(csv.DictReader(newest.read_text().splitlines()))


def newest_summary(out: Path) -> dict[str, object]:
    return json.loads(sorted((out / "raw").glob("tasks_*_summary.json"), key=run_order)[-1].read_text())


def test_a_resume_keeps_finished_tasks_and_runs_errors_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite, out = tmp_path / "suite", tmp_path / "out"
    for name in ("a", "b", "c"):
        make_task(suite, name)
    assert main(["bench", "tasks", str(suite), "--out", str(out)]) == 0
    first = {n: (out / "tasks" / n / "result.json").read_text() for n in "abc"}
    # b ended in an error in that sitting (as a crash of the harness would leave it)
    record = json.loads(first["b"])
    record["outcome"], record["row"]["status"] = "error", "error"
    (out / "tasks" / "b" / "result.json").write_text(json.dumps(record))
    capsys.readouterr()

    assert main(["bench", "tasks", str(suite), "--resume", str(out)]) == 0
    err = capsys.readouterr().err
    assert "  b: passed" in err and "  a: " not in err and "  c: " not in err  # only b ran
    assert (out / "tasks" / "a" / "result.json").read_text() == first["a"]  # untouched
    summary = newest_summary(out)
    assert (summary["sittings"], summary["kept_tasks"], summary["solved"]) == (2, 2, 3)
    assert summary["wall_s"] >= summary["sitting_wall_s"]  # type: ignore[operator]
    rows = {r["id"]: r for r in tasks_rows(out)}
    assert {i: (r["outcome"], r["kept"]) for i, r in rows.items()} == {
        "a": ("passed", "True"), "b": ("passed", "False"), "c": ("passed", "True"),
    }  # fmt: skip


def test_a_resume_under_another_solver_is_refused_naming_the_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite, out = tmp_path / "suite", tmp_path / "out"
    make_task(suite, "a")
    assert main(["bench", "tasks", str(suite), "--out", str(out)]) == 0
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["Done."]))
    argv = ["bench", "tasks", str(suite), "--agent", "exec", "--script", str(script), "--resume", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"agentrt: error: cannot resume {out}: task a was run with --agent oracle")
    assert main(["bench", "tasks", str(suite), "--resume", str(out), "--out", str(out)]) == 2
    assert "leave out --out" in capsys.readouterr().err
    assert main(["bench", "tasks", str(suite), "--resume", str(tmp_path / "nothing")]) == 2


def test_ctrl_c_writes_what_finished_and_a_resume_completes_the_run(tmp_path: Path) -> None:
    suite, out = tmp_path / "suite", tmp_path / "out"
    make_task(suite, "fast")
    make_task(
        suite, "slow", solve="sleep 60\necho hello > /app/out.txt\n", toml="[agent]\ntimeout_sec = 90\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_"))}
    live = LiveRun(
        [
            sys.executable,
            "-m",
            "agentrt",
            "bench",
            "tasks",
            str(suite),
            "--out",
            str(out),
            "--concurrency",
            "2",
        ],
        env | {"AGENTRT_HOME": str(tmp_path / "home")},
    )
    live.wait_for("  fast: passed")
    code, stderr = live.finish(signal.SIGINT, timeout=30)
    assert code == 130, stderr
    assert f"continue with --resume {out}" in stderr
    rows = {r["id"]: r for r in tasks_rows(out)}
    assert (rows["fast"]["outcome"], rows["slow"]["outcome"], rows["slow"]["detail"]) == (
        "passed", "error", "interrupted",
    )  # fmt: skip
    assert newest_summary(out)["interrupted"] is True

    (suite / "slow" / "solution" / "solve.sh").write_text("#!/bin/bash\necho hello > /app/out.txt\n")
    assert main(["bench", "tasks", str(suite), "--resume", str(out)]) == 0
    summary = newest_summary(out)
    assert (summary["sittings"], summary["kept_tasks"], summary["solved"], summary["errors"]) == (2, 1, 2, 0)
    assert len(summary["resumed_from"]) == 1  # type: ignore[arg-type]
