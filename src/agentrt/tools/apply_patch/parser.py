"""Parse the ``*** Begin Patch`` format into hunks, with Codex's leniencies and error texts.

Grammar (the text is trimmed, then split into lines)::

    *** Begin Patch
    *** Add File: PATH          then lines "+TEXT"
    *** Delete File: PATH
    *** Update File: PATH       then optionally "*** Move to: PATH", then chunks:
        @@ [CONTEXT]            (optional for the first chunk)
        " TEXT" | "-TEXT" | "+TEXT" | ""   (context, removed, added, empty context)
        *** End of File         (optional: the chunk must match at the end of the file)
    *** End Patch

Leniencies, as in Codex 0.169: the begin/end markers and hunk headers may carry surrounding white
space; a patch wrapped in a ``<<EOF`` / ``<<'EOF'`` / ``<<"EOF"`` heredoc is unwrapped; a stray
``*** End Patch`` before the last line is accepted when only blank lines follow it.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentrt.tools.apply_patch.model import AddFile, DeleteFile, Hunk, PatchError, UpdateFile, UpdateFileChunk
from agentrt.tools.apply_patch.text import split_lines, trim, trim_end

BEGIN_PATCH = "*** Begin Patch"
END_PATCH = "*** End Patch"
ADD_FILE = "*** Add File: "
DELETE_FILE = "*** Delete File: "
UPDATE_FILE = "*** Update File: "
MOVE_TO = "*** Move to: "
END_OF_FILE = "*** End of File"
HUNK_HEADERS = (ADD_FILE, DELETE_FILE, UPDATE_FILE)
CONTEXT = "@@ "
EMPTY_CONTEXT = "@@"
HEREDOC_OPENERS = ("<<EOF", "<<'EOF'", '<<"EOF"')
FIRST_LINE_ERROR = "The first line of the patch must be '*** Begin Patch'"
LAST_LINE_ERROR = "The last line of the patch must be '*** End Patch'"
NO_LINES = "Update hunk does not contain any lines"


def invalid_patch(message: str) -> PatchError:
    return PatchError(f"Invalid patch: {message}")


def invalid_hunk(message: str, line_number: int) -> PatchError:
    return PatchError(f"Invalid patch hunk on line {line_number}: {message}", line_number)


def parse_patch(text: str) -> list[Hunk]:
    """The hunks of ``text``, or :class:`PatchError` with Codex's message. Zero hunks is not an error."""
    body = _patch_body(split_lines(trim(text)))
    hunks: list[Hunk] = []
    line_number = 2
    index = 0
    while index < len(body):
        if trim(body[index]) == END_PATCH:
            if any(trim(line) for line in body[index + 1 :]):
                raise invalid_patch(LAST_LINE_ERROR)
            break
        hunk, used = _parse_hunk(body[index:], line_number)
        hunks.append(hunk)
        line_number += used
        index += used
    return hunks


def _boundary_error(lines: Sequence[str]) -> str | None:
    first = trim(lines[0]) if lines else None
    last = trim(lines[-1]) if lines else None
    if first == BEGIN_PATCH and last == END_PATCH:
        return None
    if first is not None and first != BEGIN_PATCH:
        return FIRST_LINE_ERROR
    return LAST_LINE_ERROR


def _patch_body(lines: list[str]) -> list[str]:
    """The lines between the markers, unwrapping a heredoc the way Codex's lenient mode does."""
    error = _boundary_error(lines)
    if error is None:
        return lines[1:-1]
    if len(lines) >= 4 and lines[0] in HEREDOC_OPENERS and lines[-1].endswith("EOF"):
        inner = lines[1:-1]
        inner_error = _boundary_error(inner)
        if inner_error is not None:
            raise invalid_patch(inner_error)
        return inner[1:-1]
    raise invalid_patch(error)


def _parse_hunk(lines: Sequence[str], line_number: int) -> tuple[Hunk, int]:
    header = trim(lines[0])
    if header.startswith(ADD_FILE):
        contents = []
        for line in lines[1:]:
            if not line.startswith("+"):
                break
            contents.append(line[1:] + "\n")
        return AddFile(header[len(ADD_FILE) :], "".join(contents)), 1 + len(contents)
    if header.startswith(DELETE_FILE):
        return DeleteFile(header[len(DELETE_FILE) :]), 1
    if header.startswith(UPDATE_FILE):
        return _parse_update(header[len(UPDATE_FILE) :], lines, line_number)
    raise invalid_hunk(
        f"'{header}' is not a valid hunk header. Valid hunk headers: "
        "'*** Add File: {path}', '*** Delete File: {path}', '*** Update File: {path}'",
        line_number,
    )


def _ends_update(line: str) -> bool:
    """Whether ``line`` starts the next hunk or ends the patch (so ends an Update hunk)."""
    line = trim_end(line)
    return line == END_PATCH or line.startswith(HUNK_HEADERS)


def _parse_update(path: str, lines: Sequence[str], line_number: int) -> tuple[UpdateFile, int]:
    """An Update hunk. Before its first chunk, ``*** End of File`` lines are ignored and one
    ``*** Move to:`` line is taken; blank lines after a chunk's ``*** End of File`` are skipped."""
    used = 1
    move_to = None
    chunks: list[UpdateFileChunk] = []
    while used < len(lines):
        line = lines[used]
        marker = trim_end(line)
        after_eof = bool(chunks) and chunks[-1].is_end_of_file
        if after_eof and not trim(line) or not chunks and marker == END_OF_FILE:
            used += 1
            continue
        if not chunks and move_to is None and marker.startswith(MOVE_TO):
            move_to = marker[len(MOVE_TO) :]
            used += 1
            continue
        if _ends_update(line):
            break
        chunk, chunk_lines = _parse_chunk(lines[used:], line_number + used, not chunks)
        chunks.append(chunk)
        used += chunk_lines
    if not chunks:
        raise invalid_hunk(f"Update file hunk for path '{path}' is empty", line_number)
    return UpdateFile(path, move_to, tuple(chunks)), used


def _unexpected_line(line: str, line_number: int) -> PatchError:
    return invalid_hunk(
        f"Unexpected line found in update hunk: '{line}'. Every line should start with "
        "' ' (context line), '+' (added line), or '-' (removed line)",
        line_number,
    )


def _parse_chunk(lines: Sequence[str], line_number: int, first: bool) -> tuple[UpdateFileChunk, int]:
    marker = trim_end(lines[0])
    context: str | None = None
    start = 1
    if marker.startswith(CONTEXT):
        context = marker[len(CONTEXT) :]
    elif marker != EMPTY_CONTEXT:
        if not first:
            raise invalid_hunk(
                f"Expected update hunk to start with a @@ context marker, got: '{lines[0]}'", line_number
            )
        start = 0
    body: list[str] = []
    end_of_file = False
    for line in lines[start:]:
        marker = trim_end(line)
        if marker == END_OF_FILE and body:
            end_of_file = True
            break
        if marker in (END_OF_FILE, END_PATCH):
            break
        if line[:1] in ("", " ", "-", "+"):
            body.append(line or " ")
            continue
        if not body:
            shown = marker if marker.startswith(HUNK_HEADERS) else line
            raise _unexpected_line(shown, line_number + start)
        break
    if not body:
        raise invalid_hunk(NO_LINES, line_number + start)
    chunk = UpdateFileChunk(context, tuple(body), end_of_file)
    return chunk, start + len(body) + end_of_file
