"""``agentrt bench humaneval``: every task at bounded concurrency in one asyncio process, measured.

The runner owns the run's lifetime: it starts the embedded simulator when no endpoint is given,
checks the endpoint once before fanning out, samples the process's resources for the whole run,
journals each task's row as it finishes and writes the CSV and summary — also when interrupted, with
the unfinished tasks marked.

A resumed run (``BenchConfig.resume``) is a further *sitting* of an earlier run: the earlier rows that
are results (passed, failed) are kept, every other task runs, and the sitting writes a new CSV and
summary for the whole run in the same directory (``resume_tasks`` says what, and refuses an
invocation whose tasks or result-defining settings differ from the recorded run's).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from agentrt.agent.budget import CostCap
from agentrt.agent.context import ContextPolicy
from agentrt.agent.cost import Price
from agentrt.bench.dataset import Task, repeat_tasks
from agentrt.bench.executor import TestHarness, open_harness
from agentrt.bench.humaneval.loop import LoopConfig, TaskText, solve
from agentrt.bench.humaneval.retry import retry_model
from agentrt.bench.humaneval.strategy import RetryStrategy
from agentrt.bench.report import (
    SITTING_KEYS,
    ResumePoint,
    RowJournal,
    provenance,
    summarize,
    timestamp,
    unique_stamp,
    write_results,
)
from agentrt.bench.result import TaskResult
from agentrt.bench.scratch import make_work_root, work_parent
from agentrt.bench.simproc import SimChild
from agentrt.bench.telemetry import ResourceReport, ResourceSampler
from agentrt.config.providers import ProviderConfig
from agentrt.events import EventSink, NullSink, TaskFinished
from agentrt.interfaces import Model
from agentrt.model.client import OpenAIClient
from agentrt.model.factory import RequestSettings, agent_model, build_client

AGENTS = ("loop", "exec")
"""``loop``: the contract loop (write → pytest → retry); ``exec``: the full coding agent."""
SIM_PROCESS_ABOVE = 100
"""More agents at once than this, and the simulator runs in its own process by default: at 1,000
paced streams, in-process, it added ~6 MiB of peak RSS and ~1 s of CPU to the runtime's own figures."""


@dataclass(frozen=True, slots=True)
class SimSettings:
    seed: int = 0
    fail_rate: float = 0.15
    ttft_ms: float = 0.0
    tps: float = 0.0


@dataclass(frozen=True)
class BenchConfig:
    tasks: list[Task]
    out_dir: Path
    loop: LoopConfig
    """The contract loop's settings; with ``--agent exec``, how the harness runs its own check."""
    concurrency: int = 100
    provider: ProviderConfig | None = None
    """The endpoint; ``None``: start the simulator in-process on the tasks themselves."""
    model: str = "agentrt-sim"
    agent: str = "loop"
    sim: SimSettings = field(default_factory=SimSettings)
    dataset_label: str = "humaneval"
    keep_workspaces: bool = False
    work_dir: Path | None = None
    """Where the run's scratch directory is made (``--work-dir``); ``None``: ``scratch.work_parent``."""
    settings: RequestSettings = field(default_factory=RequestSettings)
    """Temperature, reply cap and tool protocol sent with every request."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The environment API keys and header values are read from (never written)."""
    home: Path = field(default_factory=lambda: Path.home() / ".agentrt")
    """``AGENTRT_HOME`` (``--agent exec`` keeps it out of the sandbox's reach)."""
    not_children: frozenset[int] = frozenset()
    """Child processes of this one that are not the run's test processes (a ``--local`` model server):
    left out of the children's RSS, as the simulator's process is."""
    extra_meta: Callable[[], Mapping[str, object]] | None = None
    """Called once the tasks are done, before the summary: more meta (e.g. the local server's RSS)."""
    executor: str = "spawn"
    """How the contract loop's tests start: ``spawn`` (a fresh interpreter) or ``fork`` (warm server)."""
    memory_budget_mib: float | None = None
    """Admit test processes only while their expected peaks fit (``None``: no admission)."""
    repeat: int = 1
    """Each task this many times, as ``ID#1`` … ``ID#repeat``."""
    max_cost_usd: float | None = None
    """Stop the run's requests before their cost would pass this (``--max-cost``; needs a price)."""
    sim_process: bool | None = None
    """Run the simulator (when it is used) in its own process; ``None``: when more than
    ``SIM_PROCESS_ABOVE`` agents run at once (``sim_in_own_process``)."""
    agent_window: int | None = None
    """The context window ``--agent exec`` agents account for (the ``--local`` server's); ``None``: the
    default, a hosted model's."""
    resume: ResumePoint | None = None
    """The earlier run this one continues (``--resume``): its finished rows are kept, not run again;
    ``out_dir`` should be its ``out_dir``."""
    command: str | None = None
    """The command line that started the run, recorded in the summary (a resume's error shows it)."""
    read_interval_s: float = 0.0
    """A reply nobody streams is read at most once per this interval once its first token is in
    (``--read-interval``; ``ReadPacer``); 0: every piece as it arrives."""


