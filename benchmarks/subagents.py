"""Issue 13's targets for sub-agents, measured: peak RSS per additional live sub-agent (≤ 1 MiB, 100
children of one parent, simulated model) and the time to spawn one (≤ 5 ms).

Runs ``agentrt bench subagents`` in fresh processes with 0 and N helpers (``--repeat`` times each) and
compares their peak RSS (``VmHWM``): (peak with N − peak with 0) / N is what one more live helper adds
to the process's peak. Spawn times are each ``spawn_agent`` call's wall time inside the runtime.

    .venv/bin/python benchmarks/subagents.py [--children 100] [--repeat 3] [--sandbox MODE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

RSS_TARGET_KIB = 1024.0
SPAWN_TARGET_MS = 5.0


def measure(children: int, sandbox: str) -> dict[str, object]:
    argv = [sys.executable, "-m", "agentrt", "bench", "subagents", "--json", "--children", str(children)]
    out = subprocess.run(
        [*argv, "--sandbox", sandbox], check=True, capture_output=True, text=True, timeout=600
    )
    (run,) = json.loads(out.stdout)
    return dict(run)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--children", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sandbox", default="danger-full-access")
    args = parser.parse_args()
    base = [measure(0, args.sandbox) for _ in range(args.repeat)]
    full = [measure(args.children, args.sandbox) for _ in range(args.repeat)]
    peak0 = statistics.median(float(r["peak_rss_mib"]) for r in base)  # type: ignore[arg-type]
    peakn = statistics.median(float(r["peak_rss_mib"]) for r in full)  # type: ignore[arg-type]
    per_peak_kib = (peakn - peak0) * 1024 / args.children
    per_live_kib = statistics.median(float(r["rss_per_live_child_kib"]) for r in full)  # type: ignore[arg-type]
    spawn_median = statistics.median(float(r["spawn_ms_median"]) for r in full)  # type: ignore[arg-type]
    spawn_max = max(float(r["spawn_ms_max"]) for r in full)  # type: ignore[arg-type]
    print(f"sub-agents: {args.children} helpers of one parent, simulated model, sandbox {args.sandbox}, "
          f"median of {args.repeat} fresh processes each")  # fmt: skip
    print(f"  peak RSS, parent alone:          {peak0:.2f} MiB")
    print(f"  peak RSS, {args.children} live helpers:      {peakn:.2f} MiB")
    ok = "ok" if per_peak_kib <= RSS_TARGET_KIB else "OVER"
    print(
        f"  peak RSS per additional helper:  {per_peak_kib:.1f} KiB  (target <= {RSS_TARGET_KIB:.0f} KiB: {ok})"
    )
    print(f"  RSS per live helper (in-run):    {per_live_kib:.1f} KiB")
    ok = "ok" if spawn_max <= SPAWN_TARGET_MS else "OVER"
    print(f"  spawn_agent wall time:           median {spawn_median:.3f} ms, max {spawn_max:.3f} ms  "
          f"(target <= {SPAWN_TARGET_MS:.0f} ms: {ok})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
