"""Choosing the sandbox: the first mechanism that proves, by a start-up self-test, that it enforces.

``choose_sandbox(policy)`` tries ``bwrap`` then ``landlock``. Each candidate runs one probe command
under its own ``wrap``; the probe must fail to create a file in a fresh directory outside the
writable roots, fail to create a file in a protected directory, (network off) fail to connect to
a TCP listener the self-test opens on 127.0.0.1, and (when the policy denies reads) fail to read a
file the self-test creates and hides from that one command while still reading the file beside it,
and then print a marker, so a mechanism that cannot even start is rejected too. The first candidate
that passes is returned; nothing is cached, the caller keeps the object (and may ``close()`` it to
remove its pids cgroup).

When no candidate passes, ``SandboxUnavailable`` says why for each and what to install; agentrt never
falls back to running commands unsandboxed. ``danger-full-access`` returns ``NoSandbox`` at once.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from agentrt.interfaces import Sandbox
from agentrt.sandbox.bwrap import BwrapSandbox
from agentrt.sandbox.landlock import LandlockSandbox
from agentrt.sandbox.limits import Limits, PidsCgroups
from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.policy import SandboxPolicy, within_any

MECHANISMS = ("bwrap", "landlock")
PROBE_OK = "agentrt-probe-ok"
_PROBE = """
import socket, sys
out, prot, port, secret, beside = sys.argv[1:6]
bad = []
for path in (out, prot):
    if path:
        try:
            open(path, "x").close()
            bad.append("created " + path)
        except OSError:
            pass
if port:
    try:
        socket.create_connection(("127.0.0.1", int(port)), timeout=2).close()
        bad.append("connected to 127.0.0.1:" + port)
    except OSError:
        pass
if secret:
    try:
        with open(secret, "rb") as f:
            if f.read():
                bad.append("read " + secret)
    except OSError:
        pass
    try:
        open(beside, "rb").close()
    except OSError as exc:
        bad.append("could not read " + beside + ": " + str(exc))
print("; ".join(bad) or "agentrt-probe-ok")
"""
_SELF_TEST_TIMEOUT_S = 30.0


class SandboxUnavailable(RuntimeError):
    """No mechanism can enforce the requested sandbox mode on this machine."""


def choose_sandbox(
    policy: SandboxPolicy, *, mechanisms: Sequence[str] = MECHANISMS, limits: Limits | None = None
) -> Sandbox:
    """The first of ``mechanisms`` that passes its self-test under ``policy`` (see the module docstring).

    A mechanism is ``"bwrap"``, ``"landlock"``, or a path to a bwrap executable. Raises
    ``SandboxUnavailable`` when none passes and ``ValueError`` for an unknown mechanism name.
    """
    if not policy.sandboxed:
        return NoSandbox()
    reasons: list[str] = []
    for mechanism in mechanisms:
        try:
            box = make_sandbox(mechanism, policy, limits=limits)
        except OSError as exc:
            reasons.append(f"{mechanism}: {exc}")
            continue
        problem = self_test(box, policy)
        if problem is None:
            return box
        box.close()
        reasons.append(f"{mechanism}: {problem}")
    raise SandboxUnavailable(unavailable_message(policy, reasons))


def make_sandbox(
    mechanism: str,
    policy: SandboxPolicy,
    *,
    limits: Limits | None = None,
    cgroups: PidsCgroups | None = None,
    landlock_abi: int | None = None,
) -> BwrapSandbox | LandlockSandbox:
    """The sandbox object for ``mechanism``, untested; ``OSError`` when it is not installed here.
    ``cgroups``: where its pids cgroup is made (default: a fresh ``PidsCgroups``); ``landlock_abi``:
    the kernel's, where a ``landlock`` sandbox was already made (it is not asked again)."""
    if mechanism == "bwrap" or "/" in mechanism:
        return BwrapSandbox(policy, bwrap=mechanism, limits=limits, cgroups=cgroups)
    if mechanism == "landlock":
        return LandlockSandbox(policy, limits=limits, cgroups=cgroups, abi=landlock_abi)
    raise ValueError(f"unknown sandbox mechanism {mechanism!r} (expected bwrap, landlock or a bwrap path)")


