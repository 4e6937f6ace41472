"""Shared helpers for the sandbox tests (not a test module): mechanisms, workspaces, running."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agentrt.interfaces import Sandbox
from agentrt.sandbox import RunResult, SandboxPolicy, build_env, choose_sandbox, policy_for, run_command
from agentrt.sandbox.confine import landlock_abi

MECHANISMS = ("bwrap", "landlock")


def skip_unless_available(mechanism: str) -> None:
    """Skip the calling test when ``mechanism`` genuinely cannot run on this machine."""
    if mechanism == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    if mechanism == "landlock" and landlock_abi() < 1:
        pytest.skip("this kernel has no Landlock")


def make_workspace(root: Path) -> tuple[Path, Path]:
    """``root/ws`` (with a ``.git`` holding hooks/ and config) and ``root/outside`` (with victim.txt)."""
    ws = root / "ws"
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / ".git" / "config").write_text("[core]\n")
    outside = root / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("original\n")
    return ws, outside


def policy(mode: str, ws: Path, *, home: Path | None = None, **changes: Any) -> SandboxPolicy:
    """``policy_for`` with agentrt's home outside the workspace unless given."""
    home = home if home is not None else ws.parent / "agentrt-home"
    return replace(policy_for(mode, ws, home=home, raw={}), **changes)


@contextmanager
def sandbox(pol: SandboxPolicy, mechanism: str) -> Iterator[Sandbox]:
    """The self-tested sandbox for ``mechanism``, closed afterwards."""
    box = choose_sandbox(pol, mechanisms=(mechanism,))
    try:
        yield box
    finally:
        box.close()  # type: ignore[attr-defined]


def run(box: Sandbox, pol: SandboxPolicy, cmd: Sequence[str] | str, **kwargs: Any) -> RunResult:
    """Run ``cmd`` under ``box`` in the policy's cwd with the environment agentrt would build."""
    env = build_env(os.environ, None, tmpdir=pol.tmpdir, sandbox=box.name, network=pol.network_allowed)
    kwargs.setdefault("timeout_s", 30.0)
    return asyncio.run(run_command(cmd, cwd=kwargs.pop("cwd", pol.cwd), env=env, sandbox=box, **kwargs))
