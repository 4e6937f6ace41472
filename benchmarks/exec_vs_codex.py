"""One trivial ``exec`` turn against a loopback model: agentrt vs Codex CLI, side by side, same run.

Both talk to agentrt's simulator (Responses API, separate process) which answers with one short
message; each tool runs ``--runs`` times alternately and the medians of peak RSS (the child's
``ru_maxrss`` from ``wait4``) and wall time are printed. Targets: agentrt's peak RSS ≤ 1/3 of Codex's
and its wall time ≤ Codex's. agentrt is byte-compiled first, as an installed copy is.

    python benchmarks/exec_vs_codex.py                       # needs scripts/install-codex-peer
    python benchmarks/exec_vs_codex.py --codex /path/to/codex --runs 9
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
import time
from pathlib import Path

from agentrt.model.sim.process import SimProcess

INSTALLER = Path(__file__).resolve().parent.parent / "scripts" / "install-codex-peer"


def peer_binary() -> Path:
    """$AGENTRT_CODEX_BIN, else what scripts/install-codex-peer installs (or finds) and prints."""
    if os.environ.get("AGENTRT_CODEX_BIN"):
        return Path(os.environ["AGENTRT_CODEX_BIN"])
    out = subprocess.run([str(INSTALLER)], capture_output=True, text=True, check=False)
    return Path(out.stdout.strip() or "codex-not-installed")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument(
        "--codex",
        type=Path,
        help="the codex binary (default: $AGENTRT_CODEX_BIN or scripts/install-codex-peer)",
    )
    p.add_argument("--json", action="store_true")
    return p.parse_args()


def start_sim(work: Path) -> tuple[SimProcess, str]:
    script = work / "script.json"
    script.write_text(json.dumps([{"content": "Hello from the simulated model."}]))
    sim = SimProcess(["--policy", "script", "--script", str(script), "--model", "scripted"])
    return sim, sim.start()


def configure(work: Path, url: str) -> tuple[dict[str, str], dict[str, str]]:
    provider = f'name = "sim"\nbase_url = "{url}"\nwire_api = "responses"\n'
    codex_home, agentrt_home = work / "codex-home", work / "agentrt-home"
    codex_home.mkdir()
    agentrt_home.mkdir()
    (codex_home / "config.toml").write_text(
        f'model = "scripted"\nmodel_provider = "sim"\n[model_providers.sim]\n{provider}env_key = "LOCAL_KEY"\n'
    )
    (agentrt_home / "config.toml").write_text(
        f'model = "scripted"\nmodel_provider = "sim"\n[model_providers.sim]\n{provider}requires_api_key = false\n'
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
    return base | {"CODEX_HOME": str(codex_home), "LOCAL_KEY": "x"}, base | {
        "AGENTRT_HOME": str(agentrt_home)
    }


def measure(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """(peak RSS MiB, wall s, stdout) of one run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed with {proc.returncode}: {out[-500:]}")
    return usage.ru_maxrss / 1024, wall, out


def compile_like_an_install() -> None:
    """Byte-compile agentrt as ``pip install`` does: an editable checkout run with
    ``PYTHONDONTWRITEBYTECODE`` would otherwise compile every module on every start (~30 ms here),
    which no installed agentrt pays (Codex, a compiled binary, pays nothing of the kind either)."""
    import compileall

    import agentrt

    compileall.compile_dir(str(Path(agentrt.__file__).parent), quiet=1)


def main() -> None:
    args = parse_args()
    args.codex = args.codex or peer_binary()
    if not args.codex.exists():
        raise SystemExit(
            f"Codex binary not found at {args.codex}: run scripts/install-codex-peer or pass --codex"
        )
    agentrt_bin = shutil.which("agentrt", path=str(Path(sys.executable).parent)) or "agentrt"
    compile_like_an_install()
    work = Path(tempfile.mkdtemp(prefix="agentrt-vs-codex-"))
    sim, url = start_sim(work)
    try:
        codex_env, agentrt_env = configure(work, url)
        repo = work / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        runs: dict[str, list[tuple[float, float]]] = {"agentrt": [], "codex": []}
        commands = {
            "agentrt": ([agentrt_bin, "exec", "--json", "--ephemeral", "say hi"], agentrt_env),
            "codex": (
                [str(args.codex), "exec", "--json", "--skip-git-repo-check", "-s", "read-only", "say hi"],
                codex_env,
            ),
        }
        for _ in range(args.runs):
            for name, (argv, env) in commands.items():
                rss, wall, out = measure(argv, env, repo)
                if "Hello from the simulated model." not in out:
                    raise SystemExit(f"{name} did not relay the simulated answer: {out[-300:]}")
                runs[name].append((rss, wall))
    finally:
        sim.close()
        shutil.rmtree(work, ignore_errors=True)
    report(runs, args)


def report(runs: dict[str, list[tuple[float, float]]], args: argparse.Namespace) -> None:
    med = {
        n: (statistics.median(r for r, _ in v), statistics.median(w for _, w in v)) for n, v in runs.items()
    }
    (a_rss, a_wall), (c_rss, c_wall) = med["agentrt"], med["codex"]
    result = {
        "runs": args.runs,
        "agentrt_peak_rss_mib": round(a_rss, 1),
        "agentrt_wall_s": round(a_wall, 3),
        "codex_peak_rss_mib": round(c_rss, 1),
        "codex_wall_s": round(c_wall, 3),
        "rss_ratio": round(a_rss / c_rss, 3),
        "wall_ratio": round(a_wall / c_wall, 3),
        "simulated": True,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"one trivial exec turn, simulated model on loopback (Responses API), median of {args.runs}")
    print(f"  agentrt   peak RSS {a_rss:6.1f} MiB   wall {a_wall:.3f} s")
    print(f"  codex     peak RSS {c_rss:6.1f} MiB   wall {c_wall:.3f} s")
    print(
        f"  ratio     RSS {a_rss / c_rss:.2f} (target <= 0.33)   wall {a_wall / c_wall:.2f} (target <= 1.00)"
    )


if __name__ == "__main__":
    main()
