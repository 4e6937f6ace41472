"""Client cost of streaming: N concurrent completions from the simulator, paced at --tps tokens/s each.

The simulator runs as a separate process (``agentrt sim-server``), so the CPU and memory printed
here are agentrt's client alone: ``getrusage(RUSAGE_SELF)`` over the streaming phase and the
kernel's peak RSS (VmHWM) of this process. Target: client CPU <= 25 ms per 1,000 streamed tokens
at 100 streams x 50 tokens/s.

    python benchmarks/stream_client.py                      # 100 streams, 50 tok/s, 200 tokens each
    python benchmarks/stream_client.py --loop uvloop --mode stream
    python benchmarks/stream_client.py --streams 1000 --tokens 100 --loop uvloop --read-interval 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path

from agentrt.model.sim.process import SimProcess


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", type=int, default=100)
    p.add_argument("--tps", type=float, default=50.0, help="tokens/s per stream (0 = unpaced)")
    p.add_argument("--tokens", type=int, default=200, help="tokens per completion")
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    p.add_argument(
        "--mode",
        choices=("complete", "stream"),
        default="complete",
        help="complete(): fold only; stream(): iterate every delta",
    )
    p.add_argument(
        "--impl",
        choices=("agentrt", "httpx", "aiohttp"),
        default="agentrt",
        help="client under test: agentrt's own, or a minimal SSE reader on httpx/aiohttp (comparison only; "
        "install them yourself)",
    )
    p.add_argument(
        "--read-interval",
        type=float,
        default=0.0,
        metavar="MS",
        help="agentrt's client, --mode complete: read each stream at most once per MS after its first token "
        "(ReadPacer; default 0: every piece as it arrives)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    return p.parse_args()


def start_server(tps: float, tokens: int) -> tuple[SimProcess, str, Path]:
    words = " ".join(f"w{i}" for i in range(tokens))
    script = Path(tempfile.mkstemp(suffix=".json", prefix="agentrt-bench-script-")[1])
    script.write_text(json.dumps([{"content": words}]))
    sim = SimProcess(["--policy", "script", "--script", str(script), "--tps", str(tps)])
    return sim, sim.start(), script


def vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def request_body() -> dict[str, object]:
    return {
        "model": "agentrt-sim",
        "messages": [{"role": "user", "content": "stream please"}],
        "stream": True,
    }


def count_sse_line(line: str) -> int:
    """One SSE line of a chat stream: 1 if it carried a content delta."""
    if not line.startswith("data: ") or line == "data: [DONE]":
        return 0
    chunk = json.loads(line[6:])
    return sum(1 for c in chunk.get("choices") or () if (c.get("delta") or {}).get("content"))


def httpx_client(base_url: str) -> tuple[object, object]:
    import httpx

    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=None), timeout=60)

    async def one() -> int:
        n = 0
        async with client.stream("POST", f"{base_url}/chat/completions", json=request_body()) as resp:
            async for line in resp.aiter_lines():
                n += count_sse_line(line)
        return n

    return one, client.aclose


def aiohttp_client(base_url: str) -> tuple[object, object]:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def one() -> int:
        n = 0
        async with session.post(f"{base_url}/chat/completions", json=request_body()) as resp:
            async for raw in resp.content:
                n += count_sse_line(raw.decode().rstrip("\r\n"))
        return n

    return one, session.close


async def run(base_url: str, args: argparse.Namespace) -> dict[str, float]:
    if args.impl != "agentrt":
        one_other, close = (httpx_client if args.impl == "httpx" else aiohttp_client)(base_url)
        return await measure(one_other, close, args)  # type: ignore[arg-type]

    from agentrt.model.client import OpenAIClient
    from agentrt.model.endpoint import Endpoint

    client = OpenAIClient(
        Endpoint(base_url, "agentrt-sim", simulated=True), read_interval_s=args.read_interval / 1000
    )
    messages = [{"role": "user", "content": "stream please"}]

    async def one() -> int:
        if args.mode == "complete":
            return (await client.complete(messages)).usage.completion_tokens
        deltas = 0
        async for event in client.stream(messages):
            deltas += 1
            del event
        return deltas - 1

    return await measure(one, client.aclose, args)


async def measure(one, close, args: argparse.Namespace) -> dict[str, float]:  # type: ignore[no-untyped-def]
    await one()  # warm-up: first connection, first JSON parse
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    counts = await asyncio.gather(*(one() for _ in range(args.streams)))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    await close()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tokens = sum(counts)
    return {
        "streams": args.streams,
        "tokens": tokens,
        "wall_s": round(wall, 3),
        "client_cpu_s": round(cpu, 3),
        "cpu_ms_per_1k_tokens": round(cpu * 1e6 / max(tokens, 1), 2),
        "peak_rss_mib": round(vm_hwm_mib(), 1),
    }


def main() -> None:
    args = parse_args()
    proc, base_url, script = start_server(args.tps, args.tokens)
    try:
        if args.loop == "uvloop":
            import uvloop

            stats = uvloop.run(run(base_url, args))
        else:
            stats = asyncio.run(run(base_url, args))
    finally:
        proc.close()
        script.unlink(missing_ok=True)
    stats_out = {
        "impl": args.impl,
        "loop": args.loop,
        "mode": args.mode,
        "tps": args.tps,
        "read_interval_ms": args.read_interval,
        **stats,
        "simulated": True,
    }
    if args.json:
        print(json.dumps(stats_out))
        return
    print(
        f"{args.streams} streams x {args.tokens} tokens at {args.tps:g} tok/s (simulated model, separate process), "
        f"client={args.impl}, loop={args.loop}, mode={args.mode}, read interval {args.read_interval:g} ms\n"
        f"  tokens received      {stats['tokens']}\n"
        f"  wall                 {stats['wall_s']} s\n"
        f"  client CPU           {stats['client_cpu_s']} s\n"
        f"  CPU per 1k tokens    {stats['cpu_ms_per_1k_tokens']} ms   (target <= 25)\n"
        f"  client peak RSS      {stats['peak_rss_mib']} MiB"
    )


if __name__ == "__main__":
    main()
