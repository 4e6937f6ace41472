"""Codex's unified exec: ``exec_command`` starts a command, ``write_stdin`` talks to it while it runs.

``exec_command {cmd, workdir?, shell?, login?, tty?, yield_time_ms?, max_output_tokens?,
sandbox_permissions?, justification?, prefix_rule?}`` runs ``cmd`` through a shell (``shell``, default
the user's; ``login`` true, the default, gives ``SHELL -lc CMD``, else ``SHELL -c CMD``), on a
pseudo-terminal with ``tty`` (stdin open, 24x80) or on a pipe with stdin on /dev/null. It waits up
to ``yield_time_ms`` (default 10 s, clamped to 250 ms–30 s) for the process to exit. A process that
exits in time is reported with its exit code; one still running keeps a *session id* (random,
1000–99999, as Codex's are) and goes on in the background. ``write_stdin {session_id, chars?,
yield_time_ms?, max_output_tokens?}`` writes ``chars`` to its terminal (a session without ``tty``
accepts only Ctrl-C, ``"\\u0003"``, which interrupts its process group) and collects what the process
printed since the last call: a write waits ``yield_time_ms`` (default 250 ms, at most 30 s), an
empty poll at least 5 s and at most ``max_poll_ms`` (5 min), both returning as soon as the process
exits. The output text is Codex's, so a model trained on Codex reads it (captured from Codex 0.169)::

    Chunk ID: 1f0c2a
    Wall time: 0.2513 seconds
    Process running with session ID 41530        (or: Process exited with code 3)
    Original token count: 12
    Output:
    <output>

Tokens are estimated as Codex does, bytes / 4 rounded up. Output over ``max_output_tokens`` (default
10,000) keeps its head and tail around ``…N tokens truncated…`` after a ``Warning: truncated output``
and ``Total output lines`` header. Between calls a session buffers at most 1 MiB (head and tail).

Each command runs exactly as the ``shell`` tool's: under the session's sandbox with its environment
(plus Codex's non-interactive settings: ``TERM=dumb``, ``NO_COLOR=1``, pagers ``cat``, UTF-8
locale), after the same approval step; ``sandbox_permissions: "require_escalated"`` asks for an
unsandboxed run (``Approvals.escalate``), and a command that the sandbox visibly blocked may run
again unconfined when the approvals allow it (``rerun_unsandboxed``). ``prefix_rule`` is accepted
and not used (agentrt keeps no approval prefix rules). An ``apply_patch`` heredoc is applied by the
session's apply_patch tool, not run.

Each command leads its own session and process group (``setsid``, the terminal its controlling
tty) and dies with agentrt. When the shell exits, whatever it left in its group is killed, as the
``shell`` tool does. At most ``max_sessions`` (64) processes are kept: starting one more kills the
least recently used one that is not among the 8 most recent, an exited one first. ``aclose`` kills
every process group and waits for them; nothing survives the tool set.

Events: ``item.started`` (a ``command_execution``) when a command starts and ``item.completed``
with its whole output (capped at ``output_cap``), exit code and status as soon as it exits, whether
or not the model polls — what Codex's ``exec --json`` prints. No ``item.updated`` is sent for a
running process (Codex sends none). A process that exits between turns is reported at the next call
of either tool; processes killed by ``aclose`` are not reported (Codex reports none either).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import random
import shlex
import shutil
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agentrt.events import CommandExecution, Event, ItemCompleted, ItemStarted
from agentrt.interfaces import Approvals, Sandbox
from agentrt.process_group import die_with_parent, signal_group
from agentrt.sandbox.denial import looks_like_sandbox_denial
from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.process import Confinement
from agentrt.tools.patch import ApplyPatchTool
from agentrt.tools.registry import ToolArgumentError, ToolContext, function_spec
from agentrt.tools.shell import ConfinementSource, admit, declined, resolve_dir
from agentrt.truncation import omission

MIN_YIELD_MS = 250
MAX_YIELD_MS = 30_000
EXEC_YIELD_MS = 10_000
"""``exec_command``'s wait when the model gives none."""
WRITE_YIELD_MS = 250
"""``write_stdin``'s wait when the model gives none."""
MIN_POLL_MS = 5_000
"""The shortest wait of an empty ``write_stdin`` (a poll)."""
MAX_POLL_MS = 300_000
MAX_OUTPUT_TOKENS = 10_000
MAX_SESSIONS = 64
RECENT_KEPT = 8
"""The most recently used sessions that making room never kills."""
BUFFER_BYTES = 1 << 20
"""What one session buffers between two calls (head and tail)."""
POST_EXIT_S = 0.05
"""How long a call waits for the last output once the process has exited."""
DRAIN_S = 0.25
"""How long the exit watcher waits for the output to end before it reports the command."""
REAP_S = 5.0
PTY_ROWS, PTY_COLS = 24, 80
CTRL_C = "\x03"
EXEC_ENV = {
    "NO_COLOR": "1",
    "TERM": "dumb",
    "LANG": "C.UTF-8",
    "LC_CTYPE": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "COLORTERM": "",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "GH_PAGER": "cat",
}
"""Set over the session's environment for every command (Codex sets the same)."""


