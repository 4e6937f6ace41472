"""Entry point: parse, dispatch, and turn expected failures into one line on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agentrt import __version__
from agentrt.cli import (
    agent,
    apply_patch,
    bench,
    features,
    interactive,
    mcp,
    mcp_server,
    memory,
    model,
    sandbox,
    sessions,
    sim,
    undo,
)

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """An expected failure: printed as one line (no traceback unless ``--debug``), with an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentrt",
        description="A lean Python agent runtime: a coding agent — interactive (`agentrt`, `agentrt "
        '"PROMPT"`, `agentrt resume`) or not (`agentrt exec`) — and a benchmark harness (`agentrt bench '
        "humaneval`, simulated model unless you name an endpoint).",
        epilog="With no COMMAND, `agentrt [OPTIONS] [PROMPT]` opens the interactive session in this "
        "terminal; it takes exec's options (-m, -p, -c, -s, -a, -C, --base-url, --local, --sim), listed "
        "with the keys by `agentrt -C . --help`.",
    )
    parser.add_argument("--version", action="version", version=f"agentrt {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    agent.add_parser(sub)
    interactive.add_resume_parser(sub)
    bench.add_parser(sub)
    model.add_parser(sub)
    apply_patch.add_parser(sub)
    sandbox.add_parser(sub)
    sessions.add_parser(sub)
    sim.add_parser(sub)
    features.add_parser(sub)
    undo.add_parser(sub)
    memory.add_parser(sub)
    mcp.add_parser(sub)
    mcp_server.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if _opens_session(words, parser):
        parser = interactive.build_session_parser()
    args = parse(parser, words)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("agentrt: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        print(f"agentrt: error: {describe(exc)}", file=sys.stderr)
        return exit_code(exc)


def _opens_session(words: list[str], parser: argparse.ArgumentParser) -> bool:
    """No subcommand named: ``agentrt``, ``agentrt "PROMPT"``, ``agentrt -m M`` open the interactive session."""
    if any(w in ("-h", "--help", "--version") for w in words[:1]):
        return False
    first = _first_word(words, interactive.build_session_parser())
    return first is None or first not in _command_names(parser)


def _first_word(words: list[str], session: argparse.ArgumentParser) -> str | None:
    """The first word that is neither an option nor an option's value."""
    takes_value = {
        flag for action in session._actions if action.nargs is None and action.option_strings
        for flag in action.option_strings
    }  # fmt: skip
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "--":
            continue
        elif word.startswith("-") and word != "-":
            skip = word in takes_value
        else:
            return word
    return None


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; a command that takes free words (``exec``) also gets those that follow its options."""
    args, extra = parser.parse_known_args(argv)
    words = getattr(args, "args", None)
    if extra and isinstance(words, list) and not any(w.startswith("-") and w != "-" for w in extra):
        words.extend(extra)
    elif extra:
        _chosen(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The subcommand's own parser (its usage is the one to show), else ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub: argparse.ArgumentParser | None = action.choices.get(getattr(args, "command", None) or "")
            if sub is not None:
                return sub
    return parser


def exit_code(exc: BaseException) -> int:
    """2 for bad usage (input that cannot be used: a flag, a config value, a dataset, a path), else 1."""
    from agentrt.agent.session import BadInput
    from agentrt.bench.dataset import DatasetError

    if isinstance(exc, CliError):
        return exc.code
    return EXIT_USAGE if isinstance(exc, BadInput | DatasetError | ValueError) else 1


def describe(exc: BaseException) -> str:
    """One line for an expected error; the exception's type for an unexpected one."""
    from agentrt.agent.session import ExecError
    from agentrt.bench.dataset import DatasetError
    from agentrt.model.errors import ModelError

    if isinstance(exc, CliError | DatasetError | ValueError | ModelError | ExecError):
        text = str(exc)
    elif isinstance(exc, OSError):
        text = str(exc) if exc.filename is None else f"{exc.strerror or exc}: {exc.filename}"
    else:
        return f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"
    return " ".join(text.split())
