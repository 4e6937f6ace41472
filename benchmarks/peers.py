"""The same 100 HumanEval tasks, the same simulator, the same pacing, through each peer; one table.

Peers: ``agentrt-loop`` (``agentrt bench humaneval --base-url …``, the contract loop, default spawn
executor, sandboxed), ``agentrt-fork`` (the same with ``--executor fork``), ``agentrt-exec`` (``--agent
exec``, the full coding agent), ``naive`` (``naive_stack.py``: the ``openai`` SDK + asyncio +
subprocess pytest, unsandboxed; needs ``openai``, ``pip install 'agentrt[peers]'``, or name an
interpreter that has it with ``--naive-python``) and ``codex`` (one ``codex exec`` process per task,
``-s workspace-write``, through ``codex_proxy.py``; needs ``scripts/install-codex-peer``).

The simulator runs as its own process for every peer (``SimProcess``), so no peer pays for it; its
``--tps``/``--ttft-ms``/``--seed``/``--fail-rate`` are the same for all. The contract-loop peers get
the ``humaneval`` policy, the agent peers the ``coding-agent`` policy. Each peer is measured from
outside by one sampler (``--interval``): the runtime (the peer's process; for codex the sum over its
live ``codex`` processes) and its descendants (pytest, bash, bwrap…): peak RSS of each, CPU (own,
last read from ``/proc``; children: ``wait4`` total minus own) and, for codex, the summed PSS of all
its processes (``/proc/PID/smaps_rollup``; shared pages counted once).

    python benchmarks/peers.py                               # all peers, 100 tasks
    python benchmarks/peers.py --peers naive,codex --limit 20 --codex-concurrency 50
    python benchmarks/peers.py --tps 50 --out benchmarks/results/peers.txt
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from agentrt.model.sim.process import SimProcess

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
PEERS = ("agentrt-loop", "agentrt-fork", "agentrt-exec", "naive", "codex")
INSTRUCTION = (
    "Implement the function in solution.py so that the tests in test_solution.py pass. "
    "Run the tests with `python -m pytest -q` to check your work, then reply with a one-line summary."
)
_MIB = 1024.0


# --- measuring ------------------------------------------------------------------------------------


def _status_kib(pid: int, key: bytes) -> float:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(key):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def _pss_kib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def _own_cpu_s(pid: int) -> float | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(roots: list[int]) -> list[int]:
    found, stack = [], list(roots)
    while stack:
        pid = stack.pop()
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                kids = [int(k) for k in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
            except OSError:
                continue
            found.extend(kids)
            stack.extend(kids)
    return found


@dataclass
class Usage:
    """What a sampler saw of a peer."""

    runtime_peak_mib: float = 0.0
    children_peak_mib: float = 0.0
    children_peak_count: int = 0
    pss_peak_mib: float | None = None
    own_cpu: dict[int, float] = field(default_factory=dict)


class Sampler(threading.Thread):
    """Samples ``roots()`` (the runtime processes) and their descendants every ``interval`` seconds."""

    def __init__(self, roots: Callable[[], list[int]], interval: float, pss: bool) -> None:
        super().__init__(daemon=True)
        self.roots, self.interval, self.pss = roots, interval, pss
        self.usage = Usage(pss_peak_mib=0.0 if pss else None)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def stop(self) -> Usage:
        self._halt.set()
        self.join()
        return self.usage

    def sample(self) -> None:
        u, roots = self.usage, self.roots()
        kids = _descendants(roots)
        if len(roots) == 1:
            runtime = _status_kib(roots[0], b"VmHWM:")
        else:
            runtime = sum(_status_kib(p, b"VmRSS:") for p in roots)
        children = sum(_status_kib(p, b"VmRSS:") for p in kids)
        u.runtime_peak_mib = max(u.runtime_peak_mib, runtime / _MIB)
        u.children_peak_mib = max(u.children_peak_mib, children / _MIB)
        u.children_peak_count = max(u.children_peak_count, len(kids))
        if self.pss and u.pss_peak_mib is not None:
            u.pss_peak_mib = max(u.pss_peak_mib, sum(_pss_kib(p) for p in roots + kids) / _MIB)
        for pid in roots:
            cpu = _own_cpu_s(pid)
            if cpu is not None:
                u.own_cpu[pid] = cpu


@dataclass
class Row:
    peer: str
    passed: int
    tasks: int
    wall_s: float
    usage: Usage
    cpu_total_s: float
    note: str = ""

    def cells(self) -> list[str]:
        own = sum(self.usage.own_cpu.values())
        pss = "" if self.usage.pss_peak_mib is None else f"{self.usage.pss_peak_mib:.0f} MiB"
        return [
            self.peer, f"{self.passed}/{self.tasks}", f"{self.wall_s:.1f} s",
            f"{self.usage.runtime_peak_mib:.1f} MiB",
            f"{self.usage.children_peak_mib:.0f} MiB ({self.usage.children_peak_count})",
            f"{own:.2f} s", f"{max(0.0, self.cpu_total_s - own):.1f} s", pss, self.note,
        ]  # fmt: skip


HEAD = ["peer", "passed", "wall", "runtime peak RSS", "children peak RSS (procs)", "CPU runtime", "CPU children", "summed PSS", "note"]  # fmt: skip


def table(rows: list[Row]) -> str:
    cells = [HEAD, *(r.cells() for r in rows)]
    lines = ["| " + " | ".join(c) + " |" for c in cells]
    lines.insert(1, "|" + "---|" * len(HEAD))
    return "\n".join(lines)


def run_measured(
    argv: list[str], env: dict[str, str], args: argparse.Namespace, cwd: Path | None = None
) -> tuple[Usage, float, float, str]:
    """(usage, wall, wait4 CPU total, stdout) of one process and its descendants."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    sampler = Sampler(lambda: [proc.pid], args.interval, pss=False)
    sampler.start()
    out: list[bytes] = []
    reader = threading.Thread(
        target=lambda: out.append(proc.stdout.read() if proc.stdout else b""), daemon=True
    )
    reader.start()
    err = proc.stderr.read() if proc.stderr else b""
    _, status, rusage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    usage = sampler.stop()
    reader.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} exited {proc.returncode}: {err.decode(errors='replace')[-1500:]}")
    return usage, wall, rusage.ru_utime + rusage.ru_stime, b"".join(out).decode()


