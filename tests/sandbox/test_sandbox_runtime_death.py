"""Issue 20: nothing a command started outlives the agent that ran it, however the agent ends.

A real agent process (``AGENT`` below: the CLI's hygiene calls, a private ``TMPDIR``, the self-tested
sandbox, ``run_command``) starts a command that writes to the workspace forever, with a ``setsid``
daemon that does the same; the test kills the agent and checks that every process of the run is gone
and the files stop growing. What the run leaves on disk (its pids cgroup, its private ``TMPDIR``)
is removed by the next run's start, never while its owner lives.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_support import make_workspace, policy, skip_unless_available

from agentrt.sandbox import NoSandbox, choose_sandbox, private_tmpdir, run_command
from agentrt.sandbox.bwrap import CONFINE_SCRIPT, BwrapSandbox
from agentrt.sandbox.hygiene import owner_gone, owner_tag
from agentrt.sandbox.limits import Limits, PidsCgroup
from agentrt.sandbox.select import make_sandbox

AGENT = """
import asyncio, os, sys
from pathlib import Path
from agentrt.sandbox import (NoSandbox, become_subreaper, build_env, choose_sandbox, harden_runtime,
                             policy_for, private_tmpdir, run_command)
ws, mechanism, command = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
harden_runtime()
become_subreaper()
with private_tmpdir(policy_for("workspace-write", ws, home=ws.parent / "home", raw={})) as pol:
    box = NoSandbox() if mechanism == "none" else choose_sandbox(pol, mechanisms=(mechanism,))
    env = build_env(os.environ, None, tmpdir=pol.tmpdir, sandbox=box.name, network=False)
    print(pol.tmpdir, flush=True)
    asyncio.run(run_command(command, cwd=ws, env=env, sandbox=box, timeout_s=600))
"""
# The command ignores SIGTERM and SIGHUP, and starts a daemon in a session of its own.
FOREVER = (
    "trap '' TERM HUP; (setsid sh -c 'while :; do date >> daemon.log; sleep 0.1; done' &); "
    "while :; do date >> out.log; sleep 0.1; done"
)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return make_workspace(tmp_path)[0]


def wait_until(condition: Callable[[], object], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def processes_in(ws: Path) -> list[int]:
    """Live (not zombie) processes whose working directory is ``ws``: every process of a run there."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{name}/cwd")
            with open(f"/proc/{name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if cwd == str(ws) and state not in (b"Z", b"X"):
            found.append(int(name))
    return found


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def cgroups_of(owner: int) -> list[Path]:
    """The pids cgroups that agent ``owner`` made (next to the one this process is in)."""
    probe = PidsCgroup.create(8)
    if probe is None:
        return []
    base = probe.path.parent
    probe.close()
    return sorted(base.glob(f"agentrt-{owner}.*"))


def start_agent(ws: Path, mechanism: str, command: str, tmp_root: Path) -> tuple[subprocess.Popen[str], Path]:
    """The agent, started and (once it printed its ``TMPDIR``) running ``command``."""
    env = {**os.environ, "TMPDIR": str(tmp_root)}
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(ws), mechanism, command],
        cwd=ws.parent,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert agent.stdout is not None
    tmpdir = agent.stdout.readline().strip()
    assert tmpdir, f"the agent did not start (exit {agent.wait()})"
    return agent, Path(tmpdir)


def stop(agent: subprocess.Popen[str]) -> None:
    agent.kill()
    agent.wait()
    if agent.stdout is not None:
        agent.stdout.close()


@pytest.fixture
def tmp_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "tmproot"
    root.mkdir()
    yield root


def sizes(ws: Path) -> tuple[int, int]:
    return (ws / "out.log").stat().st_size, (ws / "daemon.log").stat().st_size


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_nothing_outlives_a_killed_agent(mechanism: str, ws: Path, tmp_root: Path, how: int) -> None:
    agent, _ = start_agent(ws, mechanism, FOREVER, tmp_root)
    try:
        assert wait_until(lambda: (ws / "out.log").exists() and (ws / "daemon.log").exists(), 20.0)
        assert processes_in(ws), "control: the run's processes work in the workspace"
        agent.send_signal(how)
        agent.wait(10)
        assert wait_until(lambda: not processes_in(ws), 5.0), f"survivors: {processes_in(ws)}"
        before = sizes(ws)
        time.sleep(1.0)
        assert sizes(ws) == before, "the workspace is still being written to"
        for group in cgroups_of(agent.pid):
            pytest.fail(f"the dead agent's pids cgroup {group} was not removed at the next start")
    finally:
        stop(agent)
        kill_all(processes_in(ws))


