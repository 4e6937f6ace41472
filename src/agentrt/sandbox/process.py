"""Run one command as an async subprocess: own process group, capped output, timeout, no orphans.

``run_command`` is the one place where agentrt starts the commands a model asks for. Each call:

* wraps the argv with the given ``Sandbox`` (always given: ``NoSandbox()`` runs it unconfined);
* starts the child in a new session, so it leads its own process group, with stdin on /dev/null,
  and with a parent-death signal (``process_group.die_with_parent``) unless the sandbox's own
  lifeline ends it (``Sandbox.death_signal``): nothing it starts outlives agentrt;
* reads stdout and stderr as they arrive into two buffers capped at ``output_cap`` bytes each,
  keeping the head and the tail and counting what was dropped, so the child never blocks on a
  full pipe and memory stays bounded whatever it writes;
* on timeout sends SIGTERM to the group, waits ``grace_s``, then sends SIGKILL;
* once the child has exited, SIGKILLs whatever is left of its group, and if some process that
  escaped the group still holds the output pipes, finds it through /proc and SIGKILLs it too;
* on cancellation SIGKILLs the group, waits for the child to be reaped and re-raises;
* finally reaps orphans the runtime adopted as a subreaper (``hygiene.reap_orphans``).

The transport is asyncio's own subprocess machinery (``loop.subprocess_exec``) with a small
protocol that caps output as it arrives, so there is no stream buffer and no reader task per pipe.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentrt.interfaces import Sandbox
from agentrt.process_group import die_with_parent, signal_group
from agentrt.sandbox.hygiene import reap_orphans
from agentrt.truncation import omission

DRAIN_S = 0.25
"""How long to wait for the pipes to close once the child exited and its group was killed."""
REAP_S = 5.0
"""How long to wait for SIGKILLed processes to be reaped, or their pipes to close, before giving up."""
_SPAWN_NOT_FOUND = frozenset({errno.ENOENT, errno.ENOTDIR})


@dataclass(frozen=True, slots=True)
class Confinement:
    """How the model's commands run: under ``sandbox``, with exactly ``env`` as their environment.

    Running unconfined is said explicitly: ``Confinement(NoSandbox(), env)``.
    """

    sandbox: Sandbox
    env: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one command did. ``argv`` is the command as asked for, before the sandbox wrapped it."""

    argv: tuple[str, ...]
    exit_code: int | None
    """The exit status; ``None`` when a signal ended the process."""
    signal: int | None
    """The signal that ended the process, if one did."""
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    timed_out: bool
    wall_s: float
    output_limited: bool = False
    """True when the command was stopped for writing more than ``max_output_bytes``."""
    output_bytes: int = 0
    """Bytes the command wrote to stdout and stderr together, kept or not."""

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0 within its time limit."""
        return self.exit_code == 0 and not self.timed_out


class _CappedBuffer:
    """Keeps the first half and the last half of ``cap`` bytes of a stream and counts the rest."""

    __slots__ = ("_head", "_head_cap", "_tail", "_tail_cap", "total")

    def __init__(self, cap: int) -> None:
        self._head_cap = cap // 2
        self._tail_cap = cap - self._head_cap
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_cap - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if not data or self._tail_cap == 0:
            return
        if len(data) >= self._tail_cap:
            self._tail[:] = data[-self._tail_cap :]
            return
        self._tail += data
        excess = len(self._tail) - self._tail_cap
        if excess > 0:
            del self._tail[:excess]

    @property
    def truncated(self) -> bool:
        return self.total > len(self._head) + len(self._tail)

    def text(self) -> str:
        """Decode as UTF-8 (invalid bytes replaced), marking the cut without splitting a character."""
        if not self.truncated:
            return (bytes(self._head) + bytes(self._tail)).decode("utf-8", errors="replace")
        head = bytes(self._head[: _complete_utf8_prefix(self._head)])
        tail = bytes(self._tail[_continuation_prefix(self._tail) :])
        omitted = self.total - len(head) - len(tail)
        return (
            head.decode("utf-8", errors="replace")
            + omission(omitted, "bytes")
            + tail.decode("utf-8", errors="replace")
        )


def _complete_utf8_prefix(data: bytes | bytearray) -> int:
    """Length of ``data`` without a UTF-8 sequence cut short at its end."""
    for back in range(1, min(4, len(data)) + 1):
        lead = data[-back]
        if lead & 0xC0 == 0x80:
            continue
        need = 4 if lead >= 0xF0 else 3 if lead >= 0xE0 else 2 if lead >= 0xC0 else 1
        return len(data) - back if need > back else len(data)
    return len(data)


def _continuation_prefix(data: bytes | bytearray) -> int:
    """Number of UTF-8 continuation bytes (at most 3) that ``data`` starts with."""
    count = 0
    while count < min(3, len(data)) and data[count] & 0xC0 == 0x80:
        count += 1
    return count


class OutputCollector(asyncio.SubprocessProtocol):
    """Feeds the child's pipes into capped buffers; signals exit, end of output and runaway output."""

    def __init__(self, loop: asyncio.AbstractEventLoop, cap: int, limit: int, *, pipes: int = 2) -> None:
        self.stdout = _CappedBuffer(cap)
        self.stderr = _CappedBuffer(cap)
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.flooded: asyncio.Future[None] = loop.create_future()
        self._limit = limit
        self._open_pipes = {1, 2} if pipes == 2 else {1}

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        if isinstance(data, bytes):
            (self.stdout if fd == 1 else self.stderr).feed(data)
            if self.stdout.total + self.stderr.total > self._limit and not self.flooded.done():
                self.flooded.set_result(None)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open_pipes.discard(fd)
        if not self._open_pipes and not self.closed.done():
            self.closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


