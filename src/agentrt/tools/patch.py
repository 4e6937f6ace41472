"""The ``apply_patch`` tool (``{input}``) and the shell form of it, both through one apply function.

The model learns the outcome as Codex reports it: the success summary (``Success. Updated the
following files:`` …) or the error text. Renderers get a ``file_change`` item and per-file diffs.
The tool owns how it writes: a sandboxed session gives it a writer confined to the policy; an
unconfined one says so by passing ``local_write``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentrt.events import ErrorItem, FileChange, FileDiff, ItemCompleted, ItemStarted, PatchChange
from agentrt.tools.apply_patch.fsops import FileWrite
from agentrt.tools.paths import PathMap
from agentrt.tools.registry import ToolContext, function_spec

_KINDS = {"AddFile": "add", "DeleteFile": "delete", "UpdateFile": "update"}


@dataclass(frozen=True, slots=True)
class _Target:
    change: PatchChange
    path: Path
    dest: Path | None


class ApplyPatchTool:
    name = "apply_patch"

    def __init__(self, write: FileWrite) -> None:
        self.write = write

    def spec(self) -> dict[str, Any]:
        return function_spec(
            "apply_patch",
            "Edit files with a patch: '*** Begin Patch', then '*** Add File: p' / '*** Delete File: p' / "
            "'*** Update File: p' hunks (context ' ', removed '-', added '+' lines, '@@' to anchor), then '*** End Patch'.",
            {"input": {"type": "string", "description": "The entire patch text."}},
            ["input"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        return self.apply(args["input"], ctx.cwd, ctx)

    def invocation(self, argv: Sequence[str], cwd: Path, ctx: ToolContext) -> str | None:
        """The patch result when ``argv`` is an apply_patch invocation; ``None`` for any other command."""
        from agentrt.tools.apply_patch import parse_invocation

        found = parse_invocation(list(argv))
        if found is None:
            return None
        text, workdir = (
            (found, None) if isinstance(found, str) else (found.patch, getattr(found, "workdir", None))
        )
        return self.apply(text, cwd / ctx.paths.host(workdir) if workdir else cwd, ctx)

    def apply(self, text: str, cwd: Path, ctx: ToolContext) -> str:
        from agentrt.tools.apply_patch import PatchError, apply_patch, parse_patch

        item_id = ctx.ids.new()
        try:
            hunks = parse_patch(text)
        except PatchError as exc:
            ctx.emit(ItemCompleted(FileChange(item_id, (), "failed")))
            return f"error: {exc.message}"
        targets = [_target(h, cwd, ctx.paths) for h in hunks]
        changes = tuple(t.change for t in targets)
        ctx.emit(ItemStarted(FileChange(item_id, changes, "in_progress")))
        before = {t.path: _read(t.path) for t in targets}
        try:
            result = apply_patch(text, cwd, write=self.write, paths=ctx.paths)
        except PatchError as exc:
            ctx.emit(ItemCompleted(FileChange(item_id, changes, "failed")))
            return f"error: {exc.message}" + _partly(targets, before) + _refused(exc, ctx)
        for t, hunk in zip(targets, hunks, strict=True):
            _emit_diff(ctx, str(hunk.path), before[t.path], _read(t.dest or t.path))
        ctx.emit(ItemCompleted(FileChange(item_id, changes, "completed")))
        return str(result.summary())


def _partly(targets: Sequence[_Target], before: dict[Path, str]) -> str:
    """What a patch that failed partway had already changed (it is not rolled back)."""
    changed = [t.change.path for t in targets if _read(t.dest or t.path) != before[t.path]]
    if not changed:
        return ""
    return (
        f"\nThe patch failed partway: these files were already changed and stay changed: {', '.join(changed)}"
    )


REFUSED = (
    "the sandbox refused the write: this session may not write there (it is read-only, or the path is "
    "outside the writable roots). To allow edits run with -s workspace-write (and --add-dir DIR for "
    "another directory)."
)


def _refused(exc: Exception, ctx: ToolContext) -> str:
    """When the sandbox refused a write: say so to the person (an error item) and to the model."""
    if not isinstance(exc.__cause__, PermissionError):
        return ""
    ctx.emit(ItemCompleted(ErrorItem(ctx.ids.new(), REFUSED)))
    return f"\n{REFUSED}"


def _target(hunk: Any, cwd: Path, paths: PathMap) -> _Target:
    """Where a hunk writes; its ``PatchChange`` names the file by absolute path, as Codex's events do."""
    absolute = cwd / paths.host(hunk.path)
    change = PatchChange(os.path.normpath(absolute), _KINDS.get(type(hunk).__name__, "update"))
    move_to = getattr(hunk, "move_to", None)
    dest = cwd / paths.host(move_to) if move_to else None
    return _Target(change, absolute, dest)


def _emit_diff(ctx: ToolContext, path: str, old: str, new: str) -> None:
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )
    if diff:
        ctx.emit(FileDiff(path, diff))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
