"""The coding agent's tool set, with Codex's names and argument shapes."""

from __future__ import annotations

from agentrt.interfaces import Approvals
from agentrt.tools.apply_patch.fsops import FileWrite
from agentrt.tools.files import GrepFilesTool, ListDirTool, ReadFileTool
from agentrt.tools.patch import ApplyPatchTool
from agentrt.tools.plan import PlanTool
from agentrt.tools.registry import Tool
from agentrt.tools.shell import ConfinementSource, ShellTool


def coding_tools(
    confinement: ConfinementSource, write: FileWrite, *, approvals: Approvals | None = None
) -> list[Tool]:
    """Fresh tools for one session: commands run under ``confinement``, patches write with ``write``."""
    patch = ApplyPatchTool(write)
    shell = ShellTool(confinement, patch, approvals=approvals)
    return [shell, patch, PlanTool(), ReadFileTool(), ListDirTool(), GrepFilesTool()]
