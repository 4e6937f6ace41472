"""``agentrt bench subagents``: what a live sub-agent costs the runtime (issue 13, telemetry).

Each task is one session (the whole ``agentrt exec`` stack, feature ``multi_agent`` on) whose agent
spawns ``children`` helpers in one reply, waits until every one has answered, and answers. The
simulator plays parent and children (``HelpersPolicy``: the reply depends on the request alone), in
process on a loopback port, so every agent talks to it over the session's one HTTP client.

Reported per task: the process's RSS before the spawns and with every helper live (spawned, answered,
not closed), the difference per live helper, the kernel's peak (``VmHWM``), and the wall time of each
``spawn_agent`` call. ``benchmarks/subagents.py`` runs it in fresh processes with 0 and N helpers to
give the peak-RSS cost of one more live helper.
"""

from __future__ import annotations

import asyncio
import io
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentrt.agent.session import SessionOptions, open_session
from agentrt.bench.telemetry import current_rss_mib, peak_rss_mib
from agentrt.events import NullSink
from agentrt.messages import message_text
from agentrt.model.sim.policies import Reply, ToolCallSpec

PARENT_PROMPT = "Benchmark task {task}: have {n} helpers each report one fact, then summarise."
CHILD_PROMPT = "Helper {k} of task {task}: report fact number {k}."


class HelpersPolicy:
    """The simulator's side of the suite: a parent spawns its helpers, waits for them, answers; a
    helper answers at once. Stateless: everything is read from the request's messages."""

    def __init__(self, children: int) -> None:
        self.children = children

    def reply(self, messages: Sequence[dict[str, Any]], allow_fault: bool = True) -> Reply:
        prompts = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
        helper = next((p for p in reversed(prompts) if p.startswith("Helper ")), None)
        if helper is not None:
            return Reply(content=f"{helper.split(':')[0]}: fact reported.")
        task = next(
            (p.split(":")[0].rsplit(" ", 1)[-1] for p in prompts if p.startswith("Benchmark task")), "0"
        )
        outputs = [message_text(m.get("content")) for m in messages if m.get("role") == "tool"]
        spawned = [json.loads(o)["agent_id"] for o in outputs if o.startswith('{"agent_id"')]
        if not spawned and self.children:
            calls = tuple(
                ToolCallSpec("spawn_agent", json.dumps({"message": CHILD_PROMPT.format(k=k, task=task)}))
                for k in range(self.children)
            )
            return Reply(content="Spawning the helpers.", tool_calls=calls)
        done: set[str] = set()
        for output in outputs:
            if output.startswith('{"status"'):
                done.update(json.loads(output)["status"])
        left = [a for a in spawned if a not in done]
        if left:
            wait = json.dumps({"targets": left, "timeout_ms": 600_000})
            return Reply(tool_calls=(ToolCallSpec("wait_agent", wait),))
        return Reply(content=f"All {len(spawned)} helpers reported.")


@dataclass
class SubagentRun:
    """One task's measurements."""

    children: int
    live_children: int
    rss_before_mib: float
    rss_live_mib: float
    rss_per_live_child_kib: float | None
    peak_rss_mib: float
    spawn_ms_median: float | None
    spawn_ms_p95: float | None
    spawn_ms_max: float | None
    wall_s: float
    answer: str


async def run_task(
    children: int, *, task: int = 0, sandbox: str = "danger-full-access", tps: float = 0.0
) -> SubagentRun:
    """One session whose agent spawns ``children`` helpers; its home and repository are temporary."""
    from agentrt.model.sim import SimConfig, start_sim_server

    server = await start_sim_server(SimConfig(policy="script", script=({"content": "unused"},), tps=tps))
    server.app.policy = HelpersPolicy(children)
    try:
        with tempfile.TemporaryDirectory(prefix="agentrt-subagents-") as tmp:
            home, cwd = Path(tmp) / "home", Path(tmp) / "work"
            home.mkdir()
            cwd.mkdir()
            provider = (
                f'model_providers.sim={{name = "agentrt simulator", base_url = "{server.base_url}", '
                'wire_api = "responses", requires_api_key = false}'
            )
            options = SessionOptions(
                cwd=cwd, model="agentrt-sim", skip_git_repo_check=True, enable=("multi_agent",),
                overrides=(provider, f"agents.max_threads={max(children, 1)}", "model_context_window=1000000"),
                extra_flags={"model_provider": "sim", "sandbox_mode": sandbox, "approval_policy": "never"},
            )  # fmt: skip
            env = {"AGENTRT_HOME": str(home), "HOME": tmp, "PATH": "/usr/bin:/bin"}
            async with open_session(options, env, NullSink(), stderr=io.StringIO()) as session:
                rss_before = current_rss_mib()
                started = time.perf_counter()
                answer = await session.run_turn(PARENT_PROMPT.format(task=task, n=children))
                wall = time.perf_counter() - started
                rss_live = current_rss_mib()
                agents = session._agents
                live = agents.live() if agents is not None else 0
                spawns = [s * 1000 for s in agents.spawn_s] if agents is not None else []
    finally:
        await server.close()
    return SubagentRun(
        children=children,
        live_children=live,
        rss_before_mib=round(rss_before, 2),
        rss_live_mib=round(rss_live, 2),
        rss_per_live_child_kib=round((rss_live - rss_before) * 1024 / live, 1) if live else None,
        peak_rss_mib=round(peak_rss_mib(), 2),
        spawn_ms_median=round(statistics.median(spawns), 3) if spawns else None,
        spawn_ms_p95=round(_p95(spawns), 3) if spawns else None,
        spawn_ms_max=round(max(spawns), 3) if spawns else None,
        wall_s=round(wall, 3),
        answer=answer,
    )


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run_suite(
    children: int, tasks: int = 1, *, sandbox: str = "danger-full-access", tps: float = 0.0
) -> list[SubagentRun]:
    """``tasks`` tasks one after another (each its own session), in this process."""
    from agentrt.sandbox import become_subreaper

    become_subreaper()

    async def main() -> list[SubagentRun]:
        return [await run_task(children, task=t, sandbox=sandbox, tps=tps) for t in range(tasks)]

    return asyncio.run(main())


def as_json(runs: Sequence[SubagentRun]) -> str:
    return json.dumps([asdict(r) for r in runs], indent=2)
