"""The runtime's secrets stay out of reach of sandboxed commands: env, /proc/PPID, /proc/1, any /proc.

A small runtime process is started with canary secrets in its environment; it hardens itself, picks a
sandbox and runs a command through ``run_command`` with ``build_env``. The command looks for the
canary in its own environment and in the environ of every process it can see (its ancestors and
/proc/1 included).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_support import MECHANISMS, skip_unless_available

import agentrt

CANARY = "canary-5e1f0c7d"
SECRETS = {
    "AGENTRT_TEST_SECRET_TOKEN": CANARY + "-token",
    "OPENAI_API_KEY": CANARY + "-key",
    "AWS_SECRET_ACCESS_KEY": CANARY + "-aws",
}

CHILD = """
import os
canary = os.fsencode({canary!r})
found = []
if any(canary in os.fsencode(v) for v in os.environ.values()):
    found.append("own-env")
def environ_of(pid):
    try:
        with open(f"/proc/{{pid}}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""
def parent_of(pid):
    with open(f"/proc/{{pid}}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[1])
pid, chain = os.getpid(), []
while pid > 1:
    pid = parent_of(pid)
    chain.append(pid)
    if canary in environ_of(pid):
        found.append(f"ancestor-{{len(chain)}}")
if canary in environ_of(1):
    found.append("pid1")
for name in os.listdir("/proc"):
    if name.isdigit() and canary in environ_of(name):
        found.append(f"proc-{{name}}")
print(" ".join(found) or "clean", "ancestors=%d" % len(chain))
"""

RUNTIME = """
import asyncio, os, sys
from pathlib import Path
from agentrt.sandbox import NoSandbox, build_env, choose_sandbox, harden_runtime, policy_for, run_command
from agentrt.sandbox.confine import PR_SET_DUMPABLE, prctl
mechanism, ws, harden, child, user = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], sys.argv[5]
if user == "nobody":
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    prctl(PR_SET_DUMPABLE, 1)  # changing uid cleared it; a runtime started as this user has it set
if harden:
    harden_runtime()
policy = policy_for("workspace-write", ws, home=ws.parent / "home", raw={})
box = NoSandbox() if mechanism == "none" else choose_sandbox(policy, mechanisms=(mechanism,))
env = build_env(os.environ, None, tmpdir=None, sandbox=box.name, network=False)
result = asyncio.run(run_command([sys.executable, "-I", "-c", child], cwd=ws, env=env, sandbox=box))
sys.stdout.write(result.stdout)
sys.stderr.write(result.stderr)
"""


USERS = ("self", "nobody")


@pytest.fixture
def workspace() -> Iterator[Path]:
    """A workspace that user nobody can use too (pytest's tmp_path is private to root)."""
    ws = Path(tempfile.mkdtemp(prefix="agentrt-secrets-"))
    ws.chmod(0o755)
    if os.geteuid() == 0:
        os.chown(ws, 65534, 65534)
    yield ws
    shutil.rmtree(ws, ignore_errors=True)


def runtime_python(user: str) -> tuple[str, dict[str, str]]:
    """An interpreter ``user`` can execute, and the environment that lets it import agentrt."""
    if user == "self":
        return sys.executable, {}
    if os.geteuid() != 0:
        pytest.skip("running the runtime as another user needs root")
    system = shutil.which("python3", path="/usr/bin:/bin")
    check = [system or "python3", "-c", "import sys; assert sys.version_info >= (3, 11)"]
    if system is None or subprocess.run(check, capture_output=True, check=False).returncode:
        pytest.skip("no system python >= 3.11 that user nobody can run")
    return system, {"PYTHONPATH": str(Path(agentrt.__file__).parents[1])}


def look_for_canary(ws: Path, mechanism: str, *, harden: bool, user: str) -> str:
    python, extra = runtime_python(user)
    env = {**os.environ, **extra, **SECRETS}
    child = CHILD.format(canary=CANARY)
    argv = [python, "-c", RUNTIME, mechanism, str(ws), "1" if harden else "0", child, user]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout, done.stderr
    return done.stdout


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_no_secret_reaches_a_sandboxed_command(workspace: Path, mechanism: str, user: str) -> None:
    skip_unless_available(mechanism)
    out = look_for_canary(workspace, mechanism, harden=True, user=user)
    assert out.startswith("clean "), out
    assert int(out.split("ancestors=")[1]) >= 1


@pytest.mark.parametrize("user", USERS)
def test_hardening_alone_hides_the_runtime_environ(workspace: Path, user: str) -> None:
    """Even unsandboxed, a hardened runtime's environ is unreadable to its (capability-less) children.

    As root the child keeps root's capabilities, so this only holds for a non-root runtime; a root
    runtime relies on the sandbox dropping them (tested above).
    """
    out = look_for_canary(workspace, "none", harden=True, user=user)
    if user == "nobody" or os.geteuid() != 0:
        assert out.startswith("clean "), out
    else:
        assert "ancestor-1" in out, out


@pytest.mark.parametrize("user", USERS)
def test_the_probe_does_find_an_unprotected_secret(workspace: Path, user: str) -> None:
    """Control: without a sandbox and without hardening, the runtime's environ is readable."""
    out = look_for_canary(workspace, "none", harden=False, user=user)
    assert "ancestor-1" in out and "own-env" not in out, out