@dataclass(frozen=True)
class BenchOutcome:
    results: list[TaskResult]
    summary: dict[str, object]
    csv_path: Path
    summary_path: Path
    workspaces: Path | None


class NothingToResume(ValueError):
    """Every task of the run to resume already has a result."""


class BenchInterrupted(Exception):
    """The run was cancelled; partial results were written. Carries them."""

    def __init__(self, outcome: BenchOutcome) -> None:
        super().__init__("interrupted")
        self.outcome = outcome


Solver = Callable[[Task, Path], Awaitable[TaskResult]]
FanOutResult = tuple[list[TaskResult], float, ResourceReport, bool]
"""Every task's row (in task order), the fan-out's wall time, what it cost, whether it was interrupted."""


class AgentHost(Protocol):
    """Where a run's agents live when not in this process (``agentrt.bench.ray``: a Ray cluster's
    actors, each running ``task_solver``'s agents). ``run_bench`` keeps the rest: the endpoint's
    check, the journal, the CSV and the summary."""

    async def simulator(self, config: BenchConfig) -> ProviderConfig:
        """Start the simulated model where every agent can reach it; its endpoint."""
        ...

    async def fan_out(
        self,
        config: BenchConfig,
        sink: EventSink,
        meta: dict[str, object],
        *,
        kept: Mapping[str, TaskResult],
        journal: RowJournal | None,
    ) -> FanOutResult:
        """Every task (``repeat`` times) but those ``kept``; each finished row goes to ``journal``
        before its ``TaskFinished`` event; cancellation ends it with the finished rows kept."""
        ...


