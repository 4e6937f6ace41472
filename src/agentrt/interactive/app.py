"""The interactive session: a conversation in the terminal on the one agent core.

::

    composer (prompt_toolkit) ──text──▶ submit ──▶ turn task: AgentSession.run_turn ──events──▶ view
         ▲   Esc / Ctrl-C ─────────────────────────▶ cancel the turn task                     │
         └────────── approvals: y / a / n ◀── PromptApprover ◀── ApprovalGate (the tools) ◀──┘

The composer stays live while a turn runs, so typing never waits on the model or a command; what is
sent meanwhile waits its turn. Output is appended above the composer (``Screen``) and stays in the
terminal's scrollback. Every session is a rollout file, as ``exec``'s, and resumable by either.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import time
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import TextIO, cast

from prompt_toolkit import PromptSession

from agentrt import __version__
from agentrt.agent.approvals import ApprovalRequest
from agentrt.agent.session import AgentSession, SessionOptions, open_session
from agentrt.agent.thread import TurnStopped
from agentrt.events import ContextCompacted, Event, Fanout, ModelResponse, TurnCompleted
from agentrt.interactive.approve import CHOICES, PromptApprover
from agentrt.interactive.commands import SlashCommand, command_table, dispatch
from agentrt.interactive.composer import build_composer
from agentrt.interactive.history import PromptHistory
from agentrt.interactive.render import TerminalView, approval_text
from agentrt.interactive.screen import Screen


@dataclass
class InteractiveOptions:
    session: SessionOptions = field(default_factory=SessionOptions)
    prompt: str | None = None
    """Sent as the first message once the session is open (``agentrt "PROMPT"``)."""
    color: bool = True


def run_interactive(options: InteractiveOptions, env: Mapping[str, str], stdout: TextIO) -> int:
    """Run the session until the person quits; 0 on a normal exit."""
    from agentrt.sandbox import become_subreaper, harden_runtime
    from agentrt.sandbox.process import use_pidfd_child_watcher

    harden_runtime()
    become_subreaper()

    async def main() -> int:
        use_pidfd_child_watcher()
        return await InteractiveApp(options, env, stdout).run()

    return asyncio.run(main())


class Meter:
    """Counts what the status line shows: tokens used this session, context used by the last request."""

    def __init__(self) -> None:
        self.tokens = 0
        self.context = 0
        self.window: int | None = None
        self.cost: float | None = None
        """The session's cost so far (cost tracking on and the price known)."""

    def emit(self, event: Event) -> None:
        if isinstance(event, ModelResponse):
            self.context = event.prompt_tokens + event.completion_tokens
            self.window = event.context_window or self.window
        elif isinstance(event, ContextCompacted):
            self.context = event.after_tokens
        elif isinstance(event, TurnCompleted):  # the session's total so far, as Codex reports it
            self.tokens = event.usage.input_tokens + event.usage.output_tokens
            self.cost = event.cost_usd if event.costed else self.cost

    def context_text(self, *, short: bool) -> str:
        """``context 12% of 272k`` (short) or ``4,071 of 272,000 tokens (1%)``."""
        if not self.window:
            return f"context {self.context:,} tokens" if short else f"{self.context:,} tokens"
        share = round(100 * self.context / self.window)
        if short:
            return f"context {share}% of {_thousands(self.window)}"
        return f"{self.context:,} of {self.window:,} tokens ({share}%)"


def _thousands(n: int) -> str:
    return f"{n / 1000:.0f}k" if n >= 10_000 else f"{n:,}"


