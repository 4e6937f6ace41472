"""``agentrt bench humaneval --resume RUN_DIR``, run as a user runs it, and the honest labels.

The runs are real ``agentrt bench humaneval`` processes on the simulator. Each task's test writes its
id to a log file (``RESUME_LOG``) when it runs, so the log says which tasks a sitting ran. A task can
be held: its test opens a FIFO for reading, which blocks until someone opens it for writing; with the
FIFO removed the test runs straight through. A sitting is stopped once the progress display (a plain
line per finished task on a pipe) says how many tasks finished — no sleeps.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.agentrt_cli import LiveRun

from agentrt.bench.progress import Progress
from agentrt.bench.report import load_resume, render_table, summarize
from agentrt.bench.report_html import Run, render_report
from agentrt.bench.result import TaskResult
from agentrt.model.sim.process import SimProcess

AGENTRT = [sys.executable, "-m", "agentrt"]


# --- helpers ---------------------------------------------------------------------------------------


def make_dataset(path: Path, n: int, holds: dict[int, Path] | None = None) -> Path:
    """``n`` tasks ``t/0`` … whose tests log their id; task ``i`` in ``holds`` waits on that FIFO."""
    holds = holds or {}
    tasks = []
    for i in range(n):
        test = "import os\nfrom solution import *\n\n\ndef test_f():\n"
        test += f"    with open(os.environ['RESUME_LOG'], 'a') as log:\n        log.write('t/{i}\\n')\n"
        if i in holds:
            test += f"    if os.path.exists({str(holds[i])!r}):\n        open({str(holds[i])!r}).read()\n"
        test += f"    assert f{i}() == {i}\n"
        spec = f'def f{i}():\n    """Return {i}."""\n'
        tasks.append({"id": f"t/{i}", "spec": spec, "test": test, "solution": f"    return {i}\n"})
    path.write_text(json.dumps(tasks))
    return path


@pytest.fixture
def fifos(tmp_path: Path) -> Iterator[list[Path]]:
    """Two FIFOs that hold tasks; at the end any test still held is let go (opened for writing)."""
    made = [tmp_path / "hold-a", tmp_path / "hold-b"]
    for fifo in made:
        os.mkfifo(fifo)
    yield made
    for fifo in made:
        if fifo.exists():
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # no reader: nothing held


def env_for(tmp_path: Path, log: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_", "BENCH_"))}
    env["TMPDIR"] = str(tmp_path)
    env["RESUME_LOG"] = str(tmp_path / f"{log}.log")
    return env


def ran(tmp_path: Path, log: str) -> list[str]:
    """The tasks whose tests ran in the sitting that logged to ``log`` (one log per sitting: a test
    of a killed sitting can never count for the next)."""
    path = tmp_path / f"{log}.log"
    return sorted(path.read_text().split()) if path.exists() else []


def agentrt(tmp_path: Path, *args: str, log: str = "run") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGENTRT, "bench", "humaneval", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env_for(tmp_path, log),
    )


def live(tmp_path: Path, *args: str, log: str) -> LiveRun:
    """A run in the background whose progress lines can be waited for."""
    return LiveRun([*AGENTRT, "bench", "humaneval", *args], env_for(tmp_path, log))


def outputs(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "raw").iterdir())


def summary_files(out: Path) -> list[Path]:
    return sorted((out / "raw").glob("python_*_summary.json"), key=lambda p: p.stat().st_mtime_ns)


def newest(out: Path) -> tuple[list[dict[str, str]], dict[str, object]]:
    path = summary_files(out)[-1]
    with path.with_name(path.name.removesuffix("_summary.json") + ".csv").open() as f:
        return list(csv.DictReader(f)), json.loads(path.read_text())


def one_line_error(proc: subprocess.CompletedProcess[str], *patterns: str) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("agentrt: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for pattern in patterns:
        assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


# --- resuming ---------------------------------------------------------------------------------------


def test_ctrl_c_then_resume_runs_only_the_unfinished_tasks_across_three_sittings(
    tmp_path: Path, fifos: list[Path]
) -> None:
    hold_a, hold_b = fifos
    dataset = make_dataset(tmp_path / "tasks.json", 5, {1: hold_a, 3: hold_b})
    out = tmp_path / "out"
    flags = ["--dataset", str(dataset), "--no-sandbox", "--fail-rate", "0"]

    # Sitting 1: t/1 and t/3 are held; Ctrl-C once the other three finished.
    first = live(tmp_path, *flags, "--out", str(out), log="1")
    first.wait_for("humaneval 3/5")
    rc, stderr = first.finish(signal.SIGINT, timeout=60)
    assert rc == 130, stderr
    assert f"--resume {out}" in stderr
    assert {"t/0", "t/2", "t/4"} <= set(ran(tmp_path, "1"))  # (the held two may or may not have started)
    rows, one = newest(out)
    assert one["interrupted"] is True and one["sittings"] == 1 and one["passed"] == 3
    assert [r["status"] for r in rows] == ["passed", "error", "passed", "error", "passed"]
    assert not list((out / "raw").glob("*_journal.jsonl")), (
        "a sitting that wrote its summary leaves no journal"
    )
    first_rows = {r["id"]: r for r in rows}

    # Sitting 2: t/1 is let go, t/3 still held; Ctrl-C again once t/1 finished.
    hold_a.unlink()
    second = live(tmp_path, *flags, "--resume", str(out), log="2")
    second.wait_for("humaneval 4/5")
    rc, stderr = second.finish(signal.SIGINT, timeout=60)
    assert rc == 130, stderr
    assert "3 of 5 task runs kept, 2 to run" in stderr and "kept 3" in stderr
    again = ran(tmp_path, "2")
    assert "t/1" in again and set(again) <= {"t/1", "t/3"}, again  # t/3 may not have reached its test
    rows, two = newest(out)
    assert two["sittings"] == 2 and two["interrupted"] is True and two["passed"] == 4 and two["errors"] == 1
    assert [r["status"] for r in rows] == ["passed", "passed", "passed", "error", "passed"]

    # Sitting 3: only t/3 is left, and only t/3 runs.
    hold_b.unlink()
    third = agentrt(tmp_path, *flags, "--resume", str(out), "--report", "--no-progress", log="3")
    assert third.returncode == 0, third.stderr
    assert "4 of 5 task runs kept, 1 to run" in third.stderr
    assert ran(tmp_path, "3") == ["t/3"]
    rows, s = newest(out)
    assert [r["id"] for r in rows] == [f"t/{i}" for i in range(5)]
    assert all(r["status"] == "passed" for r in rows)
    for kept in ("t/0", "t/2", "t/4"):  # rows kept from sitting 1, not run again: byte for byte
        assert rows[int(kept[-1])] == first_rows[kept]
    assert (s["tasks"], s["passed"], s["errors"], s["first_attempt"]) == (5, 5, 0, 5)
    assert s["sittings"] == 3 and s["kept_tasks"] == 4 and s["interrupted"] is False
    names = [p.name for p in summary_files(out)]
    assert len(names) == 3, "every sitting keeps its own files"
    assert s["resumed_from"] == names[:2]
    per = s["per_sitting"]
    assert isinstance(per, list) and [p["sitting"] for p in per] == [1, 2, 3]
    assert [p["tasks_run"] for p in per] == [3, 1, 1]
    assert [p["interrupted"] for p in per] == [True, True, False]
    assert per[2]["file"] == names[2] and per[2]["runtime_cpu_s"] == s["runtime_cpu_s"]
    assert s["sitting_wall_s"] == per[2]["wall_s"]
    assert s["wall_s"] == pytest.approx(sum(p["wall_s"] for p in per), abs=1e-3)
    assert s["wall_s"] > s["sitting_wall_s"]
    assert "over 3 sittings" in third.stdout and "sitting 3 of 3: agentrt process" in third.stdout
    page = next((out / "raw").glob("*_report.html")).read_text()
    assert "3 (resumed" in page

    done = agentrt(tmp_path, *flags, "--resume", str(out), log="4")
    assert done.returncode == 0, done.stderr
    assert "nothing to resume: all 5 task runs" in done.stderr and "nothing was run" in done.stderr
    assert ran(tmp_path, "4") == [] and len(summary_files(out)) == 3


def test_a_killed_run_with_repeat_resumes_from_its_journal(tmp_path: Path, fifos: list[Path]) -> None:
    hold = fifos[0]
    dataset = make_dataset(tmp_path / "tasks.json", 3, {1: hold})
    out = tmp_path / "out"
    flags = ["--dataset", str(dataset), "--no-sandbox", "--fail-rate", "0", "--repeat", "2"]

    run = live(tmp_path, *flags, "--out", str(out), log="1")
    run.wait_for("humaneval 4/6")
    rc, _ = run.finish(signal.SIGKILL, timeout=60)
    assert rc == -signal.SIGKILL
    assert summary_files(out) == [], "killed: no summary was written"
    (journal,) = (out / "raw").glob("*_journal.jsonl")
    assert len(journal.read_text().splitlines()) == 1 + 4, "a header and the four finished rows"

    hold.unlink()
    wrong = agentrt(tmp_path, *flags[:-2], "--resume", str(out), log="wrong")
    one_line_error(wrong, r"--repeat recorded 2, now 1")
    proc = agentrt(tmp_path, *flags, "--resume", str(out), "--no-progress", log="2")
    assert proc.returncode == 0, proc.stderr
    assert ran(tmp_path, "wrong") == []
    assert ran(tmp_path, "2") == ["t/1", "t/1"], "t/1#1 and t/1#2, nothing else"
    rows, s = newest(out)
    assert [r["id"] for r in rows] == [f"t/{i}#{k}" for i in range(3) for k in (1, 2)]
    assert all(r["status"] == "passed" for r in rows)
    assert s["sittings"] == 2 and s["kept_tasks"] == 4 and s["resumed_from"] == [journal.name]
    per = s["per_sitting"]
    assert isinstance(per, list) and per[0]["killed"] is True and per[0]["tasks_run"] == 4
    assert per[0]["file"] == journal.name and per[1]["tasks_run"] == 2
    assert "peak_rss_mib" not in per[0], "a killed sitting measured nothing it could write"


def test_error_rows_run_again(tmp_path: Path) -> None:
    dataset = make_dataset(tmp_path / "tasks.json", 4)
    sim = SimProcess(
        ["--dataset", str(dataset), "--fail-rate", "0", "--fault", "malformed", "--fault-count", "1"]
    )
    url = sim.start()
    try:
        flags = ["--dataset", str(dataset), "--no-sandbox", "--base-url", url, "--model", "agentrt-sim"]
        flags += ["--concurrency", "1", "--no-progress"]
        out = tmp_path / "out"
        proc = agentrt(tmp_path, *flags, "--out", str(out), log="1")
        assert proc.returncode == 1 and "MalformedResponse" in proc.stderr
        assert f"--resume {out} runs them again" in proc.stderr
        assert ran(tmp_path, "1") == ["t/1", "t/2", "t/3"], "t/0's request got the malformed stream"
        again = agentrt(tmp_path, *flags, "--resume", str(out), log="2")
        assert again.returncode == 0, again.stderr
        assert ran(tmp_path, "2") == ["t/0"]
        rows, s = newest(out)
        assert [r["status"] for r in rows] == ["passed"] * 4 and s["errors"] == 0 and s["sittings"] == 2
    finally:
        sim.close()


def test_a_run_recorded_before_retry_code_resumes_as_showing_the_code(tmp_path: Path) -> None:
    """Summaries written before --retry-code lack the key; they meant the code was shown."""
    dataset = make_dataset(tmp_path / "tasks.json", 2)
    out = tmp_path / "out"
    flags = ["--dataset", str(dataset), "--no-sandbox", "--fail-rate", "0", "--no-progress"]
    flags += ["--retry-context", "fresh"]
    assert agentrt(tmp_path, *flags, "--out", str(out), log="1").returncode == 0
    (summary,) = summary_files(out)
    recorded = json.loads(summary.read_text())
    assert recorded["retry"].pop("code") is True
    summary.write_text(json.dumps(recorded))
    resume = [*flags, "--resume", str(out)]
    assert "nothing to resume" in agentrt(tmp_path, *resume, log="2").stderr
    one_line_error(
        agentrt(tmp_path, *resume, "--no-retry-code"),
        r"--retry-\* \(the retry strategy\) recorded .*'code': True.*'code': False",
    )


def test_an_invocation_that_differs_is_refused_and_a_complete_run_has_nothing_to_do(tmp_path: Path) -> None:
    dataset = make_dataset(tmp_path / "tasks.json", 3)
    out = tmp_path / "out"
    flags = ["--dataset", str(dataset), "--no-sandbox", "--fail-rate", "0", "--no-progress"]
    assert agentrt(tmp_path, *flags, "--out", str(out), log="1").returncode == 0
    before = outputs(out)

    resume = [*flags, "--resume", str(out)]
    one_line_error(agentrt(tmp_path, *resume, "--limit", "2"), r"--limit: recorded 3 task runs, now 2")
    one_line_error(agentrt(tmp_path, *resume, "--max-retries", "1"), r"--max-retries recorded 3, now 1")
    one_line_error(
        agentrt(tmp_path, *resume, "--seed", "7"), r"--seed recorded 0, now 7", "it was run as: agentrt"
    )
    one_line_error(agentrt(tmp_path, *resume, "--out", str(out)), r"leave out --out")
    one_line_error(
        agentrt(tmp_path, *resume, "--retry-context", "fresh"),
        r"--retry-\* \(the retry strategy\) recorded .*'context': 'continue'.*'context': 'fresh'",
    )
    tasks = json.loads(dataset.read_text())
    tasks[2]["test"] += "\n# changed\n"
    dataset.write_text(json.dumps(tasks))
    one_line_error(agentrt(tmp_path, *resume), r"spec or test differ")
    assert ran(tmp_path, "run") == [] and outputs(out) == before, "a refused resume runs and writes nothing"

    tasks[2]["test"] = tasks[2]["test"].removesuffix("\n# changed\n")
    dataset.write_text(json.dumps(tasks))
    done = agentrt(tmp_path, *resume, log="done")
    assert done.returncode == 0, done.stderr
    assert "nothing to resume: all 3 task runs" in done.stderr
    assert "pass@1 (with up to 3 retries) 100.0%" in done.stdout  # the recorded run, shown
    assert ran(tmp_path, "done") == [] and outputs(out) == before

    # Killed after its last task finished but before its summary: the journal has every row, and the
    # resume runs nothing but writes the run's summary.
    (summary,) = summary_files(out)
    recorded = json.loads(summary.read_text())
    with summary.with_name(summary.name.removesuffix("_summary.json") + ".csv").open() as f:
        rows = list(csv.DictReader(f))
    lines = [{"journal": 1, "meta": recorded, "task_ids": [r["id"] for r in rows]}]
    lines += [{"row": r, "t_s": 0.5} for r in rows]
    journal = out / "raw" / "python_29990101T000000Z_journal.jsonl"
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines))
    written = agentrt(tmp_path, *resume, log="journal")
    assert written.returncode == 0, written.stderr
    assert "3 of 3 task runs kept, 0 to run" in written.stderr and ran(tmp_path, "journal") == []
    _, s = newest(out)
    assert (s["tasks"], s["passed"], s["sittings"], s["resumed_from"]) == (3, 3, 2, [journal.name])


def test_a_missing_or_damaged_run_is_a_clear_error(tmp_path: Path) -> None:
    proc = agentrt(tmp_path, "--resume", str(tmp_path / "nowhere"))
    one_line_error(proc, r"cannot resume from .*nowhere: no such directory")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no benchmark run there"):
        load_resume(empty)

    raw = tmp_path / "run" / "raw"
    raw.mkdir(parents=True)
    summary = raw / "python_20260101T000000Z_summary.json"
    summary.write_text(json.dumps({"tasks": 2, "max_retries": 3}))
    with pytest.raises(ValueError, match="python_20260101T000000Z.csv cannot be read"):
        load_resume(tmp_path / "run")
    rows = raw / "python_20260101T000000Z.csv"
    header = "id,status,attempts,retries,first_attempt_pass,wall_s,model_s,ttft_s,test_s,test_runs,"
    header += "test_cpu_s,test_peak_rss_mib,admission_wait_s,prompt_tokens,completion_tokens,error\n"
    rows.write_text(header + "a,passed,1,0,true,1,1,,1,1,,,0,5,5,\nb,bogus,1,0,true,1,1,,1,1,,,0,5,5,\n")
    with pytest.raises(ValueError, match="line 3: status 'bogus'"):
        load_resume(tmp_path / "run")
    rows.write_text(header + "a,passed,1,0,true,1,1,,1,1,,,0,5,5,\n")
    with pytest.raises(ValueError, match="has 1 rows, the summary counts 2 tasks"):
        load_resume(summary)
    rows.write_text(
        header + "a,passed,1,0,true,1,1,,1,1,,,0,5,5,\nb,error,0,0,false,0,0,,0,0,,,0,0,0,interrupted\n"
    )
    point = load_resume(tmp_path / "run")
    assert point.out_dir == tmp_path / "run" and list(point.kept) == ["a"] and point.unfinished == ["b"]

    journal = raw / "python_20260101T000001Z_journal.jsonl"  # newer than the summary: a killed sitting
    journal.write_text('{"journal": 1}\n')
    with pytest.raises(ValueError, match="damaged journal .*settings or task ids"):
        load_resume(tmp_path / "run")
    journal.write_text('{"journal": 1, "meta": {}, "task_ids": ["a"]}\nnot json\n{"row": {}}\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        load_resume(tmp_path / "run")
    journal.write_text('{"journal": 1, "meta": {}, "task_ids": ["a", "b"]}\n{"row": {"id": "a", "stat')
    assert load_resume(tmp_path / "run").unfinished == ["a", "b"], "a torn last line is the kill's, dropped"
    one_line_error(agentrt(tmp_path, "--resume", str(rows)), r"not a \*_summary.json or \*_journal.jsonl")


def test_the_newest_sitting_is_found_across_same_second_stamps(tmp_path: Path) -> None:
    from agentrt.bench.report import find_resume_source
    from agentrt.bench.report_html import find_summaries

    raw = tmp_path / "raw"
    raw.mkdir()
    for stamp in ("20260101T000000Z", "20260101T000000Z-2", "20260101T000000Z-10", "20251231T235959Z-3"):
        (raw / f"python_{stamp}_summary.json").write_text("{}")
    assert find_summaries([tmp_path]) == [raw / "python_20260101T000000Z-10_summary.json"]
    assert find_resume_source(tmp_path) == raw / "python_20260101T000000Z-10_summary.json"
    (raw / "python_20260101T000000Z-11_journal.jsonl").write_text("")
    assert find_resume_source(tmp_path) == raw / "python_20260101T000000Z-11_journal.jsonl"
    (raw / "python_20260101T000000Z-11_summary.json").write_text("{}")
    assert find_resume_source(tmp_path) == raw / "python_20260101T000000Z-11_summary.json", "a summary wins"


def test_progress_counts_the_kept_tasks() -> None:
    import io

    stream = io.StringIO()
    progress = Progress(10, stream, label="he", kept=["passed", "passed", "failed", "passed"])
    assert stream.getvalue() == "", "nothing drawn before a task of this sitting ends"
    progress.update("error")
    line = stream.getvalue()
    assert line.startswith("he 5/10 (50%)  passed 3  failed 1  errors 1  kept 4"), line
    assert "eta" in line


# --- honest labels ----------------------------------------------------------------------------------


def _rows() -> list[TaskResult]:
    return [
        TaskResult("a", "passed", attempts=1, first_attempt_pass=True, completion_tokens=100),
        TaskResult("b", "passed", attempts=3, retries=2, completion_tokens=100),
        TaskResult("c", "failed", attempts=3, retries=2, completion_tokens=100),
        TaskResult("d", "passed", attempts=2, retries=1, completion_tokens=100),
    ]


def test_pass_at_1_is_shown_with_its_retries_next_to_the_first_attempt_rate() -> None:
    s = summarize(_rows(), resources=None, wall_s=1.0, meta={"max_retries": 2, "agent": "loop"})
    assert s["pass_at_1"] == 0.75 and s["first_attempt"] == 1 and s["first_attempt_pass_rate"] == 0.25
    table = render_table(s)
    assert "pass@1 (with up to 2 retries) 75.0%   first-attempt pass rate 25.0%" in table
    assert re.findall(r"pass@1(?! \()", table) == [], "pass@1 never appears without its retries"
    assert "pass@1 (no retries)" in render_table({**s, "max_retries": 0})
    assert "pass@1 (with the agent's own test-and-fix turns)" in render_table({**s, "agent": "exec"})
    page = render_report([Run("r", s, (), (), Path("r_summary.json"))])
    assert "pass@1 (passed after up to N retries)" in page and "3/4 (75.0%) · with up to 2 retries" in page
    assert "first-attempt pass rate" in page and "1/4 (25.0%)" in page


def test_the_cpu_and_rss_lines_name_each_process() -> None:
    base = {"runtime_cpu_s": 1.5, "children_cpu_s": 7.25, "peak_rss_mib": 30.0, "simulated": True}
    own = render_table({**base, "sim_process": True, "sim_cpu_s": 0.5, "sim_peak_rss_mib": 24.0})
    (cpu,) = [ln for ln in own.splitlines() if ln.startswith("CPU")]
    assert re.search(
        r"agentrt process 1\.50 s .*test children 7\.25 s \(reaped\)   simulator process 0\.50 s", cpu
    )
    (rss,) = [ln for ln in own.splitlines() if ln.startswith("peak RSS")]
    assert "agentrt process 30.0 MiB" in rss and "simulator process 24.0 MiB" in rss
    inside = render_table({**base, "sim_process": False})
    assert "agentrt process (incl. simulator) 1.50 s" in inside and "simulator process" not in inside
    real = render_table({**base, "simulated": False})
    assert "agentrt process 1.50 s" in real and "simulator" not in real
