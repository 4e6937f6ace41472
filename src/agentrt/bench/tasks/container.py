"""A task's container, reproduced with bubblewrap: ``ContainerSandbox`` and ``TaskLayout``.

bwrap's own ``--ro-bind / /`` leaves no place for ``/app`` or ``/logs`` (a read-only root cannot
take new mount points), so the container's root is bwrap's tmpfs with every top-level entry of the
host bound read-only into it (symlinks recreated), then the task's own directories bound writable
at their container paths, then the root remounted read-only. Per task, on the host::

    SCRATCH/app       -> WORKDIR (/app)   a fresh copy of what the Dockerfile COPYs
    SCRATCH/logs      -> /logs            agent/ and verifier/ (writable)
    SCRATCH/tmp       -> /tmp             private, kept between the agent's commands
    SCRATCH/tests     -> /tests           copied in only for the verifier
    SCRATCH/solution  -> /solution        copied in only for --agent oracle

Hidden (an empty read-only tmpfs): the secret stores of the sandbox policy, the task directories
(their ``tests/`` and ``solution/``), the scratch root (other tasks) and the results directory.
No network (``--unshare-net``), own pid/ipc/uts namespaces, ``--cap-drop ALL`` as root, and
``--die-with-parent``: when a command is killed (its timeout), bwrap, pid 1 of the namespace, goes
and the kernel kills everything left in it. The sandbox's lifeline (``agentrt.sandbox.bwrap``) kills
the container's processes when the runtime dies, however early.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agentrt.bench.tasks.spec import TaskSpec
from agentrt.process_group import Lifeline
from agentrt.sandbox.bwrap import hide_args, lifeline_guard, limit_prefix
from agentrt.sandbox.limits import Limits

SKIPPED_TOP = frozenset({"proc", "dev", "tmp", "sys"})
"""Host top-level entries not bound: the container gets its own /proc, /dev, /tmp; /sys is left out."""


@dataclass(frozen=True)
class TaskLayout:
    """The host directories of one task's container."""

    scratch: Path
    workdir: str

    @property
    def app(self) -> Path:
        return self.scratch / "app"

    @property
    def logs(self) -> Path:
        return self.scratch / "logs"

    @property
    def tmp(self) -> Path:
        return self.scratch / "tmp"

    @property
    def tests(self) -> Path:
        return self.scratch / "tests"

    @property
    def solution(self) -> Path:
        return self.scratch / "solution"

    def binds(self) -> list[tuple[Path, str]]:
        """(host, container) pairs of what exists now."""
        pairs = [(self.app, self.workdir), (self.logs, "/logs"), (self.tmp, "/tmp")]
        pairs += [(p, f"/{p.name}") for p in (self.tests, self.solution) if p.is_dir()]
        return pairs


def prepare(spec: TaskSpec, scratch: Path) -> TaskLayout:
    """A fresh layout for ``spec`` under ``scratch`` (created): the COPYs applied to ``app``."""
    layout = TaskLayout(scratch, spec.workdir)
    for sub in ("app", "tmp", "logs/agent", "logs/verifier"):
        (scratch / sub).mkdir(parents=True)
    env_dir = spec.root / "environment"
    for copy in spec.copies:
        rel = os.path.relpath(copy.dest, spec.workdir)
        dest = layout.app if rel == "." else layout.app / rel
        into_dir = copy.dest.endswith("/") or rel == "."
        for source in copy.sources:
            src = env_dir / source
            if src.is_dir():
                shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
            elif into_dir:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / src.name)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
    return layout


def root_args() -> list[str]:
    """The host's top-level entries bound read-only into bwrap's tmpfs root."""
    args: list[str] = []
    for entry in sorted(os.scandir("/"), key=lambda e: e.name):
        if entry.name in SKIPPED_TOP:
            continue
        if entry.is_symlink():
            args += ["--symlink", os.readlink(entry.path), entry.path]
        elif entry.is_dir() or entry.is_file():
            args += ["--ro-bind", entry.path, entry.path]
    return args


class ContainerSandbox:
    """A ``Sandbox`` that runs each command in the task's container layout (module docstring);
    a host ``cwd`` inside a bound directory starts the command at its container path."""

    def __init__(
        self,
        layout: TaskLayout,
        *,
        hidden: Sequence[Path],
        bwrap: str = "bwrap",
        limits: Limits | None = None,
    ) -> None:
        found = shutil.which(bwrap)
        if found is None:
            raise FileNotFoundError(f"bubblewrap ({bwrap}) not found")
        self.name = "bwrap"
        self.layout = layout
        self.bwrap = found
        self._prefix = limit_prefix(limits or Limits(), None)
        self._root = root_args()
        top = {f"/{n}" for n in SKIPPED_TOP}
        self._hide = hide_args([p for p in hidden if "/" + Path(p).parts[1] not in top])
        self._lifeline = Lifeline()
        self.pass_fds: tuple[int, ...] = (self._lifeline.read_fd,)
        self.death_signal = False  # bwrap with the lifeline guard, as ``BwrapSandbox``

    def container_path(self, cwd: Path) -> str:
        """Where host ``cwd`` is inside the container (the working directory when it is nowhere)."""
        real = Path(os.path.realpath(cwd))
        for host, inside in self.layout.binds():
            host_real = Path(os.path.realpath(host))
            if real == host_real or host_real in real.parents:
                return str(Path(inside) / real.relative_to(host_real))
        return self.layout.workdir

    def wrap(self, argv: Sequence[str], cwd: Path) -> list[str]:
        args = [self.bwrap, *self._root, *self._hide, "--dev", "/dev", "--proc", "/proc"]
        for host, inside in self.layout.binds():
            args += ["--bind", os.fspath(host), inside]
        args += ["--remount-ro", "/", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net"]
        args.append("--unshare-cgroup-try")
        if os.geteuid() == 0:
            args += ["--cap-drop", "ALL"]
        args += ["--die-with-parent", "--new-session", "--chdir", self.container_path(cwd)]
        return [*self._prefix, *args, "--", *lifeline_guard(self._lifeline.read_fd), *argv]

    def close(self) -> None:
        """Cut the lifeline: what still runs in the container is killed."""
        self._lifeline.close()
