"""A child's lifetime tied to agentrt: signalling its whole process group, and dying with agentrt."""

from __future__ import annotations

import os
import signal
import sys
import weakref
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to process group ``pgid``; a group that is already gone (or not ours) is no error."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def die_with_parent(*, kill: bool = True) -> Callable[[], None] | None:
    """A ``preexec_fn`` for every child agentrt starts: Linux SIGKILLs the child when agentrt dies
    (the request survives ``exec``, so it covers a sandbox's prefix too: ``sh``, ``prlimit``), and a
    child whose agentrt died before it could ask exits at once (status 126) instead of running
    unwatched. ``None`` where Linux's ``prctl`` is missing.

    ``kill=False`` (a sandbox whose ``death_signal`` is ``False``) keeps only that first check: bwrap
    must not be killed between cloning its inner process and releasing it (the inner process, not
    yet asking to die with bwrap, would wait on bwrap's eventfd for good, orphaned: 2 starts in 450
    whose agent SIGKILLed itself at once, here; 0 in 1,350 without the signal). Unsignalled, bwrap
    finishes its start, and the lifeline guard inside sees agentrt gone and exits 126; bwrap exits
    with it. (bwrap's own ``--die-with-parent`` still arms its signal a few instructions before the
    release: that much of the window is bwrap's.)

    SIGKILL, not SIGTERM: a child that finishes its work on SIGTERM (llama.cpp's server finishes the
    generation in flight) would go on for minutes with nobody to read it. Clean stops go through the
    owner's own TERM, grace, KILL.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        if kill:
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # agentrt died between the fork and the request
            os._exit(126)

    return preexec


class Lifeline:
    """A pipe whose write end only this process holds: a child given the read end sees end-of-file
    the moment this process is gone (or ``close`` is called), however it ends, even when the child
    was already orphaned before it could arm a parent-death signal of its own.

    Both ends are closed by ``close`` or, at the latest, when the object is collected.
    """

    __slots__ = ("read_fd", "_finalize", "__weakref__")

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()  # non-inheritable: a child gets the read end only via pass_fds
        self.read_fd = read_fd
        self._finalize = weakref.finalize(self, _close_fds, read_fd, write_fd)

    def close(self) -> None:
        """Cut the line: every child holding the read end sees end-of-file."""
        self._finalize()


def _close_fds(*fds: int) -> None:
    for fd in fds:
        os.close(fd)