# --- peers ----------------------------------------------------------------------------------------


def agentrt_peer(name: str, url: str, work: Path, args: argparse.Namespace) -> Row:
    out = work / name
    argv = [
        args.agentrt,
        "bench",
        "humaneval",
        "--base-url",
        url,
        "--model",
        "agentrt-sim",
        "--out",
        str(out),
    ]
    argv += ["--no-progress", "--concurrency", str(args.concurrency), *args.limit_args]
    argv += {"agentrt-fork": ["--executor", "fork"], "agentrt-exec": ["--agent", "exec"]}.get(name, [])
    usage, wall, cpu, _ = run_measured(argv, dict(os.environ), args)
    (summary_path,) = (out / "raw").glob("*_summary.json")
    summary = json.loads(summary_path.read_text())
    note = f"own: {summary['peak_rss_mib']:.1f} MiB, {summary['wall_s']:.1f} s"
    return Row(name, summary["passed"], summary["tasks"], wall, usage, cpu, note)


def naive_peer(url: str, work: Path, args: argparse.Namespace) -> Row | str:
    probe = subprocess.run([args.naive_python, "-c", "import openai"], capture_output=True)
    if probe.returncode != 0:
        return f"naive: skipped, {args.naive_python} cannot import openai (pip install 'agentrt[peers]' or pass --naive-python)"
    argv = [
        args.naive_python,
        str(HERE / "naive_stack.py"),
        "--base-url",
        url,
        "--tasks",
        str(work / "tasks.json"),
    ]
    argv += ["--concurrency", str(args.concurrency), "--python", sys.executable]
    usage, wall, cpu, out = run_measured(argv, dict(os.environ), args)
    result = json.loads(out.strip().splitlines()[-1])
    return Row("naive", result["passed"], result["tasks"], wall, usage, cpu, "openai SDK, unsandboxed tests")


def codex_peer(url: str, work: Path, args: argparse.Namespace) -> Row | str:
    from codex_proxy import CodexProxy

    codex = args.codex or _installed_codex()
    if codex is None:
        return "codex: skipped, Codex CLI not installed (scripts/install-codex-peer)"
    tasks = json.loads((work / "tasks.json").read_text())
    homes = Path(args.codex_homes or Path.home() / ".cache" / "agentrt-peer" / "peer-homes")
    live: dict[int, int] = {}
    totals: list[float] = []
    with CodexProxy(url) as proxy_url:
        sampler = Sampler(lambda: list(live.values()), args.interval, pss=True)
        started = time.perf_counter()
        sampler.start()
        with ThreadPoolExecutor(args.codex_concurrency) as pool:
            outcomes = list(
                pool.map(
                    lambda it: _codex_task(it[0], it[1], codex, proxy_url, work, homes, live, totals),
                    enumerate(tasks),
                )
            )
        wall = time.perf_counter() - started
        usage = sampler.stop()
    shutil.rmtree(homes, ignore_errors=True)
    note = f"{args.codex_concurrency} at once, -s workspace-write"
    return Row("codex", sum(outcomes), len(tasks), wall, usage, sum(totals), note)


def _installed_codex() -> str | None:
    out = subprocess.run(
        [str(HERE.parent / "scripts" / "install-codex-peer")], capture_output=True, text=True
    )
    path = out.stdout.strip()
    return path if out.returncode == 0 and path and Path(path).is_file() else None


