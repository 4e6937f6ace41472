"""1,000 contract-loop agents: the runtime's CPU per 1,000 streamed tokens, its peak RSS and the test
runs' CPU, as medians of several runs, per event loop and (optionally) against an older tree.

    .venv/bin/python benchmarks/scale.py                          # 3 runs, the default loop (auto)
    .venv/bin/python benchmarks/scale.py --loops asyncio,uvloop   # each loop named
    .venv/bin/python benchmarks/scale.py --loops uvloop --baseline /tmp/old    # /tmp/old/src: before
    (a baseline older than ``--loop auto`` needs the loops named)
    .venv/bin/python benchmarks/scale.py --runs 1 --keep benchmarks/results/x  # keep each summary
    .venv/bin/python benchmarks/scale.py --read-intervals 0,50    # replies read per token / every 50 ms

Each run is a fresh ``agentrt bench humaneval --repeat 10 --concurrency 1000 --tps 50 --executor fork``
(the simulator in its own process, the default above 100 agents); with ``--baseline TREE`` the runs
alternate between TREE/src (``PYTHONPATH``) and this checkout, so the load of a shared machine falls
on both alike. What each run's summary says is printed as it ends, then the medians. CPU time is
inflated by other load on the machine: compare figures of one sitting. Targets: runtime CPU <= 10 ms
per 1k tokens, runtime peak RSS <= 64 MiB, 0 errors; test runs <= 40 ms CPU each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
COLUMNS = (
    ("runtime_cpu_ms_per_1k_tokens", "ms/1k tok", "{:.1f}"),
    ("runtime_cpu_s", "runtime CPU s", "{:.2f}"),
    ("sampler_cpu_s", "sampler s", "{:.3f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:.1f}"),
    ("test_cpu_ms_per_run", "test ms/run", "{:.1f}"),
    ("wall_s", "wall s", "{:.1f}"),
    ("errors", "errors", "{}"),
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="runs per tree and loop (default 3)")
    p.add_argument(
        "--loops", default="auto", help="event loops, comma-separated: auto (the default's), asyncio, uvloop"
    )
    p.add_argument("--baseline", type=Path, help="another tree (its src/ is run via PYTHONPATH) to compare")
    p.add_argument("--agents", type=int, default=1000, help="concurrency; --repeat is agents / 100")
    p.add_argument("--tmpdir", help="TMPDIR for the runs")
    p.add_argument("--work-dir", help="--work-dir for the runs (where workspaces and private temp dirs go)")
    p.add_argument("--keep", type=Path, help="copy each run's summary JSON into this directory")
    p.add_argument(
        "--read-intervals",
        help="this checkout's --read-interval values to run, comma-separated ms (default: its default); "
        "a baseline tree runs without the flag",
    )
    return p.parse_args()


def run_once(src: Path, loop: str, interval: str | None, args: argparse.Namespace) -> dict[str, object]:
    out = Path(tempfile.mkdtemp(prefix="agentrt-scale-"))
    repeat = max(1, args.agents // 100)
    cmd = [sys.executable, "-m", "agentrt", "bench", "humaneval", "--repeat", str(repeat),
           "--concurrency", str(args.agents), "--tps", "50", "--executor", "fork", "--loop", loop,
           "--no-progress", "--out", str(out)]  # fmt: skip
    if args.work_dir:
        cmd += ["--work-dir", args.work_dir]
    if interval is not None:
        cmd += ["--read-interval", interval]
    env = dict(os.environ, PYTHONPATH=str(src))
    if args.tmpdir:
        env["TMPDIR"] = args.tmpdir
    try:
        done = subprocess.run(cmd, env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True)
        found = sorted((out / "raw").glob("*_summary.json"))
        if not found:
            raise SystemExit(f"the run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(found[-1], args.keep / f"{src.parent.name}_{loop}_{found[-1].name}")
        summary: dict[str, object] = json.loads(found[-1].read_text())
        return summary
    finally:
        shutil.rmtree(out, ignore_errors=True)


def row(label: str, summary: dict[str, object]) -> str:
    cells = [fmt.format(summary.get(key, float("nan"))) for key, _, fmt in COLUMNS]
    return f"{label:30}" + "".join(f"{cell:>15}" for cell in cells)


def main() -> None:
    args = parse_args()
    intervals: list[str | None] = [None] if args.read_intervals is None else args.read_intervals.split(",")
    variants = [("this checkout" + ("" if r is None else f" r{r}"), HERE / "src", r) for r in intervals]
    if args.baseline is not None:
        variants.insert(0, (f"baseline {args.baseline}", args.baseline / "src", None))
    loops = args.loops.split(",")
    results: dict[tuple[str, str], list[dict[str, object]]] = {
        (v[0], lp): [] for v in variants for lp in loops
    }
    print(f"{'run':30}" + "".join(f"{title:>15}" for _, title, _ in COLUMNS), flush=True)
    for i in range(args.runs):
        for loop in loops:
            for name, src, interval in variants:
                summary = run_once(src, loop, interval, args)
                results[(name, loop)].append(summary)
                print(row(f"{name[:18]} {loop} #{i + 1}", summary), flush=True)
    print("\nmedians")
    for (name, loop), runs in results.items():
        medians: dict[str, object] = {
            key: statistics.median(float(str(r[key])) for r in runs if r.get(key) is not None)
            for key, _, _ in COLUMNS
            if any(r.get(key) is not None for r in runs)
        }
        medians["errors"] = max(int(str(r["errors"])) for r in runs)  # the worst run's, not a median
        print(row(f"{name[:18]} {loop}", medians))
        cpu = float(str(medians.get("runtime_cpu_ms_per_1k_tokens", "nan")))
        rss = float(str(medians.get("peak_rss_mib", "nan")))
        test = float(str(medians.get("test_cpu_ms_per_run", "nan")))
        print(
            f"{'':30}targets: CPU {cpu:.1f} ms/1k <= 10: {cpu <= 10}; RSS {rss:.1f} MiB <= 64: "
            f"{rss <= 64}; errors {medians['errors']} (max); test {test:.1f} ms/run <= 40: {test <= 40}"
        )


if __name__ == "__main__":
    main()
