"""Signalling a whole process group: the one way agentrt stops a child and everything it started."""

from __future__ import annotations

import os
import signal


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to process group ``pgid``; a group that is already gone (or not ours) is no error."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
