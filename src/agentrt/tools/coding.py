"""The coding agent's tool sets, with Codex's names and argument shapes: agentrt's own
(``coding_tools``: shell, apply_patch, update_plan and the file tools), and the one Codex 0.169 offers a
custom model (``codex_tools``, parity mode)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agentrt.interfaces import Approvals
from agentrt.tools.apply_patch.fsops import FileWrite
from agentrt.tools.files import GrepFilesTool, Hidden, ListDirTool, ReadFileTool
from agentrt.tools.patch import ApplyPatchTool
from agentrt.tools.plan import PlanTool
from agentrt.tools.registry import Tool
from agentrt.tools.shell import ConfinementSource, ShellTool

if TYPE_CHECKING:
    from agentrt.tools.unified_exec import UnifiedExec


def coding_tools(
    confinement: ConfinementSource,
    write: FileWrite,
    *,
    approvals: Approvals | None = None,
    hidden: Sequence[Path] = (),
    bound: Sequence[Path] = (),
) -> list[Tool]:
    """Fresh tools for one session: commands run under ``confinement``, patches write with ``write``,
    and the file tools hide what the sandbox hides from commands (``hidden``: its ``deny_read``; but
    ``bound``: directories a container layout shows again inside a hidden one)."""
    patch = ApplyPatchTool(write)
    shell = ShellTool(confinement, patch, approvals=approvals)
    guard = Hidden(hidden, bound=bound)
    return [shell, patch, PlanTool(), ReadFileTool(guard), ListDirTool(guard), GrepFilesTool(guard)]


def codex_tools(
    confinement: ConfinementSource,
    write: FileWrite,
    *,
    approvals: Approvals | None = None,
    hidden: Sequence[Path] = (),
    enabled: Callable[[str], bool] | None = None,
    goals: Sequence[Tool] = (),
    web_search: str | None = "cached",
    output_max_bytes: int = 16 * 1024,
) -> tuple[list[Tool], UnifiedExec | None]:
    """The tools Codex 0.169 offers a model it has no metadata for, in its order: ``exec_command`` and
    ``write_stdin`` (``unified_exec``; else ``shell``), ``request_user_input``, ``view_image``, the goal
    tools (``goals``, given by the caller), ``web_search`` (``None``: not offered). ``enabled(key)``
    asks the resolved feature flags. Patches go through the command tools, as in Codex; a command's
    ``max_output_tokens`` is capped to fit ``output_max_bytes``, the registry's cut. The
    ``UnifiedExec`` returned (when offered) owns the live processes: close it with the tools."""
    from agentrt.tools.unified_exec import UnifiedExec
    from agentrt.tools.user_input import RequestUserInputTool
    from agentrt.tools.view_image import ViewImageTool
    from agentrt.tools.web_search import WebSearchTool

    on = enabled or (lambda key: True)
    patch = ApplyPatchTool(write)
    tools: list[Tool] = []
    runner = None
    if on("unified_exec"):
        cap = max(1, (output_max_bytes - 256) // 4)  # Codex's 4 bytes a token; room for the header
        runner = UnifiedExec(confinement, approvals=approvals, patch=patch, token_cap=cap)
        tools.extend(runner.tools())
    else:
        tools.append(ShellTool(confinement, patch, approvals=approvals))
    tools.append(RequestUserInputTool())
    if on("view_image"):
        tools.append(ViewImageTool(Hidden(hidden)))
    if on("goals"):
        tools.extend(goals)
    if web_search is not None:
        tools.append(WebSearchTool(web_search))
    return tools, runner
