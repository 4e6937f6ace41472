"""The coding agent's tool set, with Codex's names and argument shapes."""

from __future__ import annotations

from agentrt.tools.files import GrepFilesTool, ListDirTool, ReadFileTool
from agentrt.tools.patch import ApplyPatchTool
from agentrt.tools.plan import PlanTool
from agentrt.tools.registry import Tool
from agentrt.tools.shell import ShellTool


def coding_tools() -> list[Tool]:
    return [ShellTool(), ApplyPatchTool(), PlanTool(), ReadFileTool(), ListDirTool(), GrepFilesTool()]
