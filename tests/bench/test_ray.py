"""``agentrt bench humaneval --ray``: the agents on a local Ray cluster, run as a user runs it.

Ray binds a cluster to the machine's main network address, so every run here is an ``agentrt``
process inside a network namespace that has only loopback (``unshare -n``, or ``unshare -rn`` in a
user namespace when not root): the cluster, the
simulator actor and the agents can reach nothing else. The runs use tasks whose tests log their id
when they run (the log says which tasks ran, and how often) and can be held on a FIFO, so an actor
is killed, or the run interrupted, at a known point — no sleeps.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.agentrt_cli import LiveRun

from agentrt.bench.ray.actors import EnvChange

AGENTRT = [sys.executable, "-m", "agentrt"]
IN_NAMESPACE = ["sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
"""Brings loopback up in a fresh network namespace, then runs the command there."""
UNSHARES = (["unshare", "-n"], ["unshare", "-rn"])
"""A network namespace as root, or (not root) inside a user namespace of one's own."""
CLUSTER_PROCESSES = ("raylet", "gcs_server", "ray::")


@pytest.fixture(scope="module")
def loopback_only() -> list[str]:
    """The prefix that runs a command in a network namespace with loopback only; skips the test
    when Ray is not installed or no such namespace can be made here."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install 'agentrt[ray]')")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip for a loopback-only network namespace")
    errors = []
    for unshare in UNSHARES:
        probe = subprocess.run([*unshare, *IN_NAMESPACE, "true"], capture_output=True, text=True, timeout=30)
        if probe.returncode == 0:
            return [*unshare, *IN_NAMESPACE]
        errors.append(probe.stderr.strip()[:200])
    pytest.skip(f"cannot make a loopback-only network namespace here: {'; '.join(errors)}")


# --- helpers ---------------------------------------------------------------------------------------


def make_dataset(path: Path, n: int, holds: dict[int, Path] | None = None) -> Path:
    """``n`` tasks ``t/0`` … whose tests log their id; task ``i`` in ``holds`` writes its pid to
    ``<fifo>.pid`` and waits on that FIFO — the first time only (``<fifo>.once`` marks it)."""
    holds = holds or {}
    tasks = []
    for i in range(n):
        test = "import os\nfrom solution import *\n\n\ndef test_f():\n"
        test += f"    with open(os.environ['RAY_TEST_LOG'], 'a') as log:\n        log.write('t/{i}\\n')\n"
        if i in holds:
            fifo = str(holds[i])
            test += f"    if not os.path.exists({fifo + '.once'!r}):\n"
            test += f"        open({fifo + '.once'!r}, 'w').close()\n"
            test += f"        with open({fifo + '.pid.tmp'!r}, 'w') as f:\n            f.write(str(os.getpid()))\n"
            test += f"        os.replace({fifo + '.pid.tmp'!r}, {fifo + '.pid'!r})\n"
            test += f"        open({fifo!r}).read()\n"
        test += f"    assert f{i}() == {i}\n"
        spec = f'def f{i}():\n    """Return {i}."""\n'
        tasks.append({"id": f"t/{i}", "spec": spec, "test": test, "solution": f"    return {i}\n"})
    path.write_text(json.dumps(tasks))
    return path


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO that holds a task; at the end a test still held is let go (opened for writing)."""
    path = tmp_path / "hold"
    os.mkfifo(path)
    yield path
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # no reader: nothing held


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_", "BENCH_", "RAY_"))}
    env["RAY_TEST_LOG"] = str(tmp_path / "ran.log")
    return env


def ran(tmp_path: Path) -> list[str]:
    path = tmp_path / "ran.log"
    return sorted(path.read_text().split()) if path.exists() else []