async def run_bench(
    config: BenchConfig, sink: EventSink | None = None, *, host: AgentHost | None = None
) -> BenchOutcome:
    """Run every task; ``sink`` gets a ``TaskFinished`` event as each one ends; ``host``: where the
    agents run (default: this process)."""
    if config.agent not in AGENTS:
        raise ValueError(f"unknown agent {config.agent!r}; expected one of {', '.join(AGENTS)}")
    to_run = resume_tasks(config)
    if not to_run and config.resume is not None and not config.resume.killed:
        raise NothingToResume(f"nothing to resume: every task of {config.resume.source} has a result")
    kept = config.resume.kept if config.resume is not None else {}
    price = _budget_price(config)
    prepare_out_dir(config.out_dir)
    stamp = unique_stamp(config.out_dir / "raw", timestamp())
    sim: Any = None
    child: SimChild | None = None
    journal: RowJournal | None = None
    provider, simulated = config.provider, config.provider is None
    own_sim = simulated and host is None and sim_in_own_process(config)
    agents = max(1, min(config.concurrency, len(to_run)))
    lowered = raise_nofile(768 + agents * (5 if simulated and not own_sim else 4))
    work_root = make_work_root(work_parent(config.work_dir, keep=config.keep_workspaces))
    try:
        if provider is None and host is not None:
            provider = await host.simulator(config)
        elif provider is None and own_sim:
            child, provider = await _start_sim_child(config, work_root)
        elif provider is None:
            sim, provider = await start_sim(config)
        client = build_client(
            provider, config.model, config.env, config.settings,
            simulated=simulated, read_interval_s=config.read_interval_s,
        )  # fmt: skip
        try:
            await preflight(client)
            meta = _meta(config, client, simulated or client.simulator_detected, stamp)
            model = agents_model(client, config)
            if price is not None and config.max_cost_usd is not None:
                meta["max_cost_usd"] = config.max_cost_usd
                model = CostCap(model, price, config.max_cost_usd)
            exclude = frozenset(() if child is None else (child.pid,)) | config.not_children
            journal = _open_journal(config, meta, stamp, kept)
            if host is not None:
                fanned = await host.fan_out(config, sink or NullSink(), meta, kept=kept, journal=journal)
            else:
                fanned = await _fan_out(
                    _scratch_in(config, work_root),
                    model, work_root, sink or NullSink(), meta, exclude, kept=kept, journal=journal,
                )  # fmt: skip
            results, wall_s, resources, interrupted = fanned
        finally:
            await client.aclose()
    except BaseException:
        if journal is not None:
            journal.close(remove=False)  # the rows so far stay for --resume
        raise
    finally:
        if sim is not None:
            await sim.close()
        if child is not None:
            await child.close()
        if not config.keep_workspaces:
            shutil.rmtree(work_root, ignore_errors=True)
        if lowered is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, lowered)
    if simulated:
        meta["sim_process"] = child is not None or host is not None
    if child is not None:
        meta["sim_peak_rss_mib"] = round(child.peak_rss_mib, 1)
        meta["sim_cpu_s"] = round(child.cpu_s, 3)
    meta["sampler_cpu_s"] = round(resources.sampler_cpu_s, 3)
    meta["interrupted"] = interrupted
    own = [r for r in results if r.id not in kept]  # this sitting's rows (all of a run not resumed)
    history = config.resume.history if config.resume is not None else ()
    total_wall_s = wall_s + sum(_float(h.get("wall_s")) for h in history)
    meta.update(_throughput(results, total_wall_s))
    meta.update(_test_stats(results, own, resources.children_cpu_s))
    own_cost = _cost(config.model, own)
    meta["cost_usd"] = own_cost if not history else _run_cost(config.model, history, own_cost)
    if config.max_cost_usd is not None:
        meta["stopped_by_cost"] = sum(
            1 for r in results if r.status == "error" and "cost limit" in (r.error or "")
        )
    if config.extra_meta is not None:
        meta.update(config.extra_meta())
    meta["sittings"] = len(history) + 1
    meta["sitting_wall_s"] = round(wall_s, 4)
    meta["kept_tasks"] = len(kept)
    if config.resume is not None:
        meta["resumed_from"] = list(config.resume.files)
    summary = summarize(
        results, resources=resources, wall_s=total_wall_s, meta=meta,
        cpu_tokens=sum(r.completion_tokens for r in own),
    )  # fmt: skip
    if config.resume is not None:
        entry: dict[str, object] = {"sitting": len(history) + 1, "file": f"python_{stamp}_summary.json"}
        entry.update(wall_s=round(wall_s, 4), tasks_run=sum(1 for r in own if r.error != "interrupted"))
        entry.update((k, summary[k]) for k in SITTING_KEYS if k in summary)
        entry.update(
            prompt_tokens=sum(r.prompt_tokens for r in own),
            completion_tokens=sum(r.completion_tokens for r in own),
            cost_usd=own_cost,
        )
        summary["per_sitting"] = [*history, entry]
    try:
        csv_path, summary_path = write_results(
            config.out_dir, results, summary, stamp=stamp, timeline=resources.timeline
        )
    finally:  # written: the journal is done with; not written: it is all there is
        if journal is not None:
            journal.close(remove=_summary_written(config.out_dir, stamp))
    outcome = BenchOutcome(
        results, summary, csv_path, summary_path, work_root if config.keep_workspaces else None
    )
    if interrupted:
        raise BenchInterrupted(outcome)
    return outcome


def agents_model(client: OpenAIClient, config: BenchConfig) -> Model:
    """The model a run's agents share: the client (as a text-tool model when the settings say so) with
    the contract loop's retry strategy; a cost cap, if any, goes around it (so it counts retries too)."""
    model = agent_model(client, config.settings)
    if config.agent == "loop":
        model = retry_model(model, config.loop.retry, config.loop.max_retries)
    return model


def _scratch_in(config: BenchConfig, work_root: Path) -> BenchConfig:
    """``config`` with the test runs' private temporary directories made in ``work_root`` too."""
    confine = config.loop.confine
    if confine is None:
        return config
    tmp = work_root / "tmp"
    tmp.mkdir(mode=0o700, exist_ok=True)
    return replace(config, loop=replace(config.loop, confine=replace(confine, tmp_parent=tmp)))


