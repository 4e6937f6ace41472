"""The agentic HumanEval loop: write → pytest → feed the failure back → retry (at most ``max_retries``).

One call of ``solve`` is one agent on one task, in its own workspace directory. It never raises for
anything the model or the tests do: every outcome is a ``TaskResult`` (``passed``, ``failed`` after the
last retry, or ``error`` with the reason). Only cancellation propagates, after its test run is killed.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from agentrt.agent.extract import assemble_module, drop_example_usage, extract_code
from agentrt.agent.prompt import NO_CODE, retry_message, task_messages
from agentrt.agent.result import TaskResult
from agentrt.bench.dataset import Task
from agentrt.interfaces import Model
from agentrt.model.errors import ModelError
from agentrt.model.types import Completion
from agentrt.sandbox.process import RunResult
from agentrt.tools.workspace import Workspace

PYTEST_INI = "[pytest]\n"
"""Written into each workspace so pytest takes it as rootdir and reads no configuration above it."""


@dataclass(frozen=True, slots=True)
class LoopConfig:
    max_retries: int = 3
    test_timeout_s: float = 60.0
    feedback_chars: int = 2000
    python: str = field(default_factory=lambda: sys.executable)
    """Absolute path of the interpreter that runs pytest (never a PATH lookup or a shim)."""
    test_env: dict[str, str] | None = None
    """Environment of the pytest runs; ``None`` = inherit agentrt's."""

    def pytest_argv(self) -> list[str]:
        return [
            self.python,
            "-B",
            "-m",
            "pytest",
            "-q",
            "--tb=short",
            "-p",
            "no:cacheprovider",
            "test_solution.py",
        ]


async def solve(task: Task, model: Model, workdir: Path, config: LoopConfig) -> TaskResult:
    """Run the loop for one task in ``workdir`` (created if missing)."""
    started = time.perf_counter()
    result = TaskResult(task.id, "failed")
    workdir.mkdir(parents=True, exist_ok=True)
    ws = Workspace(workdir)
    ws.write_file("pytest.ini", PYTEST_INI)
    ws.write_file("test_solution.py", task.test)
    messages = task_messages(task.spec, task.test)
    try:
        for attempt in range(1, config.max_retries + 2):
            completion = await model.complete(messages)
            _count_model(result, completion, attempt)
            messages.append(completion.as_message())
            code = extract_code(completion.content)
            if code is None:
                messages.append({"role": "user", "content": NO_CODE})
                continue
            ws.write_file("solution.py", assemble_module(task.spec, drop_example_usage(code)))
            run = await ws.run(config.pytest_argv(), timeout_s=config.test_timeout_s, env=config.test_env)
            result.test_s += run.wall_s
            if run.ok:
                result.status = "passed"
                result.first_attempt_pass = attempt == 1
                break
            messages.append(retry_message(_outcome(run), run.stdout + run.stderr, config.feedback_chars))
    except ModelError as exc:
        result.status = "error"
        result.error = f"{type(exc).__name__}: {exc.message}"
    except OSError as exc:
        result.status = "error"
        result.error = f"workspace: {exc}"
    finally:
        result.retries = max(0, result.attempts - 1)
        result.wall_s = time.perf_counter() - started
    return result


def _count_model(result: TaskResult, completion: Completion, attempt: int) -> None:
    result.attempts = attempt
    result.model_s += completion.total_s
    if attempt == 1:
        result.ttft_s = completion.ttft_s
    result.prompt_tokens += completion.usage.prompt_tokens
    result.completion_tokens += completion.usage.completion_tokens


def _outcome(run: RunResult) -> str:
    if run.timed_out:
        return "the test run timed out"
    if run.signal is not None:
        return f"the test run was killed by signal {run.signal}"
    return f"pytest exit code {run.exit_code}"
