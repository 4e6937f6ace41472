"""Spawn cost of agentrt's sandboxes: N sequential ``/bin/true`` under bwrap, Landlock and none.

Usage: ``python benchmarks/sandbox_spawn.py [-n 200] [--mode workspace-write] [--via run_command]``

Each mechanism gets the same workspace-write policy (in a fresh temp dir) and its default limits
(so the bwrap path includes the pids-cgroup join and ``prlimit`` where they apply). By default each
command is started with ``subprocess.run`` (spawn + wait: the sandbox's own cost); ``--via
run_command`` measures through agentrt's async ``run_command`` instead. Prints p50/p95/max in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from agentrt.interfaces import Sandbox
from agentrt.sandbox import NoSandbox, SandboxUnavailable, choose_sandbox, policy_for, run_command


def measure(box: Sandbox, cwd: Path, n: int, via: str) -> list[float]:
    argv = box.wrap(["/bin/true"], cwd)
    env = {"PATH": "/usr/bin:/bin"}
    times: list[float] = []
    for _ in range(n):
        start = time.perf_counter()
        if via == "run_command":
            result = asyncio.run(run_command(["/bin/true"], cwd=cwd, env=env, sandbox=box))
            ok = result.ok
        else:
            ok = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, check=False).returncode == 0
        times.append((time.perf_counter() - start) * 1000)
        if not ok:
            raise SystemExit(f"{box.name}: /bin/true failed")
    return times


def summary(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{name:<9} n={len(times):<4} p50={statistics.median(ordered):6.2f} ms  p95={p95:6.2f} ms  max={ordered[-1]:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="commands per mechanism (default 200)")
    parser.add_argument("--mode", default="workspace-write", choices=("read-only", "workspace-write"))
    parser.add_argument("--via", default="subprocess", choices=("subprocess", "run_command"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentrt-bench-") as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        policy = policy_for(args.mode, ws, home=Path(tmp) / "home", raw={})
        print(f"{args.n} x /bin/true, {args.mode}, via {args.via}")
        for name in ("bwrap", "landlock", "none"):
            try:
                box = NoSandbox() if name == "none" else choose_sandbox(policy, mechanisms=(name,))
            except SandboxUnavailable as exc:
                print(f"{name:<9} unavailable: {exc}")
                continue
            try:
                measure(box, ws, 5, args.via)
                print(summary(name, measure(box, ws, args.n, args.via)))
            finally:
                getattr(box, "close", lambda: None)()


if __name__ == "__main__":
    main()
