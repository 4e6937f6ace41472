"""Fault soak: exec turns and benchmark tasks against the simulator with a seeded share of every
retryable fault (rate limits, 5xx, hangs, stalls, cut and dropped streams) on any request.

Each exec turn is a real ``agentrt exec`` session run in this process (config, sandbox, tools,
rollout, JSONL): the model's first reply calls ``shell`` to append one line to a log, the second
answers. Each benchmark task is a contract-loop task of ``agentrt bench humaneval``. Printed:

* completed — the turn answered (exit 0) / the task passed;
* bounded   — it ended (either way) within its time bound;
* lost      — it ended without an answer (turn.failed, an error row);
* acted on from a broken stream — shell calls that ran more often than the replies that asked for them;
* processes left behind, rollouts that cannot be resumed.

Targets (issue "Nothing outlives the agent…"): with 30 % faults over >= 500 exec turns and >= 200
tasks, >= 99 % complete, 100 % bounded, 0 acted on from a broken stream, 0 left behind, 0 unresumable.

    python benchmarks/fault_soak.py                         # 500 turns, 200 tasks, 30 % faults
    python benchmarks/fault_soak.py --turns 50 --tasks 20   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RETRYABLE = ("rate_limit", "server_error", "hang", "stall", "truncate", "disconnect")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--turns", type=int, default=500, help="exec turns (default 500)")
    p.add_argument("--tasks", type=int, default=200, help="benchmark tasks (default 200, 100 per sitting)")
    p.add_argument("--fault-rate", type=float, default=0.3, help="share of requests with a fault (0.3)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--concurrency", type=int, default=20, help="exec turns at once (default 20)")
    p.add_argument("--idle-ms", type=int, default=1500, help="the provider's stream idle timeout (1500)")
    p.add_argument("--bound-s", type=float, default=120.0, help="the time bound of one turn or task (120)")
    return p.parse_args()


@dataclass
class Tally:
    total: int = 0
    completed: int = 0
    bounded: int = 0
    lost: int = 0
    broken_stream_calls: int = 0
    unresumable: int = 0

    def line(self, name: str) -> str:
        pct = 100 * self.completed / self.total if self.total else 0.0
        return (
            f"{name:<10} {self.total:>5}   completed {self.completed:>5} ({pct:5.1f} %)   "
            f"bounded {self.bounded:>5}   lost {self.lost:>4}   acted on from a broken stream "
            f"{self.broken_stream_calls}   unresumable {self.unresumable}"
        )


def provider_home(root: Path, url: str, idle_ms: int) -> Path:
    home = root / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        'model = "agentrt-sim"\nmodel_provider = "sim"\n\n[model_providers.sim]\nname = "simulator"\n'
        f'base_url = "{url}"\nrequires_api_key = false\nstream_idle_timeout_ms = {idle_ms}\n'
        "request_max_retries = 8\nstream_max_retries = 8\n"
    )
    return home


async def one_turn(index: int, root: Path, home: Path, bound_s: float, tally: Tally) -> None:
    from agentrt.agent.session import ExecOptions, _run
    from agentrt.sandbox.none import NoSandbox
    from agentrt.sandbox.process import run_command

    repo = root / f"repo{index:04d}"
    repo.mkdir()
    await run_command(["git", "init", "-q", str(repo)], cwd=repo, sandbox=NoSandbox(), timeout_s=30)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
    env["AGENTRT_HOME"] = str(home)
    options = ExecOptions(
        prompt="log once", cwd=repo, json=True, extra_flags={"sandbox_mode": "workspace-write"}
    )
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    try:
        code = await asyncio.wait_for(_run(options, env, out, err), timeout=bound_s)
    except Exception as exc:  # a turn that raised is lost, and says why
        code = -1
        err.write(f"{type(exc).__name__}: {exc}")
    elapsed = time.monotonic() - started
    tally.total += 1
    tally.bounded += elapsed <= bound_s
    events = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    if code == 0 and events and events[-1]["type"] == "turn.completed":
        tally.completed += 1
    else:
        tally.lost += 1
        print(f"  turn {index} lost: {err.getvalue().strip()[-200:]}", file=sys.stderr)
    log = repo / "calls.log"
    calls = len(log.read_text().splitlines()) if log.exists() else 0
    tally.broken_stream_calls += max(0, calls - 1)
    started_events = [e for e in events if e["type"] == "thread.started"]
    tally.unresumable += not resumable(home, started_events[0]["thread_id"] if started_events else None)


def resumable(home: Path, thread_id: str | None) -> bool:
    """The turn's rollout reads back as a history that a resume can send."""
    from agentrt.agent.rollout import find_session, history_from_rollout, read_rollout

    if thread_id is None:
        return False
    try:
        history_from_rollout(read_rollout(find_session(home, thread_id)))
    except ValueError:
        return False
    return True


