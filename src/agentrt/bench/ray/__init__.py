"""``agentrt bench humaneval --ray``: the benchmark's agents on the actors of a Ray cluster.

Each actor (``actors.AgentActor``) is an asyncio host running many agents with the runner's own
per-task function (``runner.task_solver``) and test harness; the driver (``cluster.RayHost``, an
``runner.AgentHost``) deals the tasks to the actors, collects each row as it finishes into the run's
journal, and ``runner.run_bench`` writes the same CSV and summary as a single-process run, with the
per-actor figures on top. Ray is imported here only, and only when ``--ray`` is given: the optional
extra ``agentrt[ray]``.
"""

from __future__ import annotations

from typing import Any

INSTALL = "pip install 'agentrt[ray]'"
"""The command that installs what ``--ray`` needs."""
LOCAL = "local"
"""``--ray`` with no address: start a cluster on this machine for the run, stop it after."""


class RayMissing(ValueError):
    """``--ray`` was asked for, and Ray is not installed (bad usage: exit 2, with the install line)."""


def require_ray() -> Any:
    """The ``ray`` module; ``RayMissing`` naming the install command when it cannot be imported."""
    try:
        import ray
    except ImportError as exc:
        raise RayMissing(f"--ray needs Ray, which is not installed here: {INSTALL}") from exc
    return ray
