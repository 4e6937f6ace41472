"""Running task directories: the agent (``oracle``: ``solution/solve.sh``; ``exec``: agentrt's coding
agent), then the verifier (``bash /tests/test.sh`` from the working directory), then the reward.

Per task, ``OUT/tasks/<id>/`` holds ``result.json`` (outcome, reward, phase times, harness overhead),
the trajectory (``agent.txt`` for the oracle, ``trajectory.jsonl`` — the agent's events — for exec),
``verifier.txt`` (the verifier's output) and ``verifier/`` (what it wrote to ``/logs/verifier``).
The run's CSV and summary are the usual ``OUT/raw/tasks_<stamp>.csv`` and ``_summary.json``, with
``OUT/raw/tasks_<stamp>_tasks.csv`` adding each task's outcome, reward and overhead.

The harness overhead of a task is its wall time less the agent's and the verifier's commands (or
the agent's turn): the copy of the environment, the layout, the result files. The sandbox's own
start (bwrap, namespaces) is inside those commands; it is measured once per run with ``true`` in a
task's layout and reported as ``sandbox_launch_ms``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentrt.bench.report import provenance, summarize, timestamp, unique_stamp, write_results
from agentrt.bench.result import CSV_COLUMNS, TaskResult, TaskTelemetry
from agentrt.bench.tasks.container import ContainerSandbox, TaskLayout, prepare
from agentrt.bench.tasks.spec import TaskSpec
from agentrt.events import Event, EventSink
from agentrt.interfaces import Model
from agentrt.sandbox.policy import policy_for
from agentrt.sandbox.process import Confinement, RunResult, run_command

if TYPE_CHECKING:
    from agentrt.agent.context import ContextPolicy
    from agentrt.bench.tasks.resume import Earlier

AGENTS = ("oracle", "exec")
OUTPUT_CAP = 256 * 1024
AGENT_NOTE = (
    "\n\n(You are working in {workdir}, the task's working directory; commands run there. "
    "Reply with a one-line summary when you are done.)"
)


@dataclass(frozen=True, kw_only=True)
class TasksConfig:
    out_dir: Path
    agent: str = "oracle"
    concurrency: int = 4
    home: Path
    model: Callable[[TaskSpec], Model] | None = None
    """A fresh model per task (``--agent exec``)."""
    base_prompt: str = ""
    max_turns: int = 30
    model_name: str = ""
    """The model's id, recorded with each task (``--resume`` keeps only tasks of the same model)."""
    resume: bool = False
    """Keep the tasks of ``out_dir`` that an earlier sitting finished (``tasks.resume``); run the rest."""
    context: ContextPolicy | None = None
    """The agent's window and compaction; ``None``: the defaults (a hosted model's window)."""
    keep_scratch: bool = False
    meta: Mapping[str, object] = field(default_factory=dict)


@dataclass
class TaskOutcome:
    """One task's result: the CSV row plus what only task runs have."""

    row: TaskResult
    outcome: str = "error"
    """``passed`` (reward >= 1), ``failed``, ``unsupported`` or ``error``."""
    reward: float | None = None
    agent_s: float = 0.0
    verifier_s: float = 0.0
    harness_ms: float = 0.0
    agent_timed_out: bool = False
    verifier_timed_out: bool = False
    detail: str = ""
    kept: bool = False
    """From an earlier sitting (``--resume``), not run in this one."""


