"""Resource limits for every sandboxed command: rlimits, and a pids cgroup where one is writable.

``Limits`` names the rlimits each command starts with (CPU seconds, file size, open files, core
dumps off, optionally address space). How they are applied depends on the sandbox: in front of
bwrap, util-linux's ``prlimit`` sets them and execs bwrap (about 1 ms); the Landlock helper sets
them itself.

The number of processes is bounded in two ways, because ``RLIMIT_NPROC`` is ignored for root:

* not root: ``RLIMIT_NPROC`` = the user's current process count + ``Limits.nproc``, measured when
  the sandbox is made (the limit counts every process of the user, not only the command's);
* a writable cgroup v1 ``pids`` hierarchy (root, usually): ``PidsCgroup`` makes one cgroup per
  sandbox object whose ``pids.max`` is ``Limits.nproc``; each command joins it before it execs,
  so all commands of one sandbox share that budget. cgroup v2 is not used: moving a process into a
  v2 cgroup needs a delegated subtree that agentrt would have to leave first.

A fork bomb thus fails with EAGAIN at the bound instead of exhausting the machine, and the pid
namespace (bwrap) or the helper's supervisor (Landlock) removes what is left when the command ends.

A cgroup is removed by ``close`` (or when its object is collected), which a runtime killed by
SIGKILL or SIGTERM never reaches. Its name carries the runtime's ``owner_tag``, and ``create``
first clears every cgroup beside it whose owner is gone: it kills what still runs there (nothing
should, as the sandboxes die with the runtime; this is the backstop) and removes the cgroup. So a
killed run's cgroup lasts until the next one starts, not for ever. (A cgroup that dies with the run
would need v1's ``release_agent``, a machine-wide setting agentrt must not own.)
"""

from __future__ import annotations

import os
import resource
import secrets
import signal
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from agentrt.sandbox.confine import RLIMITS
from agentrt.sandbox.hygiene import owner_tag, stale_entries

_CGROUP_PREFIX = "agentrt-"


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-command resource limits; ``None`` leaves a limit as the runtime has it."""

    cpu_s: int | None = 600
    fsize_bytes: int | None = 8 << 30
    nofile: int | None = 4096
    core_bytes: int | None = 0
    nproc: int | None = 1024
    """Processes the command (all commands of one sandbox, with a cgroup) may have at once."""
    as_bytes: int | None = None
    """Address space; off by default (JITs and Go reserve far more than they use)."""

    def rlimits(self) -> list[tuple[str, int]]:
        """``(name, value)`` pairs to set, clamped to the runtime's hard limits when not root."""
        wanted = {
            "cpu": self.cpu_s,
            "fsize": self.fsize_bytes,
            "nofile": self.nofile,
            "core": self.core_bytes,
            "as": self.as_bytes,
        }
        if self.nproc is not None and os.geteuid() != 0:
            wanted["nproc"] = _user_process_count(os.getuid()) + self.nproc
        return [(name, _clamp(name, value)) for name, value in wanted.items() if value is not None]


def _clamp(name: str, value: int) -> int:
    _, hard = resource.getrlimit(RLIMITS[name])
    if os.geteuid() == 0 or hard == resource.RLIM_INFINITY:
        return value
    return min(value, hard)


def _user_process_count(uid: int) -> int:
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                count += os.stat(f"/proc/{name}").st_uid == uid
            except OSError:
                continue
    return count


def prlimit_args(prlimit: str, limits: list[tuple[str, int]]) -> list[str]:
    """``prlimit --NAME=N:N ... --``: the prefix that starts the next program with these limits."""
    return [prlimit, *(f"--{name}={value}:{value}" for name, value in limits), "--"]


