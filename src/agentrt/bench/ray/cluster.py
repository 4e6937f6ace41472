"""The driver of a Ray run: the cluster, its actors, and the tasks dealt to them.

``run_on_ray`` starts a local cluster for the run (``--ray``) or connects to one (``--ray auto``,
``--ray ADDRESS``), and hands ``runner.run_bench`` a ``RayHost``: the simulator as an actor of its
own (a single-node cluster only: it listens on loopback), and a fan-out that starts the agents'
actors (``--ray-actors``, default one per CPU of the cluster, spread over its nodes), deals the
tasks to them — each actor keeps its share of ``--concurrency`` agents running, taking the next
task as one ends — and records each row as it comes back.

An actor that dies takes its running tasks with it: each is run again, once, on another actor, and
its row says so in ``error`` (``rerun: …``); a task whose second actor dies too, or that has no actor
left, ends as an error. Cancellation (Ctrl-C) cancels the tasks on the actors, keeps every finished
row, and the cluster started for the run is stopped; nothing stays running.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from agentrt import __version__
from agentrt.bench.dataset import Task, repeat_tasks
from agentrt.bench.ray import LOCAL, require_ray
from agentrt.bench.ray.actors import AgentActor, EnvChange, SimActor
from agentrt.bench.report import RowJournal
from agentrt.bench.result import TaskResult
from agentrt.bench.runner import BenchConfig, BenchOutcome, FanOutResult, run_bench, uncancel
from agentrt.bench.telemetry import ResourceReport, peak_rss_mib
from agentrt.config.providers import ProviderConfig
from agentrt.events import EventSink, TaskFinished

OBJECT_STORE_BYTES = 80 * 1024 * 1024
"""A local cluster's object store: rows and tasks are small, and Ray's floor is about 75 MiB."""
_CLOSE_S = 15.0
"""How long the driver waits for an actor's ``close`` (its figures) before killing it."""


@dataclass(frozen=True, slots=True)
class RayOptions:
    address: str = LOCAL
    """``local``: a cluster started for the run; ``auto`` or an address: an existing cluster."""
    actors: int | None = None
    """Agent actors; ``None``: one per CPU of the cluster."""


async def run_on_ray(
    config: BenchConfig,
    sink: EventSink | None,
    options: RayOptions,
    announce: Callable[[str], object] | None = None,
) -> BenchOutcome:
    """``run_bench`` with its agents on a Ray cluster; ``announce`` gets one line once it is up."""
    if config.max_cost_usd is not None:
        raise ValueError("--max-cost counts one process's spending; it does not go with --ray")
    async with RayHost(options, simulated=config.provider is None) as host:
        if announce is not None:
            announce(host.describe())
        return await run_bench(replace(config, extra_meta=host.meta), sink, host=host)


@dataclass(slots=True)
class _Actor:
    number: int
    handle: Any
    place: Mapping[str, object] = field(default_factory=dict)
    dead: str | None = None
    """Why the actor is gone (``None`` while it lives)."""
    rows: int = 0
    """Tasks it finished (their rows came back)."""


@dataclass(frozen=True, slots=True)
class _Job:
    index: int
    task: Task
    died_on: str | None = None
    """Where the task's first actor died: this run is the rerun."""


