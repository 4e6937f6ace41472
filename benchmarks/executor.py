"""Spawn vs fork test executor, in one sitting: 100 HumanEval tasks at zero model latency.

    .venv/bin/python benchmarks/executor.py [--limit N] [--sandbox] [--concurrency C]

Runs ``agentrt bench humaneval`` (the simulated model, no pacing) once with ``--executor spawn`` and
once with ``--executor fork`` (unsandboxed by default, so both executors' children CPU is visible to
``getrusage``; ``--sandbox`` confines both), then, for each of the first N tasks, the canonical
solution and a wrong one through both executors side by side (the differential check). Prints wall
time, children CPU per test run and pass counts, and whether the targets hold (fork: <= 40 ms CPU a
run, 100 tasks <= 8 s wall).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from agentrt.bench.dataset import load_humaneval
from agentrt.bench.executor import SpawnExecutor, TestRun, fork_executor
from agentrt.bench.humaneval.extract import assemble_module
from agentrt.bench.humaneval.loop import PYTEST_INI, LoopConfig, test_confinement
from agentrt.sandbox.process import use_pidfd_child_watcher


def bench(executor: str, args: argparse.Namespace, out: Path) -> dict[str, object]:
    cmd = [sys.executable, "-m", "agentrt", "bench", "humaneval", "--executor", executor,
           "--limit", str(args.limit), "--concurrency", str(args.concurrency), "--no-progress",
           "--out", str(out / executor)]  # fmt: skip
    if not args.sandbox:
        cmd.append("--no-sandbox")
    subprocess.run(cmd, check=True, capture_output=True)
    path = next((out / executor / "raw").glob("*_summary.json"))
    summary: dict[str, object] = json.loads(path.read_text())
    return summary


async def differential(limit: int, root: Path) -> tuple[int, int, list[str]]:
    """(cases, agreeing, disagreements): canonical and wrong solutions through both executors."""
    use_pidfd_child_watcher()
    env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"}
    config = LoopConfig(confine=None, test_env=env)
    tasks = load_humaneval(limit=limit)
    agree, bad = 0, []
    gate = asyncio.Semaphore(8)
    async with fork_executor(sys.executable, env) as fork:

        async def case(i: int, module: str, test: str, label: str) -> None:
            nonlocal agree
            ws = root / f"d{i}"
            ws.mkdir()
            for name, text in (
                ("pytest.ini", PYTEST_INI),
                ("test_solution.py", test),
                ("solution.py", module),
            ):
                (ws / name).write_text(text)
            async with gate:
                with test_confinement(ws, config) as c:
                    argv, t = config.pytest_argv(), config.test_timeout_s
                    a, b = await asyncio.gather(
                        SpawnExecutor().run(argv, cwd=ws, timeout_s=t, confinement=c),
                        fork.run(argv, cwd=ws, timeout_s=t, confinement=c),
                    )
            if outcome(a) == outcome(b):
                agree += 1
            else:
                bad.append(f"{label}: spawn {outcome(a)} fork {outcome(b)}")

        jobs = []
        for i, task in enumerate(tasks):
            good = assemble_module(task.spec, task.spec + (task.solution or ""))
            wrong = assemble_module(task.spec, task.spec + "    return None\n")
            jobs.append(case(2 * i, good, task.test, f"{task.id} canonical"))
            jobs.append(case(2 * i + 1, wrong, task.test, f"{task.id} wrong"))
        await asyncio.gather(*jobs)
    return 2 * len(tasks), agree, bad


def outcome(run: TestRun) -> tuple[object, ...]:
    r = run.result
    last = (r.stdout + r.stderr).strip().splitlines()[-1:] or [""]
    return r.exit_code, r.signal, r.timed_out, re.sub(r" in [0-9.]+s", "", last[0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--sandbox", action="store_true", help="confine the test runs (fork: Landlock)")
    p.add_argument(
        "--executors", default="spawn,fork", help="which to run, comma-separated (default spawn,fork)"
    )
    p.add_argument("--no-differential", action="store_true", help="skip the differential check")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentrt-executor-bench-") as tmp:
        out = Path(tmp)
        rows = {name: bench(name, args, out) for name in args.executors.split(",")}
        print(f"{'executor':10}{'passed':>10}{'wall s':>10}{'runs':>8}{'CPU/run ms':>12}{'source':>16}"
              f"{'children peak MiB':>20}")  # fmt: skip
        for name, s in rows.items():
            print(f"{name:10}{str(s['passed']) + '/' + str(s['tasks']):>10}{s['wall_s']:>10.2f}{s['test_runs']:>8}"
                  f"{s['test_cpu_ms_per_run']:>12}{s['test_cpu_source']:>16}{s['peak_children_rss_mib']:>20}")  # fmt: skip
        fork = rows.get("fork")
        if fork is not None:
            cpu, wall = float(str(fork["test_cpu_ms_per_run"])), float(str(fork["wall_s"]))
            print(
                f"targets (fork): CPU/run {cpu:.1f} ms <= 40: {cpu <= 40}; wall {wall:.2f} s <= 8: {wall <= 8}"
            )
        if args.no_differential:
            return
        cases, agree, bad = asyncio.run(differential(args.limit, out))
        print(
            f"differential: {agree}/{cases} canonical+wrong runs give the same outcome under spawn and fork"
        )
        for line in bad:
            print("  DIFFERS", line)


if __name__ == "__main__":
    main()