def unavailable_message(policy: SandboxPolicy, reasons: Sequence[str]) -> str:
    """Why no sandbox is available, and what to do about it."""
    tried = "; ".join(reasons) if reasons else "no mechanism was tried"
    return (
        f"no sandbox can enforce sandbox_mode {policy.mode!r} on this machine ({tried}). "
        "Install bubblewrap (sudo apt-get install bubblewrap) or use a Linux kernel with Landlock "
        "enabled; --sandbox danger-full-access runs commands without any sandbox."
    )


def self_test(box: BwrapSandbox | LandlockSandbox, policy: SandboxPolicy) -> str | None:
    """Run the probe under ``box``: ``None`` when it proved enforcement, else what went wrong."""
    if not policy.cwd.is_dir():
        return f"working directory {policy.cwd} does not exist"
    outside_dir = _outside_dir(policy)
    if outside_dir is None:
        return "found no directory outside the writable roots to test with"
    token = secrets.token_hex(6)
    targets = [outside_dir / f"probe-{token}", _protected_target(policy, token)]
    hidden = _probe_secret(outside_dir, token) if policy.deny_read else ()
    listener = None if policy.network_allowed else socket.create_server(("127.0.0.1", 0))
    try:
        port = "" if listener is None else str(listener.getsockname()[1])
        argv = [sys.executable, "-I", "-S", "-c", _PROBE, str(targets[0]), str(targets[1] or ""), port]
        argv += [str(p) for p in hidden] if hidden else ["", ""]
        return _run_probe(box.wrap(argv, policy.cwd, deny_read=hidden[:1]), box.pass_fds, policy.cwd, targets)
    finally:
        if listener is not None:
            listener.close()
        shutil.rmtree(outside_dir, ignore_errors=True)


def _run_probe(
    argv: list[str], pass_fds: tuple[int, ...], cwd: Path, targets: list[Path | None]
) -> str | None:
    try:
        done = subprocess.run(
            argv,
            pass_fds=pass_fds,
            cwd=cwd,
            env={"PATH": os.defpath},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_SELF_TEST_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"self-test did not run: {exc}"
    for target in targets:
        if target is not None and os.path.lexists(target):
            os.unlink(target)
            return f"self-test wrote {target}"
    out = done.stdout.decode(errors="replace").strip()
    if done.returncode != 0 or out != PROBE_OK:
        err = " ".join(done.stderr.decode(errors="replace").split())[-300:]
        return f"self-test failed (exit {done.returncode}): {out or err or 'no output'}"
    return None


def _probe_secret(outside_dir: Path, token: str) -> tuple[Path, Path]:
    """A file to hide from the probe and one beside it that it must still read, in ``outside_dir``."""
    secret, beside = outside_dir / f"secret-{token}", outside_dir / f"beside-{token}"
    secret.write_text(token)
    beside.write_text(token)
    return secret, beside


def _outside_dir(policy: SandboxPolicy) -> Path | None:
    """A fresh directory the runtime can write but the policy does not let commands write."""
    roots = tuple(Path(os.path.realpath(r)) for r in policy.write_roots())
    for candidate in (tempfile.gettempdir(), "/var/tmp", "/dev/shm", str(Path.home())):
        real = Path(os.path.realpath(candidate))
        if within_any(real, roots) or not os.access(real, os.W_OK):
            continue
        try:
            return Path(tempfile.mkdtemp(prefix="agentrt-selftest-", dir=real))
        except OSError:
            continue
    return None


def _protected_target(policy: SandboxPolicy, token: str) -> Path | None:
    roots = tuple(Path(os.path.realpath(r)) for r in policy.write_roots())
    for path in policy.protected:
        if path.is_dir() and within_any(Path(os.path.realpath(path)), roots):
            return path / f".agentrt-probe-{token}"
    return None
