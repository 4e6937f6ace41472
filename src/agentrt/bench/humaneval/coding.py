"""The full coding agent as a benchmark subject (``agentrt bench humaneval --agent exec``).

Each task gets a temporary git repository holding the task's spec as a stub ``solution.py``, its
test module ``test_solution.py`` and a ``pytest.ini``. The agent — the same loop, tools, base prompt
and OS sandbox (``workspace-write``, no network) as ``agentrt exec`` — gets a short instruction and
works until it answers. Then the harness judges: it copies the agent's ``solution.py`` next to its
own untouched copy of the tests in a fresh directory and runs pytest there; the agent's word and
anything else it left in the repository (a changed test, a ``conftest.py``) count for nothing.

Row semantics: ``attempts`` are model requests; ``first_attempt_pass`` means the task passed and the
agent's first test run passed; ``test_s`` sums the agent's pytest runs and the harness's check.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentrt.agent.context import ContextPolicy
from agentrt.agent.thread import Limits, TurnStopped
from agentrt.bench.dataset import Task
from agentrt.bench.humaneval.loop import PYTEST_INI, LoopConfig, run_tests, test_confinement
from agentrt.bench.repo_agent import RepoAgent, run_in_repo
from agentrt.bench.result import TaskResult, TaskTelemetry, task_row
from agentrt.events import EventSink, ItemIds, NullSink
from agentrt.interfaces import Model
from agentrt.sandbox import scoped_sandbox
from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.process import run_command
from agentrt.tools.registry import ToolContext
from agentrt.tools.workspace import Workspace

INSTRUCTION = (
    "Implement the function in solution.py so that the tests in test_solution.py pass. "
    "Run the tests with `python -m pytest -q` to check your work, then reply with a one-line summary."
)


@dataclass(frozen=True, kw_only=True)
class AgentConfig:
    """What every coding agent of a run shares."""

    mechanism: str
    """The sandbox mechanism proven at the start of the run (``bwrap`` or ``landlock``)."""
    base_prompt: str
    """The system prompt text (read once for all agents)."""
    env: Mapping[str, str]
    """The base environment of the agent's commands (``PATH`` leads to agentrt's interpreter)."""
    home: Path
    """``AGENTRT_HOME``, which the sandbox keeps out of the agent's reach."""
    check: LoopConfig
    """How the harness runs its own check (interpreter, timeout, environment, sandbox)."""
    limits: Limits = Limits(max_turns=30, max_wall_s=600.0)
    context: ContextPolicy = ContextPolicy()
    """The window each agent accounts for: masking and compaction as in ``exec``."""


async def solve_with_agent(
    task: Task, model: Model, workdir: Path, config: AgentConfig, sink: EventSink | None = None
) -> TaskResult:
    """One coding agent on one task in ``workdir`` (created); never raises but for cancellation."""
    with task_row(task.id, sink) as telemetry:
        result = telemetry.result
        repo = await _make_repo(task, workdir / "repo")
        stopped = await _run_agent(model, repo, config, telemetry)
        passed, first_ok = await _judge(task, repo, workdir / "check", config.check, telemetry)
        if stopped is not None and stopped.reason == "model_error" and not passed:
            result.status, result.error = "error", stopped.message
        else:
            result.status = "passed" if passed else "failed"
            result.first_attempt_pass = passed and first_ok
    return telemetry.result


async def _make_repo(task: Task, repo: Path) -> Path:
    repo.mkdir(parents=True)
    ws = Workspace(repo)
    ws.write_file("solution.py", task.spec)
    ws.write_file("test_solution.py", task.test)
    ws.write_file("pytest.ini", PYTEST_INI)
    done = await run_command(
        ["git", "init", "-q", str(ws.root)], cwd=ws.root, timeout_s=30, sandbox=NoSandbox()
    )
    if not done.ok:
        raise OSError(f"git init failed: {(done.stderr or done.stdout).strip()}")
    return ws.root


async def _run_agent(model: Model, repo: Path, config: AgentConfig, sink: EventSink) -> TurnStopped | None:
    """Let the agent work in ``repo`` under the sandbox; the reason it stopped early, if it did."""
    agent = RepoAgent(
        mechanism=config.mechanism, base_prompt=config.base_prompt, env=config.env, home=config.home,
        limits=config.limits, context=config.context,
    )  # fmt: skip
    with scoped_sandbox(repo, config.mechanism, home=config.home, env=config.env) as sandbox:
        return await run_in_repo(model, repo, INSTRUCTION, agent, sink, sandbox)


async def _judge(
    task: Task, repo: Path, check_dir: Path, check: LoopConfig, telemetry: TaskTelemetry
) -> tuple[bool, bool]:
    """(the harness's own test run passed, the agent's first test run passed or it ran none)."""
    first_ok = telemetry.test_runs[0] if telemetry.test_runs else True
    check_dir.mkdir()
    ws = Workspace(check_dir)
    ws.write_file("test_solution.py", task.test)
    ws.write_file("pytest.ini", PYTEST_INI)
    solution = repo / "solution.py"
    if not solution.is_file() or solution.is_symlink():
        return False, first_ok
    shutil.copyfile(solution, check_dir / "solution.py")
    ctx = ToolContext(check_dir, NullSink().emit, ItemIds())
    with test_confinement(ws.root, check) as confinement:
        run = await run_tests(ws, check, confinement, ctx)
    telemetry.result.test_s += run.wall_s
    return run.ok, first_ok