def container_env(phase_env: Mapping[str, str]) -> dict[str, str]:
    """The environment of a container command: a plain one, agentrt's interpreter first on PATH."""
    path = os.pathsep.join(
        [os.path.dirname(sys.executable), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    )
    env = {"PATH": path, "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "TERM": "dumb"}
    env.update(phase_env)
    return env


def read_reward(verifier_dir: Path) -> float | None:
    """``reward.txt`` (a number) or ``reward.json`` (its ``reward``, else the mean of its numbers)."""
    text_file, json_file = verifier_dir / "reward.txt", verifier_dir / "reward.json"
    if text_file.is_file():
        try:
            return float(text_file.read_text(encoding="utf-8").strip())
        except ValueError:
            return None
    if json_file.is_file():
        try:
            data = json.loads(json_file.read_text(encoding="utf-8"))
        except ValueError:
            return None
        if isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
        if isinstance(data, dict):
            if isinstance(data.get("reward"), int | float):
                return float(data["reward"])
            values = [
                float(v) for v in data.values() if isinstance(v, int | float) and not isinstance(v, bool)
            ]
            return statistics.fmean(values) if values else None
    return None


class Trajectory:
    """An ``EventSink`` writing each event as one JSON line (``to_json`` when it has one; an internal
    event's fields too, so the history messages are there; streamed deltas are left out)."""

    def __init__(self, path: Path, forward: EventSink | None = None) -> None:
        self.file = path.open("w", encoding="utf-8")
        self.forward = forward

    def emit(self, event: Event) -> None:
        if not type(event).__name__.endswith("Delta"):
            to_json = getattr(event, "to_json", None)
            body: Any = to_json() if callable(to_json) else {"event": type(event).__name__}
            if not callable(to_json) or getattr(event, "public", True) is False:
                body = {**body, **_fields(event)}
            self.file.write(json.dumps(body, default=str) + "\n")
            self.file.flush()
        if self.forward is not None:
            self.forward.emit(event)

    def close(self) -> None:
        self.file.close()


def _fields(event: object) -> dict[str, object]:
    slots = getattr(type(event), "__slots__", ())
    names = [n for n in slots if isinstance(n, str)] or list(getattr(event, "__dict__", {}))
    return {n: getattr(event, n, None) for n in names if not n.startswith("_")}


async def run_task(spec: TaskSpec, config: TasksConfig, scratch: Path, hidden: Sequence[Path]) -> TaskOutcome:
    """One task end to end; never raises but for cancellation."""
    started = time.perf_counter()
    out = config.out_dir / "tasks" / spec.id
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    task = TaskOutcome(TaskResult(spec.id, "error"))
    try:
        if spec.unsupported is not None:
            task.outcome, task.detail = "unsupported", f"unsupported: {spec.unsupported}"
        else:
            await _run(spec, config, scratch, hidden, out, task)
    except (OSError, ValueError) as exc:
        task.outcome, task.detail = "error", f"harness: {type(exc).__name__}: {exc}"
    finally:
        if not config.keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    row = task.row
    row.wall_s = time.perf_counter() - started
    row.status = "passed" if task.outcome == "passed" else "failed" if task.outcome == "failed" else "error"
    row.error = task.detail if row.status == "error" else ""
    row.test_s = task.verifier_s
    row.test_runs = 1 if task.verifier_s else 0
    row.first_attempt_pass = row.status == "passed"
    task.harness_ms = max(0.0, (row.wall_s - task.agent_s - task.verifier_s) * 1000)
    record = {k: v for k, v in asdict(task).items() if k != "row"}
    record.update(
        id=spec.id, kind=spec.kind, agent=config.agent, model=config.model_name, wall_s=row.wall_s,
        metadata=dict(spec.metadata), row={c: getattr(row, c) for c in CSV_COLUMNS},
    )  # fmt: skip
    (out / "result.json").write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return task


async def _run(
    spec: TaskSpec, config: TasksConfig, scratch: Path, hidden: Sequence[Path], out: Path, task: TaskOutcome
) -> None:
    layout = prepare(spec, scratch)
    instruction = spec.instruction
    if spec.kind == "rebuild":
        from agentrt.bench.tasks.rebuild import NOTE, case_json, load_cases

        visible = load_cases(spec.root / "cases" / "visible.json")
        (layout.app / "visible_cases.json").write_text(case_json(visible), encoding="utf-8")
        where = f"{spec.workdir.rstrip('/')}/visible_cases.json"
        instruction += NOTE.format(path=where, command=" ".join(spec.command))
    policy = policy_for("workspace-write", layout.app, home=config.home, raw={})
    box = ContainerSandbox(layout, hidden=[*policy.deny_read, *hidden])
    try:
        if config.agent == "oracle":
            await _oracle(spec, layout, box, out, task)
        else:
            hide = [*policy.deny_read, *hidden]
            await _agent(spec, config, layout, box, out, task, hidden=hide, instruction=instruction)
        shutil.rmtree(layout.solution, ignore_errors=True)
        if spec.kind == "rebuild":
            await _verify_rebuild(spec, layout, box, out, task)
        else:
            await _verify(spec, layout, box, out, task)
    finally:
        box.close()


async def _verify_rebuild(
    spec: TaskSpec, layout: TaskLayout, box: ContainerSandbox, out: Path, task: TaskOutcome
) -> None:
    """Each held-out case run in the container; reward = the share passed (``rebuild``)."""
    from agentrt.bench.tasks.rebuild import case_argv, load_cases

    cases = load_cases(spec.root / "cases" / "held_out.json")
    layout.tests.mkdir()
    env = container_env(spec.env["verifier"])
    lines, passed, results = [], 0, []
    for i, case in enumerate(cases):
        (layout.tests / f"stdin_{i}").write_text(case.stdin, encoding="utf-8")
        argv = case_argv(spec.command, case, f"/tests/stdin_{i}")
        done = await run_command(
            argv,
            cwd=layout.app,
            sandbox=box,
            timeout_s=spec.verifier_timeout_s,
            env=env,
            output_cap=OUTPUT_CAP,
        )
        task.verifier_s += done.wall_s
        ok = not done.timed_out and done.exit_code == case.exit_code and done.stdout == case.stdout
        passed += ok
        results.append({"case": i, "passed": ok, "exit_code": done.exit_code, "timed_out": done.timed_out})
        lines.append(f"case {i} {'ok' if ok else 'FAIL'} args={list(case.args)} exit={done.exit_code}")
        if not ok:
            lines.append(
                f"  expected stdout {case.stdout!r} exit {case.exit_code}\n  got      {done.stdout!r}"
            )
    task.reward = passed / len(cases)
    verifier = out / "verifier"
    verifier.mkdir(exist_ok=True)
    record = {"reward": task.reward, "passed": passed, "total": len(cases), "cases": results}
    (verifier / "reward.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (out / "verifier.txt").write_text("\n".join(lines) + f"\n{passed}/{len(cases)} held-out cases passed\n")
    task.outcome = "passed" if passed == len(cases) else "failed"


async def _oracle(
    spec: TaskSpec, layout: TaskLayout, box: ContainerSandbox, out: Path, task: TaskOutcome
) -> None:
    if not spec.solution.is_file():
        raise ValueError("--agent oracle needs solution/solve.sh")
    shutil.copytree(spec.solution.parent, layout.solution, symlinks=True)
    env = container_env({**spec.env["agent"], **spec.env["solution"]})
    done = await _command(["bash", "/solution/solve.sh"], layout, box, env, spec.agent_timeout_s)
    task.agent_s, task.agent_timed_out = done.wall_s, done.timed_out
    (out / "agent.txt").write_text(_transcript(done), encoding="utf-8")


async def _agent(
    spec: TaskSpec,
    config: TasksConfig,
    layout: TaskLayout,
    box: ContainerSandbox,
    out: Path,
    task: TaskOutcome,
    *,
    hidden: Sequence[Path],
    instruction: str,
) -> None:
    from agentrt.agent.context import Context, ContextPolicy
    from agentrt.agent.instructions import environment_context
    from agentrt.agent.thread import Limits, Thread, TurnStopped
    from agentrt.sandbox import confined_write
    from agentrt.tools.coding import coding_tools
    from agentrt.tools.paths import PathMap
    from agentrt.tools.registry import ToolRegistry

    if config.model is None:
        raise ValueError("--agent exec needs a model")
    policy = policy_for("workspace-write", layout.app, home=config.home, raw={})
    confinement = Confinement(box, container_env(spec.env["agent"]))
    binds = layout.binds()  # the in-process tools take /app/... (and /logs, /tmp) as commands do
    tools = ToolRegistry(
        coding_tools(confinement, confined_write(policy), hidden=list(hidden), bound=[h for h, _ in binds])
    )
    trajectory = Trajectory(out / "trajectory.jsonl")
    telemetry = TaskTelemetry(spec.id, trajectory)
    context = environment_context(
        Path(spec.workdir), approval_policy="never", sandbox_mode="workspace-write", shell="bash"
    )
    history: list[Any] = [
        {"role": "system", "content": config.base_prompt},
        {"role": "user", "content": context},
    ]
    limits = Limits(max_turns=config.max_turns, max_wall_s=spec.agent_timeout_s)
    thread = Thread(
        config.model(spec),
        tools,
        telemetry,
        cwd=layout.app,
        limits=limits,
        history=history,
        context=Context(config.context or ContextPolicy()),
        paths=PathMap.of((inside, host) for host, inside in binds),
    )
    started = time.perf_counter()
    try:
        await asyncio.wait_for(
            thread.run_turn(instruction + AGENT_NOTE.format(workdir=spec.workdir)), spec.agent_timeout_s
        )
    except TurnStopped as stop:
        task.agent_timed_out = stop.reason == "max_wall_time"
        trajectory.file.write(json.dumps({"stopped": stop.reason, "message": stop.message}) + "\n")
    except TimeoutError:
        task.agent_timed_out = True
        trajectory.file.write(json.dumps({"stopped": "agent_timeout"}) + "\n")
    finally:
        trajectory.close()
    task.agent_s = time.perf_counter() - started
    r, t = task.row, telemetry.result
    r.attempts, r.model_s, r.ttft_s = t.attempts, t.model_s, t.ttft_s
    r.prompt_tokens, r.completion_tokens = t.prompt_tokens, t.completion_tokens
    r.retries = max(0, t.attempts - 1)


async def _verify(
    spec: TaskSpec, layout: TaskLayout, box: ContainerSandbox, out: Path, task: TaskOutcome
) -> None:
    verifier_logs = layout.logs / "verifier"
    for stale in ("reward.txt", "reward.json"):  # the agent's own reward files count for nothing
        (verifier_logs / stale).unlink(missing_ok=True)
    shutil.copytree(spec.tests_dir, layout.tests, symlinks=True)
    env = container_env(spec.env["verifier"])
    done = await _command(["bash", "/tests/test.sh"], layout, box, env, spec.verifier_timeout_s)
    task.verifier_s, task.verifier_timed_out = done.wall_s, done.timed_out
    (out / "verifier.txt").write_text(_transcript(done), encoding="utf-8")
    shutil.copytree(verifier_logs, out / "verifier", symlinks=True, dirs_exist_ok=True)
    task.reward = read_reward(verifier_logs)
    if done.timed_out:
        task.outcome, task.detail = "failed", f"verifier timed out after {spec.verifier_timeout_s:g}s"
    elif task.reward is None:
        task.outcome, task.detail = "failed", "the verifier wrote no reward"
    else:
        task.outcome = "passed" if task.reward >= 1.0 else "failed"


async def _command(
    argv: list[str], layout: TaskLayout, box: ContainerSandbox, env: Mapping[str, str], timeout_s: float
) -> RunResult:
    return await run_command(
        argv, cwd=layout.app, sandbox=box, timeout_s=timeout_s, env=env, output_cap=OUTPUT_CAP,
        merge_stderr=True, grace_s=1.0,
    )  # fmt: skip


def _transcript(done: RunResult) -> str:
    head = f"$ {' '.join(done.argv)}\n# exit {done.exit_code} signal {done.signal} timed_out {done.timed_out} wall_s {done.wall_s:.3f}\n"
    return head + done.stdout


async def sandbox_launch_ms(scratch_root: Path, repeat: int = 5) -> float:
    """The median wall time of ``true`` in an empty task layout, in ms."""
    scratch = Path(tempfile.mkdtemp(prefix="launch-", dir=scratch_root))
    try:
        for sub in ("app", "tmp", "logs"):
            (scratch / sub).mkdir()
        box = ContainerSandbox(TaskLayout(scratch, "/app"), hidden=())
        times = []
        try:
            for _ in range(repeat):
                done = await run_command(["true"], cwd=scratch / "app", sandbox=box, env=container_env({}))
                if not done.ok:
                    raise OSError(f"the task sandbox does not start: {done.stderr.strip() or done.exit_code}")
                times.append(done.wall_s * 1000)
        finally:
            box.close()
        return statistics.median(times)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class TasksOutcome:
    tasks: list[TaskOutcome]
    summary: dict[str, object]
    csv_path: Path
    summary_path: Path
    tasks_csv: Path


class TasksInterrupted(Exception):
    """The run was cancelled (Ctrl-C, SIGTERM); what had finished was written. Carries the outcome."""

    def __init__(self, outcome: TasksOutcome) -> None:
        super().__init__("interrupted")
        self.outcome = outcome


async def run_tasks(
    specs: Sequence[TaskSpec], config: TasksConfig, on_done: Callable[[TaskOutcome], None] | None = None
) -> TasksOutcome:
    """Every task (but those an earlier sitting finished, with ``config.resume``), ``config.concurrency``
    at a time; results written under ``config.out_dir``. Cancelled: what finished is written, the rest
    are ``error`` rows (``interrupted``), then ``TasksInterrupted``."""
    from agentrt.bench.runner import prepare_out_dir, uncancel
    from agentrt.bench.tasks.resume import Earlier, load_earlier

    prepare_out_dir(config.out_dir)
    earlier = (
        load_earlier(config.out_dir, specs, agent=config.agent, model=config.model_name)
        if config.resume
        else Earlier()
    )
    scratch_root = Path(tempfile.mkdtemp(prefix="agentrt-tasks-"))
    hidden = [*(s.root.resolve() for s in specs), scratch_root, config.out_dir.resolve()]
    started, started_at = time.perf_counter(), timestamp()
    cpu0 = time.process_time()
    results: dict[str, TaskOutcome] = dict(earlier.kept)
    launch, interrupted = 0.0, False
    try:
        launch = await sandbox_launch_ms(scratch_root)
        gate = asyncio.Semaphore(config.concurrency)

        async def one(i: int, spec: TaskSpec) -> None:
            async with gate:
                results[spec.id] = await run_task(spec, config, scratch_root / f"{i:04d}-{spec.id}", hidden)
            if on_done is not None:
                on_done(results[spec.id])

        async with asyncio.TaskGroup() as group:
            for i, spec in enumerate(specs):
                if spec.id not in earlier.kept:
                    group.create_task(one(i, spec))
    except asyncio.CancelledError:
        interrupted = True
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
    if interrupted:
        uncancel()
    done = [results.get(s.id) or _interrupted(s) for s in specs]
    wall = time.perf_counter() - started
    summary = _summary(done, config, wall, launch, time.process_time() - cpu0)
    summary.update(provenance(), started_at=started_at)
    summary.update(_sittings(earlier, wall, interrupted))
    stamp = unique_stamp(config.out_dir / "raw", timestamp(), "tasks")
    csv_path, summary_path = write_results(
        config.out_dir, [t.row for t in done], summary, stamp=stamp, prefix="tasks"
    )
    tasks_csv = csv_path.with_name(f"tasks_{stamp}_tasks.csv")
    tasks_csv.write_text(_tasks_csv(done), encoding="utf-8")
    outcome = TasksOutcome(done, summary, csv_path, summary_path, tasks_csv)
    if interrupted:
        raise TasksInterrupted(outcome)
    return outcome


def _interrupted(spec: TaskSpec) -> TaskOutcome:
    return TaskOutcome(TaskResult(spec.id, "error", error="interrupted"), "error", detail="interrupted")


def _sittings(earlier: Earlier, wall: float, interrupted: bool) -> dict[str, object]:
    """The run's wall time over every sitting, how many there were and this one's own."""
    return {
        "wall_s": round(earlier.wall_s + wall, 4), "sitting_wall_s": round(wall, 4),
        "sittings": earlier.sittings + 1, "kept_tasks": len(earlier.kept),
        "resumed_from": list(earlier.files), "interrupted": interrupted,
    }  # fmt: skip


TASK_COLUMNS = (
    "id",
    "outcome",
    "reward",
    "agent_s",
    "verifier_s",
    "harness_ms",
    "agent_timed_out",
    "verifier_timed_out",
    "detail",
    "kept",
)


def _tasks_csv(tasks: Sequence[TaskOutcome]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TASK_COLUMNS)
    for t in tasks:
        row = asdict(t)
        row["id"] = t.row.id
        writer.writerow(
            [
                "" if row[c] is None else round(row[c], 4) if isinstance(row[c], float) else row[c]
                for c in TASK_COLUMNS
            ]
        )
    return buf.getvalue()


def _summary(
    tasks: Sequence[TaskOutcome], config: TasksConfig, wall: float, launch_ms: float, cpu_s: float
) -> dict[str, object]:
    run = [t for t in tasks if t.outcome != "unsupported"]
    overhead = sorted(t.harness_ms for t in run)
    meta: dict[str, object] = {
        "suite": "tasks",
        "agent": config.agent,
        "concurrency": config.concurrency,
        **config.meta,
    }
    summary = summarize([t.row for t in tasks], resources=None, wall_s=wall, meta=meta)
    summary.update(
        unsupported=sum(1 for t in tasks if t.outcome == "unsupported"),
        solved=sum(1 for t in tasks if t.outcome == "passed"),
        solve_rate=round(sum(1 for t in run if t.outcome == "passed") / len(run), 4) if run else None,
        mean_reward=round(statistics.fmean(t.reward or 0.0 for t in run), 4) if run else None,
        harness_ms_p50=round(statistics.median(overhead), 2) if overhead else None,
        harness_ms_max=round(overhead[-1], 2) if overhead else None,
        sandbox_launch_ms=round(launch_ms, 2),
        harness_with_launches_ms_p50=round(statistics.median(overhead) + 2 * launch_ms, 2)
        if overhead
        else None,
        runtime_cpu_s=round(cpu_s, 4),
    )
    return summary
