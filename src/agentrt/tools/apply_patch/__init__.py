"""Codex's ``apply_patch``: the patch format, its parser, and applying it to files.

``parse_patch(text)`` gives the hunks; ``apply_patch(text, cwd)`` applies them and returns the
touched paths (``.summary()`` is Codex's success text); both raise :class:`PatchError` whose
``message`` is the text Codex prints for the same failure. ``parse_invocation(argv)`` recognises a
command line that calls apply_patch (directly or through a shell heredoc).
"""

from agentrt.tools.apply_patch.apply import apply_patch
from agentrt.tools.apply_patch.fsops import FileWrite, local_write
from agentrt.tools.apply_patch.invocation import PatchInvocation, parse_invocation
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

__all__ = [
    "AddFile",
    "DeleteFile",
    "FileWrite",
    "Hunk",
    "PatchError",
    "PatchInvocation",
    "PatchResult",
    "UpdateFile",
    "UpdateFileChunk",
    "apply_patch",
    "local_write",
    "parse_invocation",
    "parse_patch",
]
