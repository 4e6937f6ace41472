"""How a task's pytest runs: spawned (a fresh interpreter per run) or forked from a warm server.

``spawn`` is ``run_command``: ``python -B -m pytest …`` under the task's sandbox. ``fork`` sends the
run to ``forkserver.py`` (one per benchmark run), which forks a child with pytest already imported.
Both give the same ``RunResult``: the fork path feeds the child's pipes into ``run_command``'s own
capped buffers and supervises the child with its own timeout (TERM the group, grace, KILL), group
clean-up (pipe writers that escaped the group are found and killed) and exit-status rules. The fork
path also reports each run's CPU and peak RSS from the server's ``wait4``.

Confinement under ``fork``: bubblewrap confines only a program it execs, and a forked child is no
such program; one bwrap around the server would give every task one shared writable tree (one
task's code could rewrite another's tests). So a forked child confines itself, after the fork and
before pytest, with the Landlock helper's own steps and options for its task
(``LandlockSandbox.wrap`` says which): writes only in its workspace and private TMPDIR, no
``socket()``, no capabilities, the pids cgroup and rlimits. ``fork`` with the sandbox on therefore
needs the ``landlock`` mechanism; with ``bwrap`` ``ForkExecutor.run`` refuses.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agentrt.bench.admission import MemoryGate
from agentrt.process_group import die_with_parent, signal_group
from agentrt.sandbox.bwrap import CONFINE_SCRIPT
from agentrt.sandbox.process import (
    DRAIN_S,
    REAP_S,
    Confinement,
    OutputCollector,
    RunResult,
    kill_pipe_writers,
    run_command,
    run_result,
    supervise,
    wait_settled,
)

EXECUTORS = ("spawn", "fork")
SERVER_SCRIPT = str(Path(__file__).with_name("forkserver.py"))
_OUTPUT_CAP = 64 * 1024
_GRACE_S = 2.0
_START_S = 120.0
_IN_FLIGHT = 8
"""Requests sent and not yet answered with a pid: fewer than the server's receive queue holds
(``net.unix.max_dgram_qlen``, 10 by default), so sending never has to wait for room (a sender
waiting on a full ``SOCK_SEQPACKET`` peer was seen to miss its wake-up under epoll)."""


@dataclass(frozen=True, slots=True)
class TestRun:
    """One pytest run: what it did, and (``fork`` only) its CPU and peak RSS from ``wait4``."""

    __test__ = False  # not a pytest test class, whatever its name

    result: RunResult
    cpu_s: float | None = None
    peak_rss_mib: float | None = None


class TestExecutor(Protocol):
    name: str

    async def run(
        self, argv: Sequence[str], *, cwd: Path, timeout_s: float, confinement: Confinement
    ) -> TestRun: ...


class SpawnExecutor:
    """A fresh interpreter per run: ``run_command`` under the task's sandbox."""

    name = "spawn"

    async def run(
        self, argv: Sequence[str], *, cwd: Path, timeout_s: float, confinement: Confinement
    ) -> TestRun:
        run = await run_command(
            argv, cwd=cwd, timeout_s=timeout_s, env=confinement.env, sandbox=confinement.sandbox
        )
        return TestRun(run)


class ForkServerGone(RuntimeError):
    """The fork server ended (or never started); no run can go through it."""


class _Pending:
    """One run in flight: its pid (once forked), its output, its pipes, its ``wait4`` report."""

    __slots__ = ("inodes", "proto", "readers", "started", "usage")

    def __init__(self, loop: asyncio.AbstractEventLoop, proto: OutputCollector) -> None:
        self.started: asyncio.Future[int] = loop.create_future()
        self.proto = proto
        self.usage: dict[str, Any] = {}
        self.inodes: set[int] = set()
        self.readers: list[_PipeReader] = []


