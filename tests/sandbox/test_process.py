"""run_command against real subprocesses: exit status, capture, caps, timeouts, orphans, cancellation."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import agentrt
from agentrt.sandbox import NoSandbox, RunResult, run_command, use_pidfd_child_watcher
from agentrt.sandbox.hygiene import own_children

MARKER_RE = r"\n\[\.\.\. (\d+) bytes omitted \.\.\.\]\n"


def run(cmd: Sequence[str] | str, cwd: Path, **kwargs: Any) -> RunResult:
    """``run_command`` unconfined unless a test passes its own sandbox."""
    kwargs.setdefault("sandbox", NoSandbox())
    return asyncio.run(run_command(cmd, cwd=cwd, **kwargs))


def is_dead(pid: int) -> bool:
    """Gone, or a zombie waiting for its (non-agentrt) parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # reaped before the open, or between open and read
        return True
    return state in ("Z", "X")


def wait_dead(pid: int, within_s: float = 2.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if is_dead(pid):
            return True
        time.sleep(0.02)
    return is_dead(pid)


def split_marker(text: str) -> tuple[str, int, str]:
    match = re.search(MARKER_RE, text)
    assert match is not None, "omission marker missing"
    return text[: match.start()], int(match.group(1)), text[match.end() :]


def test_exit_codes_and_separate_streams(tmp_path: Path) -> None:
    result = run("echo out; echo err >&2; exit 3", tmp_path)
    assert (result.exit_code, result.signal, result.ok, result.timed_out) == (3, None, False, False)
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.argv == ("/bin/sh", "-c", "echo out; echo err >&2; exit 3")
    ok = run(["true"], tmp_path)
    assert ok.ok and ok.exit_code == 0 and ok.argv == ("true",)
    assert not ok.stdout_truncated and not ok.stderr_truncated and ok.wall_s >= 0


def test_runs_in_cwd_with_given_env(tmp_path: Path) -> None:
    assert run(["pwd"], tmp_path).stdout == f"{tmp_path.resolve()}\n"
    assert run(["/usr/bin/env"], tmp_path, env={"FOO": "bar baz"}).stdout == "FOO=bar baz\n"
    inherited = run(["/usr/bin/env"], tmp_path).stdout
    assert f"PATH={os.environ['PATH']}\n" in inherited


def test_signal_is_reported(tmp_path: Path) -> None:
    result = run("kill -9 $$", tmp_path)
    assert result.exit_code is None
    assert result.signal == signal.SIGKILL
    assert not result.ok and not result.timed_out


def test_stdin_is_dev_null(tmp_path: Path) -> None:
    result = run(["cat"], tmp_path, timeout_s=10)
    assert result.ok and result.stdout == "" and result.wall_s < 5


def test_output_cap_keeps_head_and_tail(tmp_path: Path) -> None:
    result = run("yes | head -c 10000000", tmp_path, output_cap=64 * 1024)
    assert result.ok and result.stdout_truncated and not result.stderr_truncated
    head, omitted, tail = split_marker(result.stdout)
    assert len(head) == 32 * 1024 and len(tail) == 32 * 1024
    assert head.startswith("y\ny\n") and tail.endswith("y\ny\n")
    assert len(head) + omitted + len(tail) == 10_000_000


def test_large_output_memory_stays_bounded(tmp_path: Path) -> None:
    script = "import sys; w = sys.stdout.write; w('H' * 1000); w('x' * 5_000_000); w('T' * 1000); w('\\n')"
    tracemalloc.start()
    try:
        result = run([sys.executable, "-c", script], tmp_path, output_cap=4096)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok and result.stdout_truncated
    head, omitted, tail = split_marker(result.stdout)
    assert head == "H" * 1000 + "x" * 1048
    assert tail == "x" * 1047 + "T" * 1000 + "\n"
    assert omitted == 5_002_001 - 4096
    assert peak < 2 * 1024 * 1024, f"peak traced memory {peak} bytes while 5 MB went through"


def test_cut_never_splits_a_utf8_character(tmp_path: Path) -> None:
    script = "import sys; sys.stdout.buffer.write('é'.encode() * 100)"
    result = run([sys.executable, "-c", script], tmp_path, output_cap=15)
    head, omitted, tail = split_marker(result.stdout)
    assert (head, tail, omitted) == ("ééé", "éééé", 200 - 6 - 8)
    assert run(["printf", "abc"], tmp_path, output_cap=0).stdout == "\n[... 3 bytes omitted ...]\n"


def test_timeout_terminates_the_group(tmp_path: Path) -> None:
    result = run("sleep 30 & echo $!; sleep 30", tmp_path, timeout_s=0.3, grace_s=1.0)
    assert result.timed_out and not result.ok
    assert result.wall_s < 0.3 + 1.0 + 1.0
    assert wait_dead(int(result.stdout.split()[0]))


def test_child_ignoring_sigterm_is_killed_after_grace(tmp_path: Path) -> None:
    result = run(["sh", "-c", "trap '' TERM; sleep 30"], tmp_path, timeout_s=0.3, grace_s=0.5)
    assert result.timed_out
    assert result.signal == signal.SIGKILL
    assert 0.3 + 0.5 <= result.wall_s < 0.3 + 0.5 + 1.5


@pytest.mark.parametrize(
    "cmd",
    [
        "sleep 30 & echo $!",
        "nohup sleep 30 & sleep 0.1; echo $!",
        "(sleep 30 & echo $! > grandchild.pid); cat grandchild.pid",
        "setsid sleep 30 & sleep 0.2; echo $!",
    ],
    ids=["background", "nohup", "double-fork", "setsid"],
)
def test_leftover_processes_holding_the_pipes_are_killed(tmp_path: Path, cmd: str) -> None:
    before = own_children()
    result = run(cmd, tmp_path, timeout_s=10)
    assert result.ok, result.stderr
    assert result.wall_s < 5.0, "a leftover process holding the pipes made run_command wait"
    assert wait_dead(int(result.stdout.split()[-1]))
    assert own_children() <= before, "run_command left a child behind"


def test_escaped_session_is_killed_with_its_pipe_holder(tmp_path: Path) -> None:
    cmd = "setsid sh -c 'sleep 30 >/dev/null 2>&1 & echo $! > inner.pid; wait' & sleep 0.3; echo $!"
    result = run(cmd, tmp_path, timeout_s=10)
    assert result.ok and result.wall_s < 5.0
    assert wait_dead(int(result.stdout.split()[-1]))
    assert wait_dead(int((tmp_path / "inner.pid").read_text()))


def test_cancellation_kills_and_reaps(tmp_path: Path) -> None:
    before = own_children()

    async def scenario() -> tuple[int, int]:
        cmd = "sleep 30 & echo $! > grandchild.pid; echo $$ > child.pid; wait"
        task = asyncio.create_task(run_command(cmd, cwd=tmp_path, timeout_s=30, sandbox=NoSandbox()))
        for _ in range(500):  # child.pid is written last
            if (tmp_path / "child.pid").exists() and (tmp_path / "child.pid").read_text().endswith("\n"):
                break
            await asyncio.sleep(0.01)
        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 3.0
        return int((tmp_path / "child.pid").read_text()), int((tmp_path / "grandchild.pid").read_text())

    child, grandchild = asyncio.run(scenario())
    assert not os.path.exists(f"/proc/{child}"), "the cancelled child was not reaped"
    assert wait_dead(grandchild)
    assert own_children() <= before, "run_command left a child behind"


def test_cancellation_while_starting_leaves_nothing(tmp_path: Path) -> None:
    """Cancel at successive steps of the start: asyncio's own clean-up would wait on the pipes."""
    before = own_children()

    async def cancel_after(steps: int, cwd: Path) -> float:
        task = asyncio.create_task(
            run_command("sleep 30 & echo $! > gc.pid; wait", cwd=cwd, sandbox=NoSandbox())
        )
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    for steps in range(8):
        cwd = tmp_path / str(steps)
        cwd.mkdir()
        assert asyncio.run(cancel_after(steps, cwd)) < 3.0
        if (cwd / "gc.pid").exists() and (cwd / "gc.pid").read_text().strip():
            assert wait_dead(int((cwd / "gc.pid").read_text()))
    assert own_children() <= before, "run_command left a child behind"


# Each command finishes only once all 50 have started, so they must really run at the same time.
BARRIER = 'touch "started.$0"; while set -- started.*; [ $# -lt 50 ]; do sleep 0.05; done; echo "$0"; echo "e$0" >&2'


@pytest.mark.slow
def test_fifty_concurrent_commands(tmp_path: Path) -> None:
    before = own_children()

    async def scenario() -> list[RunResult]:
        runs = (
            run_command(["sh", "-c", BARRIER, str(i)], cwd=tmp_path, timeout_s=30, sandbox=NoSandbox())
            for i in range(50)
        )
        return await asyncio.gather(*runs)

    results = asyncio.run(scenario())
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(50)]
    assert [r.stderr for r in results] == [f"e{i}\n" for i in range(50)]
    assert all(r.ok for r in results)
    assert own_children() <= before, "run_command left a child behind"