async def task_solver(config: BenchConfig, model: Model, harness: TestHarness) -> Solver:
    """The per-task function of ``config.agent``."""
    if config.agent == "loop":
        texts: dict[tuple[str, str], TaskText] = {}
        """One ``TaskText`` per task, shared by its ``--repeat`` runs."""

        async def contract(task: Task, workdir: Path) -> TaskResult:
            key = (task.spec, task.test)
            text = texts.get(key)
            if text is None:
                text = texts[key] = TaskText.of(task)
            return await solve(task, model, workdir, config.loop, harness=harness, text=text)

        return contract
    from agentrt.bench.humaneval.coding import AgentConfig, solve_with_agent

    if config.loop.confine is None:
        raise ValueError(
            "--agent exec runs every agent under the OS sandbox; it cannot run with --no-sandbox"
        )
    agents = AgentConfig(
        mechanism=config.loop.confine.mechanism,
        base_prompt=_base_prompt(config),
        env=agent_env(config.loop.test_env or config.env),
        home=config.home,
        check=config.loop,
        context=ContextPolicy() if config.agent_window is None else ContextPolicy(window=config.agent_window),
    )

    async def coding(task: Task, workdir: Path) -> TaskResult:
        return await solve_with_agent(task, model, workdir, agents)

    return coding


def prove_sandbox(home: Path, mechanisms: tuple[str, ...] | None = None) -> str:
    """The mechanism (``bwrap`` or ``landlock``; the first of ``mechanisms`` when given) that proves,
    by its self-test in a fresh directory, that it enforces ``workspace-write`` here;
    ``SandboxUnavailable`` says why when none does."""
    from agentrt.sandbox import choose_sandbox, policy_for
    from agentrt.sandbox.select import MECHANISMS

    with tempfile.TemporaryDirectory(prefix="agentrt-probe-") as probe:
        policy = policy_for("workspace-write", Path(probe), home=home, raw={})
        box = choose_sandbox(policy, mechanisms=mechanisms or MECHANISMS)
        box.close()
    return box.name


def agent_env(base: Mapping[str, str]) -> dict[str, str]:
    """The agents' command environment: ``base`` with agentrt's interpreter first on ``PATH``, so
    ``python -m pytest`` finds the pytest that runs the checks."""
    env = dict(base)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH") or os.defpath])
    return env


def _base_prompt(config: BenchConfig) -> str:
    from agentrt.agent.instructions import base_instructions

    return base_instructions("compact" if config.settings.text_tools else "full")


async def _fan_out(
    config: BenchConfig,
    model: Model,
    work_root: Path,
    sink: EventSink,
    meta: dict[str, object],
    exclude: frozenset[int] = frozenset(),
    *,
    kept: Mapping[str, TaskResult] | None = None,
    journal: RowJournal | None = None,
) -> FanOutResult:
    """Every task (``repeat`` times) but those ``kept`` at bounded concurrency, sampled; the test
    harness (a fork server) lives inside the sampled window, so its CPU and its children's count among
    the children's; the processes in ``exclude`` (the simulator's) are not sampled. Each finished
    row goes to ``journal`` before the ``TaskFinished`` event."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(max(1, config.concurrency))
    tasks = repeat_tasks(config.tasks, config.repeat)
    kept = kept or {}
    done: dict[str, TaskResult] = {}
    started = loop.time()

    async def one(index: int, task: Task, solver: Solver) -> None:
        async with gate:
            if isinstance(model, CostCap) and model.exhausted:
                result = TaskResult(task.id, "error", error="not started: the run reached its cost limit")
            else:
                result = await solver(task, work_root / f"{index:04d}")
        done[task.id] = result
        if journal is not None:
            journal.add(result, t_s=loop.time() - started)
        sink.emit(TaskFinished(task.id, result.status, result.error))

    interrupted = False
    async with ResourceSampler(exclude=exclude) as sampler:  # from its first sample on
        started = loop.time()
        try:
            async with test_harness(config) as harness:
                solver = await task_solver(config, model, harness)
                async with asyncio.TaskGroup() as group:
                    for i, t in enumerate(tasks):
                        if t.id not in kept:
                            group.create_task(one(i, t, solver))
                if harness.gate is not None:
                    meta.update(harness.gate.report())
        except asyncio.CancelledError:
            interrupted = True  # the group has cancelled and awaited every task
        wall_s = loop.time() - started
    if interrupted:
        uncancel()
    results = [
        kept.get(t.id) or done.get(t.id) or TaskResult(t.id, "error", error="interrupted") for t in tasks
    ]
    return results, wall_s, sampler.report(), interrupted


def test_harness(config: BenchConfig) -> AbstractAsyncContextManager[TestHarness]:
    """The contract loop's test harness (``--agent exec`` checks through a spawning one)."""
    executor = config.executor if config.agent == "loop" else "spawn"
    return open_harness(
        executor, python=config.loop.python, env=config.loop.test_env,
        memory_budget_mib=config.memory_budget_mib,
    )  # fmt: skip


