"""Issue 17's targets for ``agentrt bench humaneval --ray``, measured on this machine.

Runs the benchmark's tasks (simulated model) single-process and with ``--ray --ray-actors 2`` (a local
cluster started for the run), each as a fresh ``agentrt`` process in a network namespace that has
only loopback (``unshare -n``: Ray binds a cluster to the machine's main address otherwise), and a
bare Ray worker: an actor of a class with no agentrt in it, on a local cluster started with the same
options, idle after one call. Prints:

* passed, and whether the two runs have the same outcome for every task (status, attempts, retries);
* the wall time of each (the process's, and the summary's ``wall_s``) and what Ray adds: cluster
  start, actor start, and the total over the single-process run;
* each actor's peak RSS against the bare worker's (target: at most 64 MiB of agentrt's own memory
  on top of the Ray worker's baseline).

    .venv/bin/python benchmarks/ray_bench.py [--tasks 100] [--actors 2] [--repeat 1]

Needs ``unshare`` (``-n`` as root, else ``-rn``), ``ip`` and the ``[ray]`` extra.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MIB = 64.0
IN_NAMESPACE = ["sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
BARE_WORKER = """
import json, logging, os, ray
ray.init(address="local", num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False,
         object_store_memory=80 * 1024 * 1024, log_to_driver=False, logging_level=logging.WARNING,
         _node_ip_address="127.0.0.1")

class Bare:
    async def rss(self):
        status = open("/proc/self/status").read()
        kib = lambda key: int(status.split(key + ":")[1].split()[0])
        return {"pid": os.getpid(), "rss_mib": kib("VmRSS") / 1024, "peak_rss_mib": kib("VmHWM") / 1024}

actor = ray.remote(Bare).options(num_cpus=0).remote()
ray.get(actor.rss.remote())
print(json.dumps(ray.get(actor.rss.remote())))
ray.shutdown()
"""


def loopback_only() -> list[str]:
    """The prefix that runs a command in a network namespace with loopback only: ``unshare -n`` as
    root, ``unshare -rn`` (a user namespace of one's own) otherwise."""
    for unshare in (["unshare", "-n"], ["unshare", "-rn"]):
        if subprocess.run([*unshare, *IN_NAMESPACE, "true"], capture_output=True, timeout=30).returncode == 0:
            return [*unshare, *IN_NAMESPACE]
    raise SystemExit("cannot make a loopback-only network namespace here (unshare -n / -rn)")


def run(out: Path, tasks: int, extra: list[str]) -> tuple[float, list[dict[str, str]], dict[str, object]]:
    """One ``agentrt bench humaneval`` process: its wall time, its rows and its summary."""
    argv = [sys.executable, "-m", "agentrt", "bench", "humaneval", "--limit", str(tasks), "--no-progress"]
    started = time.perf_counter()
    proc = subprocess.run(
        [*loopback_only(), *argv, "--out", str(out), *extra], capture_output=True, text=True, timeout=900
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(
            f"agentrt bench humaneval {' '.join(extra)} failed ({proc.returncode}):\n{proc.stderr}"
        )
    summary_path = sorted((out / "raw").glob("python_*_summary.json"))[-1]
    with summary_path.with_name(summary_path.name.removesuffix("_summary.json") + ".csv").open() as f:
        rows = list(csv.DictReader(f))
    return wall, rows, json.loads(summary_path.read_text())


def bare_worker() -> dict[str, float]:
    proc = subprocess.run(
        [*loopback_only(), sys.executable, "-c", BARE_WORKER], capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise SystemExit(f"the bare Ray worker did not run:\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def outcomes(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
    return [(r["id"], r["status"], r["attempts"], r["retries"], r["first_attempt_pass"]) for r in rows]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind (medians are printed)")
    args = parser.parse_args()
    ray_flags = ["--ray", "--ray-actors", str(args.actors)]
    singles, rays = [], []
    with tempfile.TemporaryDirectory(prefix="agentrt-ray-bench-") as scratch:
        for i in range(args.repeat):
            singles.append(run(Path(scratch) / f"single-{i}", args.tasks, []))
            rays.append(run(Path(scratch) / f"ray-{i}", args.tasks, ray_flags))
    bares = [bare_worker() for _ in range(args.repeat)]

    _, rows_one, one = singles[-1]
    _, rows_ray, two = rays[-1]
    same = all(outcomes(r[1]) == outcomes(s[1]) for r, s in zip(rays, singles, strict=True))
    wall_one = statistics.median(w for w, _, _ in singles)
    wall_ray = statistics.median(w for w, _, _ in rays)

    def med(runs: list[tuple[float, list[dict[str, str]], dict[str, object]]], key: str) -> float:
        return statistics.median(float(s[key]) for _, _, s in runs)  # type: ignore[arg-type]

    print(f"agentrt bench humaneval: {args.tasks} tasks, simulated model, single process vs --ray "
          f"--ray-actors {args.actors} (local cluster), loopback-only namespace, median of {args.repeat}")  # fmt: skip
    print(f"  passed:            single {one['passed']}/{one['tasks']}   ray {two['passed']}/{two['tasks']}")
    print(f"  same outcomes:     {'yes' if same else 'NO'} (status, attempts, retries of every task)")
    print(f"  process wall:      single {wall_one:.2f} s   ray {wall_ray:.2f} s   "
          f"(Ray adds {wall_ray - wall_one:+.2f} s, x{wall_ray / wall_one:.2f})")  # fmt: skip
    print(f"  tasks wall_s:      single {med(singles, 'wall_s'):.2f} s   ray {med(rays, 'wall_s'):.2f} s "
          f"(ray: actors started in {med(rays, 'ray_actors_start_s'):.2f} s of it)")  # fmt: skip
    print(f"  cluster start:     {med(rays, 'ray_start_s'):.2f} s (ray.init of a local cluster), simulator "
          f"actor {med(rays, 'ray_sim_start_s'):.2f} s")  # fmt: skip
    baseline = statistics.median(b["peak_rss_mib"] for b in bares)
    idle = statistics.median(b["rss_mib"] for b in bares)
    print(f"  bare Ray worker:   peak RSS {baseline:.1f} MiB (RSS {idle:.1f} MiB idle after a call)")
    worst = 0.0
    for a in two["ray_per_actor"]:  # type: ignore[union-attr]
        own = float(a["peak_rss_mib"]) - baseline
        worst = max(worst, own)
        print(f"  actor {a['actor']}:           peak RSS {a['peak_rss_mib']:.1f} MiB = baseline + {own:.1f} MiB "
              f"(at open {a['rss_at_open_mib']:.1f} MiB)   CPU {a['cpu_s']:.2f} s   tasks {a['tasks']}   pid {a['pid']}")  # fmt: skip
    ok = "ok" if worst <= TARGET_MIB else "OVER"
    print(
        f"  agentrt per actor: at most {worst:.1f} MiB above the bare worker (target <= {TARGET_MIB:.0f} MiB: {ok})"
    )
    print(f"  single process:    peak RSS {one['peak_rss_mib']:.1f} MiB (simulator in-process: "
          f"{not one.get('sim_process')})   runtime CPU {one['runtime_cpu_s']:.2f} s")  # fmt: skip
    print(f"  ray driver:        peak RSS {two['ray_driver_peak_rss_mib']:.1f} MiB   simulator actor peak RSS "
          f"{two.get('sim_peak_rss_mib')} MiB   actors' CPU {two['runtime_cpu_s']:.2f} s")  # fmt: skip
    return 0 if same and worst <= TARGET_MIB and two["passed"] == two["tasks"] else 1


if __name__ == "__main__":
    sys.exit(main())
