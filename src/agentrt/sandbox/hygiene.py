"""Process-wide hygiene for the runtime itself: ``harden_runtime``, ``become_subreaper``, ``reap_orphans``.

The CLI calls ``harden_runtime()`` and ``become_subreaper()`` once at start-up (never at import).

* ``harden_runtime`` makes the runtime non-dumpable. Its ``/proc/PID/environ``, ``mem`` and ``fd``
  then need CAP_SYS_PTRACE even for a process of the same user, so a sandboxed command (whose
  capabilities the sandbox drops) cannot read the runtime's secrets through /proc. Side effect:
  debuggers and ``py-spy`` cannot attach to the runtime without root.
* ``become_subreaper`` makes orphaned descendants (a command's daemonised grandchildren) reparent
  to the runtime instead of to init, so they stay within reach.
* ``reap_orphans`` (``run_command`` calls it after every command) waits for adopted orphans that
  have exited and SIGKILLs live ones whose command has ended. It must never wait for a child that
  asyncio or ``subprocess`` started — those owners wait for specific pids, and stealing the status
  would turn their exit code into garbage — so it only touches children that cannot have been
  started by the runtime: those in another process's session (``run_command`` children lead their
  own session, other children share the runtime's), and those in a deeper pid namespace (the
  namespace init bwrap leaves behind for every command: without this, a subreaper runtime would
  collect one zombie per sandboxed command). An orphan that called ``setsid`` itself looks exactly
  like a ``run_command`` child and is left alone; under bwrap (pid namespace) and under the Landlock
  helper (a supervising subreaper) such orphans are killed before they can reach the runtime.
* ``own_children`` lists the runtime's children (all threads'); ``reap_orphans`` and the tests use it.
* ``owner_tag``, ``owner_gone`` and ``stale_entries`` let a run find what an earlier run left on disk
  (its pids cgroup, its private ``TMPDIR``): a run killed by SIGKILL or SIGTERM runs no clean-up
  code, so each new run removes the entries whose owner is gone. An owner is named by pid, start
  time and pid namespace, so a reused pid is not mistaken for the owner, and an entry made in
  another pid namespace (e.g. a nested run in a sibling sandbox sharing its ``TMPDIR``) is never
  judged from this one. ``owned_dir`` makes such an entry, clearing the stale ones first.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def harden_runtime() -> None:
    """Make this process non-dumpable (see the module docstring). Linux only; raises ``OSError``."""
    from agentrt.sandbox.confine import PR_SET_DUMPABLE, prctl

    prctl(PR_SET_DUMPABLE, 0)


def become_subreaper() -> None:
    """Make this process the reaper of its orphaned descendants. Linux only; raises ``OSError``."""
    from agentrt.sandbox.confine import PR_SET_CHILD_SUBREAPER, prctl

    prctl(PR_SET_CHILD_SUBREAPER, 1)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """``(state, ppid, session)`` of ``pid``, or ``None`` when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0].decode(), int(fields[1]), int(fields[3])