def _budget_price(config: BenchConfig) -> Price | None:
    """The price ``--max-cost`` counts by (``None``: no limit); ``ValueError`` before anything starts
    when the model has none."""
    if config.max_cost_usd is None:
        return None
    from agentrt.agent.cost import price_for

    price = price_for(config.model)
    if price is None:
        raise ValueError(f"--max-cost needs the price of model {config.model}, and agentrt has none for it")
    return price


def _cost(model: str, results: list[TaskResult]) -> float | None:
    """What the run's tokens cost at the model's price (``agent.cost``); ``None`` when it has none."""
    from agentrt.agent.cost import price_for
    from agentrt.events import TokenUsage

    price = price_for(model)
    if price is None:
        return None
    usage = TokenUsage(sum(r.prompt_tokens for r in results), 0, sum(r.completion_tokens for r in results))
    return round(price.cost(usage), 6)


def _run_cost(model: str, history: tuple[Mapping[str, object], ...], own_cost: float | None) -> float | None:
    """What every sitting spent (rows later run again included): each earlier sitting's recorded
    cost, or its tokens at the model's price (a killed sitting recorded none); ``None`` if unknown."""
    from agentrt.agent.cost import price_for
    from agentrt.events import TokenUsage

    costs = [own_cost]
    price = price_for(model)
    for sitting in history:
        cost = sitting.get("cost_usd")
        if isinstance(cost, int | float):
            costs.append(float(cost))
        elif price is not None and "cost_usd" not in sitting:
            tokens = TokenUsage(
                int(_float(sitting.get("prompt_tokens"))), 0, int(_float(sitting.get("completion_tokens")))
            )
            costs.append(price.cost(tokens))
        else:
            costs.append(None)
    return None if any(c is None for c in costs) else round(sum(c or 0.0 for c in costs), 6)


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _summary_written(out_dir: Path, stamp: str) -> bool:
    """Whether the sitting ``stamp``'s summary is in ``out_dir/raw`` (so its journal may go)."""
    return (out_dir / "raw" / f"python_{stamp}_summary.json").is_file()


def _open_journal(
    config: BenchConfig, meta: Mapping[str, object], stamp: str, kept: Mapping[str, TaskResult]
) -> RowJournal | None:
    """The sitting's row journal, its kept rows written first; ``None`` when it cannot be created
    (the run still writes its CSV and summary at the end)."""
    resume = config.resume
    header = {
        "started_at": stamp,
        "meta": dict(meta),
        "task_ids": [t.id for t in repeat_tasks(config.tasks, config.repeat)],
        "history": list(resume.history) if resume is not None else [],
        "resumed_from": list(resume.files) if resume is not None else [],
    }
    try:
        journal = RowJournal(config.out_dir / "raw" / f"python_{stamp}_journal.jsonl", header)
    except OSError:
        return None
    for row in kept.values():
        journal.add(row, kept=True)
    return journal


RESULT_SETTINGS: tuple[tuple[str, str], ...] = (
    ("agent", "--agent"),
    ("model", "--model (or --local)"),
    ("max_retries", "--max-retries"),
    ("temperature", "--temperature"),
    ("max_output_tokens", "--max-output-tokens"),
    ("retry", "--retry-* (the retry strategy)"),
)
"""The settings that make a row what it is: a resumed sitting must run with the recorded ones."""


def resume_tasks(config: BenchConfig) -> list[str]:
    """The task ids (``ID#k`` with ``--repeat``) this run works on: all of them, or for a resumed run
    those of the recorded run without a result. ``ValueError`` when this invocation's tasks or
    result-defining settings differ from the recorded run's, naming each difference."""
    ids = [t.id for t in repeat_tasks(config.tasks, config.repeat)]
    point = config.resume
    if point is None:
        return ids
    differences = _differences(config, point, ids)
    if differences:
        command = point.meta.get("command")
        again = f"; it was run as: {command}" if isinstance(command, str) else ""
        raise ValueError(
            f"cannot resume {point.source}: this invocation differs from the recorded run: "
            f"{'; '.join(differences)} (resume with the recorded settings{again})"
        )
    kept = point.kept
    return [i for i in ids if i not in kept]


