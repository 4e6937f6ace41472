"""The Landlock sandbox, for when bubblewrap is missing: a small Python helper confines, then runs.

``LandlockSandbox.wrap`` returns ``python -I -S .../confine.py OPTIONS -- CMD...``; the helper
(``agentrt.sandbox.confine``, standard library only) joins the pids cgroup, sets the rlimits, makes
protected paths read-only in a private mount namespace, sets no-new-privs, drops every capability,
applies Landlock (reads everywhere but the denied paths, writes only beneath the writable roots and
/dev/null; no TCP without network) and,
without network, a seccomp filter that refuses every ``socket()`` (Unix ones too: a host daemon's
socket path cannot be told apart from one in the workspace; ``socketpair()`` still works); then it runs the command as its
child and kills every descendant when it ends, or when the runtime dies (it asks the kernel for a
parent-death signal first thing). Start-up costs one Python interpreter (~10 ms).

Denied reads (``policy.deny_read``, passed as ``--deny-read``) are built from grants, since Landlock
only grants: every entry beside the way from ``/`` to a denied path is readable, the directories on
the way are only listable (``confine.read_rules`` says what a command can and cannot see then); a
denied path inside a writable root is hidden by a mount instead, as bwrap does. Each existing denied
path costs one read rule per entry of each directory on its way (~10 us each; /etc/shadow: ~150).

Unlike bwrap there is no pid namespace: the command can see host processes in /proc. The runtime
hides its secrets by calling ``harden_runtime()`` (non-dumpable, so its ``/proc/PID/environ`` and
memory need CAP_SYS_PTRACE, which the helper drops), and Landlock refuses ptrace-style access from
inside the sandbox to processes outside it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from agentrt.sandbox.bwrap import CONFINE_SCRIPT
from agentrt.sandbox.confine import landlock_abi
from agentrt.sandbox.limits import Limits, PidsCgroup, PidsCgroups
from agentrt.sandbox.policy import SandboxPolicy, prepare_protected


class LandlockSandbox:
    """A ``Sandbox`` that runs each command under Landlock + seccomp according to a ``SandboxPolicy``."""

    def __init__(
        self,
        policy: SandboxPolicy,
        *,
        limits: Limits | None = None,
        python: str = sys.executable,
        cgroups: PidsCgroups | None = None,
        abi: int | None = None,
    ) -> None:
        """Raise ``OSError`` when this kernel has no Landlock. ``cgroups``: where the pids cgroup is made
        (one ``PidsCgroups`` for many sandboxes sweeps stale cgroups once); ``abi``: the kernel's
        Landlock ABI when the caller already asked (~30 us each time: it loads the C library)."""
        self.abi = landlock_abi() if abi is None else abi
        if self.abi < 1:
            raise OSError("Landlock is not available in this kernel")
        self.name = "landlock"
        self.pass_fds: tuple[int, ...] = ()  # the helper ties itself to this process with --parent
        self.death_signal = True
        self.policy = policy
        prepare_protected(policy)
        limits = Limits() if limits is None else limits
        cgroups = PidsCgroups() if cgroups is None else cgroups
        self._cgroup = cgroups.create(limits.nproc) if limits.nproc is not None else None
        self._options = helper_options(policy, limits, self._cgroup)
        self._python = python

    def wrap(self, argv: Sequence[str], cwd: Path, *, deny_read: Sequence[Path] = ()) -> list[str]:
        """``argv`` under the confinement helper (``cwd`` is where ``run_command`` starts it).

        ``--parent`` is this process, which starts the helper: the helper dies with it, and does
        not start at all when it finds itself re-parented (this process died while it started).
        ``deny_read`` hides more paths from this one command (the self-test's probe secret).
        """
        helper = [self._python, "-I", "-S", CONFINE_SCRIPT, "--parent", str(os.getpid())]
        extra = [arg for path in deny_read for arg in ("--deny-read", str(path))]
        return [*helper, *self._options, *extra, "--", *argv]

    def close(self) -> None:
        """Remove the sandbox's pids cgroup, killing what is left in it."""
        if self._cgroup is not None:
            self._cgroup.close()


def helper_options(policy: SandboxPolicy, limits: Limits, cgroup: PidsCgroup | None) -> list[str]:
    """The helper's options for ``policy``: writable roots, protected paths, denied reads, network,
    limits, cgroup. The helper looks at the denied paths anew for each command: which exist then."""
    options: list[str] = []
    for root in policy.write_roots():
        options += ["--write", str(root)]
    if policy.write_roots():
        for path in policy.protected:
            options += ["--protect", str(path)]
    for path in policy.deny_read:
        options += ["--deny-read", str(path)]
    if policy.network_allowed:
        options.append("--network")
    for name, value in limits.rlimits():
        options += ["--rlimit", f"{name}={value}"]
    if cgroup is not None:
        options += ["--cgroup", str(cgroup.procs_file)]
    return options
