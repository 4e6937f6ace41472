"""Recognise a command line that calls ``apply_patch``, so a shell tool can apply the patch itself.

Accepted forms (anything else is not an apply_patch call):

- ``["apply_patch", PATCH]`` or ``["applypatch", PATCH]``;
- ``[SHELL, FLAG, SCRIPT]`` where SHELL is ``bash``, ``zsh`` or ``sh`` (any directory) with ``-lc`` or
  ``-c``, ``pwsh``/``powershell`` with ``-Command`` (optionally after ``-NoProfile``), or ``cmd`` with
  ``/c``; and SCRIPT is, as its only statement, ``apply_patch <<'EOF'`` (or ``applypatch``, any
  delimiter, quoted or not) followed by the heredoc, optionally preceded by ``cd DIR &&`` where DIR is
  one plain, single-quoted or double-quoted word.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

APPLY_PATCH_COMMANDS = ("apply_patch", "applypatch")
_WORD = r"[^\s'\"&|;<>()`$\\]+"
_HEADER = re.compile(
    r"[ \t]*(?:cd[ \t]+(?P<dir>" + _WORD + r"|'[^']*'|\"[^\"\\$`]*\")[ \t]*&&[ \t]*)?"
    r"(?:apply_patch|applypatch)[ \t]*<<-?[ \t]*(?P<delim>" + _WORD + r"|'[^']*'|\"[^\"]*\")[ \t]*\n"
)


@dataclass(frozen=True)
class PatchInvocation:
    """An apply_patch call: the patch text and, for ``cd DIR && apply_patch <<…``, DIR as written.

    ``workdir`` is relative to the command's working directory unless absolute; ``None`` means that
    directory itself.
    """

    patch: str
    workdir: str | None = None


def parse_invocation(argv: Sequence[str]) -> PatchInvocation | None:
    """The apply_patch call that ``argv`` makes, or ``None`` when it is some other command."""
    if len(argv) == 2 and argv[0] in APPLY_PATCH_COMMANDS:
        return PatchInvocation(argv[1])
    script = _shell_script(argv)
    return None if script is None else _heredoc_call(script)


def _shell_name(shell: str) -> str:
    return os.path.splitext(os.path.basename(shell))[0].lower()


def _is_shell(shell: str, flag: str) -> bool:
    name = _shell_name(shell)
    if name in ("bash", "zsh", "sh"):
        return flag in ("-lc", "-c")
    if name in ("pwsh", "powershell"):
        return flag.lower() == "-command"
    return name == "cmd" and flag.lower() == "/c"


def _shell_script(argv: Sequence[str]) -> str | None:
    if len(argv) == 4 and _shell_name(argv[0]) in ("pwsh", "powershell") and argv[1].lower() == "-noprofile":
        argv = [argv[0], *argv[2:]]
    if len(argv) == 3 and _is_shell(argv[0], argv[1]):
        return argv[2]
    return None


def _heredoc_call(script: str) -> PatchInvocation | None:
    header = _HEADER.match(script.lstrip("\n"))
    if header is None:
        return None
    delimiter = header["delim"]
    if delimiter[0] in "'\"":
        delimiter = delimiter[1:-1]
    rest = script.lstrip("\n")[header.end() :]
    lines = rest.split("\n")
    for index, line in enumerate(lines):
        if line == delimiter:
            if any(tail.strip() for tail in lines[index + 1 :]):
                return None
            body = "\n".join(lines[:index]).rstrip("\n")
            return PatchInvocation(body, _unquote(header["dir"]))
    return None


def _unquote(word: str | None) -> str | None:
    if word is not None and len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word
