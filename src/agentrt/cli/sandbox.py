"""``agentrt sandbox [--mode M] [--network] [-C DIR] -- CMD...``: run one command under the sandbox.

Builds the policy from the config (``[sandbox_workspace_write]``, ``[shell_environment_policy]``)
and the flags, chooses the sandbox the way ``agentrt exec`` does (self-tested, never silently
unsandboxed), says on stderr which mechanism enforces it, and runs the command with its output
going straight to the terminal and stdin on /dev/null. Exits with the command's status (128+N when
signal N ended it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from agentrt.cli import Subparsers
from agentrt.interfaces import SANDBOX_MODES


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "sandbox",
        help="run one command under agentrt's sandbox (bwrap or Landlock)",
        description="Run CMD under the sandbox agentrt gives the commands a model writes, and report "
        "which mechanism enforced it. Without bubblewrap or Landlock it refuses to run, unless --mode "
        "danger-full-access.",
    )
    p.add_argument(
        "--mode", choices=SANDBOX_MODES, default="workspace-write", help="sandbox mode (default: %(default)s)"
    )
    p.add_argument("--network", action="store_true", help="allow network access (workspace-write only)")
    p.add_argument("-C", dest="cwd", metavar="DIR", type=Path, help="run in DIR (default: current directory)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD...", help="the command to run")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from agentrt.cli.main import CliError
    from agentrt.config import agentrt_home, load_config
    from agentrt.sandbox import (
        SandboxUnavailable,
        become_subreaper,
        build_env,
        check_env_policy,
        choose_sandbox,
        harden_runtime,
        policy_for,
        private_tmpdir,
    )

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise CliError("agentrt sandbox needs a command after --", code=2)
    harden_runtime()
    become_subreaper()
    config = load_config(agentrt_home(os.environ), env=os.environ)
    check_env_policy(
        config.raw.get("shell_environment_policy")
    )  # a mistake is one line, before anything runs
    cwd = Path(os.path.abspath(args.cwd or Path.cwd()))
    policy = policy_for(args.mode, cwd, home=config.home, raw=config.raw)
    if args.network:
        policy = replace(policy, network=True)
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
            done = subprocess.run(box.wrap(cmd, cwd), cwd=cwd, env=env, stdin=subprocess.DEVNULL, check=False)
        finally:
            close = getattr(box, "close", None)
            if close is not None:
                close()
    return done.returncode if done.returncode >= 0 else 128 - done.returncode