async def run_command(
    cmd: Sequence[str] | str,
    *,
    cwd: Path,
    sandbox: Sandbox,
    timeout_s: float = 60.0,
    env: Mapping[str, str] | None = None,
    output_cap: int = 64 * 1024,
    grace_s: float = 2.0,
    max_output_bytes: int | None = None,
    merge_stderr: bool = False,
) -> RunResult:
    """Run ``cmd`` in ``cwd`` under ``sandbox`` and return what it did; a string runs through
    ``/bin/sh -c``. Running unconfined is asked for explicitly, with ``NoSandbox()``.

    ``env=None`` lets the child inherit the runtime's environment; a mapping is the child's whole
    environment. A missing executable gives exit code 127 (126 when it cannot be executed) with
    the reason in stderr; a missing ``cwd`` raises ``FileNotFoundError``. A command that writes
    more than ``max_output_bytes`` in all (default: the larger of 16 MiB and 64 x ``output_cap``),
    like ``yes``, is stopped as a timeout would stop it, with ``output_limited`` set.
    ``merge_stderr`` sends stderr into stdout's pipe (``2>&1``): ``stdout`` then holds both in the
    order they were written, and ``stderr`` is empty.
    """
    argv = _argv_of(cmd)
    _check_limits(timeout_s, output_cap, grace_s)
    limit = max(16 << 20, 64 * output_cap) if max_output_bytes is None else max_output_bytes
    if limit < 0:
        raise ValueError(f"max_output_bytes must be >= 0, got {max_output_bytes!r}")
    _check_cwd(cwd)
    full = sandbox.wrap(argv, cwd)
    if not full:
        raise ValueError(f"sandbox {sandbox.name!r} returned an empty argv")
    loop = asyncio.get_running_loop()
    proto = OutputCollector(loop, output_cap, limit, pipes=1 if merge_stderr else 2)
    started = time.monotonic()
    try:
        transport = await _spawn(
            loop,
            proto,
            full,
            cwd,
            env,
            merge_stderr,
            pass_fds=sandbox.pass_fds,
            death_signal=sandbox.death_signal,
        )
    except OSError as exc:
        return _spawn_failure(argv, full[0], cwd, exc, time.monotonic() - started)
    try:
        pid = transport.get_pid()
        timed_out = await supervise(pid, proto, timeout_s, grace_s)
        await _clear_group(pid, proto, transport)
    except BaseException:
        await _kill_and_reap(transport, proto)
        raise
    finally:
        transport.close()
        reap_orphans()
    return run_result(argv, transport.get_returncode(), proto, timed_out, time.monotonic() - started)


async def _spawn(
    loop: asyncio.AbstractEventLoop,
    proto: OutputCollector,
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str] | None,
    merge_stderr: bool = False,
    *,
    pass_fds: tuple[int, ...] = (),
    death_signal: bool = True,
) -> asyncio.SubprocessTransport:
    """Start the child in a new session with stdin on /dev/null and its outputs on pipes (one for
    both with ``merge_stderr``); ``pass_fds`` stay open in it (the sandbox's).

    The start is shielded: a cancellation that arrives while asyncio is still connecting the pipes
    lets the start finish, then kills the new group. (Left to itself, asyncio would kill only the
    direct child and then wait for every process holding the pipes to exit.)
    """
    starting = asyncio.ensure_future(
        loop.subprocess_exec(
            lambda: proto,
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            cwd=cwd,
            env=None if env is None else dict(env),
            start_new_session=True,
            preexec_fn=die_with_parent(kill=death_signal),
            pass_fds=pass_fds,
        )
    )
    try:
        transport, _ = await asyncio.shield(starting)
    except asyncio.CancelledError:
        started = await _finish_start(starting)
        if started is not None:
            await _kill_and_reap(started, proto)
            started.close()
        raise
    return transport


