"""Where a run keeps its scratch: RAM where it can (``/dev/shm``), the chosen ``--work-dir``, the
temporary directory when workspaces are kept; the directories of runs that are gone cleared."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from agentrt.bench.dataset import Task
from agentrt.bench.humaneval.loop import Confine, LoopConfig
from agentrt.bench.runner import BenchConfig, SimSettings, run_bench
from agentrt.bench.scratch import make_work_root, ram_backed, work_parent
from agentrt.sandbox.confine import landlock_abi
from agentrt.sandbox.hygiene import owner_tag

MOUNTINFO = (
    "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
    "25 22 0:21 / /dev/shm rw,nosuid - tmpfs tmpfs rw,size=100k\n"
    "26 25 0:22 / /dev/shm/disk\\040cache rw - ext4 /dev/vdb rw\n"
    "27 22 0:23 / /run rw - tmpfs tmpfs rw\n"
    "28 22 0:24 / /mnt/caf\u00e9\\040shm rw - tmpfs tmpfs rw\n"
    "bad line without a separator\n"
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/dev/shm", True),
        ("/dev/shm/agentrt-bench-1", True),
        ("/dev/shm/disk cache/x", False),  # a mount inside the tmpfs, its name escaped in mountinfo
        ("/dev/shmx", False),  # a name that only starts like the mount point
        ("/tmp", False),
        ("/run/user/0", True),
        ("/mnt/caf\u00e9 shm/x", True),  # a name beyond ASCII with an escape
        ("/mnt/caf\u00e9", False),
    ],
)
def test_ram_backed_follows_the_longest_mount_that_holds_the_path(
    tmp_path: Path, path: str, expected: bool
) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    assert ram_backed(Path(path), str(info)) is expected


def test_ram_backed_agrees_with_coreutils_stat(tmp_path: Path) -> None:
    for path in (Path("/dev/shm"), tmp_path, Path("/proc")):
        if not path.is_dir():
            continue
        kind = subprocess.run(
            ["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, check=True
        )
        assert ram_backed(path) is (kind.stdout.strip() == "tmpfs"), path


def test_ram_backed_is_false_when_mounts_cannot_be_read(tmp_path: Path) -> None:
    assert ram_backed(Path("/dev/shm"), str(tmp_path / "missing")) is False


def test_work_parent_prefers_the_choice_then_ram_then_the_temporary_directory(tmp_path: Path) -> None:
    temp = Path(tempfile.gettempdir())
    assert work_parent(tmp_path, keep=False) == tmp_path
    assert work_parent(tmp_path, keep=True) == tmp_path, "a chosen directory holds kept workspaces too"
    assert work_parent(None, keep=True) == temp, "kept workspaces never go to RAM"
    assert work_parent(None, keep=False, ram=tmp_path / "missing") == temp
    shm = Path("/dev/shm")
    if shm.is_dir() and ram_backed(shm) and os.access(shm, os.W_OK):
        assert work_parent(None, keep=False, ram=shm) == shm


def test_a_new_work_root_clears_only_the_runs_that_are_gone(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "1"])
    dead = owner_tag(child.pid)
    child.kill()
    child.wait()
    mine = owner_tag()
    assert dead is not None and mine is not None
    gone = tmp_path / f"agentrt-bench-{dead}-abcdefgh"
    (gone / "0001").mkdir(parents=True)
    live = tmp_path / f"agentrt-bench-{mine}-live0000"
    live.mkdir()
    other = tmp_path / "agentrt-bench-unattributable"
    other.mkdir()

    root = make_work_root(tmp_path)

    assert not gone.exists(), "a killed run's scratch is removed by the next run"
    assert live.exists() and other.exists()
    assert root.parent == tmp_path and root.name.startswith(f"agentrt-bench-{mine}-")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_a_run_makes_its_workspaces_and_test_tmpdirs_in_the_work_dir(tmp_path: Path) -> None:
    if landlock_abi() < 1:
        pytest.skip("this kernel has no Landlock")
    work = tmp_path / "work"
    work.mkdir()
    test = (
        "import os\nfrom solution import *\n\n\ndef test_add():\n"
        "    assert add(2, 3) == 5\n"
        f"    assert os.environ['TMPDIR'].startswith({str(work.resolve()) + '/'!r}), os.environ['TMPDIR']\n"
        "    assert os.path.isdir(os.environ['TMPDIR'])\n"
    )
    task = Task("t/0", 'def add(a, b):\n    """Return a + b."""\n', test, "    return a + b\n")
    loop = LoopConfig(confine=Confine("landlock", tmp_path / "home"))
    config = BenchConfig(
        [task], tmp_path / "out", loop, concurrency=1, sim=SimSettings(fail_rate=0.0),
        keep_workspaces=True, work_dir=work.resolve(),
    )  # fmt: skip

    outcome = asyncio.run(run_bench(config))

    assert outcome.results[0].status == "passed", outcome.results[0].error
    assert outcome.workspaces is not None and outcome.workspaces.parent == work.resolve()
    assert (outcome.workspaces / "0000" / "solution.py").is_file()
    assert [p.name for p in (outcome.workspaces / "tmp").iterdir()] == [], "each test TMPDIR removed after"
    shutil.rmtree(outcome.workspaces)
