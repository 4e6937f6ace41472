"""Running commands for agentrt: one async subprocess per call, behind the ``Sandbox`` seam.

``run_command`` runs one command in its own process group with captured, capped output and a
wall-clock timeout. The ``Sandbox`` it is given decides the OS confinement:

* ``policy_for`` turns ``Config`` settings into a ``SandboxPolicy`` (read-only, workspace-write,
  danger-full-access); ``private_tmpdir`` gives it a private ``TMPDIR``;
* ``choose_sandbox`` returns the first mechanism that proves it enforces the policy
  (``BwrapSandbox``, then ``LandlockSandbox``), ``NoSandbox`` for danger-full-access, or raises
  ``SandboxUnavailable``;
* ``build_env`` builds each command's environment (``[shell_environment_policy]``);
* ``harden_runtime`` and ``become_subreaper`` are called once by the CLI;
* ``confined_write`` / ``write_allowed`` confine writes agentrt makes in-process (``apply_patch``);
* ``scoped_sandbox`` gives one directory's work (a benchmark task) its own workspace-write sandbox.
"""

from typing import TYPE_CHECKING

from agentrt.lazy import lazy_names

if TYPE_CHECKING:
    from agentrt.interfaces import SandboxMode
    from agentrt.sandbox.bwrap import BwrapSandbox
    from agentrt.sandbox.env import build_env, check_env_policy
    from agentrt.sandbox.hygiene import become_subreaper, harden_runtime, reap_orphans
    from agentrt.sandbox.landlock import LandlockSandbox
    from agentrt.sandbox.limits import Limits
    from agentrt.sandbox.none import NoSandbox
    from agentrt.sandbox.policy import SandboxPolicy, policy_for, private_tmpdir
    from agentrt.sandbox.process import RunResult, run_command, use_pidfd_child_watcher
    from agentrt.sandbox.scoped import scoped_sandbox
    from agentrt.sandbox.select import SandboxUnavailable, choose_sandbox
    from agentrt.sandbox.writes import confined_write, write_allowed

# Each name is imported from its module on first use, so that ``import agentrt.sandbox.process``
# (every benchmark agent's test run goes through it) does not load bwrap, Landlock and the rest.
_WHERE = {
    "BwrapSandbox": "agentrt.sandbox.bwrap",
    "LandlockSandbox": "agentrt.sandbox.landlock",
    "Limits": "agentrt.sandbox.limits",
    "NoSandbox": "agentrt.sandbox.none",
    "RunResult": "agentrt.sandbox.process",
    "SandboxMode": "agentrt.interfaces",
    "SandboxPolicy": "agentrt.sandbox.policy",
    "SandboxUnavailable": "agentrt.sandbox.select",
    "become_subreaper": "agentrt.sandbox.hygiene",
    "build_env": "agentrt.sandbox.env",
    "check_env_policy": "agentrt.sandbox.env",
    "choose_sandbox": "agentrt.sandbox.select",
    "confined_write": "agentrt.sandbox.writes",
    "harden_runtime": "agentrt.sandbox.hygiene",
    "policy_for": "agentrt.sandbox.policy",
    "private_tmpdir": "agentrt.sandbox.policy",
    "reap_orphans": "agentrt.sandbox.hygiene",
    "run_command": "agentrt.sandbox.process",
    "scoped_sandbox": "agentrt.sandbox.scoped",
    "use_pidfd_child_watcher": "agentrt.sandbox.process",
    "write_allowed": "agentrt.sandbox.writes",
}


__getattr__ = lazy_names(__name__, _WHERE)


__all__ = [
    "BwrapSandbox",
    "LandlockSandbox",
    "Limits",
    "NoSandbox",
    "RunResult",
    "SandboxMode",
    "SandboxPolicy",
    "SandboxUnavailable",
    "become_subreaper",
    "build_env",
    "check_env_policy",
    "choose_sandbox",
    "confined_write",
    "harden_runtime",
    "policy_for",
    "private_tmpdir",
    "reap_orphans",
    "run_command",
    "scoped_sandbox",
    "use_pidfd_child_watcher",
    "write_allowed",
]
