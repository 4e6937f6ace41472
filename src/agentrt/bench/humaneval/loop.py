"""The contract loop: write → pytest → feed the failure back → retry (at most ``max_retries``).

One call of ``solve`` is one agent on one task, in its own workspace directory, driven by the one
agent loop (``Thread``) with no tools: the model answers with a module, and the answer's check
extracts the code, writes ``solution.py`` and runs the task's tests. A pass accepts the answer; a
failure sends pytest's output back as the next user message. The turn's ``max_turns`` is the
contract's ``1 + max_retries`` model replies.

``solve`` never raises for anything the model or the tests do: every outcome is a ``TaskResult``
(``passed``, ``failed`` after the last retry, or ``error`` with the reason). Only cancellation
propagates, after its test run is killed.
"""

from __future__ import annotations

import math
import os
import shlex
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agentrt.agent.thread import Limits, Thread, TurnStopped
from agentrt.bench.dataset import Task, base_id
from agentrt.bench.executor import TestHarness, TestRun
from agentrt.bench.humaneval.extract import SpecPart, extract_code, solution_module, spec_parts
from agentrt.bench.humaneval.failure import describe, read_failure
from agentrt.bench.humaneval.prompt import NO_CODE, SYSTEM, retry_message, task_prompt
from agentrt.bench.humaneval.strategy import RetryStrategy
from agentrt.bench.result import TaskResult, TaskTelemetry, task_row
from agentrt.events import CommandExecution, EventSink, ItemCompleted, ItemStarted
from agentrt.interfaces import Model
from agentrt.sandbox.env import build_env
from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.process import Confinement, RunResult
from agentrt.tools.registry import ToolContext, ToolRegistry
from agentrt.tools.workspace import Workspace

if TYPE_CHECKING:
    from agentrt.sandbox.scoped import SandboxScopes

PYTEST_INI = "[pytest]\n"
"""Written into each workspace so pytest takes it as rootdir and reads no configuration above it."""