def test_missing_or_unexecutable_program(tmp_path: Path) -> None:
    missing = run(["agentrt-no-such-program-xyz", "arg"], tmp_path)
    assert missing.exit_code == 127 and not missing.ok
    assert "agentrt-no-such-program-xyz" in missing.stderr
    assert missing.argv == ("agentrt-no-such-program-xyz", "arg")
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    assert run([str(script)], tmp_path).exit_code == 126


def test_missing_cwd_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="working directory"):
        run(["true"], tmp_path / "nope")
    with pytest.raises(ValueError):
        run([], tmp_path)
    with pytest.raises(ValueError):
        run(["true"], tmp_path, timeout_s=0)


class EnvSandbox:
    """A real (if toy) sandbox: it runs the argv under /usr/bin/env with one extra variable."""

    def __init__(self) -> None:
        self.name = "env-test"
        self.pass_fds: tuple[int, ...] = ()
        self.death_signal = True
        self.seen: list[tuple[list[str], Path]] = []

    def wrap(self, argv: Sequence[str], cwd: Path) -> list[str]:
        self.seen.append((list(argv), cwd))
        return ["/usr/bin/env", "WRAPPED=yes", *argv]


def test_sandbox_wraps_the_argv(tmp_path: Path) -> None:
    box = EnvSandbox()
    result = run(["sh", "-c", "echo $WRAPPED"], tmp_path, sandbox=box)
    assert result.stdout == "yes\n"
    assert result.argv == ("sh", "-c", "echo $WRAPPED")
    assert box.seen == [(["sh", "-c", "echo $WRAPPED"], tmp_path)]
    assert NoSandbox().wrap(("a", "b"), tmp_path) == ["a", "b"] and NoSandbox().name == "none"


