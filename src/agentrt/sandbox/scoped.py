"""A sandbox scoped to one directory for one piece of work (a benchmark task's test run, an agent's
repository): ``workspace-write`` rooted there, a private ``TMPDIR``, no network, no capabilities, and
an environment without secrets — made before the work and released after it.

The mechanism is proven once by the caller (``choose_sandbox`` on any directory); each scope then
builds that mechanism's sandbox for its own root without repeating the self-test.

``SandboxScopes`` makes many such scopes (one per task of a benchmark run) at the cost of what differs
between them: what is the same for every scope is worked out once, by the first — the denied paths
resolved, the scrubbed environment, the pids hierarchy; a scope's pids cgroup, once empty, serves a
later scope — and the leftovers of runtimes that are gone
(private temp dirs, pids cgroups) are cleared once, not at every scope (each clearing lists the whole
temp dir: with a thousand live scopes, quadratic). ``scoped_sandbox`` is one scope on its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from agentrt.sandbox.env import build_env
from agentrt.sandbox.hygiene import owner_tag
from agentrt.sandbox.limits import PidsCgroups
from agentrt.sandbox.policy import SandboxPolicy, policy_for, private_tmpdir, protected_in
from agentrt.sandbox.process import Confinement
from agentrt.sandbox.select import make_sandbox


@contextmanager
def scoped_sandbox(
    root: Path, mechanism: str, *, home: Path, env: Mapping[str, str]
) -> Iterator[tuple[Confinement, SandboxPolicy]]:
    """How commands run that may write only under ``root``, and the policy that says so (for what
    agentrt itself writes and reads there: ``confined_write``, ``deny_read``)."""
    with SandboxScopes(mechanism, home=home, env=env).scope(root) as scoped:
        yield scoped


class SandboxScopes:
    """``scope(root)`` as ``scoped_sandbox`` makes it, for many roots in turn or at once (module
    docstring). The environment and the denied paths are those of the first scope: a symlink put on
    the way to a denied path later is followed by the helper's own check of each path, not here."""

    __slots__ = (
        "_abi", "_cgroups", "_env", "_home", "_mechanism", "_owner", "_raw_env", "_real_home", "_template",
        "_tmp_parent",
    )  # fmt: skip

    def __init__(
        self, mechanism: str, *, home: Path, env: Mapping[str, str], tmp_parent: Path | None = None
    ) -> None:
        """``tmp_parent``: where the private temporary directories are made (default: ``TMPDIR``)."""
        self._mechanism, self._home, self._raw_env = mechanism, home, env
        self._tmp_parent = tmp_parent
        self._real_home = home
        self._template: SandboxPolicy | None = None
        self._env: dict[str, str] | None = None
        self._owner: str | None = None
        self._cgroups = PidsCgroups(reuse=True)
        self._abi: int | None = None
        """The kernel's Landlock ABI, from the first scope's sandbox (``landlock`` only)."""

    @contextmanager
    def scope(self, root: Path) -> Iterator[tuple[Confinement, SandboxPolicy]]:
        """``root``'s sandbox and policy (as ``scoped_sandbox``), released when the block ends."""
        first = self._template is None
        policy = self._policy(root)
        with private_tmpdir(policy, parent=self._tmp_parent, sweep=first, owner=self._owner) as policy:
            box = make_sandbox(self._mechanism, policy, cgroups=self._cgroups, landlock_abi=self._abi)
            self._abi = getattr(box, "abi", None)
            try:
                yield Confinement(box, self._scrubbed(box.name, policy.tmpdir)), policy
            finally:
                box.close()

    def _policy(self, root: Path) -> SandboxPolicy:
        template = self._template
        if template is None:
            self._owner = owner_tag()
            self._real_home = Path(os.path.realpath(self._home))
            template = self._template = policy_for("workspace-write", root, home=self._home, raw={})
            return template
        cwd = Path(os.path.abspath(root))
        roots = [Path(os.path.realpath(r)) for r in (cwd, *template.writable_roots)]
        return replace(template, cwd=cwd, protected=protected_in(roots, self._real_home))

    def _scrubbed(self, sandbox: str, tmpdir: Path | None) -> dict[str, str]:
        env = self._env
        if env is None:
            env = self._env = build_env(self._raw_env, None, tmpdir=None, sandbox=sandbox, network=False)
        env = dict(env)
        if tmpdir is not None:
            env.update(TMPDIR=str(tmpdir), TMP=str(tmpdir), TEMP=str(tmpdir))
        return env
