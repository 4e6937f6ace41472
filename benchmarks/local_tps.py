"""Throughput of the local llama.cpp server under an agent-shaped load, one server setting at a time.

    python benchmarks/local_tps.py [--model NAME] [--threads N] [--variants a,b,…] [--rounds R]
                                   [--tasks K] [--concurrency C] [--max-tokens T]

Each variant starts the server with agentrt's own command line (``model.local.llama_command``) plus the
variant's options, then runs K HumanEval prompts as C concurrent agents, each an exchange of two
requests like the contract loop's first attempt and retry: the task, then the same conversation with
the reply and a test failure appended (a shared prefix: what prompt caching can reuse). Greedy sampling
and a reply cap make every variant generate (almost) the same tokens, so wall time compares settings.
Variants alternate round by round (A B C A B C…) so drift in a shared machine's load spreads evenly.

Per variant: completion tokens over wall time (the throughput a benchmark run sees: queueing, prompt
processing and generation together), the median time to first token of first and of follow-up requests
(prompt processing plus the queue), and the server's peak RSS. llama-cpp-python's server has one
context and answers one request at a time, so parallel slots are not a setting here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field

from agentrt.bench.dataset import load_humaneval
from agentrt.config import agentrt_home
from agentrt.messages import Completion, TextDelta
from agentrt.model.client import OpenAIClient
from agentrt.model.endpoint import Endpoint, Timeouts
from agentrt.model.local import serve_model

VARIANTS: dict[str, list[str]] = {
    "default": [],  # what agentrt starts: batch 512, the prompt cache capped at 2 GiB (counted whole)
    "no-cache": ["--cache", "False"],  # what agentrt started before the measurement below
    "cache-512m": ["--cache_size", str(512 * 2**20)],
    "cache-1g": ["--cache_size", str(2**30)],
    "cache-2g": ["--cache_size", str(2 * 2**30)],  # the server's own cache size
    "batch-128": ["--n_batch", "128", "--n_ubatch", "128"],
    "batch-1024": ["--n_batch", "1024", "--n_ubatch", "1024"],
    "flash-attn": ["--flash_attn", "True"],
}
SYSTEM = "Complete the Python function. Reply with the whole function in one ```python block, nothing else."
FAILURE = (
    "The tests failed:\n\nE       AssertionError: assert candidate([1, 2, 3]) == 6\n\n"
    "Find the cause, then write the whole function again in one ```python block."
)


@dataclass
class Tally:
    wall_s: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    ttft_first: list[float] = field(default_factory=list)
    ttft_follow: list[float] = field(default_factory=list)
    peak_rss_mib: list[float] = field(default_factory=list)


async def _ask(client: OpenAIClient, messages: list[dict[str, str]]) -> tuple[str, int, float]:
    """(the reply, its completion tokens, seconds to its first token)."""
    started = time.perf_counter()
    first: float | None = None
    async for event in client.stream(messages):  # type: ignore[arg-type]
        if isinstance(event, TextDelta) and first is None:
            first = time.perf_counter() - started
        elif isinstance(event, Completion):
            return event.content or "", event.usage.completion_tokens, first or 0.0
    raise RuntimeError("the stream ended without a completion")


async def _agent(client: OpenAIClient, prompt: str, tally: Tally) -> int:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
    reply, tokens, ttft = await _ask(client, messages)
    tally.ttft_first.append(ttft)
    messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": FAILURE}]
    _, more, ttft = await _ask(client, messages)
    tally.ttft_follow.append(ttft)
    return tokens + more


async def _round(args: argparse.Namespace, variant: str, prompts: list[str], tally: Tally) -> None:
    home = agentrt_home(os.environ)
    async with serve_model(
        home, args.model, os.environ, stderr=sys.stderr, n_ctx=args.ctx, n_threads=args.threads,
        server_args=VARIANTS[variant],
    ) as server:  # fmt: skip
        client = OpenAIClient(
            Endpoint(server.base_url, args.model),
            params={"temperature": 0, "max_tokens": args.max_tokens},
            timeouts=Timeouts(headers_s=1800.0, idle_s=1800.0),
        )
        queue = list(prompts)
        tokens = 0

        async def worker() -> None:
            nonlocal tokens
            while queue:
                tokens += await _agent(client, queue.pop(0), tally)

        started = time.perf_counter()
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(args.concurrency):
                    group.create_task(worker())
        finally:
            await client.aclose()
        tally.wall_s.append(time.perf_counter() - started)
        tally.tokens.append(tokens)
        rss = server.peak_rss_mib()
        if rss is not None:
            tally.peak_rss_mib.append(rss)
    print(
        f"  {variant:<11} {tokens:5d} tokens in {tally.wall_s[-1]:6.1f} s = {tokens / tally.wall_s[-1]:5.2f} tok/s",
        file=sys.stderr,
        flush=True,
    )


def _report(tallies: dict[str, Tally]) -> None:
    base = next(iter(tallies.values()), None)  # ratios against the first variant given
    base_tps = sum(base.tokens) / sum(base.wall_s) if base else None
    print(f"{'variant':<11} {'tokens':>7} {'wall s':>8} {'tok/s':>6} {'vs first':>10} "
          f"{'TTFT 1st':>8} {'TTFT next':>9} {'peak RSS':>9}")  # fmt: skip
    for name, t in tallies.items():
        tps = sum(t.tokens) / sum(t.wall_s)
        ratio = f"{tps / base_tps:.2f}x" if base_tps else "-"
        rss = f"{max(t.peak_rss_mib):.0f} MiB" if t.peak_rss_mib else "-"
        print(
            f"{name:<11} {sum(t.tokens):7d} {sum(t.wall_s):8.1f} {tps:6.2f} {ratio:>10} "
            f"{statistics.median(t.ttft_first):7.2f}s {statistics.median(t.ttft_follow):8.2f}s {rss:>9}"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="qwen2.5-coder-1.5b")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ctx", type=int, default=4096, help="n_ctx (default 4096, as bench humaneval --local)")
    p.add_argument(
        "--variants", default="default,cache,batch-128,batch-1024", help=f"of {', '.join(VARIANTS)}"
    )
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--tasks", type=int, default=4, help="HumanEval prompts per round (default 4)")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--max-tokens", type=int, default=192)
    args = p.parse_args()
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    prompts = [task.spec for task in load_humaneval(limit=args.tasks)]
    tallies = {name: Tally() for name in names}
    print(
        f"local_tps: {args.model}, {args.threads} threads, n_ctx {args.ctx}, {args.tasks} tasks x 2 requests, "
        f"concurrency {args.concurrency}, reply cap {args.max_tokens}, {args.rounds} round(s)",
        file=sys.stderr,
    )
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
        for name in names:
            asyncio.run(_round(args, name, prompts, tallies[name]))
    _report(tallies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
