"""``agentrt apply-patch PATCH``: apply a Codex-format patch in the current directory.

Prints Codex's success text on stdout, or its error text on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agentrt.cli import Subparsers


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "apply-patch",
        help="apply a Codex-format patch (*** Begin Patch ...) in the current directory",
        description="Apply a patch in Codex's apply_patch format to the files under the current "
        "directory, with Codex's semantics and messages. Hunks apply in order; a failure leaves "
        "earlier hunks applied.",
    )
    p.add_argument("patch", metavar="PATCH", help="the whole patch text, or - to read it from stdin")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from agentrt.tools.apply_patch import PatchError, apply_patch

    text = args.patch
    if text == "-":
        try:
            text = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError:
            print(
                "Error: Failed to read PATCH from stdin.\nstream did not contain valid UTF-8", file=sys.stderr
            )
            return 1
    try:
        result = apply_patch(text, Path.cwd())
    except PatchError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    sys.stdout.write(result.summary())
    return 0
