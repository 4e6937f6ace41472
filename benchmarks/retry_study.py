"""Which retry strategy recovers first-attempt failures: run the tasks a recorded run failed on its
first attempt once per strategy and print how many each recovered.

    python benchmarks/retry_study.py --from RUN_DIR [--strategies a,b,…] [--out DIR] [-- BENCH ARGS…]

RUN_DIR is a recorded ``agentrt bench humaneval`` run (its newest CSV is read): the study's tasks are
those with a row that did not pass on the first attempt (error rows are left out: they say nothing
about the model). Each strategy is one ``agentrt bench humaneval --dataset SUBSET`` run with its
``--retry-*`` flags, written to ``OUT/<strategy>``; arguments after ``--`` go to every run (default
``--local --local-threads 2 --concurrency 2``). The first attempt is the same in every run (greedy
sampling is deterministic), so what differs between strategies is what the retries recover.

Runs take a while on a local model (about 2–6 minutes a task on 2 cores); a finished strategy's
directory is reused (``--resume``), so an interrupted study continues where it stopped.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

STRATEGIES: dict[str, list[str]] = {
    # Greedy retries in the continued conversation, pytest's output fed back: the loop before strategies.
    "greedy": ["--retry-temperature", "0", "--retry-feedback", "output", "--no-retry-reason", "--retry-context", "continue"],
    # Only sampling changes.
    "sampled": ["--retry-temperature", "0.7", "--retry-seed", "0", "--retry-feedback", "output", "--no-retry-reason", "--retry-context", "continue"],
    # Sampling and the failing assertion, in the continued conversation.
    "sampled-assertion": ["--retry-temperature", "0.7", "--retry-seed", "0", "--retry-feedback", "assertion", "--no-retry-reason", "--retry-context", "continue"],
    # Sampled, the assertion, reason first, a fresh conversation showing the last answer's code.
    "fresh-reason": ["--retry-temperature", "0.7", "--retry-seed", "0", "--retry-feedback", "assertion", "--retry-reason", "--retry-context", "fresh", "--retry-code"],
    # As fresh-reason, but the retry is not shown the wrong code: the task and the failing check alone
    # (the --local default).
    "fresh-reason-nocode": ["--retry-temperature", "0.7", "--retry-seed", "0", "--retry-feedback", "assertion", "--retry-reason", "--retry-context", "fresh", "--no-retry-code"],
}  # fmt: skip
DEFAULT_BENCH = ["--local", "--local-threads", "2", "--concurrency", "2"]


def main() -> int:
    argv = sys.argv[1:]
    bench_args = DEFAULT_BENCH
    if "--" in argv:
        at = argv.index("--")
        argv, bench_args = argv[:at], argv[at + 1 :]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--from", dest="run_dir", type=Path, required=True, help="a recorded run's --out directory"
    )
    p.add_argument(
        "--strategies", default=",".join(STRATEGIES), help=f"comma-separated, of: {', '.join(STRATEGIES)}"
    )
    p.add_argument("--out", type=Path, default=Path("retry-study"), help="where each strategy's run goes")
    p.add_argument("--table-only", action="store_true", help="print the table of the runs already in --out")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        p.error(f"unknown strategies {', '.join(unknown)}; known: {', '.join(STRATEGIES)}")
    ids = first_attempt_failures(args.run_dir)
    if not ids:
        print(f"{args.run_dir}: no task failed its first attempt; nothing to study", file=sys.stderr)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    subset = args.out / "tasks.json"
    write_subset(ids, subset)
    print(f"{len(ids)} first-attempt failures of {args.run_dir}: {', '.join(ids)}", file=sys.stderr)
    for name in names if not args.table_only else ():
        run_strategy(name, subset, args.out / name, bench_args)
    print(table(names, args.out, len(ids)))
    return 0


def first_attempt_failures(run_dir: Path) -> list[str]:
    """Ids of the tasks whose row in the run's newest CSV did not pass on the first attempt."""
    csvs = sorted(p for p in (run_dir / "raw").glob("python_*.csv") if not p.name.endswith("_timeline.csv"))
    if not csvs:
        raise SystemExit(f"{run_dir}: no raw/python_*.csv (is it a bench humaneval --out directory?)")
    with csvs[-1].open() as f:
        rows = list(csv.DictReader(f))
    return [
        r["id"]
        for r in rows
        if r["status"] in ("passed", "failed") and r["first_attempt_pass"].lower() != "true"
    ]


def write_subset(ids: list[str], path: Path) -> None:
    from agentrt.bench.dataset import load_humaneval

    by_id = {t.id: t for t in load_humaneval(limit=164)}
    path.write_text(json.dumps([by_id[i].as_dict() for i in ids], indent=1))


def run_strategy(name: str, subset: Path, out: Path, bench_args: list[str]) -> None:
    base = [sys.executable, "-m", "agentrt", "bench", "humaneval", "--dataset", str(subset), "--no-progress"]
    where = ["--resume", str(out)] if (out / "raw").is_dir() else ["--out", str(out)]
    command = [*base, *bench_args, *STRATEGIES[name], *where]
    print(f"== {name}: {' '.join(command[2:])}", file=sys.stderr, flush=True)
    done = subprocess.run(command, check=False)
    if done.returncode not in (0, 1):
        print(f"== {name}: exit {done.returncode}", file=sys.stderr)


def table(names: list[str], out: Path, n: int) -> str:
    lines = [
        f"retry study on {n} first-attempt failures",
        f"{'strategy':<20}{'tasks':>6}{'1st ok':>8}{'1st failed':>11}{'recovered':>10}{'share':>8}{'tokens':>9}{'wall s':>9}",
    ]
    for name in names:
        summary = newest_summary(out / name)
        if summary is None:
            lines.append(f"{name:<20}  (not run)")
            continue
        first, recovered = int(summary["first_attempt"]), int(summary["recovered"])
        failed_first = int(summary["tasks"]) - first - int(summary.get("errors", 0))
        share = f"{recovered / failed_first:.0%}" if failed_first else "-"
        tokens = summary.get("completion_tokens", "-")
        lines.append(
            f"{name:<20}{summary['tasks']:>6}{first:>8}{failed_first:>11}{recovered:>10}{share:>8}"
            f"{tokens!s:>9}{float(summary['wall_s']):>9.0f}"
        )
    return "\n".join(lines)


def newest_summary(run: Path) -> dict[str, object] | None:
    files = sorted((run / "raw").glob("python_*_summary.json"))
    return json.loads(files[-1].read_text()) if files else None


if __name__ == "__main__":
    raise SystemExit(main())