@dataclass(frozen=True, slots=True)
class Confine:
    """How model-written code is confined: a proven ``mechanism`` (``bwrap``, ``landlock``) and the
    ``AGENTRT_HOME`` it keeps read-only."""

    mechanism: str
    home: Path
    tmp_parent: Path | None = None
    """Where each task's private ``TMPDIR`` is made (``None``: the temporary directory)."""
    _scopes: list[tuple[Mapping[str, str], int, SandboxScopes]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def scopes(self, env: Mapping[str, str]) -> SandboxScopes:
        """Every task's sandbox scope for test runs with ``env``, made by one ``SandboxScopes`` of this
        process (what is the same for each task worked out once; stale leftovers cleared once)."""
        for known, pid, scopes in self._scopes:
            if known is env and pid == os.getpid():  # not one made in another process (pickled)
                return scopes
        from agentrt.sandbox.scoped import SandboxScopes  # the mechanisms load only when they are used

        made = SandboxScopes(self.mechanism, home=self.home, env=env, tmp_parent=self.tmp_parent)
        self._scopes[:] = [(env, os.getpid(), made)]
        return made


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopConfig:
    confine: Confine | None
    """What every test run is confined by: its own workspace-write sandbox around the task's directory,
    no network, no secrets in its environment. ``None`` runs them unconfined (said explicitly: the
    ``--validate`` runs of the dataset's own solutions, ``--no-sandbox``)."""
    max_retries: int = 3
    test_timeout_s: float = 60.0
    feedback_chars: int = 2000
    python: str = field(default_factory=lambda: sys.executable)
    """Absolute path of the interpreter that runs pytest (never a PATH lookup or a shim)."""
    test_env: Mapping[str, str] = field(default_factory=dict)
    """The environment the test runs' is built from (secrets are removed from it either way)."""
    retry: RetryStrategy = field(default_factory=RetryStrategy)
    """What a retry is sampled with and shown (``retry.py``); the model side is ``retry_model``'s."""

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


@contextmanager
def test_confinement(root: Path, config: LoopConfig) -> Iterator[Confinement]:
    """How the test runs in ``root`` are confined, for as long as the task lasts."""
    if config.confine is None:
        yield Confinement(NoSandbox(), build_env(config.test_env, None, tmpdir=None))
        return
    with config.confine.scopes(config.test_env).scope(root) as (confinement, _):
        yield confinement


async def run_tests(
    ws: Workspace,
    config: LoopConfig,
    confinement: Confinement,
    ctx: ToolContext,
    harness: TestHarness | None = None,
    row: TaskResult | None = None,
) -> RunResult:
    """One pytest run in ``ws``, confined, reported as a ``command_execution`` item; through
    ``harness`` (default: spawned, no admission), its CPU, peak RSS and wait recorded in ``row``."""
    argv = config.pytest_argv()
    item = CommandExecution(ctx.ids.new(), shlex.join(argv))
    ctx.emit(ItemStarted(item))
    harness = TestHarness() if harness is None else harness
    key = "" if row is None else base_id(row.id)
    test, waited_s = await harness.run(
        argv, cwd=ws.root, timeout_s=config.test_timeout_s, confinement=confinement, key=key
    )
    if row is not None:
        _record(row, test, waited_s)
    run = test.result
    output = run.stdout + run.stderr
    status = "completed" if run.ok else "failed"
    ctx.emit(
        ItemCompleted(CommandExecution(item.id, item.command, output, run.exit_code, status, run.wall_s))
    )
    return run


def _record(row: TaskResult, test: TestRun, waited_s: float) -> None:
    row.admission_wait_s += waited_s
    if test.cpu_s is not None:
        row.test_cpu_s = (row.test_cpu_s or 0.0) + test.cpu_s
    if test.peak_rss_mib is not None:
        row.test_peak_rss_mib = max(row.test_peak_rss_mib or 0.0, test.peak_rss_mib)


class ContractCheck:
    """Judges a reply: its code is written as ``solution.py`` and must pass the task's tests."""

    __slots__ = ("confinement", "config", "harness", "parts", "passed", "row", "ws")

    def __init__(
        self,
        parts: tuple[SpecPart, ...] | None,
        ws: Workspace,
        config: LoopConfig,
        confinement: Confinement,
        harness: TestHarness | None = None,
        row: TaskResult | None = None,
    ) -> None:
        """``parts``: the task prompt's definitions (``spec_parts``), copied in where the code lacks them."""
        self.parts, self.ws, self.config, self.confinement = parts, ws, config, confinement
        self.harness, self.row = harness, row
        self.passed = False

    async def __call__(self, reply: str, ctx: ToolContext) -> str | None:
        code = extract_code(reply)
        if code is None:
            return NO_CODE
        self.ws.write_file("solution.py", solution_module(self.parts, code))
        run = await run_tests(self.ws, self.config, self.confinement, ctx, self.harness, self.row)
        if run.ok:
            self.passed = True
            return None
        return feedback(_outcome(run), run.stdout + run.stderr, self.config)


def feedback(outcome: str, output: str, config: LoopConfig) -> str:
    """The message after a failed test run, as ``config.retry`` asks for it."""
    strategy = config.retry
    failure = read_failure(output) if strategy.feedback == "assertion" else None
    digest = None if failure is None else describe(failure)
    return retry_message(outcome, output, config.feedback_chars, digest=digest, reason=strategy.reason)


@dataclass(frozen=True, slots=True)
class TaskText:
    """What the loop makes of a task's text alone, once for all of its repeats: the first message
    (``task_prompt``) and the prompt's definitions (``spec_parts``)."""

    prompt: str
    parts: tuple[SpecPart, ...] | None

    @classmethod
    def of(cls, task: Task) -> TaskText:
        return cls(task_prompt(task.spec, task.test), spec_parts(task.spec))


async def solve(
    task: Task,
    model: Model,
    workdir: Path,
    config: LoopConfig,
    sink: EventSink | None = None,
    harness: TestHarness | None = None,
    text: TaskText | None = None,
) -> TaskResult:
    """Run the loop for one task in ``workdir`` (created if missing); ``sink`` sees its events;
    ``harness`` runs the tests (default: spawned); ``text`` is ``TaskText.of(task)`` when the caller
    already made it (the repeats of a task then share it)."""
    with task_row(task.id, sink) as telemetry:
        workdir.mkdir(parents=True, exist_ok=True)
        ws = Workspace(workdir)
        ws.write_file("pytest.ini", PYTEST_INI)
        ws.write_file("test_solution.py", task.test)
        text = TaskText.of(task) if text is None else text
        with test_confinement(ws.root, config) as confinement:
            await _turn(text, model, ws, config, _Tests(confinement, harness), telemetry)
    return telemetry.result


@dataclass(frozen=True, slots=True)
class _Tests:
    confinement: Confinement
    harness: TestHarness | None


async def _turn(
    text: TaskText,
    model: Model,
    ws: Workspace,
    config: LoopConfig,
    tests: _Tests,
    telemetry: TaskTelemetry,
) -> None:
    limits = Limits(max_turns=config.max_retries + 1, max_wall_s=math.inf)
    check = ContractCheck(text.parts, ws, config, tests.confinement, tests.harness, telemetry.result)
    thread = Thread(
        model, ToolRegistry(()), telemetry, cwd=ws.root, limits=limits,
        history=[{"role": "system", "content": SYSTEM}], check_final=check, streaming=False,
    )  # fmt: skip
    result = telemetry.result
    try:
        await thread.run_turn(text.prompt)
        result.status = "passed"
        result.first_attempt_pass = result.attempts == 1
    except TurnStopped as stop:
        if stop.reason != "max_turns":
            result.status, result.error = "error", stop.message


def _outcome(run: RunResult) -> str:
    if run.timed_out:
        return "the test run timed out"
    if run.signal is not None:
        return f"the test run was killed by signal {run.signal}"
    return f"pytest exit code {run.exit_code}"
