"""Parse the ``*** Begin Patch`` format into hunks, with Codex-identical leniencies and error texts.

Grammar (the whole text is trimmed, then split into lines at ``\\n`` or ``\\r\\n``)::

    *** Begin Patch
    *** Add File: PATH          then lines "+TEXT"
    *** Delete File: PATH
    *** Update File: PATH       then optionally "*** Move to: PATH", then chunks:
        @@ [CONTEXT]            (optional for the first chunk)
        " TEXT" | "-TEXT" | "+TEXT" | ""   (context, removed, added, empty context)
        *** End of File         (optional: the chunk must match at the end of the file)
    *** End Patch

Leniencies: the begin/end markers and hunk headers may carry surrounding white space (the ``@@``,
``*** Move to:`` and ``*** End of File`` lines trailing white space); a patch wrapped in a ``<<EOF``,
``<<'EOF'`` or ``<<"EOF"`` heredoc is unwrapped; an ``*** End Patch`` before the last line is
accepted when only blank lines follow it; before an Update hunk's first chunk, ``*** End of File``
lines are ignored; after a chunk's ``*** End of File``, blank lines are skipped.
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
DIFF_KINDS = ("", " ", "-", "+")


def invalid_patch(message: str) -> PatchError:
    return PatchError(f"Invalid patch: {message}")


def invalid_hunk(message: str, index: int) -> PatchError:
    """A hunk error at ``index`` in the patch body, whose first line is line 2 of the patch."""
    return PatchError(f"Invalid patch hunk on line {index + 2}: {message}", index + 2)


def parse_patch(text: str) -> list[Hunk]:
    """The hunks of ``text``, or :class:`PatchError` with the message. Zero hunks is not an error."""
    body = _patch_body(split_lines(trim(text)))
    hunks: list[Hunk] = []
    at = 0
    while at < len(body):
        if trim(body[at]) == END_PATCH:
            if any(trim(line) for line in body[at + 1 :]):
                raise invalid_patch(LAST_LINE_ERROR)
            break
        hunk, at = _parse_hunk(body, at)
        hunks.append(hunk)
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
    """The lines between the markers, unwrapping a heredoc-wrapped patch."""
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


def _parse_hunk(body: Sequence[str], at: int) -> tuple[Hunk, int]:
    """The hunk whose header is ``body[at]``, and the index after it."""
    header = trim(body[at])
    if header.startswith(ADD_FILE):
        end = at + 1
        while end < len(body) and body[end].startswith("+"):
            end += 1
        contents = "".join(line[1:] + "\n" for line in body[at + 1 : end])
        return AddFile(header[len(ADD_FILE) :], contents), end
    if header.startswith(DELETE_FILE):
        return DeleteFile(header[len(DELETE_FILE) :]), at + 1
    if header.startswith(UPDATE_FILE):
        return _parse_update(header[len(UPDATE_FILE) :], body, at)
    raise invalid_hunk(
        f"'{header}' is not a valid hunk header. Valid hunk headers: "
        "'*** Add File: {path}', '*** Delete File: {path}', '*** Update File: {path}'",
        at,
    )


def _ends_update(line: str) -> bool:
    """Whether ``line`` starts the next hunk or ends the patch (so ends an Update hunk)."""
    line = trim_end(line)
    return line == END_PATCH or line.startswith(HUNK_HEADERS)


def _parse_update(path: str, body: Sequence[str], header: int) -> tuple[UpdateFile, int]:
    """The Update hunk whose header is ``body[header]``, and the index after it."""
    at = header + 1
    move_to = None
    chunks: list[UpdateFileChunk] = []
    while at < len(body):
        line = body[at]
        marker = trim_end(line)
        after_eof = bool(chunks) and chunks[-1].is_end_of_file
        if after_eof and not trim(line) or not chunks and marker == END_OF_FILE:
            at += 1
            continue
        if not chunks and move_to is None and marker.startswith(MOVE_TO):
            move_to = marker[len(MOVE_TO) :]
            at += 1
            continue
        if _ends_update(line):
            break
        chunk, at = _parse_chunk(body, at, first=not chunks)
        chunks.append(chunk)
    if not chunks:
        raise invalid_hunk(f"Update file hunk for path '{path}' is empty", header)
    return UpdateFile(path, move_to, tuple(chunks)), at


def _unexpected_line(line: str, index: int) -> PatchError:
    return invalid_hunk(
        f"Unexpected line found in update hunk: '{line}'. Every line should start with "
        "' ' (context line), '+' (added line), or '-' (removed line)",
        index,
    )


def _parse_chunk(body: Sequence[str], at: int, *, first: bool) -> tuple[UpdateFileChunk, int]:
    """The chunk that starts at ``body[at]`` (with ``@@``, optional for the ``first``), and the index
    after it (past its ``*** End of File`` line, if any)."""
    marker = trim_end(body[at])
    context: str | None = None
    if marker.startswith(CONTEXT):
        context = marker[len(CONTEXT) :]
    elif marker != EMPTY_CONTEXT and not first:
        raise invalid_hunk(f"Expected update hunk to start with a @@ context marker, got: '{body[at]}'", at)
    start = at + 1 if context is not None or marker == EMPTY_CONTEXT else at
    end = start
    while end < len(body) and body[end][:1] in DIFF_KINDS:
        end += 1
    if end == start:
        line = body[end] if end < len(body) else ""
        marker = trim_end(line)
        if end < len(body) and marker not in (END_OF_FILE, END_PATCH):
            raise _unexpected_line(marker if marker.startswith(HUNK_HEADERS) else line, start)
        raise invalid_hunk(NO_LINES, start)
    end_of_file = end < len(body) and trim_end(body[end]) == END_OF_FILE
    lines = tuple(line or " " for line in body[start:end])
    return UpdateFileChunk(context, lines, end_of_file), end + end_of_file