def test_landlock_helper_refuses_to_run_when_its_parent_is_already_gone(ws: Path) -> None:
    """``--parent`` names the process the helper must die with; already reparented: nothing runs."""
    skip_unless_available("landlock")
    marker = ws / "ran"
    argv = [sys.executable, "-I", "-S", CONFINE_SCRIPT, "--parent", "1", "--write", str(ws), "--"]
    done = subprocess.run([*argv, "touch", str(marker)], capture_output=True, text=True, check=False)
    assert done.returncode == 126 and "parent" in done.stderr
    assert not marker.exists()
    ok = subprocess.run(
        [*argv[:5], str(os.getpid()), *argv[6:], "touch", str(marker)], capture_output=True, check=False
    )
    assert ok.returncode == 0 and marker.exists()


SPAWN_AND_DIE = """
import os, signal, subprocess, sys
from pathlib import Path
from agentrt.sandbox import Limits, choose_sandbox, policy_for
ws = Path(sys.argv[1])
pol = policy_for("workspace-write", ws, home=ws.parent / "home", raw={})
box = choose_sandbox(pol, mechanisms=(sys.argv[2],), limits=Limits(nproc=None))
from agentrt.process_group import die_with_parent
argv = box.wrap(["sh", "-c", "sleep 1; touch ran"], ws)
subprocess.Popen(  # as agentrt spawns
    argv, cwd=ws, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent(kill=box.death_signal),
    pass_fds=box.pass_fds,
)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_command_whose_agent_died_as_it_started_never_runs(mechanism: str, ws: Path) -> None:
    """The agent dies the moment the sandbox process exists, before it could ask to die with it.

    No pids cgroup: a later sweep of the dead agent's cgroup must not be what saves the day.
    """
    try:
        for _ in range(3):
            subprocess.run([sys.executable, "-c", SPAWN_AND_DIE, str(ws), mechanism], check=False, timeout=60)
        # Generous: at load 20 on two cores the kernel took more than 10 s to deliver the parent-death
        # signals and tear down bwrap's namespaces; "ran" must still never appear.
        assert wait_until(lambda: not processes_in(ws), 30.0), f"survivors: {processes_in(ws)}"
        assert not (ws / "ran").exists(), "the command ran after its agent died"
    finally:
        kill_all(processes_in(ws))


# bwrap's ``--block-fd`` holds its inner process, before that process arms its own parent-death
# signal, until the test writes a byte: the agent (and its bwrap) are killed in that window, on purpose.
ORPHANED_EARLY = """
import os, subprocess, sys, time
from pathlib import Path
from agentrt.process_group import die_with_parent
from agentrt.sandbox import Limits, choose_sandbox, policy_for
ws, block = Path(sys.argv[1]), int(sys.argv[2])
pol = policy_for("workspace-write", ws, home=ws.parent / "home", raw={})
box = choose_sandbox(pol, mechanisms=("bwrap",), limits=Limits(nproc=None))
argv = box.wrap(["sh", "-c", "touch ran"], ws)
at = argv.index(box.bwrap) + 1
argv[at:at] = ["--block-fd", str(block)]
bwrap = subprocess.Popen(  # as agentrt spawns
    argv, cwd=ws, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent(kill=box.death_signal),
    pass_fds=(*box.pass_fds, block),
)
print(bwrap.pid, flush=True)
time.sleep(600)
"""


def children_of(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return f.read().split()
    except OSError:
        return []


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


def test_a_command_orphaned_before_bwrap_armed_its_death_signal_never_runs(ws: Path) -> None:
    """The race ``--die-with-parent`` leaves open, made certain: bwrap's inner process is still setting
    up (held on ``--block-fd``) when the agent and its bwrap die. Only the lifeline stops the command."""
    skip_unless_available("bwrap")
    hold, release = os.pipe()
    agent = subprocess.Popen(
        [sys.executable, "-c", ORPHANED_EARLY, str(ws), str(hold)], stdout=subprocess.PIPE, text=True,
        pass_fds=(hold,),
    )  # fmt: skip
    os.close(hold)
    try:
        assert agent.stdout is not None
        bwrap = int(agent.stdout.readline())
        assert wait_until(lambda: children_of(bwrap), 30.0), "control: bwrap started its inner process"
        agent.kill()
        agent.wait()
        # bwrap arms its own parent-death signal (``--die-with-parent``) once its child is set up
        assert wait_until(lambda: not pid_alive(bwrap), 30.0), "control: the agent's bwrap died with it"
        os.write(release, b"x")  # the orphaned inner process goes on with its setup
        assert wait_until(lambda: not processes_in(ws), 30.0), f"survivors: {processes_in(ws)}"
        time.sleep(1.0)
        assert not (ws / "ran").exists(), "the command ran after its agent died"
    finally:
        os.close(release)
        stop(agent)
        kill_all(processes_in(ws))


# Prints the parent-death signal Linux will send it (PR_GET_PDEATHSIG): 9 for SIGKILL, 0 for none.
REPORT_DEATH_SIGNAL = """
import ctypes
sig = ctypes.c_int(-1)
ctypes.CDLL(None, use_errno=True).prctl(2, ctypes.byref(sig), 0, 0, 0)
print(sig.value)
"""


@pytest.mark.parametrize("kind", ["none", "bwrap"])
def test_bwrap_is_spawned_without_a_parent_death_signal_every_other_command_with_one(
    ws: Path, tmp_path: Path, kind: str
) -> None:
    """A signal that killed bwrap between cloning its inner process and releasing it would leave that
    process waiting on bwrap's eventfd for good (the lifeline guard ends a bwrap command instead);
    everything else agentrt spawns dies with it. A stand-in for bwrap reports what it was given."""
    probe = tmp_path / "report-death-signal"
    probe.write_text(f"#!{sys.executable}\n{REPORT_DEATH_SIGNAL}")
    probe.chmod(0o755)
    if kind == "none":
        box: Any = NoSandbox()
        argv = [str(probe)]
    else:
        box = BwrapSandbox(policy("workspace-write", ws), bwrap=str(probe), limits=Limits(nproc=None))
        argv = ["true"]  # the stand-in runs in bwrap's place and ignores its arguments
    try:
        done = asyncio.run(run_command(argv, cwd=ws, sandbox=box, timeout_s=30))
    finally:
        box.close()
    assert done.exit_code == 0, done.stderr
    assert done.stdout.strip() == ("0" if kind == "bwrap" else str(int(signal.SIGKILL)))


STALE_CGROUP = """
import os, subprocess, sys
from agentrt.sandbox.limits import PidsCgroup
group = PidsCgroup.create(8)
sleeper = subprocess.Popen(["sleep", sys.argv[1]], start_new_session=True)
group.procs_file.write_text(str(sleeper.pid))
print(group.path, sleeper.pid, flush=True)
sys.stdin.read()
"""


def _cgroup_owner(token: str) -> tuple[subprocess.Popen[str], Path, int]:
    owner = subprocess.Popen(
        [sys.executable, "-c", STALE_CGROUP, token], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    path, pid = owner.stdout.readline().split()
    return owner, Path(path), int(pid)


def test_stale_pids_cgroup_is_emptied_and_removed_at_the_next_start() -> None:
    """A cgroup whose agent died with a process still in it is cleared by the next ``create``;
    a live agent's cgroup is left alone."""
    probe = PidsCgroup.create(8)
    if probe is None:
        pytest.skip("no writable pids cgroup here")
    probe.close()
    dead, dead_path, dead_sleep = _cgroup_owner(f"95.{os.getpid()}1")
    live, live_path, live_sleep = _cgroup_owner(f"95.{os.getpid()}2")
    try:
        dead.kill()
        dead.wait()
        assert dead_path.is_dir()
        after = PidsCgroup.create(8)
        assert after is not None
        after.close()
        assert not dead_path.exists(), "the dead agent's cgroup was not removed"
        assert wait_until(lambda: not processes_alive([dead_sleep]), 2.0), "its process still runs"
        assert live_path.is_dir() and processes_alive([live_sleep]), "a live agent's cgroup was touched"
    finally:
        for proc in (dead, live):
            stop(proc)
            if proc.stdin is not None:
                proc.stdin.close()
        kill_all([dead_sleep, live_sleep])
        for path in (dead_path, live_path):
            assert wait_until(lambda path=path: _rmdir(path), 5.0), f"cannot remove {path}"


