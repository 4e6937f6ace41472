"""Files confined to one workspace directory, and commands run in it.

Every path a model names goes through ``Workspace.resolve``: relative to the root, symlinks of
existing components followed, and refused with ``WorkspaceError`` if the result leaves the root.
Writes are atomic (a temporary file in the same directory, then ``os.replace``), so a reader sees
the old content or the new, and a symlink or hard link at the target is replaced, never written
through. This is in-process confinement: a process that swaps a directory for a symlink while
a call is under way is the OS sandbox's business, not this module's.

Path and argument problems raise ``WorkspaceError``; I/O failures (a missing file, a full disk)
raise the usual ``OSError``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from agentrt.interfaces import Sandbox
from agentrt.sandbox.process import RunResult, run_command

_TEMP_ATTEMPTS = 16


class WorkspaceError(Exception):
    """A path that is empty, malformed or outside the workspace, or an argument that is invalid."""


class Workspace:
    """One directory that an agent's file tools and commands are confined to."""

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        try:
            resolved = Path(root).resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise WorkspaceError(f"workspace root {str(root)!r} does not exist: {exc}") from exc
        if not resolved.is_dir():
            raise WorkspaceError(f"workspace root {str(root)!r} is not a directory")
        self.root: Path = resolved

    def resolve(self, rel: str) -> Path:
        """Return the real path ``rel`` names inside the workspace, or raise ``WorkspaceError``.

        ``rel`` is relative to the root; an absolute path is accepted only if it lies inside the
        root. The result has every existing symlink resolved, so it is checked where it really is.
        """
        if not rel:
            raise WorkspaceError("empty path")
        if "\0" in rel:
            raise WorkspaceError(f"path {rel!r} contains a NUL byte")
        return self._confine(self.root / rel, rel)

    def _confine(self, candidate: Path, shown: str) -> Path:
        """Resolve ``candidate`` and check that the result is a real path inside the root.

        The result must resolve to itself: a lenient resolution that met a symlink loop keeps the
        rest of the path unresolved, and a ``..`` after the loop could then hide a symlink that
        leads out (``loop/../out``). A fixed point has no symlink left in it but loops, which the
        OS refuses to follow.
        """
        try:
            resolved = candidate.resolve()
            # met no symlink (the common case): resolving it again would only give it back
            stable = resolved == candidate or Path(os.path.realpath(resolved)) == resolved
        except (OSError, RuntimeError) as exc:
            raise WorkspaceError(f"cannot resolve path {shown!r}: {exc}") from exc
        if not resolved.is_relative_to(self.root):
            raise WorkspaceError(f"path {shown!r} leads outside the workspace")
        if not stable:
            raise WorkspaceError(f"cannot resolve path {shown!r}: it goes through a symlink loop")
        return resolved

    def write_file(self, rel: str, content: str | bytes) -> Path:
        """Atomically write ``content`` (str as UTF-8) to ``rel``, creating parent directories."""
        found = self._plain_entry(rel)
        if found is not None:  # a name in the root itself that is no symlink: nothing to resolve
            target, mode = found
            _atomic_write(target, _bytes(content), mode)
            return target
        target = self.resolve(rel)
        if target == self.root or target.is_dir():
            raise WorkspaceError(f"cannot write {rel!r}: it is a directory")
        data = _bytes(content)
        if target.parent != self.root:  # the root exists (it was resolved strictly)
            target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(target, data, _mode_of(target))
        return target

    def _plain_entry(self, rel: str) -> tuple[Path, int | None] | None:
        """``(path, mode or None when missing)`` for ``rel`` naming a regular file (or nothing yet)
        directly in the root, which ``resolve`` would give back unchanged; ``None`` for anything else
        (a deeper path, a symlink, a directory, an odd name), which takes the full resolution.

        One ``lstat`` instead of resolving every component of the root again (an ``lstat`` each)."""
        if not rel or "/" in rel or "\0" in rel:  # NUL: lstat raises ValueError; "." and "..": dirs
            return None
        path = self.root / rel
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return path, None
        except OSError:
            return None
        return (path, stat.S_IMODE(info.st_mode)) if stat.S_ISREG(info.st_mode) else None

    async def run(
        self,
        cmd: Sequence[str] | str,
        *,
        sandbox: Sandbox,
        timeout_s: float = 60.0,
        env: Mapping[str, str] | None = None,
        output_cap: int = 64 * 1024,
    ) -> RunResult:
        """Run ``cmd`` with the workspace root as its working directory (see ``run_command``)."""
        return await run_command(
            cmd, cwd=self.root, timeout_s=timeout_s, env=env, output_cap=output_cap, sandbox=sandbox
        )


def _atomic_write(target: Path, data: bytes, mode: int | None) -> None:
    """Write ``data`` to a new file beside ``target`` and rename it over ``target``; ``mode``: the
    permissions of the file it replaces (``None``: none, the new one's follow the umask)."""
    fd, temp = _create_temp(target.parent)
    try:
        with open(fd, "wb", closefd=True) as handle:
            handle.write(data)
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _bytes(content: str | bytes) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else bytes(content)


def _mode_of(target: Path) -> int | None:
    try:
        return stat.S_IMODE(os.stat(target, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return None


def _create_temp(directory: Path) -> tuple[int, Path]:
    """Create a new, empty, hidden file in ``directory``; its mode follows the umask like any new file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(_TEMP_ATTEMPTS):
        temp = directory / f".agentrt-{secrets.token_hex(8)}.tmp"
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")
