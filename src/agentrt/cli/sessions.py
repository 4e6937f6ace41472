"""``agentrt sessions list``: the recorded sessions (rollout files), newest first."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agentrt.cli import Subparsers

if TYPE_CHECKING:
    from agentrt.agent.rollout import SessionInfo

HELP = """\
List the sessions recorded under $AGENTRT_HOME/sessions, newest first: the session id (give it,
or a unique prefix of it, to resume), when it started (UTC), its working directory and its first
prompt. By default only sessions started in the current directory are listed; --all lists every
directory's.
"""


def add_parser(sub: Subparsers) -> None:
    sessions = sub.add_parser("sessions", help="list recorded sessions", description="Recorded sessions.")
    actions = sessions.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "list",
        help="list sessions, newest first",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--limit", type=int, default=20, help="at most N sessions (0 = all; default 20)")
    p.add_argument("--all", action="store_true", help="sessions from every directory, not just this one")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from agentrt.agent.rollout import list_sessions, session_cost
    from agentrt.config import agentrt_home

    if args.limit < 0:
        raise ValueError(f"--limit must be 0 (all) or more, got {args.limit}")
    home = agentrt_home(os.environ)
    cwd = None if args.all else Path.cwd()
    found = list_sessions(home, limit=args.limit, cwd=cwd)
    costs = [session_cost(info.path) for info in found]
    if args.json:
        for info, (tracked, cost) in zip(found, costs, strict=True):
            row = {
                "id": info.id,
                "started_at": info.started_at,
                "cwd": info.cwd,
                "first_prompt": info.first_prompt,
                "path": str(info.path),
                "cost_usd": cost,
                "cost_tracked": tracked,
            }
            print(json.dumps(row, ensure_ascii=False))
        return 0
    if not found:
        where = "" if cwd is None else f" started in {cwd}"
        hint = "" if cwd is None else " (use --all to list every directory's)"
        print(f"No sessions{where} under {home / 'sessions'}{hint}.")
        return 0
    print(render_table(found, width=_width(), home=os.environ.get("HOME"), costs=costs))
    return 0


def render_table(
    found: list[SessionInfo],
    *,
    width: int,
    home: str | None,
    costs: Sequence[tuple[bool, float | None]] = (),
) -> str:
    """A plain-text table: id, start time, cwd, cost so far, first prompt (cut to fit ``width``).
    A session's cost is ``unknown`` when its model had no price, ``-`` when it was not tracked."""
    from agentrt.agent.cost import cost_text

    shown = [cost_text(cost) if tracked else "-" for tracked, cost in costs] or ["-"] * len(found)
    rows = [
        (info.id, info.started, _short_path(info.cwd, home), cost, _one_line(info.first_prompt))
        for info, cost in zip(found, shown, strict=True)
    ]
    header = ("ID", "STARTED (UTC)", "CWD", "COST", "FIRST PROMPT")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(4)]
    lines = []
    for row in (header, *rows):
        head = "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True))
        room = max(width - len(head) - 2, 20)
        lines.append(f"{head}  {_cut(row[4], room)}".rstrip())
    return "\n".join(lines)


def _short_path(path: str | None, home: str | None) -> str:
    if not path:
        return "-"
    if home and (path == home or path.startswith(home.rstrip("/") + "/")):
        path = "~" + path[len(home.rstrip("/")) :]
    return _cut(path, 40, left=True)


def _one_line(text: str | None) -> str:
    return " ".join(text.split()) if text else "-"


def _cut(text: str, room: int, *, left: bool = False) -> str:
    if len(text) <= room:
        return text
    return "…" + text[len(text) - room + 1 :] if left else text[: room - 1] + "…"


def _width() -> int:
    """``$COLUMNS`` if set, else the terminal's width, else 120."""
    import os

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        return 120
