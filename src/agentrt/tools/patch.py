"""The ``apply_patch`` tool (``{input}``) and the shell form of it, both through one apply function.

The model learns the outcome as Codex reports it: the success summary (``Success. Updated the
following files:`` …) or the error text. Renderers get a ``file_change`` item and per-file diffs.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentrt.agent.render import FILE_DIFF
from agentrt.tools.registry import ToolContext, function_spec

_KINDS = {"AddFile": "add", "DeleteFile": "delete", "UpdateFile": "update"}


class ApplyPatchTool:
    name = "apply_patch"

    def spec(self) -> dict[str, Any]:
        return function_spec(
            "apply_patch",
            "Edit files with a patch: '*** Begin Patch', then '*** Add File: p' / '*** Delete File: p' / "
            "'*** Update File: p' hunks (context ' ', removed '-', added '+' lines, '@@' to anchor), then '*** End Patch'.",
            {"input": {"type": "string", "description": "The entire patch text."}},
            ["input"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        return apply_and_report(args["input"], ctx.cwd, ctx)


async def apply_patch_invocation(argv: Sequence[str], cwd: Path, ctx: ToolContext) -> str | None:
    """The patch result when ``argv`` is an apply_patch invocation; ``None`` for any other command."""
    from agentrt.tools.apply_patch import parse_invocation

    found = parse_invocation(list(argv))
    if found is None:
        return None
    text, workdir = (
        (found, None) if isinstance(found, str) else (found.patch, getattr(found, "workdir", None))
    )
    target = cwd / workdir if workdir else cwd
    return apply_and_report(text, target, ctx)


def apply_and_report(text: str, cwd: Path, ctx: ToolContext) -> str:
    from agentrt.tools.apply_patch import PatchError, apply_patch, parse_patch

    item_id = ctx.ids.new()
    try:
        hunks = parse_patch(text)
    except PatchError as exc:
        _emit_change(ctx, item_id, [], "failed")
        return f"error: {exc.message}"
    changes = [_change(h, cwd) for h in hunks]
    before = {c["abs"]: _read(c["abs"]) for c in changes}
    try:
        result = apply_patch(text, cwd, write=ctx.patch_write)
    except PatchError as exc:
        _emit_change(ctx, item_id, changes, "failed")
        return f"error: {exc.message}"
    for change in changes:
        target = change.get("dest") or change["abs"]
        _emit_diff(ctx, change["path"], before[change["abs"]], _read(target))
    _emit_change(ctx, item_id, changes, "completed")
    return str(result.summary())


def _change(hunk: Any, cwd: Path) -> dict[str, Any]:
    path = Path(hunk.path)
    absolute = path if path.is_absolute() else cwd / path
    change: dict[str, Any] = {
        "path": str(hunk.path),
        "kind": _KINDS.get(type(hunk).__name__, "update"),
        "abs": absolute,
    }
    move_to = getattr(hunk, "move_to", None)
    if move_to:
        dest = Path(move_to)
        change["dest"] = dest if dest.is_absolute() else cwd / dest
    return change


def _emit_change(ctx: ToolContext, item_id: str, changes: list[dict[str, Any]], status: str) -> None:
    shown = [{"path": c["path"], "kind": c["kind"]} for c in changes]
    ctx.emit(
        "item.completed", {"item": {"id": item_id, "type": "file_change", "changes": shown, "status": status}}
    )


def _emit_diff(ctx: ToolContext, path: str, old: str, new: str) -> None:
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )
    if diff:
        ctx.emit(FILE_DIFF, {"path": path, "diff": diff})


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