async def exec_soak(args: argparse.Namespace, root: Path) -> Tally:
    from agentrt.model.sim import SimConfig, start_sim_server

    script = (
        {
            "tool_calls": [
                {"name": "shell", "arguments": {"command": ["sh", "-c", "echo called >> calls.log"]}}
            ]
        },
        {"content": "Logged once."},
    )
    sim = SimConfig(
        policy="script", script=script, seed=args.seed, fault_rate=args.fault_rate, fault_mix=RETRYABLE,
        retry_after_s=0.05,
    )  # fmt: skip
    tally = Tally()
    async with await start_sim_server(sim) as server:
        home = provider_home(root, server.base_url, args.idle_ms)
        gate = asyncio.Semaphore(args.concurrency)

        async def gated(i: int) -> None:
            async with gate:
                await one_turn(i, root, home, args.bound_s, tally)

        async with asyncio.TaskGroup() as group:
            for i in range(args.turns):
                group.create_task(gated(i))
    return tally


async def bench_soak(args: argparse.Namespace, root: Path) -> Tally:
    from agentrt.bench.dataset import load_humaneval
    from agentrt.bench.humaneval.loop import LoopConfig
    from agentrt.bench.runner import BenchConfig, run_bench
    from agentrt.config.providers import ProviderConfig
    from agentrt.model.sim import SimConfig, start_sim_server

    tally = Tally()
    sittings = max(1, (args.tasks + 99) // 100)
    for sitting in range(sittings):
        tasks = load_humaneval(limit=min(100, args.tasks - 100 * sitting))
        sim = SimConfig(
            tasks=tuple(t.as_dict() for t in tasks), seed=args.seed + sitting, fault_rate=args.fault_rate,
            fault_mix=RETRYABLE, retry_after_s=0.05,
        )  # fmt: skip
        async with await start_sim_server(sim) as server:
            provider = ProviderConfig(
                "sim", "simulator", server.base_url, requires_api_key=False,
                stream_idle_timeout_ms=args.idle_ms, request_max_retries=8, stream_max_retries=8,
            )  # fmt: skip
            env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
            config = BenchConfig(
                tasks, root / f"bench{sitting}", LoopConfig(confine=None, test_env=env), concurrency=50,
                provider=provider, model=sim.model, env=env,
            )  # fmt: skip
            outcome = await run_bench(config)
        for row in outcome.results:
            tally.total += 1
            tally.completed += row.status == "passed"
            tally.lost += row.status == "error"
            tally.bounded += row.wall_s <= args.bound_s
    return tally


def leftovers() -> list[int]:
    from agentrt.sandbox.hygiene import own_children

    return sorted(own_children())


def main() -> None:
    args = parse_args()
    from agentrt.sandbox import become_subreaper

    become_subreaper()
    with tempfile.TemporaryDirectory(prefix="agentrt-soak-") as tmp:
        root = Path(tmp)
        started = time.monotonic()
        turns = asyncio.run(exec_soak(args, root)) if args.turns else Tally()
        tasks = asyncio.run(bench_soak(args, root)) if args.tasks else Tally()
        subprocess.run(["sleep", "0.5"], check=False)  # let reaped children go
        left = leftovers()
    print(f"fault soak: {args.fault_rate:.0%} of requests faulted ({', '.join(RETRYABLE)}), seed {args.seed}")
    print(turns.line("exec turns"))
    print(tasks.line("bench tasks"))
    print(f"processes left behind: {len(left)}   wall {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
