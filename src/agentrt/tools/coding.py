"""The coding agent's tool set, with Codex's names and argument shapes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agentrt.interfaces import Approvals
from agentrt.tools.apply_patch.fsops import FileWrite
from agentrt.tools.files import GrepFilesTool, Hidden, ListDirTool, ReadFileTool
from agentrt.tools.patch import ApplyPatchTool
from agentrt.tools.plan import PlanTool
from agentrt.tools.registry import Tool
from agentrt.tools.shell import ConfinementSource, ShellTool


def coding_tools(
    confinement: ConfinementSource,
    write: FileWrite,
    *,
    approvals: Approvals | None = None,
    hidden: Sequence[Path] = (),
) -> list[Tool]:
    """Fresh tools for one session: commands run under ``confinement``, patches write with ``write``,
    and the file tools hide what the sandbox hides from commands (``hidden``: its ``deny_read``)."""
    patch = ApplyPatchTool(write)
    shell = ShellTool(confinement, patch, approvals=approvals)
    guard = Hidden(hidden)
    return [shell, patch, PlanTool(), ReadFileTool(guard), ListDirTool(guard), GrepFilesTool(guard)]
