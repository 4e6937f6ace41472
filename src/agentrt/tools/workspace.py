"""Files confined to one workspace directory, and commands run in it.

Every path a model names goes through ``Workspace.resolve``: relative to the root, symlinks of
existing components followed, and refused with ``WorkspaceError`` if the result leaves the root.
Writes are atomic (a temporary file in the same directory, then ``os.replace``), so a reader sees
the old content or the new, and a symlink or hard link at the target is replaced, never written
through. Reads open regular files only, without following a final symlink, so a FIFO cannot block
the runtime. This is in-process confinement: a process that swaps a directory for a symlink while
a call is under way is the OS sandbox's business, not this module's.

Path and argument problems raise ``WorkspaceError``; I/O failures (a missing file, a full disk)
raise the usual ``OSError``.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import secrets
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from agentrt.interfaces import Sandbox
from agentrt.sandbox.process import RunResult, run_command

_SKIP_DIRS = frozenset({".git"})
_BINARY_SNIFF_BYTES = 8192
_SEARCH_MAX_FILE_BYTES = 16 * 1024 * 1024
_SEARCH_MAX_LINE_CHARS = 400
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
            stable = Path(os.path.realpath(resolved)) == resolved
        except (OSError, RuntimeError) as exc:
            raise WorkspaceError(f"cannot resolve path {shown!r}: {exc}") from exc
        if not resolved.is_relative_to(self.root):
            raise WorkspaceError(f"path {shown!r} leads outside the workspace")
        if not stable:
            raise WorkspaceError(f"cannot resolve path {shown!r}: it goes through a symlink loop")
        return resolved

    def write_file(self, rel: str, content: str | bytes) -> Path:
        """Atomically write ``content`` (str as UTF-8) to ``rel``, creating parent directories."""
        target = self.resolve(rel)
        if target == self.root or target.is_dir():
            raise WorkspaceError(f"cannot write {rel!r}: it is a directory")
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(target, data)
        return target

    def read_file(self, rel: str, max_bytes: int = 256 * 1024) -> str:
        """Return the text of ``rel`` (UTF-8, invalid bytes replaced), cut after ``max_bytes``.

        A cut is marked at the end with ``[... N bytes omitted ...]``.
        """
        if max_bytes < 0:
            raise WorkspaceError(f"max_bytes must be >= 0, got {max_bytes}")
        path = self.resolve(rel)
        with _open_regular(path, rel) as handle:
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(max_bytes + 1)
        if len(data) <= max_bytes:
            return data.decode("utf-8", errors="replace")
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = decoder.decode(data[:max_bytes], final=False)
        omitted = max(size, len(data)) - (max_bytes - len(decoder.getstate()[0]))
        return text + f"\n[... {omitted} bytes omitted ...]\n"

    def list_dir(self, rel: str = ".") -> list[str]:
        """Sorted names in directory ``rel``; directories (and symlinks to ones inside) end in "/"."""
        path = self.resolve(rel)
        if not path.is_dir():
            raise WorkspaceError(f"{rel!r} is not a directory")
        with os.scandir(path) as entries:
            found = sorted(entries, key=lambda entry: entry.name)
        return [entry.name + "/" if self._is_dir_entry(entry) else entry.name for entry in found]

    def search(self, pattern: str, rel: str = ".", max_results: int = 200) -> list[str]:
        """Lines matching regex ``pattern`` in text files under ``rel``, as ``"path:line: text"``.

        Files are visited in sorted order; binary files, ``.git`` directories, files over 16 MiB
        and symlinks that leave the workspace are skipped; long lines are shortened.
        """
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise WorkspaceError(f"invalid regular expression {pattern!r}: {exc}") from exc
        base = self.resolve(rel)
        results: list[str] = []
        for path, real in self._files_under(base):
            if len(results) >= max_results:
                break
            results.extend(self._grep(path, real, regex, max_results - len(results)))
        return results

    async def run(
        self,
        cmd: Sequence[str] | str,
        *,
        timeout_s: float = 60.0,
        env: Mapping[str, str] | None = None,
        output_cap: int = 64 * 1024,
        sandbox: Sandbox | None = None,
    ) -> RunResult:
        """Run ``cmd`` with the workspace root as its working directory (see ``run_command``)."""
        return await run_command(
            cmd, cwd=self.root, timeout_s=timeout_s, env=env, output_cap=output_cap, sandbox=sandbox
        )

    def _real_inside(self, path: str) -> Path | None:
        """The real path behind ``path`` if it stays inside the workspace, else None."""
        try:
            return self._confine(Path(path), path)
        except WorkspaceError:
            return None

    def _is_dir_entry(self, entry: os.DirEntry[str]) -> bool:
        if entry.is_symlink():
            real = self._real_inside(entry.path)
            return real is not None and real.is_dir()
        return entry.is_dir(follow_symlinks=False)

    def _files_under(self, base: Path) -> Iterator[tuple[Path, Path]]:
        """Yield (path as found, real path to read) for each file under ``base``, sorted."""
        if not base.is_dir():
            yield base, base
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(name for name in dirnames if name not in _SKIP_DIRS)
            for name in sorted(filenames):
                path = Path(dirpath, name)
                real = self._real_inside(str(path)) if path.is_symlink() else path
                if real is not None:
                    yield path, real

    def _grep(self, path: Path, real: Path, regex: re.Pattern[str], limit: int) -> list[str]:
        hits: list[str] = []
        shown = path.relative_to(self.root).as_posix()
        try:
            with _open_regular(real, shown) as handle:
                if os.fstat(handle.fileno()).st_size > _SEARCH_MAX_FILE_BYTES:
                    return hits
                if b"\0" in handle.read(_BINARY_SNIFF_BYTES):
                    return hits
                handle.seek(0)
                for number, raw in enumerate(handle, start=1):
                    line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                    if regex.search(line):
                        hits.append(f"{shown}:{number}: {_shorten(line)}")
                        if len(hits) >= limit:
                            break
        except (OSError, WorkspaceError):
            return hits
        return hits


def _open_regular(path: Path, shown: str) -> BinaryIO:
    """Open ``path`` for reading without following a final symlink; refuse anything not a file.

    ``O_NONBLOCK`` keeps a FIFO from blocking the open; regular files ignore it.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise WorkspaceError(f"{shown!r} is not a regular file")
        return open(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def _atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to a new file beside ``target`` and rename it over ``target``."""
    fd, temp = _create_temp(target.parent)
    try:
        with open(fd, "wb", closefd=True) as handle:
            handle.write(data)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, stat.S_IMODE(os.stat(target, follow_symlinks=False).st_mode))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


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


def _shorten(line: str) -> str:
    if len(line) <= _SEARCH_MAX_LINE_CHARS:
        return line
    return line[:_SEARCH_MAX_LINE_CHARS] + f" [... {len(line) - _SEARCH_MAX_LINE_CHARS} chars omitted]"