def _pid_ns_depth(pid: int | str) -> int:
    """How many pid namespaces ``pid`` is nested in, as seen from here (``NSpid`` entries)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return len(line.split()) - 1
    except OSError:
        pass
    return 1


def _adopted(pid: int, session: int, own_session: int, own_depth: int) -> bool:
    """Whether child ``pid`` cannot have been started by the runtime itself (module docstring)."""
    return session not in (pid, own_session) or _pid_ns_depth(pid) > own_depth


def own_children(task_dir: str | os.PathLike[str] = "/proc/self/task") -> set[int]:
    """Pids of this process's children: the ``children`` files of all its threads, merged.

    A child belongs to the thread that forked it, so every thread must be read. Threads come and go
    (asyncio's child-watcher threads do) between listing ``task_dir`` and opening a thread's file;
    such a vanished thread is skipped, whatever ``OSError`` its file gives (``FileNotFoundError``
    once the thread is gone; one that exits after the open reads as empty). Without ``/proc``: empty.
    ``task_dir`` is a parameter only so that tests can point it at a fake tree.
    """
    children: set[int] = set()
    try:
        tasks = os.listdir(task_dir)
    except OSError:
        return children
    for task in tasks:
        try:
            with open(os.path.join(task_dir, task, "children"), encoding="ascii") as f:
                children.update(int(pid) for pid in f.read().split())
        except OSError:
            continue  # the thread exited since the listing
    return children


def reap_orphans() -> list[int]:
    """Reap exited adopted orphans and kill those whose command is gone; return the pids reaped."""
    me, own_session, own_depth = os.getpid(), os.getsid(0), _pid_ns_depth("self")
    reaped: list[int] = []
    for pid in sorted(own_children()):
        info = _stat(pid)
        if info is None:
            continue
        state, ppid, session = info
        if ppid != me or not _adopted(pid, session, own_session, own_depth):
            continue
        if state not in ("Z", "X"):
            if os.path.exists(f"/proc/{session}"):
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
        if _wait_briefly(pid):
            reaped.append(pid)
    return reaped


def _wait_briefly(pid: int, within_s: float = 0.05) -> bool:
    """Reap ``pid`` if it exits within ``within_s`` (a SIGKILLed process needs a moment)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return False
        if done == pid:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)


def _start_time(pid: int | str) -> int | None:
    """When ``pid`` started (clock ticks after boot), or ``None`` when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def _pid_ns(pid: int | str) -> int | None:
    """The inode of ``pid``'s pid namespace, or ``None`` when it cannot be read."""
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return None


def owner_tag(pid: int | None = None) -> str | None:
    """``PID.START.PIDNS`` for this process (or ``pid``): a name part no later process can share.

    ``None`` without a readable ``/proc``.
    """
    pid = os.getpid() if pid is None else pid
    start, ns = _start_time(pid), _pid_ns(pid)
    if start is None or ns is None:
        return None
    return f"{pid}.{start}.{ns}"


def owner_gone(tag: str) -> bool | None:
    """Whether the process ``tag`` names has exited: ``None`` when that cannot be told from here.

    A bare ``PID`` (the cgroup names of earlier versions) counts as gone when no such pid exists.
    """
    parts = tag.split(".")
    if not all(part.isdigit() for part in parts):
        return None
    if len(parts) == 1:
        return not os.path.exists(f"/proc/{parts[0]}")
    if len(parts) != 3 or int(parts[2]) != _pid_ns("self"):
        return None
    return _start_time(parts[0]) != int(parts[1])


def stale_entries(directory: Path, prefix: str) -> Iterator[Path]:
    """Directories ``PREFIX<owner tag>-REST`` in ``directory`` that this user owns, whose owner is gone.

    Symlinks and other users' entries are never yielded: ``directory`` may be a shared ``/tmp``.
    """
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    mine = owner_tag()
    gone: dict[str, bool | None] = {mine: False} if mine is not None else {}
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        tag, dash, _ = entry.name[len(prefix) :].partition("-")
        if not dash:
            continue
        if tag not in gone:  # one verdict per owner: a live runtime may own a thousand entries
            gone[tag] = owner_gone(tag)
        if gone[tag] is not True:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid():
            yield Path(entry.path)


def owned_dir(parent: Path, prefix: str, *, sweep: bool = True, owner: str | None = None) -> str:
    """A new private directory ``PREFIX<owner tag>-XXXXXXXX`` in ``parent``, after removing (with
    ``sweep``) the ``PREFIX`` entries there whose owner is gone (``stale_entries``). ``owner``: this
    process's ``owner_tag`` when the caller already has it."""
    if sweep:
        for stale in stale_entries(parent, prefix):
            shutil.rmtree(stale, ignore_errors=True)
    owner = owner_tag() if owner is None else owner
    return tempfile.mkdtemp(prefix=prefix if owner is None else f"{prefix}{owner}-", dir=parent)
