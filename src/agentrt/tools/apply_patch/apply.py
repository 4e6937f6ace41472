"""Apply parsed hunks to files, one hunk after another.

A patch is not atomic: hunks are applied in order and the first failure stops, leaving earlier
hunks applied. An updated file keeps each untouched line's ending (``\\n``, ``\\r\\n`` or ``\\r``); lines the
patch writes take the ending of the file's first line, and the file always ends with a line ending.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentrt.tools.apply_patch.fsops import FileWrite, local_write, resolve
from agentrt.tools.apply_patch.model import (
    AddFile,
    DeleteFile,
    Hunk,
    PatchError,
    PatchResult,
    UpdateFile,
    UpdateFileChunk,
)
from agentrt.tools.apply_patch.parser import parse_patch
from agentrt.tools.apply_patch.seek import seek_sequence
from agentrt.tools.paths import PathMap

NOT_UTF8 = "Error: apply_patch requires a UTF-8 PATCH argument."
_LINE_BREAK = re.compile("(\r\n|\n|\r)")
NewLine = tuple[str, int | None]
Edit = tuple[int, int, Sequence[str]]


def apply_patch(
    text: str, cwd: Path, *, write: FileWrite | None = None, paths: PathMap | None = None
) -> PatchResult:
    """Parse ``text`` and apply it in ``cwd``; :class:`PatchError` on failure.

    Paths in the patch are relative to ``cwd`` or absolute; absolute ones go through ``paths``
    (a container's mounts, ``tools.paths``) first. All writes and deletes go through ``write``
    (default :func:`~agentrt.tools.apply_patch.fsops.local_write`).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PatchError(NOT_UTF8) from None
    hunks = parse_patch(text)
    if not hunks:
        raise PatchError("No files were modified.")
    return apply_hunks(hunks, Path(os.path.abspath(cwd)), write or local_write, paths)


def apply_hunks(
    hunks: Sequence[Hunk], cwd: Path, write: FileWrite, paths: PathMap | None = None
) -> PatchResult:
    """Apply ``hunks`` in order in the absolute directory ``cwd``; stop at the first failure."""
    mounts = paths or PathMap()

    def where(path: str) -> Path:
        return resolve(cwd, mounts.host(path))

    result = PatchResult()
    for hunk in hunks:
        if isinstance(hunk, AddFile):
            _write(write, where(hunk.path), hunk.contents.encode("utf-8"))
            result.added.append(hunk.path)
        elif isinstance(hunk, DeleteFile):
            path = where(hunk.path)
            message = f"Failed to delete file {path}"
            if not os.path.exists(path):  # follows links: a dangling link counts as missing
                raise PatchError(message)
            _delete(write, path, message)
            result.deleted.append(hunk.path)
        else:
            _apply_update(hunk, where, write)
            result.modified.append(hunk.path if hunk.move_to is None else hunk.move_to)
    return result


def _write(write: FileWrite, path: Path, data: bytes) -> None:
    try:
        write(path, data)
    except OSError as exc:  # the message is Codex's; the cause says why (a sandbox refusal…)
        raise PatchError(f"Failed to write file {path}") from exc


def _delete(write: FileWrite, path: Path, message: str) -> None:
    try:
        write(path, None)
    except OSError as exc:
        raise PatchError(message) from exc


def _apply_update(hunk: UpdateFile, where: Callable[[str], Path], write: FileWrite) -> None:
    path = where(hunk.path)
    data = updated_contents(path, hunk.chunks).encode("utf-8")
    if hunk.move_to is None:
        _write(write, path, data)
        return
    _write(write, where(hunk.move_to), data)
    _delete(write, path, f"Failed to remove original {path}")


def os_error_text(exc: OSError) -> str:
    """An OS error as the messages show it: ``No such file or directory (os error 2)``."""
    if exc.errno is None:
        return str(exc)
    return f"{os.strerror(exc.errno)} (os error {exc.errno})"


def utf8_error_text(exc: UnicodeDecodeError) -> str:
    """A UTF-8 decoding error as the messages show it: ``invalid utf-8 sequence of 1 bytes from index 4``."""
    if exc.reason == "unexpected end of data":
        return f"incomplete utf-8 byte sequence from index {exc.start}"
    return f"invalid utf-8 sequence of {exc.end - exc.start} bytes from index {exc.start}"


def read_text(path: Path) -> str:
    """The UTF-8 text of the regular file ``path``, or :class:`PatchError` naming why not."""
    context = f"Failed to read file to update {path}"
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise PatchError(f"{context}: path `{path}` is not a file")
        data = path.read_bytes()
    except OSError as exc:
        raise PatchError(f"{context}: {os_error_text(exc)}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PatchError(f"{context}: {utf8_error_text(exc)}") from None


def updated_contents(path: Path, chunks: Sequence[UpdateFileChunk]) -> str:
    """The new text of ``path`` after ``chunks``; :class:`PatchError` if one cannot be placed."""
    source = SourceFile.parse(read_text(path))
    return source.edited(compute_edits(source.texts(), path, chunks))


def _new_lines(chunk: UpdateFileChunk) -> list[NewLine]:
    """The chunk's new lines; a context line carries its index among the chunk's old lines."""
    new: list[NewLine] = []
    old_index = 0
    for line in chunk.lines:
        if line[0] != "-":
            new.append((line[1:], old_index if line[0] == " " else None))
        if line[0] != "+":
            old_index += 1
    return new


def _edits(start: int, length: int, new: Sequence[NewLine]) -> list[Edit]:
    """The edits that turn the ``length`` lines at ``start`` into ``new``, leaving context lines alone.

    Context lines inside the run stay as they are in the file (text and ending); the lines between
    two of them are replaced by the new lines between them.
    """
    edits: list[Edit] = []
    old_end = 0
    pending: list[str] = []
    for text, source in new:
        if source is None or source >= length:
            pending.append(text)
            continue
        if pending or source > old_end:
            edits.append((start + old_end, source - old_end, pending))
        pending = []
        old_end = source + 1
    if pending or length > old_end:
        edits.append((start + old_end, length - old_end, pending))
    return edits


def _place(lines: Sequence[str], chunk: UpdateFileChunk, line_index: int) -> tuple[int, list[Edit]] | None:
    """Where the chunk's old lines end, at or after ``line_index``, and the edits it makes there.

    When they are not found and end with an empty line, that line is dropped (and an empty last new
    line with it) and the search retried: the patch's final empty line stands for the file's last
    line ending.
    """
    pattern = chunk.old_lines
    new = _new_lines(chunk)
    found = seek_sequence(lines, pattern, line_index, chunk.is_end_of_file)
    if found is None and pattern[-1] == "":
        pattern = pattern[:-1]
        if new and new[-1][0] == "":
            new = new[:-1]
        found = seek_sequence(lines, pattern, line_index, chunk.is_end_of_file)
    return None if found is None else (found + len(pattern), _edits(found, len(pattern), new))


def compute_edits(lines: Sequence[str], path: Path, chunks: Sequence[UpdateFileChunk]) -> list[Edit]:
    """``(start, old_length, new_lines)`` edits for all chunks, sorted by start (stable).

    A chunk without old lines is appended at the end of the file, wherever its context is.
    """
    edits: list[Edit] = []
    line_index = 0
    for chunk in chunks:
        if chunk.change_context is not None:
            found = seek_sequence(lines, [chunk.change_context], line_index, False)
            if found is None:
                raise PatchError(f"Failed to find context '{chunk.change_context}' in {path}")
            line_index = found + 1
        if not chunk.old_lines:
            edits.append((len(lines), 0, chunk.new_lines))
            continue
        placed = _place(lines, chunk, line_index)
        if placed is None:
            old = "\n".join(chunk.old_lines)
            raise PatchError(f"Failed to find expected lines in {path}:\n{old}")
        line_index, chunk_edits = placed
        edits += chunk_edits
    edits.sort(key=lambda e: e[0])
    return edits


@dataclass
class SourceFile:
    """A text file as lines, each with its own ending (``\\n``, ``\\r\\n``, or none for the last)."""

    lines: list[tuple[str, str]]
    preferred: str

    @classmethod
    def parse(cls, text: str) -> SourceFile:
        """Split ``text`` at ``\\r\\n``, ``\\n`` or a lone ``\\r``; the preferred ending is the
        first line's (``\\n`` when there is none)."""
        pieces = _LINE_BREAK.split(text)
        lines = list(zip(pieces[0:-1:2], pieces[1::2], strict=True))
        if pieces[-1]:
            lines.append((pieces[-1], ""))
        return cls(lines, lines[0][1] if lines and lines[0][1] else "\n")

    def texts(self) -> list[str]:
        return [text for text, _ in self.lines]

    def edited(self, edits: Sequence[Edit]) -> str:
        """The text after ``edits`` (sorted, not overlapping), always ending with a line ending.

        Untouched lines keep their endings; inserted lines take the preferred one.
        """
        out: list[tuple[str, str]] = []
        index = 0
        for start, length, new in edits:
            out += self.lines[index:start]
            out += [(text, self.preferred) for text in new]
            index = max(index, start + length)
        out += self.lines[index:]
        return "".join(text + (ending or self.preferred) for text, ending in out)