async def _finish_start(
    starting: asyncio.Future[tuple[asyncio.SubprocessTransport, OutputCollector]],
) -> asyncio.SubprocessTransport | None:
    try:
        transport, _ = await starting
    except Exception:
        return None
    return transport


async def _kill_and_reap(transport: asyncio.SubprocessTransport, proto: OutputCollector) -> None:
    """SIGKILL the child's whole group and wait (boundedly) until the child has been reaped."""
    signal_group(transport.get_pid(), signal.SIGKILL)
    await wait_settled(proto.exited, REAP_S)


def _argv_of(cmd: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(cmd, str):
        return ("/bin/sh", "-c", cmd)
    argv = tuple(cmd)
    if not argv:
        raise ValueError("run_command needs a non-empty command")
    return argv


def _check_limits(timeout_s: float, output_cap: int, grace_s: float) -> None:
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    if output_cap < 0:
        raise ValueError(f"output_cap must be >= 0, got {output_cap!r}")
    if not grace_s >= 0:
        raise ValueError(f"grace_s must be >= 0, got {grace_s!r}")


def _check_cwd(cwd: Path) -> None:
    if not cwd.exists():
        raise FileNotFoundError(errno.ENOENT, "working directory for the command does not exist", str(cwd))
    if not cwd.is_dir():
        raise NotADirectoryError(
            errno.ENOTDIR, "working directory for the command is not a directory", str(cwd)
        )


def _spawn_failure(argv: tuple[str, ...], program: str, cwd: Path, exc: OSError, wall_s: float) -> RunResult:
    """Turn a failed exec into the result a shell would give: 127 not found, 126 could not start (not
    executable, arguments too long, out of processes…), with the reason in stderr. Only an unusable
    working directory raises: that is the caller's mistake, not the command's."""
    if exc.filename is not None and os.fspath(exc.filename) == os.fspath(cwd):
        raise FileNotFoundError(exc.errno, "working directory for the command is unusable", str(cwd)) from exc
    code = 127 if exc.errno in _SPAWN_NOT_FOUND else 126
    message = f"agentrt: cannot execute {program!r}: {exc.strerror or exc}"
    if exc.errno == errno.E2BIG:
        longest = max((len(a.encode()) for a in argv), default=0)
        message += (
            f" (the longest argument is {longest} bytes; Linux allows 128 KiB per argument and about"
            " 2 MiB in all: pass large input through a file)"
        )
    return RunResult(argv, code, None, "", message + "\n", False, False, False, wall_s)


async def wait_settled(fut: asyncio.Future[None], timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``fut`` without cancelling it; True when it is done."""
    if fut.done():
        return True
    done, _ = await asyncio.wait((fut,), timeout=timeout_s)
    return bool(done)


async def supervise(pid: int, proto: OutputCollector, timeout_s: float, grace_s: float) -> bool:
    """Wait for the child to exit; on timeout or runaway output TERM then KILL its group.

    True when it timed out (not when it was stopped for its output).
    """
    if not proto.exited.done():
        await asyncio.wait(
            (proto.exited, proto.flooded), timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    if proto.exited.done():
        return False
    signal_group(pid, signal.SIGTERM)
    if not await wait_settled(proto.exited, grace_s):
        signal_group(pid, signal.SIGKILL)
        await wait_settled(proto.exited, REAP_S)
    return not proto.flooded.done()


async def _clear_group(pid: int, proto: OutputCollector, transport: asyncio.SubprocessTransport) -> None:
    """Kill what is left of the child's group, then read the pipes to their end, boundedly.

    A process that left the group (``setsid``) but kept the pipes open would hold them forever:
    after a short wait, the processes holding the pipes' write ends are killed too. With no
    writer left the end of the output is imminent, so the last wait is long only when a writer
    could not be killed (one this user cannot see in /proc, or one stuck in the kernel).
    """
    signal_group(pid, signal.SIGKILL)
    if await wait_settled(proto.closed, DRAIN_S):
        return
    kill_pipe_writers(_pipe_inodes(transport))
    await wait_settled(proto.closed, REAP_S)


def _pipe_inodes(transport: asyncio.SubprocessTransport) -> set[int]:
    inodes = set()
    for fd in (1, 2):
        pipe_transport = transport.get_pipe_transport(fd)
        pipe = None if pipe_transport is None else pipe_transport.get_extra_info("pipe")
        if pipe is None or pipe_transport is None or pipe_transport.is_closing():
            continue
        try:
            inodes.add(os.fstat(pipe.fileno()).st_ino)
        except (OSError, ValueError):
            continue
    return inodes


def kill_pipe_writers(inodes: set[int]) -> None:
    """SIGKILL every other process that holds the write end of one of these pipes (Linux /proc)."""
    if not inodes:
        return
    links = {f"pipe:[{inode}]" for inode in inodes}
    own = os.getpid()
    try:
        procs = os.scandir("/proc")
    except OSError:
        return
    with procs:
        for entry in procs:
            if entry.name.isdigit() and int(entry.name) != own and _writes_to(entry.path, links):
                _kill_verified(int(entry.name), entry.path, links)


def _writes_to(proc_dir: str, links: set[str]) -> bool:
    """True when the process at ``proc_dir`` has one of ``links`` open for writing."""
    try:
        with os.scandir(f"{proc_dir}/fd") as fds:
            for fd in fds:
                if os.readlink(fd.path) in links and _opened_for_writing(f"{proc_dir}/fdinfo/{fd.name}"):
                    return True
    except OSError:
        return False
    return False


def _opened_for_writing(fdinfo: str) -> bool:
    with open(fdinfo, encoding="ascii") as info:
        for line in info:
            if line.startswith("flags:"):
                return int(line.split()[1], 8) & os.O_ACCMODE != os.O_RDONLY
    return False


def _kill_verified(pid: int, proc_dir: str, links: set[str]) -> None:
    """SIGKILL ``pid`` and the process group it leads or joined, checking it again once pinned.

    The pidfd makes sure the signal reaches the process that was checked, not a reused pid. Its
    group was made by a descendant of the command (the command's session is new), so killing it
    takes down what the escaped process started, e.g. the ``sleep`` of ``setsid sh -c 'sleep 9'``.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        if _writes_to(proc_dir, links):
            pgid = os.getpgid(pid)
            if pgid not in (0, 1, os.getpgrp()):
                signal_group(pgid, signal.SIGKILL)
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError:
        pass
    finally:
        os.close(pidfd)


def run_result(
    argv: tuple[str, ...], returncode: int | None, proto: OutputCollector, timed_out: bool, wall_s: float
) -> RunResult:
    exit_code = returncode if returncode is not None and returncode >= 0 else None
    sig = -returncode if returncode is not None and returncode < 0 else None
    return RunResult(
        argv=argv,
        exit_code=exit_code,
        signal=sig,
        stdout=proto.stdout.text(),
        stderr=proto.stderr.text(),
        stdout_truncated=proto.stdout.truncated,
        stderr_truncated=proto.stderr.truncated,
        timed_out=timed_out,
        wall_s=wall_s,
        output_limited=proto.flooded.done(),
        output_bytes=proto.stdout.total + proto.stderr.total,
    )


def use_pidfd_child_watcher() -> None:
    """On Python 3.11/Linux, watch children through pidfds instead of one thread per child.

    Call it once, from a coroutine running on the main thread's default asyncio loop (the CLI
    does). It changes nothing on Python 3.12+ (pidfds are already the default there), on other
    loops (uvloop), off the main thread, or where ``pidfd_open`` is unavailable.
    """
    if sys.version_info >= (3, 12) or sys.platform != "linux":
        return
    loop = asyncio.get_running_loop()
    policy = asyncio.get_event_loop_policy()
    if not isinstance(policy, asyncio.DefaultEventLoopPolicy) or not isinstance(
        loop, asyncio.SelectorEventLoop
    ):
        return
    if threading.current_thread() is not threading.main_thread() or not _pidfd_available():
        return
    if isinstance(policy.get_child_watcher(), asyncio.PidfdChildWatcher):
        return
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(loop)
    policy.set_child_watcher(watcher)


def _pidfd_available() -> bool:
    try:
        pidfd = os.pidfd_open(os.getpid())
    except (AttributeError, OSError):
        return False
    os.close(pidfd)
    return True
