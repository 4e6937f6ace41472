"""``agentrt apply-patch PATCH``: apply a Codex-format patch in the current directory.

Prints Codex's success text on stdout, or its error text on stderr and exits 1. Unlike Codex's
``apply_patch``, every path must stay under the current directory (after ``..`` and symbolic
links): the help promises that, and a patch pasted from elsewhere must not reach ``~/.bashrc``.
All paths are checked before anything is written, so a refused patch changes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agentrt.cli import Subparsers

if TYPE_CHECKING:
    from agentrt.tools.apply_patch import Hunk

OUTSIDE = "Error: refusing to write outside the current directory: {}"


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "apply-patch",
        help="apply a Codex-format patch (*** Begin Patch ...) in the current directory",
        description="Apply a patch in Codex's apply_patch format to the files under the current "
        "directory, with Codex's semantics and messages. A patch that names a path outside the "
        "current directory (absolute, through .. or through a symbolic link) is refused before "
        "anything is written. Otherwise hunks apply in order; a failure leaves earlier hunks applied.",
    )
    p.add_argument("patch", metavar="PATCH", help="the whole patch text, or - to read it from stdin")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from agentrt.tools.apply_patch import PatchError, apply_patch, parse_patch

    text = args.patch
    if text == "-":
        try:
            text = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError:
            print(
                "Error: Failed to read PATCH from stdin.\nstream did not contain valid UTF-8", file=sys.stderr
            )
            return 1
    cwd = Path.cwd()
    try:
        refused = outside_path(cwd, parse_patch(text))
        if refused is not None:
            print(OUTSIDE.format(refused), file=sys.stderr)
            return 1
        result = apply_patch(text, cwd)
    except PatchError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    sys.stdout.write(result.summary())
    return 0


def outside_path(cwd: Path, hunks: Sequence[Hunk]) -> str | None:
    """The first path of ``hunks`` (as the patch spells it) that is not strictly under ``cwd``.

    Each path is joined to ``cwd`` the way applying it will (``..`` lexically), then its symbolic
    links are followed, so a link in the tree cannot carry a write elsewhere.
    """
    from agentrt.tools.apply_patch.fsops import resolve

    root = os.path.realpath(cwd)
    for name in _paths(hunks):
        real = os.path.realpath(resolve(cwd, name))
        if real == root or os.path.commonpath([root, real]) != root:
            return name
    return None


def _paths(hunks: Sequence[Hunk]) -> Iterator[str]:
    """Every path a patch writes or deletes, a move's destination included."""
    from agentrt.tools.apply_patch import UpdateFile

    for hunk in hunks:
        yield hunk.path
        if isinstance(hunk, UpdateFile) and hunk.move_to is not None:
            yield hunk.move_to
