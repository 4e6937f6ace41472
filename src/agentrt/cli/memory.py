"""``agentrt memory list|show|forget|clear``: the memories the agent saved (feature ``memories``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agentrt.cli import Subparsers

if TYPE_CHECKING:
    from agentrt.agent.memory import MemoryStore

HELP = """\
The memories the agent saved with its remember tool while the memories feature was on (--enable
memories, -c features.memories=true, or [features] memories = true), kept in
$AGENTRT_HOME/memories.sqlite. Each belongs to one repository (the git root of the directory it was
saved in, else that directory): every command works on this directory's repository (or -C DIR's)
unless --all is given. A memory not used (cited by the model) for long fades and is pruned.
Exit status: 0 done; 1 no such memory; 2 bad usage.
"""


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "memory",
        help="list, show, forget or clear the agent's memories of this repository",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = p.add_subparsers(dest="memory_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="this repository's memories, most recently used first")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = commands.add_parser("show", help="one memory in full")
    show.add_argument("id", type=int, metavar="ID")
    forget = commands.add_parser("forget", help="delete one memory")
    forget.add_argument("id", type=int, metavar="ID")
    clear = commands.add_parser("clear", help="delete this repository's memories")
    clear.add_argument("--yes", action="store_true", help="do not ask")
    for command, run_it in ((listing, _list), (show, _show), (forget, _forget), (clear, _clear)):
        command.add_argument("--all", action="store_true", help="every repository's memories")
        command.add_argument(
            "-C", "--cd", type=Path, default=Path("."), metavar="DIR", help="the repository (default: here)"
        )
        command.set_defaults(run=run_it)


def _scope(args: argparse.Namespace) -> str | None:
    from agentrt.agent.memory import scope_for

    if args.all:
        return None
    if not args.cd.is_dir():
        raise ValueError(f"directory {args.cd} does not exist")
    return scope_for(args.cd)


def _store() -> MemoryStore | None:
    """The store, or ``None`` when nothing was ever saved (no file is created to say so)."""
    import os

    from agentrt.agent.memory import DB_NAME, MemoryStore
    from agentrt.config import agentrt_home

    home = agentrt_home(os.environ)
    return MemoryStore.at(home) if (home / DB_NAME).exists() else None


def _where(scope: str | None) -> str:
    return "any repository" if scope is None else scope


def _list(args: argparse.Namespace) -> int:
    import time

    from agentrt.agent.memory import dumps, render_rows

    scope, store = _scope(args), _store()
    found = [] if store is None else store.entries(scope)
    now = time.time()
    if args.json:
        for memory in found:
            print(dumps(memory, now))
        return 0
    if not found:
        print(f"No memories of {_where(scope)}.")
        return 0
    lines = render_rows(found, now)
    if scope is None:
        lines = [lines[0] + "  (REPOSITORY)"] + [
            f"{line}  ({m.scope})" for line, m in zip(lines[1:], found, strict=True)
        ]
    print("\n".join(line.rstrip() for line in lines))
    return 0


def _missing(memory_id: int, scope: str | None) -> int:
    hint = "" if scope is None else " (--all: of any repository)"
    print(f"agentrt: error: no memory {memory_id} of {_where(scope)}{hint}", file=sys.stderr)
    return 1


def _show(args: argparse.Namespace) -> int:
    import time

    scope, store = _scope(args), _store()
    memory = None if store is None else store.get(args.id, scope)
    if memory is None:
        return _missing(args.id, scope)
    now = time.time()
    print(f"id:         {memory.id}")
    print(f"repository: {memory.scope}")
    print(f"tags:       {', '.join(memory.tags) or '-'}")
    print(f"saved:      {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(memory.created))} UTC")
    print(f"last used:  {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(memory.last_used))} UTC")
    print(f"uses:       {memory.uses}")
    print(f"freshness:  {memory.freshness(now):.2f}")
    print()
    print(memory.text)
    return 0


def _forget(args: argparse.Namespace) -> int:
    scope, store = _scope(args), _store()
    if store is None or not store.forget(args.id, scope):
        return _missing(args.id, scope)
    print(f"Forgot memory {args.id}.")
    return 0


def _clear(args: argparse.Namespace) -> int:
    scope, store = _scope(args), _store()
    count = 0 if store is None else store.count(scope)
    if count == 0:
        print(f"No memories of {_where(scope)}.")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise ValueError(f"clear would delete {count} memories of {_where(scope)}: pass --yes")
        answer = input(f"Delete {count} memories of {_where(scope)}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 0
    assert store is not None
    print(f"Deleted {store.clear(scope)} memories of {_where(scope)}.")
    return 0