def _rmdir(path: Path) -> bool:
    """Remove ``path`` if it is there; False while a cgroup still holds (dying) processes."""
    try:
        path.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def processes_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X"):
                    alive.append(pid)
        except OSError:
            continue
    return alive


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_private_tmpdir_of_a_killed_agent_is_removed_at_the_next_start(
    ws: Path, tmp_root: Path, how: int
) -> None:
    agent, left = start_agent(ws, "none", "sleep 60", tmp_root)
    try:
        (left / "scratch").write_text("x")
        pol = policy("workspace-write", ws)
        with private_tmpdir(pol, parent=tmp_root) as mine:
            assert left.is_dir(), "a live agent's private TMPDIR was removed"
            assert mine.tmpdir is not None and mine.tmpdir.is_dir()
        agent.send_signal(how)
        agent.wait(10)
        assert left.is_dir(), "control: a killed agent cannot remove its own TMPDIR"
        with private_tmpdir(pol, parent=tmp_root):
            assert not left.exists(), "the dead agent's private TMPDIR was not removed"
    finally:
        stop(agent)
        kill_all(processes_in(ws))


def test_private_tmpdir_sweep_leaves_what_it_cannot_attribute(ws: Path, tmp_root: Path) -> None:
    """Only directories named with a dead owner's tag are removed: not other names, files or links."""
    keep = [tmp_root / "agentrt-tmp-abcd1234", tmp_root / "unrelated"]
    for path in keep:
        path.mkdir()
    target = tmp_root / "target"
    target.mkdir()
    dead_tag = owner_tag_of_exited_process()
    link = tmp_root / f"agentrt-tmp-{dead_tag}-link0000"
    link.symlink_to(target)
    stale = tmp_root / f"agentrt-tmp-{dead_tag}-stale000"
    (stale / "sub").mkdir(parents=True)
    with private_tmpdir(policy("workspace-write", ws), parent=tmp_root):
        pass
    assert all(path.is_dir() for path in keep) and target.is_dir() and link.is_symlink()
    assert not stale.exists()


