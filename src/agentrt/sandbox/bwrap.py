"""The bubblewrap sandbox: each command runs in fresh mount, pid, ipc, uts (and net) namespaces.

``BwrapSandbox.wrap`` returns ``[prefix...] bwrap ARGS -- CMD...`` where the bwrap arguments are:

* ``--ro-bind / /``, a minimal ``--dev /dev`` and a fresh ``--proc /proc``: everything is readable,
  nothing is writable;
* ``--bind R R`` for each existing writable root (``cwd``, ``writable_roots``, the private
  ``tmpdir``) in ``workspace-write``, then ``--ro-bind P P`` for each protected path (``.git``,
  agentrt's home) so they stay read-only inside a writable root;
* after every other mount, each existing denied path (``deny_read``, by its real path) hidden: a
  directory under an empty read-only tmpfs (``--tmpfs P --remount-ro P``), any other file under
  ``--ro-bind /dev/null P``; coming last, a denial wins inside a writable or protected root. A path
  inside another denied directory is hidden with it. The command still sees the name; a hard link
  to the same file elsewhere is not covered;
* ``--unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup-try``: the command sees only its own
  processes, so neither the runtime's ``/proc/PID/environ`` nor any host process is visible;
  ``/proc/1`` is bwrap itself, whose environment is the scrubbed one ``run_command`` passes;
* ``--unshare-net`` unless the policy allows network: the command gets a network namespace with
  only its own loopback, and every bound Unix socket outside the writable roots (``/proc/net/unix``)
  is covered by ``/dev/null``, so a host daemon's socket refuses the connection. That is the network boundary (no seccomp filter is added in front of
  bwrap: it would need a file descriptor passed through ``run_command``, and with the namespace a
  command can still run its own test servers on 127.0.0.1 without reaching the host's);
* ``--cap-drop ALL`` when the runtime is root: otherwise the command keeps root's capabilities and
  can simply remount ``/`` read-write;
* ``--die-with-parent --new-session --chdir CWD``;
* inside, ``/bin/sh`` first (``lifeline_guard``): it starts a watcher that kills everything in the
  namespace once the sandbox's ``Lifeline`` (a pipe whose write end only the runtime holds) reads
  end-of-file, refuses to start the command when it already does (exit 126), then execs the
  command. ``--die-with-parent`` alone leaves a window: bwrap's inner process arms
  its parent-death signal only after its setup, so a runtime that dies in that moment (its bwrap
  killed with it) left the command to run orphaned. The spawner passes ``pass_fds``. Cost: 4-7 ms
  a command (``true`` under bwrap: 27.5-29.4 ms against 22.3-23.4 ms without, medians of 40, here).
  For the same reason bwrap itself is spawned without a parent-death signal (``death_signal`` is
  ``False``): killed between cloning its inner process and releasing it, bwrap 0.8 left that process
  blocked for good on its eventfd, orphaned, outside the lifeline's reach. Unsignalled, it finishes
  its start and the guard ends the command. (bwrap's own ``--die-with-parent`` arms its signal a few
  instructions before that release: that much of the window is left, bwrap's.)

When the command ends, bwrap (pid 1 of the namespace) exits and the kernel kills every process left
in the namespace, daemons included; a timeout kill of bwrap does the same.

The prefix applies ``Limits``: ``prlimit`` when util-linux has it (else the Landlock helper in
``--limits-only`` mode), preceded by ``/bin/sh -c 'echo $$ > cgroup.procs; exec ...'`` when a pids
cgroup bounds the processes. Environment values never appear in the argv (it is world-readable).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from agentrt.process_group import Lifeline
from agentrt.sandbox.confine import outermost_existing
from agentrt.sandbox.limits import Limits, PidsCgroup, PidsCgroups, prlimit_args
from agentrt.sandbox.policy import SandboxPolicy, prepare_protected, within_any

CONFINE_SCRIPT = str(Path(__file__).with_name("confine.py"))
# $1: the lifeline's fd, reached by its /proc path (dash has no redirection for an fd above 9, and
# reopening an anonymous pipe never waits for a writer). The watcher's read returns only at
# end-of-file: the runtime is gone. It starts only as pid 2, bwrap's first process in its own pid
# namespace, where ``kill -1`` reaches that namespace alone (anywhere else it would reach every
# process of the user). A non-blocking read fails while a writer lives and succeeds (0 bytes) once
# none does; without dd's iflag=nonblock only that early check is lost, not the watcher. The
# command inherits the read end too: it keeps nothing alive.
_LIFELINE = (
    'line=/proc/self/fd/$1; shift; [ -p "$line" ] || '
    '{ echo "agentrt: bwrap was started without the sandbox lifeline ($line)" >&2; exit 126; }; '
    'if [ "$$" = 2 ]; then (read _ <"$line"; kill -KILL -1) </dev/null >/dev/null 2>&1 & fi; '
    'dd if="$line" bs=1 count=1 iflag=nonblock status=none 2>/dev/null && exit 126; '
    'exec "$@"'
)
_JOIN_CGROUP = 'echo $$ > "$1" || exit 126; shift; exec "$@"'


class BwrapSandbox:
    """A ``Sandbox`` that runs each command under bubblewrap according to a ``SandboxPolicy``."""

    def __init__(
        self,
        policy: SandboxPolicy,
        *,
        bwrap: str = "bwrap",
        limits: Limits | None = None,
        cgroups: PidsCgroups | None = None,
    ) -> None:
        """Raise ``FileNotFoundError`` when ``bwrap`` is not an executable on PATH (or a path).
        ``cgroups``: where the pids cgroup is made (see ``LandlockSandbox``)."""
        found = shutil.which(bwrap)
        if found is None:
            raise FileNotFoundError(f"bubblewrap ({bwrap}) not found")
        self.name = "bwrap"
        self.policy = policy
        self.bwrap = found
        prepare_protected(policy)
        limits = Limits() if limits is None else limits
        cgroups = PidsCgroups() if cgroups is None else cgroups
        self._cgroup = cgroups.create(limits.nproc) if limits.nproc is not None else None
        self._prefix = limit_prefix(limits, self._cgroup)
        self._lifeline = Lifeline()
        self.pass_fds: tuple[int, ...] = (self._lifeline.read_fd,)
        self.death_signal = False  # the lifeline guard ends the command (module docstring)

    def wrap(self, argv: Sequence[str], cwd: Path, *, deny_read: Sequence[Path] = ()) -> list[str]:
        """``argv`` under bwrap, started in ``cwd`` (see the module docstring); spawn it with
        ``pass_fds``. ``deny_read`` hides more paths from this one command (the self-test's probe secret).
        """
        args = bwrap_args(self.bwrap, self.policy, cwd, deny_read=deny_read)
        return [*self._prefix, *args, "--", *lifeline_guard(self._lifeline.read_fd), *argv]

    def close(self) -> None:
        """Cut the lifeline and remove the sandbox's pids cgroup: what still runs in it is killed."""
        self._lifeline.close()
        if self._cgroup is not None:
            self._cgroup.close()


def lifeline_guard(fd: int) -> list[str]:
    """The argv prefix, run inside bwrap's pid namespace, that ties the command to the lifeline ``fd``
    (see the module docstring)."""
    return ["/bin/sh", "-c", _LIFELINE, "agentrt-lifeline", str(fd)]


def limit_prefix(limits: Limits, cgroup: PidsCgroup | None) -> list[str]:
    """The argv prefix that starts the next program with ``limits`` and inside ``cgroup``."""
    rlimits = limits.rlimits()
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        helper = [sys.executable, "-I", "-S", CONFINE_SCRIPT, "--limits-only"]
        helper += [arg for name, value in rlimits for arg in ("--rlimit", f"{name}={value}")]
        if cgroup is not None:
            helper += ["--cgroup", str(cgroup.procs_file)]
        return [*helper, "--"]
    prefix = prlimit_args(prlimit, rlimits) if rlimits else []
    if cgroup is not None:
        prefix = ["/bin/sh", "-c", _JOIN_CGROUP, "agentrt-sandbox", str(cgroup.procs_file), *prefix]
    return prefix


def host_unix_sockets(policy: SandboxPolicy, table: str = "/proc/net/unix") -> list[str]:
    """The bound Unix sockets outside the writable roots (from ``/proc/net/unix``), to mask.

    A network namespace cuts TCP and abstract sockets, but a socket with a path is a file: without
    a mask a command could still talk to a host daemon through it (a container engine's is root on
    the host). Each one found is covered by ``/dev/null``, so connecting is refused. Read again for
    every command, so sockets bound since the last one are covered too.
    """
    roots = tuple(Path(os.path.realpath(r)) for r in policy.write_roots())
    try:
        with open(table, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return []
    found: list[str] = []
    for line in lines:
        fields = line.split(None, 7)
        path = fields[7] if len(fields) == 8 else ""
        if (
            path.startswith("/")
            and path not in found
            and _is_socket(path)
            and not within_any(Path(path), roots)
        ):
            found.append(path)
    return found


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False


def bwrap_args(bwrap: str, policy: SandboxPolicy, cwd: Path, *, deny_read: Sequence[Path] = ()) -> list[str]:
    """The bwrap command line (without ``--`` and the command) for ``policy``, starting in ``cwd``.

    ``deny_read`` adds to ``policy.deny_read`` for this command only.
    """
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for root in policy.write_roots():
        real = os.path.realpath(root)
        if os.path.exists(real):
            args += ["--bind", real, real]
    for path in policy.protected:
        if os.path.lexists(path):
            args += ["--ro-bind", os.fspath(path), os.fspath(path)]
    if not policy.network_allowed:
        for socket_path in host_unix_sockets(policy):
            args += ["--ro-bind", "/dev/null", socket_path]
    args += hide_args((*policy.deny_read, *deny_read))
    args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not policy.network_allowed:
        args.append("--unshare-net")
    if os.geteuid() == 0:
        args += ["--cap-drop", "ALL"]
    args += ["--die-with-parent", "--new-session", "--chdir", os.fspath(cwd)]
    return args


def hide_args(paths: Sequence[Path]) -> list[str]:
    """bwrap options hiding each existing path: an empty read-only tmpfs on a directory, /dev/null on
    anything else. They must come after the mounts they override (a writable root's ``--bind``)."""
    args: list[str] = []
    for path in outermost_existing([os.fspath(p) for p in paths]):
        if os.path.isdir(path):
            args += ["--tmpfs", path, "--remount-ro", path]
        else:
            args += ["--ro-bind", "/dev/null", path]
    return args
