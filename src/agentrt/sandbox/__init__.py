"""Running commands for agentrt: one async subprocess per call, behind the ``Sandbox`` seam.

``run_command`` runs one command in its own process group with captured, capped output and a
wall-clock timeout; ``NoSandbox`` is the default ``Sandbox`` that leaves the argv unchanged.
"""

from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.process import RunResult, run_command, use_pidfd_child_watcher

__all__ = ["NoSandbox", "RunResult", "run_command", "use_pidfd_child_watcher"]