class _ScreenText(io.TextIOBase):
    """A text stream onto the screen, for the warnings a session writes (``stderr`` of exec)."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen

    def write(self, text: str) -> int:
        self.screen.write(text)
        return len(text)


class InteractiveApp:
    """One terminal session: the composer, the open ``AgentSession``, the running turn."""

    def __init__(self, options: InteractiveOptions, env: Mapping[str, str], stdout: TextIO) -> None:
        self.options, self.env = options, env
        self.screen = Screen(stdout)
        self.view = TerminalView(self.screen.write, width=_width, color=options.color)
        self.approver = PromptApprover(self._ask, self.view.notice, self._redraw)
        self.commands: dict[str, SlashCommand] = command_table()
        self.meter = Meter()
        self._session: AgentSession | None = None
        self._stack = AsyncExitStack()
        self._composer: PromptSession[str] | None = None
        self._history: PromptHistory | None = None
        self._turn: asyncio.Task[None] | None = None
        self._turn_started = 0.0
        self._queue: deque[str] = deque()
        self._tasks: asyncio.TaskGroup | None = None

    @property
    def session(self) -> AgentSession:
        assert self._session is not None, "a session is open"
        return self._session

    # -- lifetime ----------------------------------------------------------------------------------
    async def run(self) -> int:
        try:
            await self._open(self.options.session)
        except BaseException:
            self.screen.drain()
            raise
        try:
            await self._tasks_until_quit()
        except BaseExceptionGroup as group:  # one failure: raise it as itself, for the one-line error
            raise group.exceptions[0] if len(group.exceptions) == 1 else group from None
        finally:
            await self._close()
            self.screen.drain()
        return 0

    async def _tasks_until_quit(self) -> None:
        """The conversation, with the screen's pump and each turn as tasks of one group."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            pump = tasks.create_task(self.screen.pump())
            try:
                await self._converse()
            finally:
                self._tasks = None
                await self._stop_turn()
                pump.cancel()

    async def _converse(self) -> None:
        from agentrt.config import agentrt_home

        home = agentrt_home(self.env)
        save = self.session.config.history_persistence != "none"
        self._history = PromptHistory(home, self.session.thread_id, save=save)
        self._composer = build_composer(self, self._history, self.session.cwd)
        if self.options.prompt:
            self.submit(self.options.prompt)
        await self.screen.flush()  # the header before the composer is first drawn
        while True:
            try:
                text = await self._composer.prompt_async()
            except EOFError:
                return
            if not text.strip():
                continue
            if text.startswith("/") and await self._command(text):
                return
            if not text.startswith("/"):
                self.submit(text)

    async def _command(self, text: str) -> bool:
        try:
            return await dispatch(self, self.commands, text)
        except Exception as exc:  # a bad /model name, a config that no longer loads…: the session goes on
            self.view.notice(f"error: {_reason(exc)}", style="red")
            return False

    async def _open(self, options: SessionOptions) -> None:
        sink = Fanout([self.view, self.meter])
        stderr = cast(TextIO, _ScreenText(self.screen))
        opened = open_session(options, self.env, sink, stderr=stderr, approver=self.approver)
        self._session = await self._stack.enter_async_context(opened)
        self.meter.tokens = self.meter.context = 0
        self.meter.window = self.session.thread.context.policy.window if self.session.thread.context else None
        if self._history is not None:
            self._history.session_id = self.session.thread_id
        self._header()

    async def _close(self) -> None:
        session = self._session
        stack, self._stack = self._stack, AsyncExitStack()
        await stack.aclose()
        if session is not None and session.writer is not None:
            self.view.notice(f"To continue this session, run: agentrt resume {session.thread_id}")

    def _header(self) -> None:
        s, config = self.session, self.session.config
        if s.resumed:
            self.view.replay(s.thread.messages)
        verb = "resumed" if s.resumed else "session"
        self.view.notice(
            f"agentrt {__version__} · {verb} {s.thread_id} · model {config.model} ({config.provider.name})",
            style="bold",
        )
        self.view.notice(
            f"{s.cwd} · sandbox {config.sandbox_mode} · approvals {config.approval_policy} · /help for commands"
        )

    # -- turns -------------------------------------------------------------------------------------
    def turn_running(self) -> bool:
        return self._turn is not None

    def submit(self, text: str) -> None:
        """Send ``text`` as the next user turn: now, or after the running turn (queued)."""
        if self._tasks is None:
            return
        if self._turn is not None:
            self._queue.append(text)
            self.view.notice(f"queued (sent when this turn ends): {_one_line(text)}")
            return
        self._turn = self._tasks.create_task(self._run_turn(text))

    async def _run_turn(self, text: str) -> None:
        self.view.user(text)
        self._turn_started = time.monotonic()
        try:
            await self.session.run_turn(text)
        except TurnStopped:
            pass  # the view has shown why
        except asyncio.CancelledError:
            pass  # interrupted: the thread recorded it and the view has shown it
        except Exception as exc:  # the session survives a turn that broke
            self.view.notice(f"error: {_reason(exc)}", style="red")
        finally:
            self.view.flush()
            self._turn = None
        if self._queue:
            self.submit(self._queue.popleft())

    def interrupt(self) -> None:
        """Stop the running turn now; prompts queued behind it go back into the composer."""
        if self._turn is None:
            return
        self._turn.cancel()
        if self._queue:
            self.insert("\n\n".join(self._queue))
            self._queue.clear()

    async def _stop_turn(self) -> None:
        turn = self._turn
        self._queue.clear()
        if turn is not None:
            turn.cancel()
            await asyncio.gather(turn, return_exceptions=True)

    # -- what commands and the composer use --------------------------------------------------------
    def insert(self, text: str) -> None:
        if self._composer is not None:
            self._composer.default_buffer.insert_text(text)

    def command_help(self) -> dict[str, str]:
        return {name: c.help for name, c in self.commands.items()}

    def status_line(self) -> str:
        s, config = self.session, self.session.config
        parts = [
            config.model,
            f"sandbox {config.sandbox_mode}",
            f"approvals {config.approval_policy}",
            self.meter.context_text(short=True),
            f"session {s.thread_id[:13]}",
        ]
        if self._turn is not None:
            parts.append(f"working {time.monotonic() - self._turn_started:.0f}s — Esc to interrupt")
        if self._queue:
            parts.append(f"{len(self._queue)} queued")
        return " · ".join(parts)

    def status_rows(self) -> list[tuple[str, str]]:
        s, config = self.session, self.session.config
        return [
            ("model", config.model),
            ("provider", f"{config.provider.name} ({config.provider.base_url})"),
            ("sandbox", config.sandbox_mode),
            ("approvals", config.approval_policy),
            ("cwd", str(s.cwd)),
            ("session", s.thread_id + ("" if s.writer is not None else " (not recorded)")),
            ("tokens used", f"{self.meter.tokens:,}"),
            ("cost", _cost_row(self.meter.cost, self.session.thread.price)),
            ("context used", self.meter.context_text(short=False)),
        ]

    async def switch(self, resume: str | None) -> None:
        base = self.options.session
        await self._close()
        self._session = None
        await self._open(replace(base, resume=resume, local=None))

    async def choose(self, message: str, options: Sequence[tuple[str, str]]) -> str | None:
        from prompt_toolkit.shortcuts.choice_input import ChoiceInput

        ask: ChoiceInput[str] = ChoiceInput(message=message, options=list(options))
        await self.screen.flush()
        try:
            return await ask.prompt_async()
        except (KeyboardInterrupt, EOFError):
            return None

    async def pick_session(self) -> str | None:
        from agentrt.interactive.picker import pick_session

        await self.screen.flush()
        return await pick_session(self.session.setup.home, self.session.cwd, but=self.session.thread_id)

    async def _ask(self, request: ApprovalRequest) -> None:
        self.view.flush()
        width = _width()
        self.screen.write(
            approval_text(request.command, request.cwd, request.reason, width=width, color=self.options.color)
        )
        self.view.notice(CHOICES, style="bold yellow")
        await self.screen.flush()

    def _redraw(self) -> None:
        from prompt_toolkit.application import get_app_or_none

        app = get_app_or_none()
        if app is not None:
            app.invalidate()


def _cost_row(cost: float | None, price: object) -> str:
    from agentrt.agent.cost import cost_text

    if price is False:
        return "not tracked (feature cost_tracking is off)"
    if price is None:
        return "unknown (no price for this model; add [model_prices.NAME] to config.toml)"
    return cost_text(cost if cost is not None else 0.0)


def _width() -> int:
    return shutil.get_terminal_size((100, 30)).columns


def _reason(exc: Exception) -> str:
    """One line for an error shown in the session: the message, and the type where it says more."""
    text = " ".join(str(exc).split())
    if isinstance(exc, ValueError | OSError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 80 else line[:79] + "…"