# -- output ---------------------------------------------------------------------------------------------


class _Bytes:
    """The head and the tail of a byte stream, ``cap`` bytes at most, the rest only counted."""

    __slots__ = ("cap", "head", "tail", "total")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.cap // 2 - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            excess = len(self.tail) - (self.cap - self.cap // 2)
            if excess > 0:
                del self.tail[:excess]

    def text(self) -> str:
        omitted = self.total - len(self.head) - len(self.tail)
        data = bytes(self.head + self.tail) if omitted <= 0 else (
            bytes(self.head) + omission(omitted, "bytes").encode() + bytes(self.tail)
        )  # fmt: skip
        return data.decode("utf-8", errors="replace")


def approx_tokens(byte_count: int) -> int:
    """Codex's token estimate: four bytes a token, rounded up."""
    return (byte_count + 3) // 4


def truncate_to_tokens(text: str, max_tokens: int, original_tokens: int) -> str:
    """``text`` if it fits ``max_tokens`` (4 bytes each), else Codex's header, then its head and tail
    (half the budget each, never splitting a character) around ``…N tokens truncated…``."""
    data = text.encode("utf-8")
    budget = max(0, max_tokens) * 4
    if len(data) <= budget:
        return text
    left = budget // 2
    right = len(data) - (budget - left)
    while left > 0 and data[left] & 0xC0 == 0x80:
        left -= 1
    while right < len(data) and data[right] & 0xC0 == 0x80:
        right += 1
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    return (
        f"Warning: truncated output (original token count: {original_tokens})\n"
        f"Total output lines: {lines}\n\n"
        + data[:left].decode("utf-8", errors="replace")
        + f"…{approx_tokens(right - left)} tokens truncated…"
        + data[right:].decode("utf-8", errors="replace")
    )


def render(
    wall_s: float, exit_code: int | None, session_id: int | None, output: _Bytes, max_tokens: int
) -> str:
    """One call's result in Codex's format (see the module docstring)."""
    original = approx_tokens(output.total)
    head = [f"Chunk ID: {random.getrandbits(24):06x}", f"Wall time: {wall_s:.4f} seconds"]
    if exit_code is not None:
        head.append(f"Process exited with code {exit_code}")
    if session_id is not None:
        head.append(f"Process running with session ID {session_id}")
    head += [f"Original token count: {original}", "Output:"]
    return "\n".join(head) + "\n" + truncate_to_tokens(output.text(), max_tokens, original)


def clamp_yield_ms(requested: float | None) -> float:
    """``exec_command``'s wait: 10 s by default, within 250 ms–30 s."""
    value = EXEC_YIELD_MS if requested is None else requested
    return min(max(value, MIN_YIELD_MS), MAX_YIELD_MS)


def poll_yield_ms(requested: float | None, chars: str, max_poll_ms: float = MAX_POLL_MS) -> float:
    """``write_stdin``'s wait: a write 250 ms by default, at most 30 s; an empty poll 5 s at least."""
    value = max(WRITE_YIELD_MS if requested is None else requested, MIN_YIELD_MS)
    if chars:
        return min(value, MAX_YIELD_MS)
    return min(max(value, MIN_POLL_MS), max(max_poll_ms, MIN_POLL_MS))


