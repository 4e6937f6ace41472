"""``agentrt sim-server``: the deterministic simulated OpenAI-compatible model, on loopback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agentrt.cli import Subparsers
from agentrt.model.sim.config import FAULT_MODES, POLICIES


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "sim-server",
        help="serve the simulated model (OpenAI-compatible, loopback only)",
        description="Serve agentrt's deterministic simulated model at http://127.0.0.1:PORT/v1. "
        "Everything it serves is simulated: use it to measure the runtime with the model held fixed.",
    )
    p.add_argument("--port", type=int, default=8765, help="TCP port (0 = pick a free one; default 8765)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--policy", choices=sorted(POLICIES), default="humaneval")
    p.add_argument(
        "--dataset",
        type=Path,
        help="tasks JSON for the humaneval and coding-agent policies (default: the built-in 100)",
    )
    p.add_argument("--script", type=Path, help="JSON list of replies for the script policy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--fail-rate", type=float, default=0.15, help="share of tasks whose first attempt is wrong"
    )
    p.add_argument("--ttft-ms", type=float, default=0.0, help="time to first token, ms")
    p.add_argument("--tps", type=float, default=0.0, help="tokens per second per stream (0 = unpaced)")
    p.add_argument("--model", default="agentrt-sim", help="the model id served (default agentrt-sim)")
    p.add_argument("--api-key", help="require this bearer key")
    p.add_argument(
        "--fault",
        choices=sorted(FAULT_MODES),
        help="inject this fault into the first --fault-count chat requests",
    )
    p.add_argument("--fault-count", type=int, default=1, help="requests that get the fault (-1 = all)")
    p.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="chance that any completion request gets a random fault (seeded by --seed; default 0)",
    )
    p.add_argument(
        "--fault-mix",
        default="",
        help="comma-separated fault modes --fault-rate draws from (default: every mode)",
    )
    p.add_argument(
        "--context-window",
        type=int,
        default=0,
        metavar="TOKENS",
        help="refuse requests larger than this with 400 context_length_exceeded (default 0: any size)",
    )
    p.add_argument(
        "--script-step",
        choices=("history", "requests"),
        default="history",
        help="script policy: reply k for the request with k assistant turns (history, default) or for "
        "the k-th request (requests; a request with no tools gets a short summary and takes no step)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from agentrt.bench.dataset import load_humaneval, load_tasks_file
    from agentrt.model.sim import SimConfig, load_script, run_sim_server

    if not 0.0 <= args.fail_rate <= 1.0:
        raise ValueError(f"--fail-rate must be between 0 and 1, got {args.fail_rate}")
    tasks: tuple[dict[str, str], ...] = ()
    script: tuple[dict[str, Any], ...] = ()
    if args.policy in ("humaneval", "coding-agent"):
        loaded = load_tasks_file(args.dataset) if args.dataset else load_humaneval()
        tasks = tuple(t.as_dict() for t in loaded)
    elif args.script is None:
        raise ValueError("--policy script needs --script FILE")
    else:
        script = load_script(args.script)
    config = SimConfig(
        policy=args.policy,
        seed=args.seed,
        fail_rate=args.fail_rate,
        ttft_ms=args.ttft_ms,
        tps=args.tps,
        tasks=tasks,
        script=script,
        fault=args.fault,
        fault_count=args.fault_count,
        fault_rate=args.fault_rate,
        fault_mix=tuple(m for m in args.fault_mix.split(",") if m),
        model=args.model,
        api_key=args.api_key,
        context_window=args.context_window,
        script_step=args.script_step,
    )
    run_sim_server(
        config, host=args.host, port=args.port, ready=lambda line: print(line, file=sys.stderr, flush=True)
    )
    return 0
