"""The sample suite in ``benchmarks/tasks/`` (Harbor / Terminal-Bench 2 task format), proven without the runner.

For every task directory: ``task.toml`` parses and has Harbor's keys, the Dockerfile only does
``FROM``/``WORKDIR``/``COPY``, and — laid out as Harbor lays out its container, with bubblewrap's
mount namespace (a fresh copy of what the Dockerfile copies at ``/app``, ``tests/`` at ``/tests``,
a scratch ``/logs/verifier``) — the verifier gives reward 0 on the untouched environment and
reward 1 after ``solution/solve.sh``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath

import pytest

TASKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "tasks"
TASKS = sorted(p.name for p in TASKS_DIR.iterdir() if (p / "task.toml").is_file())
ALLOWED_INSTRUCTIONS = {"FROM", "WORKDIR", "COPY"}
# Paths the sandbox provides itself (or that the task layout mounts); everything else in / is bound read-only.
_OWN_PATHS = {"proc", "dev", "sys", "tmp", "app", "tests", "logs"}

pytestmark = pytest.mark.slow


def _dockerfile(task: Path) -> tuple[str, list[tuple[str, str]]]:
    """The WORKDIR and the (source, destination) COPY pairs; fails on any other instruction."""
    workdir = "/"
    copies: list[tuple[str, str]] = []
    text = (task / "environment" / "Dockerfile").read_text()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        assert word in ALLOWED_INSTRUCTIONS, (
            f"{task.name}: Dockerfile instruction {word} is not FROM/WORKDIR/COPY"
        )
        if word == "WORKDIR":
            workdir = str(PurePosixPath(workdir, rest.strip()))
        elif word == "COPY":
            parts = shlex.split(rest)
            assert len(parts) == 2 and not parts[0].startswith("--"), (
                f"{task.name}: COPY needs one source, one dest"
            )
            copies.append((parts[0], str(PurePosixPath(workdir, parts[1]))))
    return workdir, copies


def _build_workdir(task: Path, dest_root: Path) -> None:
    """Copy what the Dockerfile copies into ``dest_root`` (which stands for the WORKDIR)."""
    workdir, copies = _dockerfile(task)
    env = task / "environment"
    for src, dest in copies:
        rel = PurePosixPath(dest).relative_to(workdir)
        target = dest_root / rel
        source = (env / src).resolve()
        assert source.is_relative_to(env.resolve()), f"{task.name}: COPY source {src} leaves environment/"
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _bwrap_args(app: Path, logs: Path, *binds: tuple[Path, str]) -> list[str]:
    """bwrap's command line: the task's files at /app, /logs/verifier writable, ``binds`` read-only."""
    args = ["bwrap", "--die-with-parent", "--unshare-net", "--unshare-pid"]
    # A read-only view of the host's root, entry by entry: ``--ro-bind / /`` would leave no room to
    # create /app, /tests and /logs, so the new root is bubblewrap's own tmpfs instead.
    for entry in sorted(Path("/").iterdir()):
        if entry.name in _OWN_PATHS:
            continue
        if entry.is_symlink():
            args += ["--symlink", os.readlink(entry), str(entry)]
        else:
            args += ["--ro-bind", str(entry), str(entry)]
    args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    args += ["--bind", str(app), "/app", "--bind", str(logs), "/logs/verifier"]
    for source, target in binds:
        args += ["--ro-bind", str(source), target]
    args += ["--setenv", "HOME", "/tmp", "--chdir", "/app"]
    return args


def _bwrap_works() -> str | None:
    """None where bubblewrap can lay a task out here; otherwise why not."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    probe = subprocess.run(
        ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def bwrap() -> None:
    reason = _bwrap_works()
    if reason is not None:
        pytest.skip(reason)


def test_there_are_enough_tasks() -> None:
    assert len(TASKS) >= 12, TASKS
    assert (TASKS_DIR / "README.md").is_file()
    readme = (TASKS_DIR / "README.md").read_text()
    missing = [t for t in TASKS if f"`{t}`" not in readme]
    assert not missing, f"README.md does not list {missing}"