def _differences(config: BenchConfig, point: ResumePoint, ids: list[str]) -> list[str]:
    recorded = point.meta
    if "max_retries" in recorded and "retry" not in recorded:  # recorded before the strategy existed
        recorded = {**recorded, "retry": RetryStrategy().as_dict()}
    if isinstance(retry := recorded.get("retry"), dict) and "code" not in retry:  # before --retry-code
        recorded = {**recorded, "retry": {**retry, "code": True}}
    out: list[str] = []

    def compare(key: str, what: str, now: object) -> None:
        if key in recorded and recorded[key] != now:
            out.append(f"{what} recorded {recorded[key]!r}, now {now!r}")

    if "tasks_sha256" not in recorded:  # a run from before the digest: its label is what there is
        compare("dataset", "--dataset", config.dataset_label)
    compare("repeat", "--repeat", config.repeat)
    if "repeat" in recorded and recorded["repeat"] != config.repeat:
        pass  # the ids differ by their #k: said above
    elif len(point.task_ids) != len(ids):
        out.append(f"--limit: recorded {len(point.task_ids)} task runs, now {len(ids)}")
    elif list(point.task_ids) != ids:
        first = next(i for i, (a, b) in enumerate(zip(point.task_ids, ids, strict=True)) if a != b)
        out.append(
            f"task ids: recorded {point.task_ids[first]!r}, now {ids[first]!r} at position {first + 1}"
        )
    elif "tasks_sha256" in recorded and recorded["tasks_sha256"] != tasks_digest(config.tasks):
        out.append("the tasks' spec or test differ from the recorded ones (same ids)")
    settings = {
        "agent": config.agent, "model": config.model, "max_retries": config.loop.max_retries,
        "temperature": config.settings.temperature, "max_output_tokens": config.settings.max_output_tokens,
        "retry": config.loop.retry.as_dict(),
    }  # fmt: skip
    for key, flag in RESULT_SETTINGS:
        compare(key, flag, settings[key])
    sim = recorded.get("sim")
    if config.provider is None and isinstance(sim, dict):
        for key, flag in (("seed", "--seed"), ("fail_rate", "--fail-rate")):
            now = getattr(config.sim, key)
            if key in sim and sim[key] != now:
                out.append(f"{flag} recorded {sim[key]!r}, now {now!r}")
    return out