class ForkExecutor:
    """Runs pytest in children of one warm ``forkserver.py`` (see the module docstring)."""

    name = "fork"

    def __init__(self, sock: socket.socket, server: asyncio.subprocess.Process) -> None:
        self._sock = sock
        self._server = server
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._unanswered = asyncio.Semaphore(_IN_FLIGHT)
        self.server_pid = server.pid

    async def run(
        self, argv: Sequence[str], *, cwd: Path, timeout_s: float, confinement: Confinement
    ) -> TestRun:
        """``argv`` is ``[python, -B, -m, pytest, ARGS…]``: ARGS run in a forked child in ``cwd``.

        The run's pipes and request are made only once it may be sent (``_IN_FLIGHT``): a thousand
        runs waiting their turn hold no descriptors and no encoded request."""
        args, confine = _pytest_args(argv), landlock_options(confinement, cwd)
        loop = asyncio.get_running_loop()
        proto = OutputCollector(loop, _OUTPUT_CAP, max(16 << 20, 64 * _OUTPUT_CAP))
        started = time.monotonic()
        rid = next(self._ids)
        pending = _Pending(loop, proto)
        write_ends: list[int] = []
        try:
            async with self._unanswered:
                write_ends += await self._open_pipes(pending, loop)
                self._pending[rid] = pending
                request = {"id": rid, "cwd": os.fspath(cwd), "env": dict(confinement.env)}
                message = json.dumps({**request, "args": args, "confine": confine}).encode()
                del request
                pid = await self.send(pending, message, write_ends)
            returncode, timed_out = await self.supervise(pending, pid, timeout_s)
        except ForkServerGone as exc:  # as a spawn that could not start: status 126, the reason in stderr
            message = f"agentrt: cannot start the test run: {exc}\n".encode()
            return TestRun(RunResult(tuple(argv), 126, None, "", message.decode(), False, False, False, 0.0))
        finally:
            self._pending.pop(rid, None)
            for fd in write_ends:
                _close(fd)
            for reader in pending.readers:
                reader.close()
        usage = pending.usage
        result = run_result(tuple(argv), returncode, proto, timed_out, time.monotonic() - started)
        rss = usage.get("maxrss_kib")
        return TestRun(result, usage.get("cpu_s"), None if rss is None else rss / 1024.0)

    async def _open_pipes(self, pending: _Pending, loop: asyncio.AbstractEventLoop) -> list[int]:
        """The run's stdout and stderr pipes, their read ends fed into its collector; the write ends."""
        pipes = [os.pipe(), os.pipe()]
        pending.inodes = {os.fstat(read_end).st_ino for read_end, _ in pipes}
        try:
            for fd, (read_end, _) in zip((1, 2), pipes, strict=True):
                pending.readers.append(_PipeReader(loop, read_end, pending.proto, fd))
        except BaseException:
            for opened in pending.readers:
                opened.close()
            pending.readers.clear()
            for read_end, write_end in pipes:
                _close(read_end)
                _close(write_end)
            raise
        return [write_end for _, write_end in pipes]

    async def send(self, pending: _Pending, message: bytes, write_ends: list[int]) -> int:
        """Send the run with its pipes' write ends (closed here once sent); the forked child's pid."""
        try:
            await _send_fds(self._sock, message, write_ends, asyncio.get_running_loop())
            for fd in write_ends:
                _close(fd)
            write_ends.clear()
            return await pending.started
        except BaseException:
            await self._kill(pending)
            raise

    async def supervise(self, pending: _Pending, pid: int, timeout_s: float) -> tuple[int | None, bool]:
        """Supervise the forked run as ``run_command`` does its child."""
        proto = pending.proto
        try:
            timed_out = await supervise(pid, proto, timeout_s, _GRACE_S)
            signal_group(pid, signal.SIGKILL)
            if not await wait_settled(proto.closed, DRAIN_S):
                kill_pipe_writers(pending.inodes)
                await wait_settled(proto.closed, REAP_S)
        except BaseException:
            await self._kill(pending)
            raise
        status = pending.usage.get("status")
        return (None if status is None else os.waitstatus_to_exitcode(status)), timed_out

    async def _kill(self, pending: _Pending) -> None:
        """SIGKILL the run's group (once its pid is known, boundedly) and wait until it is reaped."""
        started = pending.started
        if not started.done():
            await asyncio.wait((started,), timeout=REAP_S)
        if started.done() and not started.cancelled() and started.exception() is None:
            signal_group(started.result(), signal.SIGKILL)
            await wait_settled(pending.proto.exited, REAP_S)

    async def read_replies(self) -> None:
        """Dispatch the server's answers to the runs waiting for them, until it closes the socket.

        One reader stays registered for the socket's life and takes every answer waiting when it
        wakes (``sock_recv`` would register and remove a reader for each of a run's two answers)."""
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            while not ended.done():
                try:
                    data = self._sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    return
                except (ConnectionError, OSError):
                    data = b""
                try:
                    if not data:
                        ended.set_result(None)
                    else:
                        self._dispatch(json.loads(data))
                except Exception as exc:  # a bad answer ends the reading, as it would end a reading loop
                    ended.set_exception(exc)

        loop.add_reader(self._sock, readable)
        try:
            await ended
        finally:
            loop.remove_reader(self._sock)
            self._fail_all(ForkServerGone("the fork server ended"))

    def _dispatch(self, reply: dict[str, Any]) -> None:
        pending = self._pending.get(reply["id"])
        if pending is None:
            return
        if "pid" in reply:
            pending.started.set_result(reply["pid"])
        elif "error" in reply:
            del self._pending[reply["id"]]
            pending.started.set_exception(ForkServerGone(reply["error"]))
        else:
            del self._pending[reply["id"]]
            pending.usage = reply
            pending.proto.process_exited()

    def _fail_all(self, exc: Exception) -> None:
        for pending in self._pending.values():
            if not pending.started.done():
                pending.started.set_exception(exc)
            pending.proto.process_exited()
        self._pending.clear()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class _PipeReader:
    """One pipe of a forked run, read as it becomes readable straight into ``run_command``'s collector
    as stdout (1) or stderr (2): what a read-pipe transport would do, without its layers (no file
    object, no waiter, no scheduled callbacks for a run's few reads and its end of file)."""

    __slots__ = ("_fd", "_kind", "_loop", "_proto")

    _READ = 256 * 1024
    """As much as one read takes (asyncio's pipe transports read as much)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, proto: OutputCollector, kind: int) -> None:
        self._loop, self._fd, self._proto, self._kind = loop, fd, proto, kind
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, self._READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._end(exc)
            return
        if data:
            self._proto.pipe_data_received(self._kind, data)
        else:
            self._end(None)

    def _end(self, exc: Exception | None) -> None:
        """End of the output (or a read error): stop reading, close the pipe, tell the collector."""
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        self._loop.remove_reader(fd)
        _close(fd)
        self._proto.pipe_connection_lost(self._kind, exc)

    def close(self) -> None:
        """Stop reading (what is still unread is dropped) and close the pipe; idempotent."""
        self._end(None)


async def _send_fds(
    sock: socket.socket, message: bytes, fds: list[int], loop: asyncio.AbstractEventLoop
) -> None:
    """Send ``message`` with ``fds`` (SCM_RIGHTS), waiting for room when the socket is full."""
    while True:
        try:
            socket.send_fds(sock, [message], fds)
            return
        except BlockingIOError:
            ready = loop.create_future()
            loop.add_writer(sock, ready.set_result, None)
            try:
                await ready
            finally:
                loop.remove_writer(sock)


def _pytest_args(argv: Sequence[str]) -> list[str]:
    """The pytest arguments of ``[python, …, -m, pytest, ARGS…]``."""
    words = list(argv)
    for i in range(len(words) - 1):
        if words[i] == "-m" and words[i + 1] == "pytest":
            return words[i + 2 :]
    raise ValueError(f"the fork executor runs only `python -m pytest …`, not {words!r}")


def landlock_options(confinement: Confinement, cwd: Path) -> list[str] | None:
    """The Landlock helper's options for a run in ``cwd`` (``None``: unconfined); ``ValueError`` for a
    sandbox a forked child cannot apply to itself."""
    sandbox = confinement.sandbox
    if sandbox.name == "none":
        return None
    if sandbox.name != "landlock":
        raise ValueError(
            f"--executor fork cannot confine a test run with {sandbox.name}: bubblewrap confines only "
            "a program it execs, not a forked child; the fork executor needs the landlock mechanism"
        )
    wrapped = sandbox.wrap(["pytest"], cwd)
    options = wrapped[wrapped.index(CONFINE_SCRIPT) + 1 : wrapped.index("--")]
    if options[:1] == ["--parent"]:
        options = options[2:]
    return options


@asynccontextmanager
async def fork_executor(python: str, env: Mapping[str, str]) -> AsyncIterator[ForkExecutor]:
    """Start ``forkserver.py`` with ``python`` and ``env``, wait until it is warm, yield the executor;
    on exit close the socket (the server kills what is left) and wait for the server."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        server = await asyncio.create_subprocess_exec(
            python, "-B", "-P", SERVER_SCRIPT, CONFINE_SCRIPT, str(theirs.fileno()),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, env=dict(env),
            pass_fds=(theirs.fileno(),), start_new_session=True, preexec_fn=die_with_parent(),
        )  # fmt: skip
    finally:
        theirs.close()
    ours.setblocking(False)
    executor = ForkExecutor(ours, server)
    try:
        await _wait_ready(ours, server)
        reader = asyncio.get_running_loop().create_task(executor.read_replies())
        try:
            yield executor  # the body's own exception comes out as it is (no task group around it)
        finally:
            ours.shutdown(socket.SHUT_RDWR)
            await asyncio.wait((reader,))
    finally:
        ours.close()
        if server.returncode is None:
            try:
                await asyncio.wait_for(server.wait(), REAP_S)
            except TimeoutError:
                server.kill()
                await server.wait()