class RayHost:
    """A ``runner.AgentHost`` on a Ray cluster (an async context: connected while open)."""

    def __init__(self, options: RayOptions, *, simulated: bool) -> None:
        self.options = options
        self.simulated = simulated
        self._ray: Any = None
        self._started_s = 0.0
        self._nodes = 0
        self._cpus = 0.0
        self._sim: Any = None
        self._provider: ProviderConfig | None = None
        self._actors: list[_Actor] = []
        self._keep_workspaces = False
        self._meta: dict[str, object] = {}

    async def __aenter__(self) -> RayHost:
        ray = self._ray = require_ray()
        t0 = time.perf_counter()
        _init(ray, self.options.address)
        try:
            self._started_s = time.perf_counter() - t0
            nodes = [n for n in ray.nodes() if n.get("Alive")]
            self._nodes = len(nodes)
            self._cpus = float(ray.cluster_resources().get("CPU", 0.0))
            if self.simulated and self._nodes > 1:
                raise ValueError(
                    f"the Ray cluster ({self.options.address}) has {self._nodes} nodes, and the simulated "
                    "model listens on one node's loopback: give a model endpoint every node can reach "
                    "with --base-url"
                )
        except BaseException:
            ray.shutdown()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        ray = self._ray
        for actor in self._actors:
            _kill(ray, actor.handle)
        if self._sim is not None:
            _kill(ray, self._sim)
        ray.shutdown()  # a cluster started for the run stops with it; an existing one is left

    def describe(self) -> str:
        where = cluster_name(self.options.address)
        cpus = f"{self._cpus:g} CPU{'s' if self._cpus != 1 else ''}"
        return (
            f"ray: {where} ({self._nodes} node{'s' if self._nodes != 1 else ''}, {cpus}), "
            f"ready in {self._started_s:.1f} s"
        )

    def meta(self) -> Mapping[str, object]:
        """The summary's Ray keys (and the simulator actor's figures), once the fan-out is done."""
        return self._meta

    async def simulator(self, config: BenchConfig) -> ProviderConfig:
        """The simulator as an actor pinned to this node (the single node), on its loopback."""
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        remote = ray.remote(SimActor).options(num_cpus=0, max_restarts=0, scheduling_strategy=here)
        t0 = time.perf_counter()
        self._sim = remote.remote()
        base_url = await _result(
            ray, self._sim.start.remote(replace(config, resume=None, env={}, extra_meta=None))
        )
        self._meta["ray_sim_start_s"] = round(time.perf_counter() - t0, 3)
        self._provider = ProviderConfig(
            id="sim", name="agentrt simulator (Ray actor)", base_url=base_url, requires_api_key=False
        )
        return self._provider

    async def fan_out(
        self,
        config: BenchConfig,
        sink: EventSink,
        meta: dict[str, object],
        *,
        kept: Mapping[str, TaskResult],
        journal: RowJournal | None,
    ) -> FanOutResult:
        loop = asyncio.get_running_loop()
        tasks = repeat_tasks(config.tasks, config.repeat)
        jobs = [_Job(i, t) for i, t in enumerate(tasks) if t.id not in kept]
        done: dict[str, TaskResult] = {}
        started = loop.time()

        def finish(job: _Job, row: TaskResult) -> None:
            if job.died_on is not None:
                note = f"rerun: its first actor died ({job.died_on})"
                row.error = f"{note}; {row.error}" if row.error else note
            done[row.id] = row
            if journal is not None:
                journal.add(row, t_s=loop.time() - started)
            sink.emit(TaskFinished(row.id, row.status, row.error))

        interrupted = False
        try:
            shares = self._shares(config, len(jobs))
            await self._start_actors(config, len(shares))
            meta["ray_actors_start_s"] = round(loop.time() - started, 3)
            if jobs:
                await self._deal(jobs, shares, finish)
        except asyncio.CancelledError:
            interrupted = True
        except Exception:
            await self._close_actors()  # their workspaces and test servers go with them
            raise
        wall_s = loop.time() - started
        if interrupted:
            uncancel()
        figures = await self._close_actors()
        await self._close_sim()
        meta.update(_admission(figures))
        self._meta.update(self._summary_keys(figures, done))
        results = [
            kept.get(t.id) or done.get(t.id) or TaskResult(t.id, "error", error="interrupted") for t in tasks
        ]
        return results, wall_s, _resources(figures), interrupted

    def _shares(self, config: BenchConfig, jobs: int) -> list[int]:
        """Each actor's share of ``--concurrency`` (agents at once): as even as it goes, never 0."""
        wanted = self.options.actors or max(1, int(self._cpus))
        count = max(1, min(wanted, config.concurrency, max(jobs, 1)))
        base, extra = divmod(config.concurrency, count)
        return [base + (1 if i < extra else 0) for i in range(count)]

    async def _start_actors(self, config: BenchConfig, count: int) -> None:
        """``count`` agent actors spread over the nodes, each opened (client, harness) and checked."""
        ray = self._ray
        provider = config.provider or self._provider
        self._keep_workspaces = config.keep_workspaces
        if provider is None:
            raise RuntimeError("RayHost.fan_out before simulator() on a simulated run")
        own = replace(
            config, tasks=[], resume=None, extra_meta=None, env={}, memory_budget_mib=_split(config, count)
        )
        change = EnvChange.between(os.environ, config.loop.test_env)
        model_env = {
            var: config.env[var]
            for var in (provider.env_key, *provider.env_http_headers.values())
            if var and var in config.env
        }
        cpus = math.floor(min(1.0, self._cpus / count) * 1e4) / 1e4  # Ray takes 4 decimals
        remote = ray.remote(AgentActor).options(
            num_cpus=cpus, max_restarts=0, max_task_retries=0, scheduling_strategy="SPREAD",
            max_concurrency=max(1000, config.concurrency + 10),
        )  # fmt: skip
        self._actors = [_Actor(n, remote.remote(own, provider, change, model_env)) for n in range(count)]
        opened = [_result(ray, a.handle.open.remote()) for a in self._actors]
        places = await asyncio.gather(*opened, return_exceptions=True)  # every open over before a close
        for actor, place in zip(self._actors, places, strict=True):
            if isinstance(place, BaseException):
                raise place
            actor.place = place
            if place.get("agentrt_version") != __version__:
                raise ValueError(
                    f"node {place.get('node')} runs agentrt {place.get('agentrt_version')}, this driver "
                    f"{__version__}: install the same agentrt on every node"
                )

    async def _deal(
        self, jobs: list[_Job], shares: list[int], finish: Callable[[_Job, TaskResult], None]
    ) -> None:
        """Every job to the actors, each actor keeping its share running; reruns on actor death."""
        ray = self._ray
        queue: asyncio.Queue[_Job] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)
        left = len(jobs)
        all_done = asyncio.Event()

        def settle(job: _Job, row: TaskResult) -> None:
            nonlocal left
            finish(job, row)
            left -= 1
            if left == 0:
                all_done.set()

        def lost(job: _Job, actor: _Actor) -> None:
            """``job`` was running on ``actor`` when it died: again elsewhere, once."""
            alive = [a for a in self._actors if a.dead is None]
            if job.died_on is None and alive:
                queue.put_nowait(replace(job, died_on=actor.dead))
                return
            why = "its second actor died too" if job.died_on is not None else "no actor is left"
            settle(job, TaskResult(job.task.id, "error", error=f"not run: {why} ({actor.dead})"))
            if not alive:
                while not queue.empty():
                    other = queue.get_nowait()
                    settle(
                        other,
                        TaskResult(other.task.id, "error", error=f"not run: no actor is left ({actor.dead})"),
                    )

        async def slot(actor: _Actor) -> None:
            while actor.dead is None:
                job = await queue.get()
                if actor.dead is not None:  # died while this slot waited: someone else takes it
                    queue.put_nowait(job)
                    return
                ref = actor.handle.solve.remote(job.index, job.task)
                try:
                    row = await _result(ray, ref)
                except asyncio.CancelledError:
                    ray.cancel(ref)
                    raise
                except ray.exceptions.RayActorError as exc:
                    if actor.dead is None:
                        actor.dead = _death(actor, exc)
                        _kill(ray, actor.handle)
                    lost(job, actor)
                    return
                actor.rows += 1
                settle(job, row)

        async with asyncio.TaskGroup() as group:
            slots = [  # round-robin: the first tasks go one to each actor in turn
                group.create_task(slot(a))
                for k in range(max(shares))
                for a, share in zip(self._actors, shares, strict=True)
                if k < share
            ]
            await all_done.wait()
            for s in slots:
                s.cancel()

    async def _close_actors(self) -> list[dict[str, object]]:
        """Each actor's figures (its ``close``; what is known of a dead one), then it is killed."""

        async def close(actor: _Actor) -> dict[str, object]:
            figures: dict[str, object] = {**actor.place, "actor": actor.number}
            if actor.dead is None:
                try:
                    figures.update(await asyncio.wait_for(actor.handle.close.remote(), _CLOSE_S))
                except (TimeoutError, self._ray.exceptions.RayError) as exc:
                    actor.dead = f"close failed: {exc}".splitlines()[0]
            figures.update(died=actor.dead, tasks=actor.rows)
            _kill(self._ray, actor.handle)
            if actor.dead is not None and not self._keep_workspaces:
                self._remove_here(actor.place)
            return figures

        return list(await asyncio.gather(*(close(a) for a in self._actors)))

    def _remove_here(self, place: Mapping[str, object]) -> None:
        """A dead actor's workspaces, when they are on this node (a dead actor cannot remove them)."""
        root = place.get("work_root")
        if isinstance(root, str) and place.get("node_id") == self._ray.get_runtime_context().get_node_id():
            shutil.rmtree(root, ignore_errors=True)

    async def _close_sim(self) -> None:
        if self._sim is None:
            return
        try:
            rss, cpu = await asyncio.wait_for(self._sim.measure.remote(), _CLOSE_S)
            await asyncio.wait_for(self._sim.stop.remote(), _CLOSE_S)
        except (TimeoutError, self._ray.exceptions.RayError):
            return
        self._meta.update(sim_peak_rss_mib=round(rss, 1), sim_cpu_s=round(cpu, 3), sim_ray_actor=True)

    def _summary_keys(
        self, figures: list[dict[str, object]], done: Mapping[str, TaskResult]
    ) -> dict[str, object]:
        nodes = {f.get("node_id") for f in figures if f.get("node_id")}
        per_actor = [{key: f.get(key) for key in _ACTOR_KEYS} for f in figures]
        reruns = sorted(i for i, r in done.items() if r.error.startswith("rerun:"))
        return {
            "ray": True,
            "ray_address": self.options.address,
            "ray_actors": len(figures),
            "ray_nodes": len(nodes),
            "ray_cluster_nodes": self._nodes,
            "ray_cluster_cpus": self._cpus,
            "ray_start_s": round(self._started_s, 3),
            "ray_driver_peak_rss_mib": round(peak_rss_mib(), 1),
            "ray_reruns": len(reruns),
            "ray_rerun_ids": reruns,
            "ray_dead_actors": sum(1 for f in figures if f.get("died")),
            "ray_per_actor": per_actor,
        }


