"""Choosing a sandbox: self-tests that prove enforcement, refusal when nothing enforces, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox_support import make_workspace, policy, skip_unless_available

from agentrt.sandbox import NoSandbox, SandboxUnavailable, choose_sandbox
from agentrt.sandbox.bwrap import CONFINE_SCRIPT
from agentrt.sandbox.confine import (
    PR_SET_NO_NEW_PRIVS,
    SYS_LANDLOCK_CREATE_RULESET,
    SYS_LANDLOCK_RESTRICT_SELF,
    apply_seccomp,
    prctl,
    seccomp_filter,
)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return make_workspace(tmp_path)[0]


def test_no_mechanism_means_refusal_with_advice(ws: Path) -> None:
    with pytest.raises(SandboxUnavailable) as err:
        choose_sandbox(policy("workspace-write", ws), mechanisms=())
    message = str(err.value)
    assert "sudo apt-get install bubblewrap" in message and "Landlock" in message
    assert "--sandbox danger-full-access" in message


def test_missing_bwrap_is_refused_not_skipped(ws: Path, tmp_path: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="bwrap.*not found"):
        choose_sandbox(policy("read-only", ws), mechanisms=(str(tmp_path / "no-such-bwrap"),))


def test_a_mechanism_that_does_not_enforce_fails_its_self_test(ws: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake-bwrap"
    fake.write_text('#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n')
    fake.chmod(0o755)
    with pytest.raises(SandboxUnavailable, match="self-test"):
        choose_sandbox(policy("workspace-write", ws), mechanisms=(str(fake),))


def test_a_mechanism_that_cannot_start_fails_its_self_test(ws: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken-bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(SandboxUnavailable, match="uid map"):
        choose_sandbox(policy("workspace-write", ws), mechanisms=(str(broken),))


def test_falls_through_to_the_next_mechanism(ws: Path, tmp_path: Path) -> None:
    skip_unless_available("landlock")
    box = choose_sandbox(policy("workspace-write", ws), mechanisms=(str(tmp_path / "nope"), "landlock"))
    try:
        assert box.name == "landlock"
    finally:
        box.close()  # type: ignore[attr-defined]


def test_danger_full_access_is_no_sandbox(ws: Path) -> None:
    box = choose_sandbox(policy("danger-full-access", ws), mechanisms=())
    assert isinstance(box, NoSandbox) and box.wrap(["ls"], ws) == ["ls"]


def test_unknown_mechanism_is_an_error(ws: Path) -> None:
    with pytest.raises(ValueError, match="unknown sandbox mechanism"):
        choose_sandbox(policy("read-only", ws), mechanisms=("docker",))


def _without_landlock() -> None:
    """Simulate a kernel without Landlock: its syscalls fail, as they do when it is disabled."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    denied = range(SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_RESTRICT_SELF + 1)
    apply_seccomp(
        seccomp_filter(os.uname().machine, deny_sockets=False, deny_truncate=False, also_deny=denied)
    )


def test_landlock_helper_refuses_to_run_unconfined(ws: Path) -> None:
    marker = ws / "ran"
    argv = [sys.executable, "-I", "-S", CONFINE_SCRIPT, "--write", str(ws), "--", "touch", str(marker)]
    done = subprocess.run(argv, preexec_fn=_without_landlock, capture_output=True, text=True, check=False)
    assert done.returncode == 126
    assert "agentrt-sandbox: Landlock is not available" in done.stderr
    assert not marker.exists()


def test_landlock_helper_reports_missing_command(ws: Path) -> None:
    skip_unless_available("landlock")
    argv = [sys.executable, "-I", "-S", CONFINE_SCRIPT, "--write", str(ws), "--", "no-such-command-x"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ws)
    assert done.returncode == 127 and "cannot execute 'no-such-command-x'" in done.stderr


def agentrt(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTRT_HOME": str(home)}
    argv = [sys.executable, "-m", "agentrt", "sandbox", *args]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_cli_runs_a_command_and_passes_its_status(ws: Path, tmp_path: Path) -> None:
    if not any(os.access(os.path.join(d, "bwrap"), os.X_OK) for d in os.get_exec_path()):
        skip_unless_available("landlock")
    home = tmp_path / "home"
    done = agentrt("--", "sh", "-c", "echo out; touch made; exit 3", cwd=ws, home=home)
    assert done.returncode == 3 and done.stdout == "out\n"
    assert (ws / "made").exists()
    assert done.stderr.startswith("agentrt: sandbox: ") and "(workspace-write, network off)" in done.stderr
    ro = agentrt("--mode", "read-only", "-C", str(ws), "--", "touch", "denied", cwd=tmp_path, home=home)
    assert ro.returncode != 0 and not (ws / "denied").exists()
    killed = agentrt("--", "sh", "-c", "kill -TERM $$", cwd=ws, home=home)
    assert killed.returncode == 128 + 15


def test_cli_needs_a_command(ws: Path, tmp_path: Path) -> None:
    done = agentrt(cwd=ws, home=tmp_path / "home")
    assert done.returncode == 2 and "needs a command" in done.stderr
