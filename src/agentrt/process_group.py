"""A child's lifetime tied to agentrt: signalling its whole process group, and dying with agentrt."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to process group ``pgid``; a group that is already gone (or not ours) is no error."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` for every child agentrt starts: Linux SIGKILLs the child when agentrt dies
    (the request survives ``exec``, so it covers a sandbox's prefix too: ``sh``, ``prlimit``, ``bwrap``
    until bwrap makes its own), and a child whose agentrt died before it could ask exits at once
    (status 126) instead of running unwatched. ``None`` where Linux's ``prctl`` is missing.

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
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # agentrt died between the fork and the request
            os._exit(126)

    return preexec
