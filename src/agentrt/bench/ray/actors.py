"""The two kinds of actor a Ray run starts: the agents' hosts and the simulated model.

These are plain classes: the driver makes them Ray actors (``ray.remote(AgentActor)``) and Ray runs
their ``async`` methods on one event loop per actor, so one ``AgentActor`` runs as many agents at
once as the driver keeps calls in flight to it — with the runner's own ``task_solver`` and test
harness, exactly as a single-process run does. Each node needs agentrt (the same version) installed
in the Python its Ray workers run: the classes are found there by name.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agentrt import __version__
from agentrt.bench.dataset import Task
from agentrt.bench.result import TaskResult
from agentrt.bench.runner import (
    BenchConfig,
    Solver,
    agents_model,
    prove_sandbox,
    start_sim,
    task_solver,
    test_harness,
)
from agentrt.bench.telemetry import ResourceSampler, current_rss_mib, peak_rss_mib, process_cpu_s
from agentrt.config.providers import ProviderConfig

_CLOSE_S = 10.0
"""How long ``close`` waits for agents still running (cancelled) to end."""


@dataclass(frozen=True, slots=True)
class EnvChange:
    """What the driver's run changed in its own environment for the test runs (pytest's switches):
    applied to each node's own environment, so a node's ``PATH`` and ``HOME`` stay its own."""

    set: Mapping[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()

    @classmethod
    def between(cls, base: Mapping[str, str], changed: Mapping[str, str]) -> EnvChange:
        return cls(
            {k: v for k, v in changed.items() if base.get(k) != v}, tuple(k for k in base if k not in changed)
        )

    def apply(self, base: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in base.items() if k not in self.unset}
        env.update(self.set)
        return env


def node_config(config: BenchConfig, change: EnvChange, model_env: Mapping[str, str]) -> BenchConfig:
    """``config`` as it holds on this node: this node's interpreter runs pytest, this node's
    environment (with the run's ``change``) is the tests', ``AGENTRT_HOME`` is this node's, and the
    sandbox mechanism proven on the driver's machine is proven again here. ``model_env``: the
    variables the model's client reads (its key, its headers), from the driver."""
    from agentrt.config import agentrt_home

    env = dict(os.environ)
    home = agentrt_home(env)
    loop = replace(config.loop, python=sys.executable, test_env=change.apply(env))
    if loop.confine is not None:
        mechanism = prove_sandbox(home, (loop.confine.mechanism,))  # SandboxUnavailable says why not
        loop = replace(loop, confine=replace(loop.confine, mechanism=mechanism, home=home))
    return replace(config, loop=loop, home=home, env=dict(model_env))


class AgentActor:
    """One host of many agents. ``open`` once, then ``solve`` for each task dealt to it (as many
    at once as the driver sends), then ``close`` for its figures."""

    def __init__(
        self, config: BenchConfig, provider: ProviderConfig, change: EnvChange, model_env: Mapping[str, str]
    ) -> None:
        self._given = (config, provider, change, model_env)
        self._stack = AsyncExitStack()
        self._sampler = ResourceSampler()
        self._solver: Solver | None = None
        self._work_root: Path | None = None
        self._running: set[asyncio.Task[Any]] = set()
        self._keep = config.keep_workspaces
        self._gate_report: dict[str, object] | None = None
        self._harness: Any = None

    async def open(self) -> dict[str, object]:
        """Start the agents' client and test harness here; where this actor runs."""
        from agentrt.model.factory import build_client

        config, provider, change, model_env = self._given
        rss_mib = current_rss_mib()
        config = node_config(config, change, model_env)
        self._work_root = Path(tempfile.mkdtemp(prefix="agentrt-bench-ray-"))
        await self._stack.enter_async_context(self._sampler)
        client = build_client(
            provider, config.model, config.env, config.settings, simulated=config.provider is None
        )
        self._stack.push_async_callback(client.aclose)
        self._harness = await self._stack.enter_async_context(test_harness(config))
        self._solver = await task_solver(config, agents_model(client, config), self._harness)
        return {
            **where(), "agentrt_version": __version__, "rss_at_open_mib": round(rss_mib, 1),
            "work_root": str(self._work_root),
        }  # fmt: skip

    async def solve(self, index: int, task: Task) -> TaskResult:
        """One agent on ``task`` in its own workspace (``index``: its place in the run)."""
        if self._solver is None or self._work_root is None:
            raise RuntimeError("AgentActor.solve before open")
        current = asyncio.current_task()
        if current is not None:
            self._running.add(current)
        try:
            return await self._solver(task, self._work_root / f"{index:04d}")
        finally:
            if current is not None:
                self._running.discard(current)

    async def close(self) -> dict[str, object]:
        """Stop the agents still running (cancelled), the harness and the sampling; the figures."""
        for task in self._running:
            task.cancel()
        if self._running:
            await asyncio.wait(self._running, timeout=_CLOSE_S)
        gate = getattr(self._harness, "gate", None)
        if gate is not None:
            self._gate_report = gate.report()
        await self._stack.aclose()
        report = self._sampler.report()
        workspaces = self._work_root
        if workspaces is not None and not self._keep:
            shutil.rmtree(workspaces, ignore_errors=True)
        return {
            **where(),
            "peak_rss_mib": round(report.peak_rss_mib, 1),
            "cpu_s": round(report.runtime_cpu_s, 3),
            "children_cpu_s": round(report.children_cpu_s, 3),
            "peak_children_rss_mib": round(report.peak_children_rss_mib, 1),
            "peak_live_children": report.peak_live_children,
            "sampler_cpu_s": round(report.sampler_cpu_s, 3),
            "samples": report.samples,
            "admission": self._gate_report,
            "workspaces": str(workspaces) if workspaces is not None and self._keep else None,
        }


class SimActor:
    """The simulated model as an actor of its own, on the driver's node, listening on loopback."""

    def __init__(self) -> None:
        self._server: Any = None

    async def start(self, config: BenchConfig) -> str:
        """Serve ``config``'s tasks as the in-process simulator would; its base URL."""
        self._server, provider = await start_sim(config)
        return provider.base_url

    async def measure(self) -> tuple[float, float]:
        """(peak RSS in MiB, CPU seconds) of the simulator's process so far."""
        return peak_rss_mib(), process_cpu_s()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None


def where() -> dict[str, object]:
    """This process on its node: the node's address and id, the host name and the pid."""
    from agentrt.bench.ray import require_ray

    ray = require_ray()
    context = ray.get_runtime_context()
    return {
        "node": ray.util.get_node_ip_address(),
        "node_id": context.get_node_id(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
