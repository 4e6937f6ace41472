"""``agentrt [PROMPT]`` and ``agentrt resume``: the interactive session in the terminal."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agentrt.cli import Subparsers
from agentrt.cli.agent import add_session_options, session_fields

HELP = """\
Open a conversation with the coding agent in this terminal, in the current git repository. Type a
message and press Enter; watch the agent read, edit and run commands; approve what needs approving;
press Esc to interrupt it; type / for commands (/help lists them). What the session prints stays in
your terminal's scrollback.

  agentrt                                  start a session
  agentrt "explain what src/main.py does"  start with a first message
  agentrt -s workspace-write -a on-request let it edit here, ask before going further
  agentrt --sim examples/interactive-demo.json   try it offline with the built-in simulator
  agentrt resume                           pick an earlier session of this directory to continue

Keys: Enter sends · Ctrl-J or Alt-Enter new line · Up/Down history · @ completes a path ·
Esc or Ctrl-C interrupts a turn · Ctrl-D or Ctrl-C twice quits.
For scripts and pipes use `agentrt exec`; every session is recorded like exec's and resumable by either.
"""

RESUME_HELP = """\
Continue an earlier session (interactive or exec) with its history shown. With no SESSION_ID it
opens a picker of this directory's sessions, newest first (--all: every directory's); --last takes
the newest without asking.

  agentrt resume
  agentrt resume --last
  agentrt resume 0199a2b4 "now add the tests"
"""

NOT_A_TERMINAL = (
    "the interactive session needs a terminal on stdin; to run a task from a script or a pipe use "
    '`agentrt exec "PROMPT"` (or `agentrt exec -` to read the prompt from stdin)'
)


def build_session_parser() -> argparse.ArgumentParser:
    """The parser of ``agentrt [OPTIONS] [PROMPT]`` (no subcommand)."""
    p = argparse.ArgumentParser(
        prog="agentrt",
        usage="agentrt [OPTIONS] [PROMPT]\n       agentrt COMMAND ... (see agentrt --help)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("prompt", nargs="?", metavar="PROMPT", help="the first message of the session")
    _common(p)
    p.set_defaults(run=run, resume_mode=False, resume_target=None, last=False, all=False)
    return p


def add_resume_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "resume",
        help="continue an earlier session in the terminal (picker, --last or SESSION_ID)",
        description=RESUME_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("resume_target", nargs="?", metavar="SESSION_ID", help="id (or unique prefix) to resume")
    p.add_argument("prompt", nargs="?", metavar="PROMPT", help="a first message for the resumed session")
    p.add_argument("--last", action="store_true", help="the newest session of this directory, no picker")
    p.add_argument("--all", action="store_true", help="pick among every directory's sessions")
    _common(p)
    p.set_defaults(run=run, resume_mode=True)


def _common(p: argparse.ArgumentParser) -> None:
    add_session_options(p)
    p.add_argument("--color", choices=("always", "never", "auto"), default="auto")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def run(args: argparse.Namespace) -> int:
    from agentrt.agent.session import SessionOptions
    from agentrt.interactive.app import InteractiveOptions, run_interactive

    if not sys.stdin.isatty():
        raise ValueError(NOT_A_TERMINAL)
    words = [args.prompt] if args.prompt else []
    fields = session_fields(args, words)
    resume = _resume(args, fields["cwd"])
    if resume == "":
        return 1
    session = SessionOptions(**fields, resume=resume)
    color = args.color == "always" or (args.color == "auto" and "NO_COLOR" not in os.environ)
    options = InteractiveOptions(session, prompt=words[0] if words else None, color=color)
    return run_interactive(options, os.environ, sys.stdout)


def _resume(args: argparse.Namespace, cwd: Path) -> str | None:
    """The session to resume: ``None`` for a new one, ``""`` when there is none to pick or none was picked."""
    if not args.resume_mode:
        return None
    if args.resume_target is not None:
        if args.last:
            raise ValueError("give a SESSION_ID or --last, not both")
        return str(args.resume_target)
    from agentrt.agent.rollout import newest_answered
    from agentrt.config import agentrt_home

    home = agentrt_home(os.environ)
    where = None if args.all else cwd.resolve()
    if args.last:
        newest = newest_answered(home, where)
        if newest is not None:
            return str(newest)
        print(_none_found(where), file=sys.stderr)
        return ""
    return _pick(home, where)


def _pick(home: Path, where: Path | None) -> str:
    import asyncio

    from agentrt.interactive.picker import pick_session, session_choices

    if not session_choices(home, where):
        print(_none_found(where), file=sys.stderr)
        return ""
    return asyncio.run(pick_session(home, where)) or ""


def _none_found(where: Path | None) -> str:
    if where is None:
        return "agentrt: no sessions to resume"
    return f"agentrt: no sessions to resume in {where} (--all lists every directory's)"
