"""What feature flags cost: `agentrt features list`'s wall time, and one trivial `exec` turn's peak RSS
with the flags at their defaults, with every agentrt extension off, in parity mode — and, with
``--baseline REV``, the same turn at an earlier commit (the flags' cost on the hot path).

Targets (issue 12): `features list` ≤ 0.2 s; the trivial turn's peak RSS within 1 MiB of the baseline.
Each figure is the median of ``--repeat`` fresh processes (GNU time's max RSS), against a loopback
model server that answers at once; the sources are byte-compiled first, so no run pays compilation.

    python benchmarks/flags.py                       # this checkout
    python benchmarks/flags.py --baseline 70152d8    # and the commit before the flags' extensions
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from capture_server import capture_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_LIST_S = 0.2
TARGET_RSS_MIB = 1.0


def env_for(src: Path, home: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "PYTHONDONTWRITE"))}
    return clean | {"AGENTRT_HOME": str(home), "PYTHONPATH": str(src)}


def peak_mib(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *argv], env=env, cwd=cwd, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return int(done.stderr.strip().splitlines()[-1]) / 1024


def exec_rss(src: Path, flags: list[str], repeat: int) -> float:
    with capture_server([{"text": "done"}] * (repeat + 1)) as server, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "config.toml").write_text(
            f'model = "m"\nmodel_provider = "cap"\n[model_providers.cap]\nname = "c"\nbase_url = "{server.url}"\n'
            'wire_api = "responses"\nrequires_api_key = false\n'
        )
        argv = [sys.executable, "-m", "agentrt", "exec", "--skip-git-repo-check", *flags, "hi"]
        return statistics.median(peak_mib(argv, env_for(src, home), Path(tmp)) for _ in range(repeat))


def list_seconds(src: Path, repeat: int) -> float:
    times = []
    with tempfile.TemporaryDirectory() as home:
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "agentrt", "features", "list"],
                env=env_for(src, Path(home)), check=True, capture_output=True,
            )  # fmt: skip
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def checkout(rev: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    archive = into / "src.tar"
    with open(archive, "wb") as fh:
        subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", metavar="REV", help="also measure the trivial turn at git revision REV")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = ROOT / "src"
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True)
        took = list_seconds(src, args.repeat)
        print(f"agentrt features list: {took:.3f} s median of {args.repeat} (target <= {TARGET_LIST_S} s)")
        rows = [
            ("defaults", exec_rss(src, [], args.repeat)),
            ("--disable cost_tracking", exec_rss(src, ["--disable", "cost_tracking"], args.repeat)),
            ("--parity", exec_rss(src, ["--parity"], args.repeat)),
        ]
        if args.baseline:
            old = checkout(args.baseline, Path(tmp) / "baseline")
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(old)], check=True)
            rows.append((f"baseline {args.baseline}", exec_rss(old, [], args.repeat)))
        print("one trivial exec turn, peak RSS (median):")
        for label, mib in rows:
            print(f"  {label:<26} {mib:6.2f} MiB")
        if args.baseline:
            delta = rows[0][1] - rows[-1][1]
            verdict = "within" if abs(delta) <= TARGET_RSS_MIB else "OVER"
            print(f"  defaults vs baseline: {delta:+.2f} MiB ({verdict} the {TARGET_RSS_MIB:g} MiB target)")


if __name__ == "__main__":
    main()