def _codex_task(index: int, task: dict[str, str], codex: str, url: str, work: Path, homes: Path, live: dict[int, int], totals: list[float]) -> bool:  # fmt: skip
    """One ``codex exec`` on one task, then the harness's own pytest run on a fresh copy of the tests."""
    repo, home = work / "codex" / f"{index:04d}", homes / f"{index:04d}"
    repo.mkdir(parents=True)
    home.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("solution.py", task["spec"]),
        ("test_solution.py", task["test"]),
        ("pytest.ini", "[pytest]\n"),
    ):
        (repo / name).write_text(text)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    provider = f'name = "sim"\nbase_url = "{url}"\nenv_key = "LOCAL_KEY"\nwire_api = "responses"\n'
    (home / "config.toml").write_text(f'model = "agentrt-sim"\nmodel_provider = "sim"\ncheck_for_update_on_startup = false\n[model_providers.sim]\n{provider}')  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
    env |= {
        "CODEX_HOME": str(home),
        "LOCAL_KEY": "x",
        "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    }
    argv = [codex, "exec", "--json", "--skip-git-repo-check", "-s", "workspace-write", INSTRUCTION]
    proc = subprocess.Popen(argv, cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    live[index] = proc.pid
    _, _, rusage = os.wait4(proc.pid, 0)
    live.pop(index, None)
    totals.append(rusage.ru_utime + rusage.ru_stime)
    check = work / "codex-check" / f"{index:04d}"
    check.mkdir(parents=True)
    shutil.copyfile(repo / "solution.py", check / "solution.py")
    (check / "test_solution.py").write_text(task["test"])
    (check / "pytest.ini").write_text("[pytest]\n")
    done = subprocess.run([sys.executable, "-B", "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=check, capture_output=True)  # fmt: skip
    return done.returncode == 0


# --- main -----------------------------------------------------------------------------------------


def sim_args(peer: str, work: Path, args: argparse.Namespace) -> list[str]:
    policy = "coding-agent" if peer in ("agentrt-exec", "codex") else "humaneval"
    return [
        "--policy", policy, "--dataset", str(work / "tasks.json"), "--model", "agentrt-sim",
        "--seed", str(args.seed), "--fail-rate", str(args.fail_rate), "--tps", str(args.tps),
        "--ttft-ms", str(args.ttft_ms),
    ]  # fmt: skip


def run_peer(peer: str, work: Path, args: argparse.Namespace) -> Row | str:
    with SimProcess(sim_args(peer, work, args)) as sim:
        if peer == "naive":
            return naive_peer(sim.url, work, args)
        if peer == "codex":
            return codex_peer(sim.url, work, args)
        return agentrt_peer(peer, sim.url, work, args)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated, from {', '.join(PEERS)}")
    p.add_argument("--limit", type=int, help="the first N tasks (default 100)")
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--codex-concurrency", type=int, default=100, help="codex processes at once (default 100)")
    p.add_argument("--tps", type=float, default=0.0)
    p.add_argument("--ttft-ms", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fail-rate", type=float, default=0.15)
    p.add_argument("--interval", type=float, default=0.1, help="sampling interval, s (default 0.1)")
    p.add_argument(
        "--naive-python", default=sys.executable, help="interpreter with openai for naive_stack.py"
    )
    p.add_argument("--codex", help="the codex binary (default: scripts/install-codex-peer)")
    p.add_argument(
        "--codex-homes", help="where per-task CODEX_HOMEs go (not under /tmp: Codex's sandbox refuses)"
    )
    p.add_argument("--out", type=Path, help="also write the command and the table to this file")
    args = p.parse_args()
    args.limit_args = ["--limit", str(args.limit)] if args.limit else []
    args.agentrt = shutil.which("agentrt", path=str(Path(sys.executable).parent)) or "agentrt"
    unknown = set(args.peers.split(",")) - set(PEERS)
    if unknown:
        p.error(f"unknown peers: {', '.join(sorted(unknown))}")
    return args


def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="agentrt-peers-"))
    try:
        subprocess.run([args.agentrt, "bench", "humaneval", "--export", str(work / "tasks.json"), *args.limit_args], check=True, capture_output=True)  # fmt: skip
        rows, notes = [], []
        for peer in args.peers.split(","):
            print(f"peers: running {peer} …", file=sys.stderr, flush=True)
            result = run_peer(peer, work, args)
            (rows if isinstance(result, Row) else notes).append(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pacing = f"tps {args.tps:g}, ttft {args.ttft_ms:g} ms, seed {args.seed}, fail-rate {args.fail_rate:g}"
    text = "\n".join([f"simulated model in its own process ({pacing}); concurrency {args.concurrency}", table(rows), *notes])  # fmt: skip
    print(text)
    if args.out:
        command = "python benchmarks/peers.py " + shlex.join(sys.argv[1:])
        args.out.write_text(f"$ {command}\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n{text}\n")


if __name__ == "__main__":
    main()