def tasks_digest(tasks: list[Task]) -> str:
    """SHA-256 of the tasks' ids, specs and tests: the same dataset, or not."""
    text = json.dumps([[t.id, t.spec, t.test] for t in tasks], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _throughput(results: list[TaskResult], wall_s: float) -> dict[str, object]:
    """Completion tokens per second of model time (per stream) and per second of wall time (all)."""
    tokens = sum(r.completion_tokens for r in results)
    model_s = sum(r.model_s for r in results)
    return {
        "tokens_per_s_stream": round(tokens / model_s, 2) if model_s > 0 else None,
        "tokens_per_s_wall": round(tokens / wall_s, 2) if wall_s > 0 else None,
    }


def _test_stats(results: list[TaskResult], own: list[TaskResult], children_cpu_s: float) -> dict[str, object]:
    """Test runs, their CPU per run (``wait4``'s when every run had it, else the children's CPU per
    run of this sitting, ``own``), the median task's CPU per run (``wait4`` only: a few heavy tests
    pull the mean) and the highest peak RSS of one run."""
    runs = sum(r.test_runs for r in results)
    measured = [r.test_cpu_s for r in results if r.test_runs]
    exact = bool(measured) and all(cpu is not None for cpu in measured)
    cpu_s = sum(cpu or 0.0 for cpu in measured) if exact else children_cpu_s
    per_runs = runs if exact else sum(r.test_runs for r in own)
    per_task = [(r.test_cpu_s or 0.0) / r.test_runs for r in results if r.test_runs]
    peaks = [r.test_peak_rss_mib for r in results if r.test_peak_rss_mib is not None]
    return {
        "test_runs": runs,
        "test_cpu_ms_per_run": round(cpu_s * 1000 / per_runs, 2) if per_runs else None,
        "test_cpu_ms_per_run_median_task": round(statistics.median(per_task) * 1000, 2) if exact else None,
        "test_cpu_source": "wait4" if exact else "children_cpu_s",
        "test_peak_rss_mib": round(max(peaks), 1) if peaks else None,
    }


def uncancel() -> None:
    """Let the runner finish writing results after a cancellation it has handled."""
    task = asyncio.current_task()
    if task is not None:
        while task.uncancel():
            pass


async def preflight(client: OpenAIClient) -> None:
    """One cheap request before the fan-out, so a wrong endpoint fails once and clearly."""
    models = await client.list_models()
    if models and client.endpoint.model not in models:
        from agentrt.model.errors import ModelNotFound

        shown = ", ".join(sorted(models)[:10])
        raise ModelNotFound(
            f"model {client.endpoint.model!r} is not served by {client.endpoint.base_url} (it serves: {shown})",
            404,
        )


def raise_nofile(need: int) -> tuple[int, int] | None:
    """Raise the soft ``RLIMIT_NOFILE`` to ``need`` (at most the hard limit): a thousand agents hold a
    connection each, and their test runs two pipes each, past the common soft limit of 1,024. The
    limits to put back after the run, or ``None`` when nothing was changed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if soft == resource.RLIM_INFINITY or target <= soft:
        return None
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return soft, hard


def sim_in_own_process(config: BenchConfig) -> bool:
    """Whether the simulator runs in its own process: ``config.sim_process``, or by default when
    more than ``SIM_PROCESS_ABOVE`` agents run at once."""
    if config.sim_process is not None:
        return config.sim_process
    agents = min(config.concurrency, len(config.tasks) * config.repeat)
    return agents > SIM_PROCESS_ABOVE


async def _start_sim_child(config: BenchConfig, scratch: Path) -> tuple[SimChild, ProviderConfig]:
    s = config.sim
    child = await SimChild.start(
        config.tasks, scratch, policy=_sim_policy(config), seed=s.seed, fail_rate=s.fail_rate,
        ttft_ms=s.ttft_ms, tps=s.tps, model=config.model,
    )  # fmt: skip
    return child, _sim_provider(child.base_url)


def _sim_policy(config: BenchConfig) -> str:
    return "coding-agent" if config.agent == "exec" else "humaneval"


def _sim_provider(base_url: str) -> ProviderConfig:
    return ProviderConfig(id="sim", name="agentrt simulator", base_url=base_url, requires_api_key=False)


async def start_sim(config: BenchConfig) -> tuple[Any, ProviderConfig]:
    from agentrt.model.sim import SimConfig, start_sim_server

    s = config.sim
    sim_config = SimConfig(
        policy=_sim_policy(config),
        seed=s.seed,
        fail_rate=s.fail_rate,
        ttft_ms=s.ttft_ms,
        tps=s.tps,
        tasks=tuple(t.as_dict() for t in config.tasks),
        model=config.model,
    )
    server = await start_sim_server(sim_config)
    return server, _sim_provider(server.base_url)


def prepare_out_dir(out_dir: Path) -> None:
    """Fail before any work if the results cannot be written."""
    raw = out_dir / "raw"
    try:
        raw.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=raw, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise OSError(f"cannot write results to {raw}: {exc.strerror or exc}") from exc


def _meta(config: BenchConfig, client: OpenAIClient, simulated: bool, stamp: str) -> dict[str, object]:
    meta: dict[str, object] = {
        "agent": config.agent,
        "concurrency": config.concurrency,
        "model": client.endpoint.model,
        "base_url": client.endpoint.base_url,
        "simulated": simulated,
        "dataset": config.dataset_label,
        "max_retries": config.loop.max_retries,
        "executor": config.executor if config.agent == "loop" else "spawn",
        "event_loop": type(asyncio.get_running_loop()).__module__.partition(".")[0],
        "read_interval_ms": round(config.read_interval_s * 1000, 3),
        "repeat": config.repeat,
        "temperature": config.settings.temperature,
        "max_output_tokens": config.settings.max_output_tokens,
        "retry": config.loop.retry.as_dict(),
        **provenance(),
        "started_at": stamp,
        "interpreter": sys.executable,
        "tasks_sha256": tasks_digest(config.tasks),
    }
    if config.command is not None:
        meta["command"] = config.command
    if simulated:
        meta["sim"] = _sim_meta(config.sim)
    return meta


def _sim_meta(s: SimSettings) -> Mapping[str, object]:
    return {"seed": s.seed, "fail_rate": s.fail_rate, "ttft_ms": s.ttft_ms, "tps": s.tps}
