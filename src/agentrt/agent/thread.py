"""The agent loop: model ↔ tools until the model gives an answer its checker accepts.

::

    turn:  user prompt → [model → tool calls → tool outputs]* → answer → check → (feedback → model …)

Every face drives this one loop: ``agentrt exec``, the benchmark's contract loop (no tools; the check
writes the code and runs its tests) and the coding agent on benchmark tasks. A turn ends early only
by raising ``TurnStopped``, which carries why (a limit, a model error); the caller decides what that
means. Any other exception (a sandbox that cannot start…) still reports ``turn.failed`` first. Everything the loop does is reported as typed events (``agentrt.events``) to one sink: the
history items (``HistoryItem``) are what the rollout file records, so a crash loses no completed item.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agentrt.agent.context import Context, ContextPolicy, estimate
from agentrt.agent.cost import Price
from agentrt.events import (
    AgentMessage,
    AgentMessageDelta,
    ContextCompacted,
    Error,
    EventSink,
    HistoryItem,
    ItemCompleted,
    ItemIds,
    ModelResponse,
    Reasoning,
    Reconnecting,
    TokenUsage,
    TurnCompleted,
    TurnFailed,
    TurnStarted,
    UserMessage,
)
from agentrt.interfaces import Model
from agentrt.messages import Completion, Message, RequestRetry, StreamRestart, TextDelta, ToolCall
from agentrt.model.errors import ContextLengthExceeded, ModelError
from agentrt.tools.paths import PathMap
from agentrt.tools.registry import ToolContext, ToolRegistry

FinalCheck = Callable[[str, ToolContext], Awaitable[str | None]]
"""Judges a final answer (with the tools' context: it may write files, run commands and report them):
``None`` accepts it; a text is sent back to the model as the next user message."""


INTERRUPTED_NOTE = (
    "<turn_aborted>The user interrupted the previous turn before it finished. Commands it was "
    "running were stopped; what it changed stays changed. Wait for the user's next instruction."
    "</turn_aborted>"
)
"""Added to the history when a turn is cancelled (Esc, Ctrl-C): the next request tells the model."""


ATTACHED_NOTE = "The images the tool calls above asked to see (view_image):"
"""Opens the user message that carries a turn's tool attachments, after the calls' results."""


class TurnStopped(Exception):
    """The turn ended without an accepted answer. ``reason``: ``max_turns``, ``max_wall_time``,
    ``max_tokens`` or ``model_error``, or one a tool call raises (``guardian_denied``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Limits:
    max_turns: int = 50
    """Model requests per user turn."""
    max_wall_s: float = 1800.0
    max_tokens: int | None = None
    """Input plus output tokens per user turn."""
    max_cost_usd: float | None = None
    """The session's cost (``price`` known) that no request may carry it past."""


async def accept_any(text: str, ctx: ToolContext) -> str | None:
    return None


class Thread:
    """One conversation: its history, its tools, and the sink it reports to."""

    __slots__ = (
        "check_final", "context", "ctx", "ids", "limits", "messages", "model", "price", "sink", "streaming",
        "tools", "spent", "_just_compacted",
    )  # fmt: skip

    def __init__(
        self,
        model: Model,
        tools: ToolRegistry,
        sink: EventSink,
        *,
        cwd: Path,
        limits: Limits = Limits(),
        history: Sequence[Message] = (),
        check_final: FinalCheck = accept_any,
        streaming: bool = True,
        context: Context | None = None,
        price: Price | None | Literal[False] = False,
        paths: PathMap | None = None,
    ) -> None:
        """``paths``: the container paths of the host's directories, for the tools (a benchmark task's
        ``/app``; ``tools.paths``)."""
        self.model, self.tools, self.sink = model, tools, sink
        self.limits, self.check_final, self.streaming = limits, check_final, streaming
        self.context = context
        """The window's accounting (``None``: the history is sent as it is, never compacted)."""
        self.price = price
        """What the model's tokens cost (``agent.cost``): ``None`` unknown, ``False`` not tracked."""
        self.ids = ItemIds()
        self.ctx = ToolContext(cwd, sink.emit, self.ids, paths or PathMap())
        self.messages: list[Message] = list(history)
        self.spent = TokenUsage()
        """Tokens of the thread's earlier turns (a resumed session's too): usage is reported as the
        thread's total so far, as Codex reports it; limits count the turn alone."""
        self._just_compacted = False

    def add(self, message: Message) -> None:
        self.messages.append(message)
        self._just_compacted = False
        self.sink.emit(HistoryItem(message))

    async def compact(self) -> bool:
        """Replace the history by its compaction (``agent.compact``); False, history kept, when it failed."""
        from agentrt.agent.compact import CompactionFailed, compact

        policy = self.context.policy if self.context is not None else ContextPolicy()
        before = estimate(self.messages)
        try:
            done = await compact(self.model, self.messages, policy, instructions=policy.instructions)
        except CompactionFailed as exc:
            self.sink.emit(Error(f"compaction failed, the full history is kept: {exc}"))
            return False
        self.messages, self._just_compacted = done.history, True
        self.sink.emit(ContextCompacted(done.summary, tuple(done.history), before, estimate(done.history)))
        return True

    async def run_turn(self, prompt: str, parts: Sequence[Mapping[str, Any]] = ()) -> str:
        """Run one user turn to an accepted answer; raises ``TurnStopped`` otherwise. ``parts``
        (images) follow the prompt's text in the user message."""
        self.sink.emit(TurnStarted())
        usage, started = TokenUsage(), time.monotonic()
        content = prompt if not parts else [{"type": "text", "text": prompt}, *map(dict, parts)]
        self.add({"role": "user", "content": content})
        self.sink.emit(UserMessage(prompt))
        try:
            for _ in range(self.limits.max_turns):
                self._check_limits(started, usage)
                completion, usage = await self._ask(usage)
                self.add(completion.as_message())
                if not completion.tool_calls:
                    if await self._accept(completion.content):
                        return self._finish(completion.content, usage)
                    continue
                self._interim_text(completion)
                await self._run_tools(completion.tool_calls)
            raise TurnStopped(
                "max_turns",
                f"the turn used its {self.limits.max_turns} model requests without a final answer",
            )
        except TurnStopped as stop:
            self.spent = self.spent.add(usage)
            self.sink.emit(TurnFailed(stop.message, stop.reason))
            raise
        except asyncio.CancelledError:  # interrupted: recorded, so the model knows on the next turn
            self.spent = self.spent.add(usage)
            self.add({"role": "user", "content": INTERRUPTED_NOTE})
            self.sink.emit(TurnFailed("the turn was interrupted", "interrupted"))
            raise
        except Exception as exc:  # whatever ends a turn ends it with turn.failed, then propagates
            self.sink.emit(TurnFailed(f"{type(exc).__name__}: {exc}", "internal_error"))
            raise
        finally:
            self.tools.end_turn(self.ctx)

    async def _ask(self, usage: TokenUsage) -> tuple[Completion, TokenUsage]:
        try:
            sent, completion = await self._request()
        except ModelError as exc:
            raise TurnStopped("model_error", f"{type(exc).__name__}: {exc.message}") from exc
        if completion.reasoning.strip():
            self.sink.emit(ItemCompleted(Reasoning(self.ids.new(), completion.reasoning)))
        u = completion.usage
        usage = usage.plus(u.prompt_tokens, u.cached_tokens, u.completion_tokens, u.counted)
        window = None
        if self.context is not None:
            self.context.record(sent, u.prompt_tokens, u.completion_tokens, u.counted)
            window = self.context.policy.window
        self.sink.emit(
            ModelResponse(
                completion.ttft_s, completion.total_s, u.prompt_tokens, u.completion_tokens,
                self.spent.add(usage), u.cached_tokens, window,
            )
        )  # fmt: skip
        return completion, usage

    async def _request(self) -> tuple[list[Message], Completion]:
        """One request: what was sent and the reply. A history too large for the window is compacted
        first; a server that finds the request too long anyway gets it once more after a compaction."""
        sent = self._view()
        if self._due(sent) and await self.compact():
            sent = self._view()
        try:
            return sent, await self._completion(sent)
        except ContextLengthExceeded:
            if self.context is None or not self.context.policy.compacting or not await self.compact():
                raise
        sent = self._view()
        return sent, await self._completion(sent)

    def _due(self, sent: list[Message]) -> bool:
        """Compaction is due: ``sent`` would not fit, and the history grew since the last one."""
        return self.context is not None and not self._just_compacted and self.context.over(sent)

    def _view(self) -> list[Message]:
        return self.messages if self.context is None else self.context.view(self.messages)

    async def _completion(self, messages: list[Message]) -> Completion:
        specs = self.tools.specs()
        if not self.streaming:
            return await self.model.complete(messages, specs)
        completion: Completion | None = None
        async for event in self.model.stream(messages, specs):
            if isinstance(event, TextDelta):
                self.sink.emit(AgentMessageDelta(event.text))
            elif isinstance(event, StreamRestart | RequestRetry):  # Codex: "Reconnecting... n/N" either way
                self.sink.emit(Reconnecting(event.attempt, event.max_attempts, event.reason))
            elif isinstance(event, Completion):
                completion = event
        assert completion is not None, "a model stream ends with its Completion"
        return completion

    async def _accept(self, text: str) -> bool:
        feedback = await self.check_final(text, self.ctx)
        if feedback is None:
            return True
        self.add({"role": "user", "content": feedback})
        return False

    async def _run_tools(self, calls: Sequence[ToolCall]) -> None:
        """Run a reply's calls: in order, but a run of read-only calls together; outputs in call order."""
        done = 0
        try:
            for batch in _batches(calls, self.tools.read_only):
                for call, output in zip(batch, await self._run_batch(batch), strict=True):
                    self.add({"role": "tool", "tool_call_id": call.id, "content": output})
                    done += 1
            if attached := self.tools.take_attachments():  # images a tool asked to show the model
                self.add({"role": "user", "content": [{"type": "text", "text": ATTACHED_NOTE}, *attached]})
        except (asyncio.CancelledError, TurnStopped) as exc:
            # Every call gets an output, so the history stays one an API accepts on resume. A stop
            # raised inside a call (the guardian's repeated denials) says why.
            for missed in calls[done:]:
                if isinstance(exc, TurnStopped):
                    note = f"error: the turn stopped while {missed.name} was pending: {exc.message}"
                else:
                    note = f"error: the turn was cancelled while {missed.name} was pending; its result is unknown"
                self.add({"role": "tool", "tool_call_id": missed.id, "content": note})
            raise

    async def _run_batch(self, batch: Sequence[ToolCall]) -> list[str]:
        if len(batch) == 1:
            return [await self.tools.dispatch(batch[0], self.ctx)]
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self.tools.dispatch(call, self.ctx)) for call in batch]
        return [task.result() for task in tasks]

    def _interim_text(self, completion: Completion) -> None:
        if completion.content.strip():
            self.sink.emit(ItemCompleted(AgentMessage(self.ids.new(), completion.content)))

    def _finish(self, text: str, usage: TokenUsage) -> str:
        self.sink.emit(ItemCompleted(AgentMessage(self.ids.new(), text)))
        self.tools.end_turn(self.ctx)
        self.spent = self.spent.add(usage)
        if self.price is False:
            self.sink.emit(TurnCompleted(self.spent, text))
        else:
            price = self.price
            cost, turn = (None, None) if price is None else (price.cost(self.spent), price.cost(usage))
            self.sink.emit(TurnCompleted(self.spent, text, costed=True, cost_usd=cost, turn_cost_usd=turn))
        return text

    def _check_limits(self, started: float, usage: TokenUsage) -> None:
        if time.monotonic() - started > self.limits.max_wall_s:
            raise TurnStopped(
                "max_wall_time", f"the turn ran past its wall-time limit of {self.limits.max_wall_s:g} s"
            )
        if self.limits.max_tokens is not None and usage.total >= self.limits.max_tokens:
            raise TurnStopped(
                "max_tokens",
                f"the turn used {usage.total} tokens, reaching its limit of {self.limits.max_tokens}",
            )
        self._check_cost(usage)

    def _check_cost(self, usage: TokenUsage) -> None:
        """Stop before the request whose input alone would carry the session past ``max_cost_usd``."""
        budget, price = self.limits.max_cost_usd, self.price
        if budget is None or not price:
            return
        spent = price.cost(self.spent.add(usage))
        sent = self.context.expected(self.messages) if self.context is not None else estimate(self.messages)
        if spent + price.cost(TokenUsage(sent, 0, 0)) > budget:
            raise TurnStopped(
                "max_cost",
                f"the next request would take the session past its cost limit of ${budget:g} "
                f"(spent ${spent:.4f}; the request's input alone costs about ${price.cost(TokenUsage(sent)):.4f})",
            )


def _batches(calls: Sequence[ToolCall], read_only: Callable[[str], bool]) -> list[list[ToolCall]]:
    """``calls`` in order, consecutive read-only ones grouped (they may run together), others alone."""
    batches: list[list[ToolCall]] = []
    for call in calls:
        if batches and read_only(call.name) and all(read_only(c.name) for c in batches[-1]):
            batches[-1].append(call)
        else:
            batches.append([call])
    return batches
