"""A sandbox scoped to one directory for one piece of work (a benchmark task's test run, an agent's
repository): ``workspace-write`` rooted there, a private ``TMPDIR``, no network, no capabilities, and
an environment without secrets — made before the work and released after it.

The mechanism is proven once by the caller (``choose_sandbox`` on any directory); each scope then
builds that mechanism's sandbox for its own root without repeating the self-test.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from agentrt.sandbox.env import build_env
from agentrt.sandbox.policy import SandboxPolicy, policy_for, private_tmpdir
from agentrt.sandbox.process import Confinement
from agentrt.sandbox.select import make_sandbox


@contextmanager
def scoped_sandbox(
    root: Path, mechanism: str, *, home: Path, env: Mapping[str, str]
) -> Iterator[tuple[Confinement, SandboxPolicy]]:
    """How commands run that may write only under ``root``, and the policy that says so (for what
    agentrt itself writes and reads there: ``confined_write``, ``deny_read``)."""
    policy = policy_for("workspace-write", root, home=home, raw={})
    with private_tmpdir(policy) as policy:
        box = make_sandbox(mechanism, policy)
        try:
            scrubbed = build_env(env, None, tmpdir=policy.tmpdir, sandbox=box.name, network=False)
            yield Confinement(box, scrubbed), policy
        finally:
            box.close()