async def _wait_ready(sock: socket.socket, server: asyncio.subprocess.Process) -> None:
    loop = asyncio.get_running_loop()
    try:
        data = await asyncio.wait_for(loop.sock_recv(sock, 65536), _START_S)
    except TimeoutError:
        server.kill()
        raise ForkServerGone(f"the fork server did not start within {_START_S:.0f} s") from None
    if not data or not json.loads(data).get("ready"):
        await server.wait()
        raise ForkServerGone(f"the fork server failed to start (status {server.returncode}; see stderr)")


class TestHarness:
    """How a run's test processes start (``executor``) and are admitted (``gate``, optional)."""

    __slots__ = ("executor", "gate")

    def __init__(self, executor: TestExecutor | None = None, gate: MemoryGate | None = None) -> None:
        self.executor: TestExecutor = SpawnExecutor() if executor is None else executor
        self.gate = gate

    async def run(
        self, argv: Sequence[str], *, cwd: Path, timeout_s: float, confinement: Confinement, key: str
    ) -> tuple[TestRun, float]:
        """One test run of task ``key``, admitted first; the run and the seconds it waited."""
        if self.gate is None:
            return await self.executor.run(argv, cwd=cwd, timeout_s=timeout_s, confinement=confinement), 0.0
        async with self.gate.admit(key) as ticket:
            test = await self.executor.run(argv, cwd=cwd, timeout_s=timeout_s, confinement=confinement)
            ticket.peak_mib = test.peak_rss_mib
        return test, ticket.waited_s


@asynccontextmanager
async def open_harness(
    executor: str, *, python: str, env: Mapping[str, str], memory_budget_mib: float | None = None
) -> AsyncIterator[TestHarness]:
    """The harness of one benchmark run: ``executor`` (``spawn`` or ``fork``, whose server lives as
    long as the context) and, with a budget, a memory gate (the server's RSS reserved from it)."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}")
    if executor == "spawn":
        yield TestHarness(SpawnExecutor(), _gate(memory_budget_mib, None))
        return
    from agentrt.sandbox.env import build_env

    async with fork_executor(python, build_env(env, None, tmpdir=None)) as forked:
        yield TestHarness(forked, _gate(memory_budget_mib, forked.server_pid))


def _gate(budget_mib: float | None, server_pid: int | None) -> MemoryGate | None:
    if budget_mib is None:
        return None
    from agentrt.bench.telemetry import current_rss_mib

    reserved = 0.0 if server_pid is None else current_rss_mib(server_pid)
    return MemoryGate(budget_mib, reserved_mib=reserved)
