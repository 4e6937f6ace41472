"""Read-only file tools in Codex's shapes: ``read_file``, ``list_dir``, ``grep_files``.

Paths may be absolute or relative to the session's directory. Reading is allowed anywhere the
process may read (as in Codex's read-only mode); writing goes through ``apply_patch`` or ``shell``.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentrt.tools.registry import ToolArgumentError, ToolContext, function_spec

_SKIP_DIRS = frozenset({".git", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".ruff_cache"})
_MAX_LINE = 500


class Hidden:
    """The paths the sandbox hides from commands (``deny_read``). These tools read in agentrt's own
    process, outside the sandbox, so they must hide the same paths themselves. ``bound``: directories
    a container layout binds into view again over a hidden one (a task's workspace inside its hidden
    scratch directory), shown whole, as commands see them."""

    __slots__ = ("bound", "paths")

    def __init__(self, paths: Iterable[Path] = (), *, bound: Iterable[Path] = ()) -> None:
        self.paths = tuple(Path(os.path.realpath(p)) for p in paths)
        self.bound = tuple(Path(os.path.realpath(p)) for p in bound)

    def covers(self, path: Path) -> bool:
        real = Path(os.path.realpath(path))
        if any(real == b or b in real.parents for b in self.bound):
            return False  # bound after the hiding, as the container layout binds it
        return any(real == p or p in real.parents for p in self.paths)

    def refuse(self, path: Path, shown: str) -> None:
        if self.covers(path):
            raise ToolArgumentError(f"{shown} is hidden by the sandbox's deny_read list")


def _path(ctx: ToolContext, raw: str) -> Path:
    return ctx.path(os.path.expanduser(raw))


def _positive(args: dict[str, Any], key: str, default: int) -> int:
    value = args.get(key, default)
    if value < 1:
        raise ToolArgumentError(f"{key!r} must be at least 1")
    return int(value)


class ReadFileTool:
    name = "read_file"
    read_only = True
    """It only reads: calls of one reply may run together."""

    def __init__(self, hidden: Hidden) -> None:
        self.hidden = hidden

    def spec(self) -> dict[str, Any]:
        return function_spec(
            "read_file",
            "Read lines of a text file, numbered 'L<n>: '.",
            {
                "file_path": {"type": "string"},
                "offset": {"type": "integer", "description": "First line, 1-based (default 1)."},
                "limit": {"type": "integer", "description": "Lines to return (default 2000)."},
            },
            ["file_path"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        path = _path(ctx, args["file_path"])
        self.hidden.refuse(path, args["file_path"])
        offset, limit = _positive(args, "offset", 1), _positive(args, "limit", 2000)
        try:
            with path.open("rb") as f:
                data = f.read(8 * 1024 * 1024)
        except OSError as exc:
            raise ToolArgumentError(f"cannot read {args['file_path']}: {exc.strerror or exc}") from exc
        if b"\0" in data[:8192]:
            raise ToolArgumentError(f"{args['file_path']} is a binary file")
        lines = data.decode("utf-8", "replace").splitlines()
        if offset > len(lines) and lines:
            raise ToolArgumentError(f"offset {offset} is past the end of the file ({len(lines)} lines)")
        chosen = lines[offset - 1 : offset - 1 + limit]
        return "\n".join(f"L{offset + i}: {line[:_MAX_LINE]}" for i, line in enumerate(chosen))


class ListDirTool:
    name = "list_dir"
    read_only = True
    """It only reads: calls of one reply may run together."""

    def __init__(self, hidden: Hidden) -> None:
        self.hidden = hidden

    def spec(self) -> dict[str, Any]:
        return function_spec(
            "list_dir",
            "List a directory tree (directories end with '/').",
            {
                "dir_path": {"type": "string"},
                "offset": {"type": "integer", "description": "First entry, 1-based (default 1)."},
                "limit": {"type": "integer", "description": "Entries to return (default 50)."},
                "depth": {"type": "integer", "description": "Levels to descend (default 2)."},
            },
            ["dir_path"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        root = _path(ctx, args["dir_path"])
        self.hidden.refuse(root, args["dir_path"])
        if not root.is_dir():
            raise ToolArgumentError(f"{args['dir_path']} is not a directory")
        offset, limit, depth = (
            _positive(args, "offset", 1),
            _positive(args, "limit", 50),
            _positive(args, "depth", 2),
        )
        entries = list(_walk(root, depth, self.hidden))
        page = entries[offset - 1 : offset - 1 + limit]
        more = len(entries) - (offset - 1 + len(page))
        tail = [f"[{more} more entries]"] if more > 0 else []
        return "\n".join([f"Absolute path: {ctx.paths.shown(root.resolve())}", *page, *tail])


def _walk(root: Path, depth: int, hidden: Hidden, level: int = 0) -> Any:
    """Names a hidden directory holds are not shown (its own name is, as the sandbox shows it)."""
    try:
        children = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return
    for entry in children:
        is_dir = entry.is_dir(follow_symlinks=False)
        yield "  " * level + entry.name + ("/" if is_dir else "")
        deeper = is_dir and level + 1 < depth and entry.name not in _SKIP_DIRS
        if deeper and not hidden.covers(Path(entry.path)):
            yield from _walk(Path(entry.path), depth, hidden, level + 1)


class GrepFilesTool:
    name = "grep_files"
    read_only = True
    """It only reads: calls of one reply may run together."""

    def __init__(self, hidden: Hidden) -> None:
        self.hidden = hidden

    def spec(self) -> dict[str, Any]:
        return function_spec(
            "grep_files",
            "Find files whose contents match a regular expression; newest first.",
            {
                "pattern": {"type": "string"},
                "include": {"type": "string", "description": "Glob the file names must match, e.g. '*.py'."},
                "path": {"type": "string", "description": "Directory to search (default: the session's)."},
                "limit": {"type": "integer", "description": "Most files to return (default 100)."},
            },
            ["pattern"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        try:
            regex = re.compile(args["pattern"])
        except re.error as exc:
            raise ToolArgumentError(f"bad regular expression: {exc}") from exc
        root = _path(ctx, args.get("path") or ".")
        self.hidden.refuse(root, args.get("path") or ".")
        limit = _positive(args, "limit", 100)
        found = _files(root, args.get("include"))
        hits = [p for p in found if not self.hidden.covers(p) and _matches(p, regex)]
        hits.sort(key=_mtime, reverse=True)
        return "\n".join(ctx.paths.shown(p) for p in hits[:limit]) if hits else "No matches found."


def _files(root: Path, include: str | None) -> Any:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            if include is None or fnmatch.fnmatch(name, include):
                yield Path(dirpath) / name


def _matches(path: Path, regex: re.Pattern[str]) -> bool:
    try:
        data = path.read_bytes()[: 4 * 1024 * 1024]
    except OSError:
        return False
    if b"\0" in data[:8192]:
        return False
    return regex.search(data.decode("utf-8", "replace")) is not None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