class PidsCgroup:
    """One cgroup v1 ``pids`` cgroup: created by ``create``, removed (its processes killed) by ``close``.

    One made by a ``PidsCgroups`` goes back to it at ``close`` instead when nothing runs in it any
    more, for its next ``create``; it is removed when that owner is collected or at exit."""

    def __init__(self, path: Path, max_pids: int = 0) -> None:
        self.path = path
        self.max_pids = max_pids
        self._spare: list[PidsCgroup] | None = None
        self._finalizer = weakref.finalize(self, _remove_cgroup, path)

    @property
    def procs_file(self) -> Path:
        """The file a process writes its pid to, to join."""
        return self.path / "cgroup.procs"

    @classmethod
    def create(cls, max_pids: int) -> PidsCgroup | None:
        """A new cgroup capped at ``max_pids`` processes, or ``None`` where none can be made.

        Clears the cgroups of runtimes that are gone first (module docstring). To make many, use one
        ``PidsCgroups``: it finds the hierarchy and clears the stale cgroups once.
        """
        return PidsCgroups().create(max_pids)

    def pids(self) -> list[int]:
        """The processes in the cgroup now."""
        return _read_pids(self.procs_file)

    def close(self) -> None:
        """Kill whatever is left in the cgroup and remove it, or hand it back empty to the
        ``PidsCgroups`` that made it (idempotent: a second ``close`` does nothing)."""
        spare, self._spare = self._spare, None
        if spare is not None and self._finalizer.alive and not self.pids():
            spare.append(self)
            return
        self._finalizer()

    def _renew(self, max_pids: int, spare: list[PidsCgroup]) -> bool:
        """Back in use for another sandbox, capped at ``max_pids``; ``False`` when it cannot be."""
        if not self._finalizer.alive or self.pids():
            self._finalizer()
            return False
        if max_pids != self.max_pids:
            try:
                _write(self.path / "pids.max", str(max_pids))
            except OSError:
                self._finalizer()
                return False
            self.max_pids = max_pids
        self._spare = spare
        return True


class PidsCgroups:
    """Where one runtime makes its pids cgroups, one after another (a benchmark's thousand tasks).

    The first ``create`` finds this process's ``pids`` hierarchy and owner tag and clears the
    cgroups of runtimes that are gone (``_sweep_stale``); later ones only make their cgroup. A
    sweep per cgroup would list the whole hierarchy each time: quadratic in the live cgroups.

    With ``reuse``, a closed cgroup that is empty is kept and handed out again by the next
    ``create`` (making and removing one cost ~80 us, more with a thousand beside it; a benchmark
    makes one per task), so at most as many exist as were open at once; the spares are removed when
    this object is collected, or at exit."""

    __slots__ = ("_base", "_owner", "_ready", "_reuse", "_spare")

    def __init__(self, *, reuse: bool = False) -> None:
        self._ready = False
        self._base: Path | None = None
        self._owner = ""
        self._reuse = reuse
        self._spare: list[PidsCgroup] = []

    def create(self, max_pids: int) -> PidsCgroup | None:
        """A new cgroup capped at ``max_pids`` processes, or ``None`` where none can be made."""
        if not self._ready:
            self._ready = True
            base, owner = _own_pids_cgroup(), owner_tag()
            if base is None or owner is None or not os.access(base, os.W_OK):
                return None
            _sweep_stale(base)
            self._base, self._owner = base, owner
        if self._base is None:
            return None
        while self._spare:
            group = self._spare.pop()
            if group._renew(max_pids, self._spare):
                return group
        path = self._base / f"{_CGROUP_PREFIX}{self._owner}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except OSError:
            return None
        group = PidsCgroup(path, max_pids)
        try:
            _write(path / "pids.max", str(max_pids))
        except OSError:
            group.close()
            return None
        if self._reuse:
            group._spare = self._spare
        return group


def _own_pids_cgroup() -> Path | None:
    """This process's cgroup in the v1 ``pids`` hierarchy, or ``None`` when there is none."""
    mount = None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields, super_opts = left.split(), right.split()
                if len(super_opts) >= 3 and super_opts[0] == "cgroup" and "pids" in super_opts[2].split(","):
                    mount = fields[4]
                    break
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            own = next((ln.split(":", 2)[2].strip() for ln in f if ":pids:" in ln), None)
    except OSError:
        return None
    if mount is None or own is None:
        return None
    return Path(mount) / own.lstrip("/")


def _sweep_stale(base: Path) -> None:
    """Kill what runs in the agentrt cgroups whose runtime is gone, and remove them (module docstring).

    Each gets a short deadline: a process stuck in the kernel leaves its cgroup for the next start.
    """
    for path in stale_entries(base, _CGROUP_PREFIX):
        _remove_cgroup(path, within_s=0.5)


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)


def _read_pids(procs: Path) -> list[int]:
    try:
        return [int(p) for p in procs.read_text(encoding="ascii").split()]
    except OSError:
        return []


def _remove_cgroup(path: Path, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        for pid in _read_pids(path / "cgroup.procs"):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
