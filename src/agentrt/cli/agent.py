"""``agentrt exec``: the coding agent, non-interactive. ``agentrt exec resume`` continues a session."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from agentrt.cli import Subparsers
from agentrt.interfaces import APPROVAL_POLICIES, SANDBOX_MODES

HELP = """\
Run the coding agent on one task in the current git repository, without asking anything: the model
reads, edits (apply_patch) and runs commands (shell) until it answers. Progress goes to stderr and
the final message to stdout; --json prints Codex's JSONL event stream on stdout instead.

  agentrt exec "fix the failing test in tests/test_io.py"
  echo "explain src/main.py" | agentrt exec -
  agentrt exec --json -o answer.txt "add a --verbose flag"
  agentrt exec resume --last "now add a test for it"
  agentrt exec resume 0199a2b4 "continue"
  agentrt exec fork --last "try the other approach instead"

Every session is recorded in $AGENTRT_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl (AGENTRT_HOME
defaults to ~/.agentrt) unless --ephemeral; `agentrt sessions list` shows them. Configuration:
$AGENTRT_HOME/config.toml, overridden by -p PROFILE, then -c key=value, then flags.
Exit status: 0 the turn ended with an answer; 1 it stopped early (limit, model error); 2 bad usage.
"""


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "exec",
        aliases=["e"],
        help="run the coding agent non-interactively",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "args",
        nargs="*",
        metavar="PROMPT",
        help="the task ('-' reads stdin); or: resume (--last | SESSION_ID) [PROMPT] to continue a "
        "session; fork (--last | SESSION_ID) [PROMPT] to start a new one from a copy of its history",
    )
    p.add_argument(
        "--last",
        action="store_true",
        help="with resume or fork: the newest session of this directory that got an answer",
    )
    p.add_argument("--all", action="store_true", help="with resume --last or fork --last: of any directory")
    p.add_argument("--json", action="store_true", help="print JSONL events on stdout")
    p.add_argument(
        "-o", "--output-last-message", type=Path, metavar="FILE", help="also write the final message to FILE"
    )
    p.add_argument(
        "--output-schema", type=Path, metavar="FILE", help="JSON Schema the final answer must satisfy (JSON)"
    )
    add_session_options(p)
    p.add_argument(
        "-i",
        "--image",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="send an image with the prompt (repeatable; png, jpeg, gif, webp)",
    )
    p.add_argument(
        "--max-cost",
        type=float,
        metavar="USD",
        help="stop cleanly before a request would take the session's cost past USD (max_cost_usd)",
    )
    p.add_argument("--ephemeral", action="store_true", help="write no session file")
    p.add_argument("--color", choices=("always", "never", "auto"), default="auto")
    p.set_defaults(run=run)


def add_session_options(p: argparse.ArgumentParser) -> None:
    """The options every face that opens a session takes: model, config, sandbox, approvals, place."""
    p.add_argument("-m", "--model", help="model id")
    p.add_argument("--base-url", help="override the provider's base URL")
    p.add_argument(
        "--local",
        nargs="?",
        const="",
        metavar="NAME",
        help="start a local llama.cpp server for model NAME (default qwen2.5-coder-1.5b) for this run",
    )
    p.add_argument(
        "--sim",
        type=Path,
        metavar="SCRIPT",
        help="talk to the built-in simulator replaying SCRIPT (a JSON list of replies): no key, offline",
    )
    p.add_argument("-C", "--cd", type=Path, default=Path("."), metavar="DIR", help="work in DIR")
    p.add_argument(
        "-c",
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (TOML value)",
    )
    p.add_argument("-p", "--profile", help="config profile")
    p.add_argument(
        "-s",
        "--sandbox",
        choices=SANDBOX_MODES,
        help="what commands may touch (default read-only: read anywhere, write nowhere, no network)",
    )
    p.add_argument(
        "-a",
        "--ask-for-approval",
        choices=APPROVAL_POLICIES,
        help="when to ask before running a command (exec never asks a person: denials go back to the model)",
    )
    p.add_argument(
        "--skip-git-repo-check", action="store_true", help="allow running outside a git repository"
    )
    p.add_argument(
        "--strict-config",
        action="store_true",
        help="refuse config keys agentrt does not know or does not use (default: warn once)",
    )
    p.add_argument("--ignore-user-config", action="store_true", help="do not read config.toml")
    p.add_argument("--enable", action="append", default=[], metavar="KEY", help="switch feature flag KEY on")
    p.add_argument(
        "--disable", action="append", default=[], metavar="KEY", help="switch feature flag KEY off"
    )
    p.add_argument(
        "--parity",
        action="store_true",
        help="strict Codex-parity mode: Codex 0.169's tools, requests and flag defaults, no agentrt extension",
    )
    p.add_argument(
        "--add-dir",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="another directory commands may write under workspace-write (repeatable)",
    )
    p.add_argument(
        "--dangerously-bypass-approvals-and-sandbox",
        "--yolo",
        dest="yolo",
        action="store_true",
        help="no sandbox and no approvals at all (-s danger-full-access -a never): only in a throwaway place",
    )


def session_fields(args: argparse.Namespace, words: list[str]) -> dict[str, Any]:
    """``SessionOptions`` fields from the parsed session options (``--local`` may take a prompt word)."""
    return {
        "cwd": args.cd,
        "model": args.model,
        "base_url": args.base_url,
        "profile": args.profile,
        "overrides": args.config,
        "skip_git_repo_check": args.skip_git_repo_check,
        "local": _local_model(args.local, words),
        "sim_script": args.sim,
        "add_dirs": tuple(args.add_dir),
        "strict_config": args.strict_config,
        "ignore_user_config": args.ignore_user_config,
        "enable": tuple(args.enable),
        "disable": tuple(args.disable),
        "extra_flags": _mode_flags(args),
    }


def _mode_flags(args: argparse.Namespace) -> dict[str, Any]:
    parity = {"parity": True} if args.parity else {}
    return parity | _sandbox_flags(args)


def _sandbox_flags(args: argparse.Namespace) -> dict[str, Any]:
    if not args.yolo:
        return {"sandbox_mode": args.sandbox, "approval_policy": args.ask_for_approval}
    if args.sandbox not in (None, "danger-full-access") or args.ask_for_approval not in (None, "never"):
        raise ValueError("--dangerously-bypass-approvals-and-sandbox goes with neither -s nor -a")
    return {"sandbox_mode": "danger-full-access", "approval_policy": "never"}


def run(args: argparse.Namespace) -> int:
    from agentrt.agent.session import ExecOptions, run_exec

    words: list[str] = list(args.args)
    resume = None
    fork = bool(words) and words[0] == "fork"
    if words and words[0] in ("resume", "fork"):
        words, resume = _resume_target(words[1:], args.last, words[0])
    elif args.last or args.all:
        raise ValueError("--last and --all go with `agentrt exec resume` or `agentrt exec fork`")
    if len(words) > 1:
        raise ValueError("give the prompt as one argument (quote it)")
    fields = session_fields(args, words)
    fields["extra_flags"]["max_cost_usd"] = args.max_cost
    options = ExecOptions(
        **fields,
        prompt=_prompt(words[0] if words else None),
        images=tuple(args.image),
        json=args.json,
        output_last_message=args.output_last_message,
        output_schema=args.output_schema,
        ephemeral=args.ephemeral,
        resume=resume,
        any_dir=args.all,
        fork=fork,
        color=args.color == "always"
        or (args.color == "auto" and sys.stderr.isatty() and "NO_COLOR" not in os.environ),
    )
    return run_exec(options, os.environ, sys.stdout, sys.stderr)


def _local_model(given: str | None, words: list[str]) -> str | None:
    """The model ``--local`` names; a value that is no model name is the prompt (``--local "fix it"``)."""
    if given is None:
        return None
    from agentrt.model.models import DEFAULT_LOCAL_MODEL, model_names

    if given in model_names():
        return given
    if given and not words:
        words.append(given)
    elif given:
        raise ValueError(f"unknown local model {given!r} (known: {', '.join(model_names())})")
    return DEFAULT_LOCAL_MODEL


def _resume_target(words: list[str], last: bool, verb: str) -> tuple[list[str], str]:
    if last:
        return words, "--last"
    if not words:
        raise ValueError(f"`agentrt exec {verb}` needs a SESSION_ID or --last")
    return words[1:], words[0]


def _prompt(given: str | None) -> str:
    """The prompt argument; ``-``, or no prompt with piped stdin, reads the prompt from stdin. A prompt
    *and* piped stdin: the input follows the prompt in a ``<stdin>`` block, as Codex sends it."""
    piped = not sys.stdin.isatty()
    if given == "-" or (given is None and piped):
        text = sys.stdin.read()
        if not text.strip():
            raise ValueError("the prompt read from stdin is empty")
        return text
    if given is None:
        raise ValueError("no prompt: pass it as an argument or '-' to read stdin")
    extra = sys.stdin.read() if piped else ""
    return f"{given}\n\n<stdin>\n{extra.rstrip(chr(10))}\n</stdin>" if extra.strip() else given