@pytest.mark.parametrize("name", TASKS)
def test_task_layout(name: str) -> None:
    task = TASKS_DIR / name
    config = tomllib.loads((task / "task.toml").read_text())
    assert config["version"] == "1.0"
    meta = config["metadata"]
    assert meta["difficulty"] in {"easy", "medium", "hard"}
    assert isinstance(meta["category"], str) and meta["category"]
    assert isinstance(meta["tags"], list) and all(isinstance(t, str) for t in meta["tags"]) and meta["tags"]
    for section in ("agent", "verifier"):
        timeout = config[section]["timeout_sec"]
        assert isinstance(timeout, (int, float)) and 0 < timeout <= 3600, (section, timeout)
    assert isinstance(config.get("verifier", {}).get("env", {}), dict)
    assert (task / "instruction.md").read_text().strip()
    assert (task / "tests" / "test.sh").is_file()
    assert (task / "solution" / "solve.sh").is_file()
    workdir, copies = _dockerfile(task)
    assert workdir == "/app", f"{name}: WORKDIR is {workdir}, the suite uses /app"
    assert copies, f"{name}: the Dockerfile copies nothing"


def _reward(logs: Path) -> str:
    path = logs / "reward.txt"
    return path.read_text().strip() if path.is_file() else "<no reward.txt>"


def _verify(task: Path, app: Path, logs: Path) -> tuple[str, str]:
    """Run ``bash /tests/test.sh`` from /app with tests/ at /tests (as Harbor uploads them); reward, output."""
    timeout = tomllib.loads((task / "task.toml").read_text())["verifier"]["timeout_sec"]
    for leftover in logs.iterdir():
        leftover.unlink()
    cmd = [*_bwrap_args(app, logs, (task / "tests", "/tests")), "bash", "/tests/test.sh"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return _reward(logs), run.stdout[-3000:] + run.stderr[-3000:]


def _fresh(task: Path, root: Path) -> tuple[Path, Path]:
    app, logs = root / "app", root / "logs"
    app.mkdir(parents=True)
    logs.mkdir()
    _build_workdir(task, app)
    return app, logs


@pytest.mark.parametrize("name", TASKS)
def test_verifier_fails_untouched_and_passes_after_solution(name: str, tmp_path: Path, bwrap: None) -> None:
    task = TASKS_DIR / name

    app, logs = _fresh(task, tmp_path / "untouched")
    reward, output = _verify(task, app, logs)
    assert reward == "0", f"{name}: the untouched environment got reward {reward}\n{output}"

    # The oracle, on a fresh copy: solution/ at /solution (read-only), no /tests, solve.sh run from /app.
    app, logs = _fresh(task, tmp_path / "oracle")
    cmd = [*_bwrap_args(app, logs, (task / "solution", "/solution")), "bash", "/solution/solve.sh"]
    solve = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert solve.returncode == 0, f"{name}: solve.sh failed\n{solve.stdout[-3000:]}{solve.stderr[-3000:]}"

    reward, output = _verify(task, app, logs)
    assert reward == "1", f"{name}: after solve.sh the reward is {reward}\n{output}"


@pytest.mark.slow
def test_agentrt_bench_tasks_solves_the_whole_suite_with_the_oracle(tmp_path: Path) -> None:
    """The harness itself (``agentrt bench tasks --agent oracle``) on the suite: every task passes."""
    import json
    import sys

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed: the task layout needs it")
    done = subprocess.run(
        [sys.executable, "-m", "agentrt", "bench", "tasks", str(TASKS_DIR), "--agent", "oracle",
         "--concurrency", "12", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, env=dict(os.environ) | {"AGENTRT_HOME": str(tmp_path / "h")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (summary_path,) = (tmp_path / "out" / "raw").glob("tasks_*_summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["solved"] == len(TASKS) >= 12 and summary["unsupported"] == 0
