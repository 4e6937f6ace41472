"""Entry point: parse, dispatch, and turn expected failures into one line on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agentrt import __version__
from agentrt.cli import bench, sim

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
        description="A lean Python agent runtime. Run `agentrt bench humaneval` to measure it on the "
        "agentic HumanEval loop (simulated model unless you name an endpoint).",
    )
    parser.add_argument("--version", action="version", version=f"agentrt {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    bench.add_parser(sub)
    sim.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("agentrt: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        code = exc.code if isinstance(exc, CliError) else 1
        print(f"agentrt: error: {describe(exc)}", file=sys.stderr)
        return code


def describe(exc: BaseException) -> str:
    """One line for an expected error; the exception's type for an unexpected one."""
    from agentrt.bench.dataset import DatasetError
    from agentrt.model.errors import ModelError

    if isinstance(exc, CliError | DatasetError | ValueError | ModelError):
        text = str(exc)
    elif isinstance(exc, OSError):
        text = str(exc) if exc.filename is None else f"{exc.strerror or exc}: {exc.filename}"
    else:
        return f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"
    return " ".join(text.split())
