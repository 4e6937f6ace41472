"""``agentrt undo [--list | N]``: put the files back as they were before a session's last turns."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agentrt.cli import Subparsers

if TYPE_CHECKING:
    from agentrt.agent.undo import TurnRecord

HELP = """\
Undo the file changes of the last turn (or the last N turns) of the newest session started in this
directory (or -C DIR, or --session ID): every file those turns edited, created, deleted or renamed
is put back as it was before them; everything else — files the turns did not touch, untracked files
that were already there, ignored files — is left alone. The model is told on the session's next
turn (`agentrt exec resume --last`, `agentrt resume --last`). Each undo goes one turn further back;
--list shows the turns that can be undone, newest first (N: what to pass to undo back to it).

Turns are snapshotted (as git objects on no branch; the index, stash and refs are not touched) only
while the undo feature is on: --enable undo, -c features.undo=true, or [features] undo = true.
Undo refuses, changing nothing, when a file the turns touched was changed since they ended.
Exit status: 0 done (or listed); 1 refused or not possible; 2 bad usage.
"""


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "undo",
        help="undo the file changes of a session's last turn(s)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("n", nargs="?", type=int, metavar="N", help="undo the last N turns (default 1)")
    p.add_argument("--list", action="store_true", help="list the turns that can be undone, newest first")
    p.add_argument("-C", "--cd", type=Path, default=Path("."), metavar="DIR", help="the session's directory")
    p.add_argument("--session", metavar="ID", help="the session with this id (or unique prefix, or file)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import os

    from agentrt.agent.rollout import RolloutWriter, append_message, find_session, read_rollout
    from agentrt.agent.undo import UndoError, undo_turns, undoable
    from agentrt.config import agentrt_home

    if args.list and args.n is not None:
        raise ValueError("give either --list or N, not both")
    n = 1 if args.n is None else args.n
    if n < 1:
        raise ValueError(f"N must be 1 or more, got {n}")
    cwd = args.cd.resolve()
    if not cwd.is_dir():
        raise ValueError(f"directory {args.cd} does not exist")
    home = agentrt_home(os.environ)
    path = find_session(home, args.session, last=args.session is None, cwd=cwd)
    rollout = read_rollout(path)
    session_id = str(rollout.meta.get("id") or path.stem)
    if rollout.damage:
        print(f"agentrt: warning: {rollout.damage}", file=sys.stderr)
    records = undoable(rollout.items)
    if args.list:
        print(render_list(records, session_id))
        return 0
    try:
        result = undo_turns(records, n)
    except UndoError as exc:
        print(f"agentrt: error: session {session_id}: {exc}", file=sys.stderr)
        return 1
    with RolloutWriter.resume(path) as writer:
        if writer.note:
            print(f"agentrt: warning: {writer.note}", file=sys.stderr)
        append_message(writer, {"role": "user", "content": result.note()})
        writer.append("event_msg", result.payload())
    print(result.summary())
    print(f"session {session_id}: the model is told when the session continues", file=sys.stderr)
    return 0


def render_list(records: list[TurnRecord], session_id: str) -> str:
    """The turns that can be undone, newest first: N (``agentrt undo N`` undoes back to it), turn,
    when it ended (UTC), files changed, the first line of its prompt."""
    if not records:
        return (
            f"No turns to undo in session {session_id} (turns are snapshotted while the undo feature is "
            "on: --enable undo)."
        )
    rows = [
        (str(n), str(r.turn), r.ended_at[:19].replace("T", " ") or "-", str(r.files), r.prompt or "-")
        for n, r in enumerate(reversed(records), start=1)
    ]
    header = ("N", "TURN", "ENDED (UTC)", "FILES", "PROMPT")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(4)]
    lines = [f"session {session_id}"]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in (header, *rows)
    ]
    return "\n".join(line.rstrip() for line in lines)
