"""``agentrt bench humaneval``: every task at bounded concurrency in one asyncio process, measured.

The runner owns the run's lifetime: it starts the embedded simulator when no endpoint is given,
checks the endpoint once before fanning out, samples the process's resources for the whole run,
and writes the CSV and summary — also when interrupted, with the unfinished tasks marked.
"""

from __future__ import annotations

import asyncio
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agentrt import __version__
from agentrt.agent.humaneval import LoopConfig, solve
from agentrt.agent.result import TaskResult
from agentrt.bench.dataset import Task
from agentrt.bench.report import git_commit, summarize, timestamp, write_results
from agentrt.bench.telemetry import ResourceSampler
from agentrt.model.chat import Endpoint
from agentrt.model.client import ChatClient


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
    concurrency: int = 100
    endpoint: Endpoint | None = None
    """``None``: start the simulator in-process on the tasks themselves."""
    sim: SimSettings = field(default_factory=SimSettings)
    loop: LoopConfig = field(default_factory=LoopConfig)
    dataset_label: str = "humaneval"
    keep_workspaces: bool = False
    temperature: float | None = None
    """Sent with every request when set; ``None`` leaves sampling to the server."""
    max_output_tokens: int | None = None
    """Cap on one reply's tokens (``max_tokens``) when set; ``None`` leaves it to the server."""
    client_factory: Callable[..., ChatClient] = ChatClient
    """Called as ``client_factory(endpoint, params=...)``."""
    extra_meta: Callable[[], Mapping[str, object]] | None = None
    """Called once the tasks are done, before the summary: more meta (e.g. the local server's RSS)."""


@dataclass(frozen=True)
class BenchOutcome:
    results: list[TaskResult]
    summary: dict[str, object]
    csv_path: Path
    summary_path: Path
    workspaces: Path | None


class BenchInterrupted(Exception):
    """The run was cancelled; partial results were written. Carries them."""

    def __init__(self, outcome: BenchOutcome) -> None:
        super().__init__("interrupted")
        self.outcome = outcome


async def run_bench(
    config: BenchConfig, on_result: Callable[[TaskResult], None] = lambda r: None
) -> BenchOutcome:
    stamp = timestamp()
    prepare_out_dir(config.out_dir)
    sim = None
    endpoint = config.endpoint
    if endpoint is None:
        sim, endpoint = await _start_sim(config)
    client = config.client_factory(endpoint, params=_request_params(config))
    work_root = Path(tempfile.mkdtemp(prefix="agentrt-bench-"))
    try:
        await preflight(client)
        if client.simulator_detected:
            endpoint = replace(endpoint, simulated=True)  # an outside sim-server is labelled too
        meta = _meta(config, endpoint, stamp)
        results, wall_s, resources, interrupted = await _fan_out(config, client, work_root, on_result)
    finally:
        await client.aclose()
        if sim is not None:
            await sim.close()
        if not config.keep_workspaces:
            shutil.rmtree(work_root, ignore_errors=True)
    meta["interrupted"] = interrupted
    meta.update(_throughput(results, wall_s))
    if config.extra_meta is not None:
        meta.update(config.extra_meta())
    summary = summarize(results, resources=resources, wall_s=wall_s, meta=meta)
    csv_path, summary_path = write_results(config.out_dir, results, summary, stamp=stamp)
    outcome = BenchOutcome(
        results, summary, csv_path, summary_path, work_root if config.keep_workspaces else None
    )
    if interrupted:
        raise BenchInterrupted(outcome)
    return outcome


async def _fan_out(
    config: BenchConfig, client: ChatClient, work_root: Path, on_result: Callable[[TaskResult], None]
) -> tuple[list[TaskResult], float, Any, bool]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(max(1, config.concurrency))
    done: dict[str, TaskResult] = {}

    async def one(index: int, task: Task) -> None:
        async with gate:
            result = await solve(task, client, work_root / f"{index:04d}", config.loop)
        done[task.id] = result
        on_result(result)

    interrupted = False
    async with ResourceSampler() as sampler:
        started = loop.time()
        workers = [asyncio.create_task(one(i, t)) for i, t in enumerate(config.tasks)]
        try:
            await asyncio.gather(*workers)
        except asyncio.CancelledError:
            interrupted = True
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        wall_s = loop.time() - started
    if interrupted:
        _uncancel()
    results = [done.get(t.id) or TaskResult(t.id, "error", error="interrupted") for t in config.tasks]
    return results, wall_s, sampler.report(), interrupted


def _throughput(results: list[TaskResult], wall_s: float) -> dict[str, object]:
    """Completion tokens per second of model time (per stream) and per second of wall time (all)."""
    tokens = sum(r.completion_tokens for r in results)
    model_s = sum(r.model_s for r in results)
    return {
        "tokens_per_s_stream": round(tokens / model_s, 2) if model_s > 0 else None,
        "tokens_per_s_wall": round(tokens / wall_s, 2) if wall_s > 0 else None,
    }


def _uncancel() -> None:
    """Let the runner finish writing results after a cancellation it has handled."""
    task = asyncio.current_task()
    if task is not None:
        while task.uncancel():
            pass


async def preflight(client: ChatClient) -> None:
    """One cheap request before the fan-out, so a wrong endpoint fails once and clearly."""
    models = await client.list_models()
    if models and client.endpoint.model not in models:
        from agentrt.model.errors import ModelNotFound

        shown = ", ".join(sorted(models)[:10])
        raise ModelNotFound(
            f"model {client.endpoint.model!r} is not served by {client.endpoint.base_url} (it serves: {shown})",
            404,
        )


async def _start_sim(config: BenchConfig) -> tuple[Any, Endpoint]:
    from agentrt.model.sim import SimConfig, start_sim_server

    s = config.sim
    sim_config = SimConfig(
        policy="humaneval",
        seed=s.seed,
        fail_rate=s.fail_rate,
        ttft_ms=s.ttft_ms,
        tps=s.tps,
        tasks=tuple(t.as_dict() for t in config.tasks),
    )
    server = await start_sim_server(sim_config)
    return server, Endpoint(server.base_url, sim_config.model, simulated=True)


def prepare_out_dir(out_dir: Path) -> None:
    """Fail before any work if the results cannot be written."""
    raw = out_dir / "raw"
    try:
        raw.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=raw, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise OSError(f"cannot write results to {raw}: {exc.strerror or exc}") from exc


def _request_params(config: BenchConfig) -> dict[str, object] | None:
    params: dict[str, object] = {}
    if config.temperature is not None:
        params["temperature"] = config.temperature
    if config.max_output_tokens is not None:
        params["max_tokens"] = config.max_output_tokens
    return params or None


def _meta(config: BenchConfig, endpoint: Endpoint, stamp: str) -> dict[str, object]:
    meta: dict[str, object] = {
        "concurrency": config.concurrency,
        "model": endpoint.model,
        "base_url": endpoint.base_url,
        "simulated": endpoint.simulated,
        "dataset": config.dataset_label,
        "max_retries": config.loop.max_retries,
        "temperature": config.temperature,
        "max_output_tokens": config.max_output_tokens,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "agentrt_version": __version__,
        "git_commit": git_commit(Path(__file__).resolve().parent),
        "started_at": stamp,
        "interpreter": sys.executable,
    }
    if endpoint.simulated:
        meta["sim"] = _sim_meta(config.sim)
    return meta


def _sim_meta(s: SimSettings) -> Mapping[str, object]:
    return {"seed": s.seed, "fail_rate": s.fail_rate, "ttft_ms": s.ttft_ms, "tps": s.tps}