def owner_tag_of_exited_process() -> str:
    child = subprocess.Popen(["sleep", "1"])
    tag = owner_tag(child.pid)
    child.kill()
    child.wait()
    assert tag is not None
    return tag


def test_owner_tags_survive_pid_reuse() -> None:
    mine = owner_tag()
    assert mine is not None and mine.startswith(f"{os.getpid()}.")
    assert owner_gone(mine) is False
    pid, start, ns = mine.split(".")
    assert owner_gone(f"{pid}.{int(start) + 1}.{ns}") is True, "same pid, other start time: a new process"
    assert owner_gone(f"{pid}.{start}.{int(ns) + 1}") is None, "another pid namespace: cannot tell"
    assert owner_gone("not-a-tag") is None
    assert owner_gone(owner_tag_of_exited_process()) is True


def test_a_bwrap_command_spawned_without_its_lifeline_is_refused_clearly(ws: Path) -> None:
    skip_unless_available("bwrap")
    box = choose_sandbox(policy("workspace-write", ws), mechanisms=("bwrap",))
    try:
        argv = box.wrap(["touch", "ran"], ws)
        done = subprocess.run(argv, cwd=ws, capture_output=True, text=True, check=False)
        assert done.returncode == 126 and "lifeline" in done.stderr, done
        assert not (ws / "ran").exists()
        ok = subprocess.run(argv, cwd=ws, capture_output=True, text=True, check=False, pass_fds=box.pass_fds)
        assert ok.returncode == 0 and (ws / "ran").exists(), ok
    finally:
        box.close()


def test_closing_a_bwrap_sandbox_kills_what_still_runs_in_it(ws: Path) -> None:
    """No pids cgroup: the lifeline alone does it."""
    skip_unless_available("bwrap")
    box = choose_sandbox(policy("workspace-write", ws), mechanisms=("bwrap",), limits=Limits(nproc=None))
    try:
        argv = box.wrap(["sh", "-c", "trap '' TERM HUP; while :; do sleep 0.1; done"], ws)
        running = subprocess.Popen(argv, cwd=ws, pass_fds=box.pass_fds, start_new_session=True)
        assert wait_until(lambda: len(processes_in(ws)) >= 3, 20.0), "control: the command runs"
        assert running.poll() is None
    finally:
        box.close()
    try:
        assert running.wait(20) == 137, "bwrap reports its command killed"
        assert wait_until(lambda: not processes_in(ws), 20.0), f"survivors: {processes_in(ws)}"
    finally:
        kill_all(processes_in(ws))


def test_the_lifeline_watcher_never_runs_outside_a_pid_namespace_of_its_own(ws: Path, tmp_path: Path) -> None:
    """A "bwrap" that makes no namespace (a wrapper script, a broken install): the watcher's ``kill -1``
    would reach every process of the user, so the command runs unwatched and closing kills nothing."""
    skip_unless_available("bwrap")
    fake = tmp_path / "fake-bwrap"
    fake.write_text('#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n')
    fake.chmod(0o755)
    box = make_sandbox(str(fake), policy("workspace-write", ws), limits=Limits(nproc=None))
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        done = subprocess.run(
            box.wrap(["sh", "-c", "ps -o args= -p $PPID,$$ >/dev/null; echo ok"], ws),
            cwd=ws, capture_output=True, text=True, pass_fds=box.pass_fds, check=False,
        )  # fmt: skip
        assert done.returncode == 0 and done.stdout == "ok\n", done
        box.close()
        time.sleep(1.0)
        assert bystander.poll() is None, "closing the sandbox killed a process outside it"
    finally:
        box.close()
        bystander.kill()
        bystander.wait()
