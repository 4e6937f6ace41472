"""``agentrt sandbox [--mode M] [--network] [-C DIR] [--explain] -- CMD...``: one command, sandboxed.

Builds the policy from the config (``[sandbox]``, ``[sandbox_workspace_write]``,
``[shell_environment_policy]``) and the flags, chooses the sandbox the way ``agentrt exec`` does
(self-tested, never silently unsandboxed), says on stderr which mechanism enforces it, and runs the
command with its output going straight to the terminal and stdin on /dev/null. Exits with the
command's status (128+N when signal N ended it).

``--explain`` runs no command: it prints the mechanism that would be chosen (after its self-test),
the mode, the network, the writable roots, the protected paths and the denied reads, each with where
it came from (a default, the config, a flag), so a user can see what a command could touch before
trusting it. It exits 1 when no mechanism can enforce the mode.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentrt.cli import Subparsers
from agentrt.interfaces import SANDBOX_MODES
from agentrt.process_group import die_with_parent

if TYPE_CHECKING:
    from agentrt.config import Config
    from agentrt.sandbox import SandboxPolicy

DEFAULT_MODE = "workspace-write"
Row = tuple[str, str]
"""One line of ``--explain``: what, and where it came from."""
_MAX_LEFT = 60
_CONFIG = "config"
_DEFAULT = "default"


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "sandbox",
        help="run one command under agentrt's sandbox (bwrap or Landlock)",
        description="Run CMD under the sandbox agentrt gives the commands a model writes, and report "
        "which mechanism enforced it. Without bubblewrap or Landlock it refuses to run, unless --mode "
        "danger-full-access.",
    )
    p.add_argument("--mode", choices=SANDBOX_MODES, help=f"sandbox mode (default: {DEFAULT_MODE})")
    p.add_argument("--network", action="store_true", help="allow network access (workspace-write only)")
    p.add_argument("-C", dest="cwd", metavar="DIR", type=Path, help="run in DIR (default: current directory)")
    p.add_argument(
        "--explain",
        action="store_true",
        help="run nothing; print the mechanism, mode, writable roots, protected paths, denied reads "
        "and network, and where each came from",
    )
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD...", help="the command to run")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from agentrt.cli.main import CliError
    from agentrt.sandbox import (
        SandboxUnavailable,
        become_subreaper,
        build_env,
        choose_sandbox,
        harden_runtime,
        private_tmpdir,
    )

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd and not args.explain:
        raise CliError("agentrt sandbox needs a command after -- (or --explain)", code=2)
    harden_runtime()
    become_subreaper()
    config, policy = _policy(args)
    if args.explain:
        return explain(args, config, policy)
    cwd = policy.cwd
    with private_tmpdir(policy) as policy:
        try:
            box = choose_sandbox(policy)
        except SandboxUnavailable as exc:
            raise CliError(str(exc)) from None
        network = "network on" if policy.network_allowed else "network off"
        print(f"agentrt: sandbox: {box.name} ({policy.mode}, {network})", file=sys.stderr, flush=True)
        env = build_env(
            os.environ,
            config.raw.get("shell_environment_policy"),
            tmpdir=policy.tmpdir,
            sandbox=box.name,
            network=policy.network_allowed,
        )
        try:
            done = subprocess.run(
                box.wrap(cmd, cwd), cwd=cwd, env=env, stdin=subprocess.DEVNULL, check=False,
                preexec_fn=die_with_parent(kill=box.death_signal), pass_fds=box.pass_fds,
            )  # fmt: skip
        finally:
            close = getattr(box, "close", None)
            if close is not None:
                close()
    return done.returncode if done.returncode >= 0 else 128 - done.returncode


def _policy(args: argparse.Namespace) -> tuple[Config, SandboxPolicy]:
    """The config and the policy the flags and the config give; config mistakes fail here, in one line."""
    from agentrt.config import agentrt_home, load_config
    from agentrt.sandbox import check_env_policy, policy_for

    config = load_config(agentrt_home(os.environ), env=os.environ)
    check_env_policy(config.raw.get("shell_environment_policy"))
    cwd = Path(os.path.abspath(args.cwd or Path.cwd()))
    policy = policy_for(args.mode or DEFAULT_MODE, cwd, home=config.home, raw=config.raw, env=os.environ)
    if args.network:
        policy = replace(policy, network=True)
    return config, policy


def explain(args: argparse.Namespace, config: Config, policy: SandboxPolicy) -> int:
    """Print what a command would run under, and where each part came from; run nothing.

    The mechanism is chosen as for a real run (its self-test runs a probe), with a private TMPDIR
    that is removed again. Exits 1 when no mechanism can enforce the mode.
    """
    from agentrt.sandbox import SandboxUnavailable, choose_sandbox, private_tmpdir

    problem = None
    with private_tmpdir(policy) as tested:
        try:
            box = choose_sandbox(tested)
        except SandboxUnavailable as exc:
            mechanism, problem = "none", str(exc)
        else:
            mechanism = box.name
            getattr(box, "close", lambda: None)()
    sections = [
        ("", _header(args, config, policy, mechanism)),
        ("writable roots", _writable_rows(policy)),
        ("protected (read-only inside writable roots)", _protected_rows(policy, config.home)),
        ("denied reads", _deny_rows(policy, config)),
    ]
    print("agentrt sandbox --explain: what a command would run under (nothing was run)")
    for line in aligned(sections):
        print(line)
    if problem is not None:
        print(f"\ncommands would be refused: {problem}")
        return 1
    return 0


def _header(args: argparse.Namespace, config: Config, policy: SandboxPolicy, mechanism: str) -> list[Row]:
    from agentrt.config.load import CONFIG_FILE

    config_file = config.home / CONFIG_FILE
    if not policy.sandboxed:
        how = "danger-full-access: no sandbox"
    elif mechanism == "none":
        how = "no mechanism passed its self-test"
    else:
        how = "passed its self-test; tried in order: bwrap, landlock"
    return [
        (f"mechanism   {mechanism}", how),
        (f"mode        {policy.mode}", "--mode" if args.mode else f"{_DEFAULT} (--mode to change)"),
        (
            f"network     {'on' if policy.network_allowed else 'off'}",
            _network_source(args, config.raw, policy),
        ),
        (f"directory   {policy.cwd}", "-C" if args.cwd else "current directory"),
        (f"config      {config_file}", "read" if config_file.is_file() else "absent: defaults only"),
    ]


def _network_source(args: argparse.Namespace, raw: Mapping[str, Any], policy: SandboxPolicy) -> str:
    if policy.mode != "workspace-write":
        return f"{policy.mode} mode"
    if args.network:
        return "--network"
    if raw.get("sandbox_workspace_write", {}).get("network_access") is True:
        return f"{_CONFIG}: [sandbox_workspace_write] network_access"
    return f"{_DEFAULT} ([sandbox_workspace_write] network_access)"


def _writable_rows(policy: SandboxPolicy) -> list[Row]:
    if not policy.sandboxed:
        return [("everything", "danger-full-access mode")]
    if policy.mode == "read-only":
        return [("nothing (but /dev/null)", "read-only mode")]
    rows = [(str(policy.cwd), "the working directory")]
    rows += [(str(r), f"{_CONFIG}: [sandbox_workspace_write] writable_roots") for r in policy.writable_roots]
    rows.append(("a private $TMPDIR", "new for each command, removed after it"))
    return rows


def _protected_rows(policy: SandboxPolicy, home: Path) -> list[Row]:
    if not policy.sandboxed or policy.mode == "read-only":
        return [("(none needed)", "nothing is writable" if policy.sandboxed else "no sandbox")]
    if not policy.protected:
        return [("(none)", "no .git and no $AGENTRT_HOME inside a writable root")]
    agentrt_home = Path(os.path.realpath(home))
    return [
        (str(p), f"{_DEFAULT}: $AGENTRT_HOME" if p == agentrt_home else f"{_DEFAULT}: .git")
        for p in policy.protected
    ]


def _deny_rows(policy: SandboxPolicy, config: Config) -> list[Row]:
    from agentrt.config.home import user_home
    from agentrt.sandbox.policy import deny_read_configured, deny_read_entries, expand_entry

    source = f"{_CONFIG}: [sandbox] deny_read" if deny_read_configured(config.raw) else _DEFAULT
    if not policy.sandboxed:
        return [("(none)", "no sandbox")]
    if not policy.deny_read:
        return [("(none: reads anywhere)", source)]
    user = user_home(os.environ)
    listed = {expand_entry(e, user) for e in deny_read_entries(config.raw, home=config.home)}
    rows: list[Row] = []
    for path in policy.deny_read:
        where = source if path in listed else f"{source}, real path of a symlink"
        rows.append((str(path), where if path.exists() else f"{where}; absent, nothing to hide"))
    return rows


def aligned(sections: Sequence[tuple[str, Sequence[Row]]]) -> list[str]:
    """The sections as lines, every right-hand column starting at the same place.

    The left column is as wide as its widest cell up to ``_MAX_LEFT``; a wider cell puts its
    right-hand text on the next line, in the same column, rather than pushing every row right.
    """
    lefts = [(2 if title else 0) + len(left) for title, rows in sections for left, _ in rows]
    width = min(max(lefts, default=0), _MAX_LEFT)
    lines: list[str] = []
    for title, rows in sections:
        indent = "  " if title else ""
        if title:
            lines += ["", title]
        for left, right in rows:
            cell = f"{indent}{left}"
            if len(cell) > width:
                lines += [cell, " " * width + "  " + right]
            else:
                lines.append(cell.ljust(width) + "  " + right)
    return lines
