"""The parsed form of a patch, the result of applying one, and the one error type."""

from __future__ import annotations

from dataclasses import dataclass, field

SUCCESS_HEADER = "Success. Updated the following files:"


class PatchError(Exception):
    """A patch that cannot be parsed or applied.

    ``message`` is the exact text Codex's ``apply_patch`` prints on stderr for the same failure (for
    example ``Invalid patch hunk on line 2: Update file hunk for path 'a.txt' is empty`` or
    ``Failed to find expected lines in /abs/a.txt:\\n...``); ``line_number`` is set for hunk errors.
    """

    def __init__(self, message: str, line_number: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line_number = line_number


@dataclass(frozen=True)
class AddFile:
    """Create (or overwrite) ``path`` with ``contents``."""

    path: str
    contents: str


@dataclass(frozen=True)
class DeleteFile:
    """Delete the file at ``path``."""

    path: str


@dataclass(frozen=True)
class UpdateFileChunk:
    """One ``@@`` section of an Update hunk.

    ``lines`` holds the chunk's diff lines, each starting with ``" "`` (context), ``"-"`` (removed)
    or ``"+"`` (added); an empty line in the patch is the context line ``" "``. The chunk is placed
    after the ``change_context`` line (when set) and, with ``is_end_of_file``, at the end of the file.
    """

    change_context: str | None
    lines: tuple[str, ...]
    is_end_of_file: bool = False

    @property
    def old_lines(self) -> list[str]:
        """The lines the chunk expects in the file: context and removed lines."""
        return [line[1:] for line in self.lines if line[0] in " -"]

    @property
    def new_lines(self) -> list[str]:
        """The lines the chunk leaves in their place: context and added lines."""
        return [line[1:] for line in self.lines if line[0] in " +"]


@dataclass(frozen=True)
class UpdateFile:
    """Edit ``path`` chunk by chunk, then write it to ``move_to`` (deleting ``path``) when set."""

    path: str
    move_to: str | None
    chunks: tuple[UpdateFileChunk, ...]


Hunk = AddFile | DeleteFile | UpdateFile


@dataclass
class PatchResult:
    """The paths a successful patch touched, spelled as in the patch (a move lists its destination)."""

    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Codex's success text: the header, then ``A``, ``M`` and ``D`` lines, newline-terminated."""
        lines = [SUCCESS_HEADER]
        lines += [f"A {p}" for p in self.added]
        lines += [f"M {p}" for p in self.modified]
        lines += [f"D {p}" for p in self.deleted]
        return "\n".join(lines) + "\n"
