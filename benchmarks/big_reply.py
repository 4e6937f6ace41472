"""Memory cost of one big reply: an N-MiB reply streamed from the simulator through ``OpenAIClient.stream``.

The simulator runs as a separate process (``agentrt sim-server``), so what is printed is the client's
alone: the growth of this process's kernel peak RSS (VmHWM) over the stream, and, with
``--tracemalloc``, the peak of Python's traced allocations during it (slower). The reply is words of
five characters, one simulated token each, as a model's text would stream; ``--tool`` sends it as the
arguments of one tool call instead.

    python benchmarks/big_reply.py --mib 5                 # a 5 MiB text reply
    python benchmarks/big_reply.py --mib 5 --tool          # a 5 MiB tool call
    python benchmarks/big_reply.py --mib 5 --wire responses
    python benchmarks/big_reply.py --mib 5 --tracemalloc   # plus the traced-allocation peak
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

from agentrt.messages import Completion
from agentrt.model.client import OpenAIClient
from agentrt.model.endpoint import Endpoint
from agentrt.model.sim.process import SimProcess


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mib", type=float, default=5.0, help="reply size in MiB (default 5)")
    p.add_argument("--tool", action="store_true", help="send the reply as one tool call's arguments")
    p.add_argument(
        "--wire", choices=("chat", "responses"), default="chat", help="the wire API (default chat)"
    )
    p.add_argument("--tracemalloc", action="store_true", help="also report the traced-allocation peak")
    p.add_argument(
        "--max-reply-mib",
        type=float,
        default=64.0,
        help="the client's max_reply_chars for this run, in Mi characters (default 64)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    return p.parse_args()


def reply_text(size: int) -> str:
    return ("abcd " * (size // 5 + 1))[:size]


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs); False when not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def stream_once(url: str, wire: str, max_reply_chars: int) -> tuple[Completion, int, int, int | None]:
    """The completion, the events streamed, VmHWM (KiB) and the traced peak (bytes, while tracing)."""
    endpoint = Endpoint(url, "agentrt-sim", simulated=True, wire_api=wire)
    client = OpenAIClient(endpoint, max_reply_chars=max_reply_chars)
    messages = [{"role": "user", "content": "a big reply please"}]
    try:
        events = 0
        completion: Completion | None = None
        async for event in client.stream(messages):
            events += 1
            if isinstance(event, Completion):
                completion = event
        assert completion is not None
        # Read here: tearing the event loop down allocates on its own.
        traced = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else None
        return completion, events, vm_kib("VmHWM"), traced
    finally:
        await client.aclose()


def main() -> None:
    args = parse_args()
    size = int(args.mib * 1024 * 1024)
    text = reply_text(size)
    reply: dict[str, object] = {"content": text}
    if args.tool:
        reply = {"tool_calls": [{"name": "write", "arguments": json.dumps({"text": text})}]}
    script = Path(tempfile.mkstemp(suffix=".json", prefix="agentrt-big-reply-")[1])
    script.write_text(json.dumps([reply]))
    del text, reply
    try:
        with SimProcess(["--policy", "script", "--script", str(script)]) as sim:
            stats = measure(sim.url, size, args)
    finally:
        script.unlink(missing_ok=True)
    if args.json:
        print(json.dumps(stats))
        return
    lines = [
        f"one {args.mib:g} MiB {'tool call' if args.tool else 'text reply'} through OpenAIClient.stream "
        f"({args.wire} wire, simulated model, separate process)",
        f"  events               {stats['events']}",
        f"  wall                 {stats['wall_s']} s",
        f"  RSS before           {stats['rss_before_mib']} MiB",
        f"  peak RSS growth      {stats['peak_rss_growth_mib']} MiB  ({stats['peak_rss_growth_x']}x the reply)",
    ]
    if "traced_peak_mib" in stats:
        lines.append(
            f"  traced peak          {stats['traced_peak_mib']} MiB  ({stats['traced_peak_x']}x the reply)"
        )
    print("\n".join(lines))


def measure(url: str, size: int, args: argparse.Namespace) -> dict[str, object]:
    rss_before = vm_kib("VmRSS")
    if not reset_hwm():
        rss_before = vm_kib("VmHWM")  # growth is then measured from the earlier peak
    if args.tracemalloc:
        tracemalloc.start()
    t0 = time.perf_counter()
    max_chars = int(args.max_reply_mib * 1024 * 1024)
    completion, events, hwm, traced_peak = asyncio.run(stream_once(url, args.wire, max_chars))
    wall = time.perf_counter() - t0
    tracemalloc.stop()
    growth_mib = (hwm - rss_before) / 1024
    got = len(completion.content) + sum(len(c.arguments) for c in completion.tool_calls)
    stats: dict[str, object] = {
        "reply_mib": round(size / 2**20, 2),
        "received_mib": round(got / 2**20, 2),
        "tool": args.tool,
        "wire": args.wire,
        "events": events,
        "wall_s": round(wall, 2),
        "rss_before_mib": round(rss_before / 1024, 1),
        "peak_rss_growth_mib": round(growth_mib, 1),
        "peak_rss_growth_x": round(growth_mib * 2**20 / size, 2),
        "simulated": True,
    }
    if traced_peak is not None:
        stats["traced_peak_mib"] = round(traced_peak / 2**20, 1)
        stats["traced_peak_x"] = round(traced_peak / size, 2)
    return stats


if __name__ == "__main__":
    main()