def cluster_pids() -> set[int]:
    """The Ray cluster processes on this machine (raylet, gcs_server, workers)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(name in cmd for name in CLUSTER_PROCESSES):
                pids.add(int(entry.name))
    return pids


def workspaces() -> set[Path]:
    """The agent actors' workspace roots under this machine's temporary directory."""
    return set(Path(tempfile.gettempdir()).glob("agentrt-bench-ray-*"))


def assert_nothing_left(before: set[int]) -> None:
    """No cluster process started since ``before`` outlives the run (a few seconds to exit)."""
    deadline = time.monotonic() + 20
    while (left := cluster_pids() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, [
        Path(f"/proc/{p}/cmdline").read_bytes()[:80] for p in left if Path(f"/proc/{p}").exists()
    ]


def bench(tmp_path: Path, prefix: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *AGENTRT, "bench", "humaneval", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env_for(tmp_path),
    )


def live(tmp_path: Path, prefix: list[str], *args: str) -> LiveRun:
    """A Ray run in the background whose progress lines (stderr) can be waited for."""
    return LiveRun([*prefix, *AGENTRT, "bench", "humaneval", *args], env_for(tmp_path))


def newest(out: Path) -> tuple[list[dict[str, str]], dict[str, object]]:
    path = sorted((out / "raw").glob("python_*_summary.json"))[-1]
    with path.with_name(path.name.removesuffix("_summary.json") + ".csv").open() as f:
        return list(csv.DictReader(f)), json.loads(path.read_text())


def wait_for_file(path: Path, proc: subprocess.Popen[bytes], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, "the run ended before the held task started"
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.05)
    return path.read_text()


def actor_of(pid: int) -> int:
    """The Ray actor process (``ray::AgentActor…``) that ``pid`` descends from."""
    while pid > 1:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        if cmd.startswith(b"ray::AgentActor"):
            return pid
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat[stat.rfind(")") + 2 :].split()[1])
    raise AssertionError("the held test does not run under a Ray actor")


# --- the runs ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_ray_run_has_the_outcomes_of_the_single_process_run(
    tmp_path: Path, loopback_only: list[str]
) -> None:
    flags = ["--limit", "20", "--fail-rate", "0.5", "--concurrency", "8"]
    before = cluster_pids()
    single = bench(tmp_path, [], *flags, "--out", str(tmp_path / "one"))
    assert single.returncode == 0, single.stderr
    ray_flags = ["--ray", "--ray-actors", "2", "--out", str(tmp_path / "ray")]
    spread = bench(tmp_path, loopback_only, *flags, *ray_flags)
    assert spread.returncode == 0, spread.stderr
    assert_nothing_left(before)

    rows_one, one = newest(tmp_path / "one")
    rows_ray, two = newest(tmp_path / "ray")
    outcome = ("id", "status", "attempts", "retries", "first_attempt_pass", "test_runs", "error")
    assert [[r[k] for k in outcome] for r in rows_ray] == [[r[k] for k in outcome] for r in rows_one]
    assert 0 < int(str(one["recovered"])) < 20, "the fail rate makes some tasks retry"
    assert list(rows_ray[0]) == list(rows_one[0]), "the same CSV columns"
    for key in ("passed", "failed", "errors", "first_attempt", "recovered", "test_runs", "completion_tokens"):
        assert two[key] == one[key], key
    assert two["ray"] is True and two["ray_actors"] == 2 and two["ray_nodes"] == 1
    assert two["sim_process"] is True and two["sim_ray_actor"] is True
    per_actor = two["ray_per_actor"]
    assert isinstance(per_actor, list) and len(per_actor) == 2
    assert sum(a["tasks"] for a in per_actor) == 20 and all(a["tasks"] > 0 for a in per_actor)
    assert len({a["pid"] for a in per_actor}) == 2 and all(a["peak_rss_mib"] > 0 for a in per_actor)
    assert "ran on Ray: 2 actor(s) on 1 node(s) of a local cluster" in spread.stdout
    assert "ray: a local cluster (1 node" in spread.stderr


@pytest.mark.slow
def test_the_tasks_of_a_killed_actor_run_again_once_on_another(
    tmp_path: Path, fifo: Path, loopback_only: list[str]
) -> None:
    dataset = make_dataset(tmp_path / "tasks.json", 6, {1: fifo})
    out = tmp_path / "out"
    before = cluster_pids()
    run = live(
        tmp_path, loopback_only, "--dataset", str(dataset), "--no-sandbox", "--fail-rate", "0", "--concurrency", "4",
        "--ray", "--ray-actors", "2", "--no-progress", "--out", str(out),
    )  # fmt: skip
    roots = workspaces()
    held = int(wait_for_file(fifo.with_name("hold.pid"), run.proc))
    victim = actor_of(held)
    os.kill(victim, signal.SIGKILL)
    rc, stderr = run.finish()
    assert rc == 0, stderr
    assert_nothing_left(before)
    assert workspaces() == roots, "the killed actor's workspaces are removed too"

    rows, summary = newest(out)
    assert [r["status"] for r in rows] == ["passed"] * 6, rows
    rerun = {r["id"]: r["error"] for r in rows if r["error"]}
    assert "t/1" in rerun
    assert all(
        re.match(rf"rerun: its first actor died \(actor \d, pid {victim} on ", e) for e in rerun.values()
    )
    assert summary["ray_reruns"] == len(rerun) and summary["ray_rerun_ids"] == sorted(rerun)
    assert summary["ray_dead_actors"] == 1
    dead = [a for a in summary["ray_per_actor"] if a["died"]]  # type: ignore[union-attr]
    assert [a["pid"] for a in dead] == [victim]
    counts = {t: ran(tmp_path).count(t) for t in set(ran(tmp_path))}
    assert counts["t/1"] == 2, counts  # held on the killed actor, then run once more
    assert all(n <= 2 for n in counts.values()) and set(counts) == {f"t/{i}" for i in range(6)}


@pytest.mark.slow
def test_ctrl_c_stops_the_cluster_and_keeps_the_finished_rows(
    tmp_path: Path, fifo: Path, loopback_only: list[str]
) -> None:
    dataset = make_dataset(tmp_path / "tasks.json", 5, {3: fifo})
    out = tmp_path / "out"
    before = cluster_pids()
    run = live(
        tmp_path, loopback_only, "--dataset", str(dataset), "--no-sandbox", "--fail-rate", "0", "--concurrency", "4",
        "--ray", "--ray-actors", "2", "--out", str(out),
    )  # fmt: skip
    run.wait_for("humaneval 4/5")  # every task but the held one
    wait_for_file(fifo.with_name("hold.pid"), run.proc)
    rc, stderr = run.finish(signal.SIGINT)
    assert rc == 130, stderr
    assert f"--resume {out}" in stderr
    assert_nothing_left(before)

    rows, summary = newest(out)
    assert [r["status"] for r in rows] == ["passed", "passed", "passed", "error", "passed"]
    assert rows[3]["error"] == "interrupted"
    assert summary["interrupted"] is True and summary["ray"] is True and summary["passed"] == 4
    assert not list((out / "raw").glob("*_journal.jsonl")), "the summary is written: no journal left"


def test_without_ray_installed_it_names_the_install_command(tmp_path: Path) -> None:
    hide = "import sys; sys.modules['ray'] = None; from agentrt.cli.main import main; sys.exit(main())"
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", hide, "bench", "humaneval", "--ray", "--limit", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env_for(tmp_path),
    )
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[-1] == (
        "agentrt: error: --ray needs Ray, which is not installed here: pip install 'agentrt[ray]'"
    ), proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists(), "refused before anything ran"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ray-actors", "2"], "--ray-actors needs --ray"),
        (["--ray", "--local"], "--local serves one machine"),
        (["--ray", "--max-cost", "1"], "--max-cost counts one process's spending"),
    ],
)
def test_combinations_that_cannot_run_are_refused_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    proc = subprocess.run(
        [*AGENTRT, "bench", "humaneval", "--limit", "1", "--out", str(tmp_path / "out"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env_for(tmp_path),
    )
    assert proc.returncode == 2, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("agentrt: error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr


def test_the_runs_environment_changes_travel_not_the_drivers_environment() -> None:
    driver = {"PATH": "/driver/bin", "HOME": "/home/driver", "PYTEST_ADDOPTS": "-x", "KEEP": "1"}
    tests = {
        "PATH": "/driver/bin",
        "HOME": "/home/driver",
        "KEEP": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    change = EnvChange.between(driver, tests)
    node = {"PATH": "/node/bin", "HOME": "/home/node", "PYTEST_ADDOPTS": "-q"}
    assert change.apply(node) == {
        "PATH": "/node/bin",
        "HOME": "/home/node",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
