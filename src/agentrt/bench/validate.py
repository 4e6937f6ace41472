"""``--validate``: every canonical solution through the same test runner the agents use."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentrt.bench.dataset import Task
from agentrt.bench.executor import TestHarness
from agentrt.bench.humaneval.extract import assemble_module
from agentrt.bench.humaneval.loop import PYTEST_INI, LoopConfig, test_confinement
from agentrt.tools.workspace import Workspace


@dataclass(frozen=True, slots=True)
class Validation:
    id: str
    passed: bool
    detail: str


async def validate(
    tasks: list[Task],
    loop: LoopConfig,
    *,
    concurrency: int = 8,
    on_done: Callable[[Validation], None] = lambda v: None,
    harness: TestHarness | None = None,
) -> list[Validation]:
    """Run each task's canonical solution through ``harness`` (default: spawned)."""
    harness = TestHarness() if harness is None else harness
    root = Path(tempfile.mkdtemp(prefix="agentrt-validate-"))
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(index: int, task: Task) -> Validation:
        async with gate:
            v = await _check(task, root / f"{index:04d}", loop, harness)
        on_done(v)
        return v

    try:
        return list(await asyncio.gather(*(one(i, t) for i, t in enumerate(tasks))))
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _check(task: Task, workdir: Path, loop: LoopConfig, harness: TestHarness) -> Validation:
    if task.solution is None:
        return Validation(task.id, False, "the task has no canonical solution")
    workdir.mkdir(parents=True)
    ws = Workspace(workdir)
    ws.write_file("pytest.ini", PYTEST_INI)
    ws.write_file("test_solution.py", task.test)
    ws.write_file("solution.py", assemble_module(task.spec, task.spec + task.solution))
    with test_confinement(ws.root, loop) as confinement:
        test, _ = await harness.run(
            loop.pytest_argv(), cwd=ws.root, timeout_s=loop.test_timeout_s, confinement=confinement,
            key=task.id,
        )  # fmt: skip
    run = test.result
    tail = (run.stdout + run.stderr).strip().splitlines()
    return Validation(task.id, run.ok, tail[-1] if tail else "")