_ACTOR_KEYS = (
    "actor", "node", "host", "pid", "peak_rss_mib", "rss_at_open_mib", "cpu_s", "children_cpu_s",
    "peak_children_rss_mib", "tasks", "died", "workspaces",
)  # fmt: skip
"""What ``ray_per_actor`` keeps of each actor's figures."""


def cluster_name(address: str) -> str:
    """How the output names the cluster at ``address``."""
    if address == LOCAL:
        return "a local cluster"
    return "the running cluster (auto)" if address == "auto" else f"the cluster at {address}"


def _init(ray: Any, address: str) -> None:
    """Start (``local``) or join the cluster, keeping this process's SIGTERM handler: Ray's own would
    exit at once, and the run's handler cancels it cleanly (partial results written)."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address == LOCAL:
        options.update(
            address="local", num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False,
            object_store_memory=OBJECT_STORE_BYTES, _node_ip_address="127.0.0.1",
        )  # fmt: skip
    else:
        options["address"] = address
    try:
        ray.init(**options)
    except ConnectionError as exc:
        hint = ""
        if "InvalidAuthToken" in str(exc.__cause__):
            hint = (
                " (it uses token authentication: set RAY_AUTH_MODE=token, with the token in ~/.ray/auth_token "
                "or RAY_AUTH_TOKEN, or use --ray auto on one of its nodes)"
            )
        raise ValueError(f"--ray {address}: cannot connect to a Ray cluster: {exc}{hint}") from exc
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)


async def _result(ray: Any, ref: Any) -> Any:
    """What the remote call ``ref`` returned; an exception it raised is raised here as itself (not
    wrapped in Ray's ``RayTaskError``), so it reads as it would in one process."""
    try:
        return await ref
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise


def _kill(ray: Any, handle: Any) -> None:
    try:
        ray.kill(handle, no_restart=True)
    except Exception:  # already gone, or the cluster with it
        pass


def _death(actor: _Actor, exc: BaseException) -> str:
    place = actor.place
    return f"actor {actor.number}, pid {place.get('pid')} on {place.get('node')}: {type(exc).__name__}"


def _split(config: BenchConfig, count: int) -> float | None:
    """``--memory-budget`` shared evenly by the actors (each admits its own test runs)."""
    return None if config.memory_budget_mib is None else config.memory_budget_mib / count


def _resources(figures: list[dict[str, object]]) -> ResourceReport:
    """The summary's resource figures over the actors: the largest actor's peak RSS (one process,
    as a single-process run's), the rest summed over the actors."""

    def num(key: str) -> list[float]:
        return [float(v) for f in figures if isinstance(v := f.get(key), int | float)]

    return ResourceReport(
        peak_rss_mib=max(num("peak_rss_mib"), default=0.0),
        peak_children_rss_mib=sum(num("peak_children_rss_mib")),
        peak_live_children=int(sum(num("peak_live_children"))),
        runtime_cpu_s=sum(num("cpu_s")),
        children_cpu_s=sum(num("children_cpu_s")),
        timeline=(),
        sampler_cpu_s=sum(num("sampler_cpu_s")),
        samples=int(sum(num("samples"))),
    )


def _admission(figures: list[dict[str, object]]) -> dict[str, object]:
    """The memory gates' keys over the actors (``--memory-budget``): budgets, waits and overruns
    summed, the longest wait and the largest expected peak the largest of any actor's."""
    reports = [r for f in figures if isinstance(r := f.get("admission"), dict)]
    if not reports:
        return {}
    out: dict[str, object] = {}
    for key in ("memory_budget_mib", "memory_reserved_mib", "admission_wait_s", "admission_overruns"):
        out[key] = round(sum(float(r.get(key) or 0) for r in reports), 4)
    for key in ("admission_max_wait_s", "admitted_expected_peak_mib"):
        out[key] = max(float(r.get(key) or 0) for r in reports)
    out["admission_overruns"] = int(float(str(out["admission_overruns"])))
    return out