PIDFD_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, threading
    from pathlib import Path
    from agentrt.sandbox import NoSandbox, run_command, use_pidfd_child_watcher

    async def threads_while_running(n):
        tasks = [asyncio.create_task(run_command(["sleep", "0.6"], cwd=Path("."), sandbox=NoSandbox())) for _ in range(n)]
        await asyncio.sleep(0.1)
        count = threading.active_count()
        assert all(r.ok for r in await asyncio.gather(*tasks))
        return count

    async def first():
        before = await threads_while_running(5)
        use_pidfd_child_watcher()
        use_pidfd_child_watcher()
        after = await threads_while_running(20)
        return before, after

    async def second():
        return (await run_command("echo again", cwd=Path("."), sandbox=NoSandbox())).stdout

    before, after = asyncio.run(first())
    print(before, after, asyncio.run(second()).strip())
    """
)


def test_pidfd_child_watcher(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(agentrt.__file__).resolve().parents[1])}
    result = run([sys.executable, "-W", "error", "-c", PIDFD_SCRIPT], tmp_path, timeout_s=30, env=env)
    assert result.ok, result.stderr
    before, after, again = result.stdout.split()
    assert again == "again"
    assert int(after) == 1, "children were watched by threads after installing the pidfd watcher"
    if sys.version_info < (3, 12):
        assert int(before) > 1, "expected the default threaded watcher before installing"


def test_pidfd_child_watcher_needs_a_running_loop() -> None:
    if sys.version_info < (3, 12):
        with pytest.raises(RuntimeError):
            use_pidfd_child_watcher()
    else:
        use_pidfd_child_watcher()