# -- one process ----------------------------------------------------------------------------------------


class _Exit(asyncio.SubprocessProtocol):
    """Tells the process when asyncio has reaped it (its stdio are not asyncio's pipes)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.exited: asyncio.Future[None] = loop.create_future()
        self.on_exit: Callable[[], None] = lambda: None

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)
            self.on_exit()


class _Process:
    """A running command: its transport, the read end of its terminal or pipe, what it printed."""

    def __init__(
        self,
        transport: asyncio.SubprocessTransport,
        proto: _Exit,
        fd: int,
        *,
        tty: bool,
        item: CommandExecution,
        output_cap: int,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport, self.proto, self.fd, self.tty, self.item = transport, proto, fd, tty, item
        self.pid = transport.get_pid()
        self.started = self.loop.time()
        self.pending = _Bytes(BUFFER_BYTES)
        """What the next call returns."""
        self.transcript = _Bytes(output_cap)
        """Everything, for the ``item.completed`` event."""
        self.changed = asyncio.Event()
        self.closed = False
        """The output has ended (or is no longer read)."""
        self.exit_code: int | None = None
        self.exited = False
        self.lock = asyncio.Lock()
        self.last_used = time.monotonic()
        self.watcher: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        proto.on_exit = self._exited
        if transport.get_returncode() is not None:
            self._exited()
        self.loop.add_reader(fd, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: every holder of the terminal's other side has closed it
            data = b""
        if not data:
            self.stop_reading()
            return
        self.pending.feed(data)
        self.transcript.feed(data)
        self.changed.set()

    def _exited(self) -> None:
        code = self.transport.get_returncode()
        self.exit_code = code if code is None or code >= 0 else 128 - code
        self.exited = True
        self.changed.set()

    def stop_reading(self) -> None:
        """The output has ended: stop watching the descriptor, but keep it open until the process has
        exited (closing a terminal's master side hangs it up: SIGHUP for a process that is exiting
        after closing its own descriptors, as ``cat`` does)."""
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.fd)
        self.loop.remove_writer(self.fd)
        self._writable()
        self.changed.set()

    def release(self) -> None:
        """Close the read end for good (the process has exited, or is being killed)."""
        self.stop_reading()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def take(self) -> _Bytes:
        """What the process printed since the last call."""
        taken, self.pending = self.pending, _Bytes(BUFFER_BYTES)
        return taken

    async def settle(self, deadline: float) -> None:
        """Wait until ``deadline`` (loop time), or until the process has exited and its output ended
        (waiting at most ``POST_EXIT_S`` after the exit for the end)."""
        after_exit: float | None = None
        while not (self.exited and self.closed):
            now = self.loop.time()
            end = deadline
            if self.exited:
                after_exit = now + POST_EXIT_S if after_exit is None else after_exit
                end = min(deadline, after_exit)
            if now >= end:
                return
            self.changed.clear()
            try:
                async with asyncio.timeout_at(end):
                    await self.changed.wait()
            except TimeoutError:
                return

    async def write(self, data: bytes, deadline: float) -> None:
        """Write ``data`` to the terminal, waiting for room until ``deadline`` at most."""
        view = memoryview(data)
        while view and not self.closed:
            try:
                view = view[os.write(self.fd, view) :]
                continue
            except BlockingIOError:
                pass
            except OSError:
                return
            self._ready = self.loop.create_future()
            self.loop.add_writer(self.fd, self._writable)
            try:
                async with asyncio.timeout_at(deadline):
                    await self._ready
            except TimeoutError:
                return
            finally:
                self._ready = None
                if not self.closed:
                    self.loop.remove_writer(self.fd)

    def _writable(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    def signal(self, sig: signal.Signals) -> None:
        signal_group(self.pid, sig)


# -- the sessions ---------------------------------------------------------------------------------------


class UnifiedExec:
    """The live command sessions of one agent session, shared by ``exec_command`` and ``write_stdin``.

    ``confinement``, ``approvals`` and ``patch`` are the ``shell`` tool's; ``shell`` is the default
    shell (else ``$SHELL`` of the command environment, else the user's login shell, else
    ``/bin/bash``). ``token_cap`` bounds ``max_output_tokens`` whatever the model asks (keep a call's
    result under the registry's output budget: about ``budget / 4`` minus the 100-byte header).
    Close it with ``aclose`` (or ``async with``): that kills every process.
    """

    def __init__(
        self,
        confinement: ConfinementSource,
        *,
        approvals: Approvals | None = None,
        patch: ApplyPatchTool | None = None,
        shell: str | None = None,
        max_sessions: int = MAX_SESSIONS,
        output_cap: int = 64 * 1024,
        max_poll_ms: float = MAX_POLL_MS,
        token_cap: int | None = None,
    ) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {max_sessions!r}")
        self._confinement = confinement
        self.approvals = approvals
        self.patch = patch
        self.shell = shell
        self.max_sessions = max_sessions
        self.output_cap = output_cap
        self.max_poll_ms = max_poll_ms
        self.token_cap = token_cap
        self.sessions: dict[int, _Process] = {}
        """Live (or exited, not yet polled) processes by session id."""
        self._running: set[_Process] = set()
        self._emit: Callable[[Event], None] | None = None
        self._in_turn = False
        self._unreported: list[Event] = []
        self._closed = False

    def tools(self) -> list[ExecCommandTool | WriteStdinTool]:
        return [ExecCommandTool(self), WriteStdinTool(self)]

    async def confinement(self) -> Confinement:
        if not isinstance(self._confinement, Confinement):
            self._confinement = await self._confinement()
        return self._confinement

    def pids(self) -> list[int]:
        """The pids of the processes started and not yet reaped (their process groups' leaders)."""
        return [p.pid for p in self._running]

    # -- the tools' calls --

    async def exec_command(self, args: dict[str, Any], ctx: ToolContext) -> str:
        self._enter(ctx)
        cmd = args["cmd"]
        if not cmd.strip():
            raise ToolArgumentError("'cmd' must not be empty")
        permissions = args.get("sandbox_permissions", "use_default")
        if permissions not in ("use_default", "require_escalated"):
            raise ToolArgumentError("'sandbox_permissions' must be 'use_default' or 'require_escalated'")
        prefix = args.get("prefix_rule", [])
        if not all(isinstance(p, str) for p in prefix):
            raise ToolArgumentError("'prefix_rule' must be a list of strings")
        cwd = resolve_dir(ctx, args.get("workdir"))
        yield_s = clamp_yield_ms(_number(args, "yield_time_ms")) / 1000
        max_tokens = _max_tokens(args, self.token_cap)
        if self._closed:
            return "exec_command failed: the session's command runner is closed"
        confinement = await self.confinement()
        argv = self._argv(cmd, args.get("shell"), args.get("login", True), confinement.env)
        started = time.monotonic()
        patched = None if self.patch is None else self.patch.invocation(argv, cwd, ctx)
        if patched is not None:
            return _patch_output(patched, time.monotonic() - started)
        sandbox, refusal = await admit(
            self.approvals, argv, cwd, confinement.sandbox,
            permissions == "require_escalated", str(args.get("justification") or ""),
        )  # fmt: skip
        if refusal is not None:
            declined(shlex.join(argv), refusal, ctx)
            return f"exec_command failed: {refusal}"
        env = {**confinement.env, **EXEC_ENV}
        output = await self._start(argv, cwd, env, sandbox, bool(args.get("tty")), yield_s, max_tokens, ctx)
        if isinstance(output, str):
            return output
        text, exit_code = output
        denial = looks_like_sandbox_denial(exit_code, text)
        if (
            denial
            and exit_code is not None
            and sandbox is confinement.sandbox
            and not isinstance(sandbox, NoSandbox)
            and self.approvals is not None
            and await self.approvals.rerun_unsandboxed(argv, str(cwd), denial)
        ):
            output = await self._start(
                argv, cwd, env, NoSandbox(), bool(args.get("tty")), yield_s, max_tokens, ctx
            )
            return output if isinstance(output, str) else output[0]
        return text

    async def write_stdin(self, args: dict[str, Any], ctx: ToolContext) -> str:
        self._enter(ctx)
        session_id = _session_id(args["session_id"])
        chars = args.get("chars", "")
        max_tokens = _max_tokens(args, self.token_cap)
        process = self.sessions.get(session_id)
        if process is None:
            return f"write_stdin failed: Unknown process id {session_id}"
        async with process.lock:
            if self.sessions.get(session_id) is not process:
                return f"write_stdin failed: Unknown process id {session_id}"
            process.last_used = time.monotonic()
            start = process.loop.time()
            deadline = start + poll_yield_ms(_number(args, "yield_time_ms"), chars, self.max_poll_ms) / 1000
            if chars and not process.tty:
                if chars != CTRL_C:
                    return (
                        "write_stdin failed: this session has no terminal, so its stdin is closed; "
                        "start the command again with exec_command and tty=true to write to it"
                    )
                process.signal(signal.SIGINT)
            elif chars:
                await process.write(chars.encode("utf-8"), deadline)
            return await self._result(process, session_id, start, deadline, max_tokens)

    def end_turn(self, ctx: ToolContext) -> None:
        """Commands that exit from now on are reported at the next call, inside a turn."""
        self._in_turn = False

    async def aclose(self) -> None:
        """Kill every command's process group and wait (boundedly) until all are reaped."""
        self._closed = True
        running = list(self._running)
        for process in running:
            process.signal(signal.SIGKILL)
        watchers = [p.watcher for p in running if p.watcher is not None]
        if watchers:
            _, late = await asyncio.wait(watchers, timeout=REAP_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self.sessions.clear()

    async def __aenter__(self) -> UnifiedExec:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- inside --

    def _enter(self, ctx: ToolContext) -> None:
        self._emit, self._in_turn = ctx.emit, True
        unreported, self._unreported = self._unreported, []
        for event in unreported:
            ctx.emit(event)

    def _report(self, event: Event) -> None:
        if self._closed:
            return
        if self._in_turn and self._emit is not None:
            self._emit(event)
        else:
            self._unreported.append(event)

    def _argv(self, cmd: str, shell: str | None, login: bool, env: Mapping[str, str]) -> list[str]:
        program = shell or self.shell or env.get("SHELL") or _login_shell()
        if "/" not in program:
            program = shutil.which(program, path=env.get("PATH")) or program
        return [program, "-lc" if login else "-c", cmd]

    async def _start(
        self,
        argv: list[str],
        cwd: Path,
        env: Mapping[str, str],
        sandbox: Sandbox,
        tty: bool,
        yield_s: float,
        max_tokens: int,
        ctx: ToolContext,
    ) -> tuple[str, int | None] | str:
        """Start ``argv`` and wait up to ``yield_s``: the result text and the exit code (``None``: it
        runs on), or an error text when it could not start."""
        item = CommandExecution(ctx.ids.new(), shlex.join(argv))
        ctx.emit(ItemStarted(item))
        try:
            process = await _spawn(
                sandbox.wrap(argv, cwd), cwd, env, tty, item, self.output_cap, sandbox.pass_fds,
                death_signal=sandbox.death_signal,
            )  # fmt: skip
        except OSError as exc:
            reason = f"cannot start {argv[0]!r}: {exc.strerror or exc}"
            ctx.emit(ItemCompleted(CommandExecution(item.id, item.command, reason, None, "failed")))
            return f"exec_command failed: {reason}"
        self._running.add(process)
        process.watcher = asyncio.get_running_loop().create_task(self._watch(process))
        session_id = self._store(process)
        start = process.started
        text = await self._result(process, session_id, start, start + yield_s, max_tokens)
        return text, process.exit_code

    async def _result(
        self, process: _Process, session_id: int, start: float, deadline: float, max_tokens: int
    ) -> str:
        """Wait for output until ``deadline`` (or the exit) and render what came since ``start``."""
        await process.settle(deadline)
        wall = process.loop.time() - start
        output = process.take()
        if not process.exited:
            return render(wall, None, session_id, output, max_tokens)
        if self.sessions.get(session_id) is process:
            del self.sessions[session_id]
        if process.watcher is not None:  # its item.completed goes out before the result
            await asyncio.wait({process.watcher})
        return render(wall, process.exit_code, None, output, max_tokens)

    def _store(self, process: _Process) -> int:
        if len(self.sessions) >= self.max_sessions:
            victim = _least_recent(self.sessions, min(RECENT_KEPT, self.max_sessions - 1))
            if victim is not None:
                self.sessions.pop(victim).signal(signal.SIGKILL)
        session_id = random.randrange(1000, 100_000)
        while session_id in self.sessions:
            session_id = random.randrange(1000, 100_000)
        self.sessions[session_id] = process
        return session_id

    async def _watch(self, process: _Process) -> None:
        """Once the process exits: kill what is left of its group, let the output end, report it."""
        try:
            await asyncio.shield(process.proto.exited)
            process.signal(signal.SIGKILL)
            if not process.closed:
                try:
                    async with asyncio.timeout(DRAIN_S):
                        while not process.closed:
                            process.changed.clear()
                            await process.changed.wait()
                except TimeoutError:
                    pass
            code = process.exit_code
            item = process.item
            status = "completed" if code == 0 else "failed"
            wall = process.loop.time() - process.started
            text = process.transcript.text()
            self._report(ItemCompleted(CommandExecution(item.id, item.command, text, code, status, wall)))
        finally:
            if not process.proto.exited.done():
                process.signal(signal.SIGKILL)
            process.release()
            process.transport.close()
            self._running.discard(process)


async def _spawn(
    full: list[str],
    cwd: Path,
    env: Mapping[str, str],
    tty: bool,
    item: CommandExecution,
    output_cap: int,
    pass_fds: tuple[int, ...],
    *,
    death_signal: bool = True,
) -> _Process:
    """Start ``full`` in a new session: on a new pseudo-terminal (its controlling tty) with ``tty``,
    else with stdin on /dev/null and stdout and stderr on one pipe; ``pass_fds`` stay open in it."""
    if not full:
        raise ValueError("the sandbox returned an empty argv")
    if tty:
        read_fd, child_fd = pty.openpty()
        fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", PTY_ROWS, PTY_COLS, 0, 0))
    else:
        read_fd, child_fd = os.pipe()
    os.set_blocking(read_fd, False)
    loop = asyncio.get_running_loop()
    proto = _Exit(loop)
    starting = asyncio.ensure_future(
        loop.subprocess_exec(
            lambda: proto,
            *full,
            stdin=child_fd if tty else subprocess.DEVNULL,
            stdout=child_fd,
            stderr=child_fd,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            preexec_fn=_preexec(tty, death_signal),
            pass_fds=pass_fds,
        )
    )
    try:
        transport, _ = await asyncio.shield(starting)
    except asyncio.CancelledError:  # let the start finish, then kill what it started
        try:
            transport, _ = await starting
        except Exception:
            pass
        else:
            signal_group(transport.get_pid(), signal.SIGKILL)
            transport.close()
        os.close(read_fd)
        raise
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(child_fd)
    return _Process(transport, proto, read_fd, tty=tty, item=item, output_cap=output_cap)


def _preexec(tty: bool, death_signal: bool) -> Callable[[], None] | None:
    """In the child, after ``setsid``: take the terminal as the controlling tty, die with agentrt
    (``Sandbox.death_signal``)."""
    base = die_with_parent(kill=death_signal)
    if not tty:
        return base

    def preexec() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if base is not None:
            base()

    return preexec


def _least_recent(sessions: Mapping[int, _Process], keep: int) -> int | None:
    """The session to drop for room: never one of the ``keep`` most recently used; an exited one
    first, else the least recently used."""
    by_recency = sorted(sessions, key=lambda sid: sessions[sid].last_used, reverse=True)
    candidates = by_recency[keep:][::-1]
    exited = [sid for sid in candidates if sessions[sid].exited]
    ordered = exited or candidates
    return ordered[0] if ordered else None


def _login_shell() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_shell or "/bin/bash"
    except KeyError:
        return "/bin/bash"


def _patch_output(result: str, wall_s: float) -> str:
    """An apply_patch run through ``exec_command``, reported as Codex 0.169 reports it."""
    if result.startswith("error:"):
        return result
    return (
        f"Wall time: {wall_s:.4f} seconds\nOutput:\nExit code: 0\nWall time: {round(wall_s)} seconds\n"
        f"Output:\n{result}"
    )


def _number(args: dict[str, Any], key: str) -> float | None:
    value = args.get(key)
    if value is None:
        return None
    if value != value:  # NaN
        raise ToolArgumentError(f"{key!r} must be a number")
    return float(value)


def _max_tokens(args: dict[str, Any], cap: int | None) -> int:
    value = _number(args, "max_output_tokens")
    if value is None:
        value = MAX_OUTPUT_TOKENS
    elif value < 0:
        raise ToolArgumentError("'max_output_tokens' must not be negative")
    return int(min(value, 1 << 40 if cap is None else cap))


def _session_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ToolArgumentError("'session_id' must be a whole number")
    return int(value)


# -- the tools ------------------------------------------------------------------------------------------

_TOKENS = {
    "type": "number",
    "description": "Most output tokens to return (about 4 bytes each); default 10000.",
}


class ExecCommandTool:
    name = "exec_command"

    def __init__(self, unified: UnifiedExec) -> None:
        self.unified = unified

    def spec(self) -> dict[str, Any]:
        return function_spec(
            "exec_command",
            "Run a shell command, optionally on a terminal. Returns its output and exit code if it "
            "finishes within yield_time_ms, else the output so far and a session_id for write_stdin.",
            {
                "cmd": {"type": "string", "description": "The command line, run by the shell."},
                "justification": {
                    "type": "string",
                    "description": "With require_escalated: why it must run outside the sandbox (shown to the user).",
                },
                "login": {
                    "type": "boolean",
                    "description": "Run the shell as a login shell (-lc); default true.",
                },
                "max_output_tokens": _TOKENS,
                "prefix_rule": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": 'With require_escalated: the command prefix to approve for later commands, e.g. ["npm", "test"].',
                },
                "sandbox_permissions": {
                    "type": "string",
                    "enum": ["use_default", "require_escalated"],
                    "description": "use_default (the default) runs in the sandbox; require_escalated asks to run outside it.",
                },
                "shell": {"type": "string", "description": "Shell program to use; default the user's shell."},
                "tty": {
                    "type": "boolean",
                    "description": "Give the command a terminal so it can read input later; default false (no stdin).",
                },
                "workdir": {"type": "string", "description": "Directory to run in; default the session's."},
                "yield_time_ms": {
                    "type": "number",
                    "description": "How long to wait for the command to finish before returning; default 10000, 250 to 30000.",
                },
            },
            ["cmd"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        return await self.unified.exec_command(args, ctx)

    def end_turn(self, ctx: ToolContext) -> None:
        self.unified.end_turn(ctx)


class WriteStdinTool:
    name = "write_stdin"

    def __init__(self, unified: UnifiedExec) -> None:
        self.unified = unified

    def spec(self) -> dict[str, Any]:
        return function_spec(
            "write_stdin",
            "Send input to a command started by exec_command that is still running, and return what "
            "it printed since the last call (and its exit code once it has finished).",
            {
                "chars": {
                    "type": "string",
                    "description": 'Text to type ("\\n" for Enter, "\\u0003" for Ctrl-C); empty just waits for output.',
                },
                "max_output_tokens": _TOKENS,
                "session_id": {"type": "number", "description": "The session_id exec_command returned."},
                "yield_time_ms": {
                    "type": "number",
                    "description": "How long to wait for output: default 250 ms after input (at most 30000); an empty poll waits 5000 ms or more.",
                },
            },
            ["session_id"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        return await self.unified.write_stdin(args, ctx)
