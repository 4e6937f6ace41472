"""The coding agent's turn loop: model ↔ tools until the model answers without a tool call.

::

    turn:  user prompt → [model → tool calls → tool outputs]* → model answers (agent_message)

A turn ends early only by raising ``TurnStopped`` (which carries why: a limit, a model error, an
invalid final answer); the caller reports it. Every message added to the history is also handed to
``record`` (the rollout file) at once, so a crash loses no completed item.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentrt.agent.events import DELTA
from agentrt.interfaces import EventSink, Model
from agentrt.model.errors import ModelError
from agentrt.model.types import Completion, Message, TextDelta
from agentrt.tools.plan import todo_item
from agentrt.tools.registry import ToolContext, ToolRegistry

Record = Callable[[str, dict[str, Any]], None]


class TurnStopped(Exception):
    """The turn ended before a final answer. ``reason``: ``max_turns``, ``max_wall_time``,
    ``max_tokens``, ``model_error`` or ``invalid_output``."""

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


@dataclass(slots=True)
class TurnUsage:
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    counted: bool = False
    """The server sent no usage for some reply: its output tokens were counted, its input is unknown."""

    def as_dict(self) -> dict[str, int | bool]:
        out: dict[str, int | bool] = {
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
        }
        if self.counted:
            out["counted"] = True
        return out


class Thread:
    """One conversation: its history, its tools, where it reports and records."""

    def __init__(
        self,
        model: Model,
        tools: ToolRegistry,
        ctx: ToolContext,
        sink: EventSink,
        *,
        record: Record = lambda kind, payload: None,
        limits: Limits = Limits(),
        history: list[Message] | None = None,
        check_final: Callable[[str], str | None] = lambda text: None,
    ) -> None:
        self.model, self.tools, self.ctx, self.sink = model, tools, ctx, sink
        self.record, self.limits, self.check_final = record, limits, check_final
        self.messages: list[Message] = list(history or [])

    def add(self, message: Message) -> None:
        self.messages.append(message)
        self.record("response_item", message)

    async def run_turn(self, prompt: str) -> str:
        """Run one user turn to its final answer; raises ``TurnStopped`` otherwise."""
        self.sink.emit("turn.started", {})
        usage, started = TurnUsage(), time.monotonic()
        self.add({"role": "user", "content": prompt})
        self.record("event_msg", {"type": "user_message", "message": prompt})
        try:
            for _ in range(self.limits.max_turns):
                self._check_limits(started, usage)
                completion = await self._ask(usage)
                self.add(completion.as_message())
                if not completion.tool_calls and self._accept_final(completion.content):
                    return self._finish(completion.content, usage)
                self._interim_text(completion)
                for call in completion.tool_calls:
                    output = await self.tools.dispatch(call, self.ctx)
                    self.add({"role": "tool", "tool_call_id": call.id, "content": output})
            raise TurnStopped(
                "max_turns",
                f"the turn used its {self.limits.max_turns} model requests without a final answer",
            )
        except TurnStopped as stop:
            self._fail(stop)
            raise
        finally:
            self._close_plan()

    async def _ask(self, usage: TurnUsage) -> Completion:
        completion: Completion | None = None
        try:
            async for event in self.model.stream(self.messages, self.tools.specs()):
                if isinstance(event, TextDelta):
                    self.sink.emit(DELTA, {"text": event.text})
                elif isinstance(event, Completion):
                    completion = event
        except ModelError as exc:
            raise TurnStopped("model_error", f"{type(exc).__name__}: {exc.message}") from exc
        assert completion is not None, "a model stream ends with its Completion"
        if completion.reasoning.strip():
            item = {"id": self.ctx.ids.new(), "type": "reasoning", "text": completion.reasoning}
            self.sink.emit("item.completed", {"item": item})
        usage.input_tokens += completion.usage.prompt_tokens
        usage.output_tokens += completion.usage.completion_tokens
        usage.cached_input_tokens += completion.usage.cached_tokens
        usage.counted |= completion.usage.counted
        self.record("event_msg", {"type": "token_count", "info": usage.as_dict()})
        return completion

    def _accept_final(self, text: str) -> bool:
        problem = self.check_final(text)
        if problem is None:
            return True
        self.add(
            {
                "role": "user",
                "content": f"Your final answer is not valid: {problem}. Answer again, correctly.",
            }
        )
        return False

    def _interim_text(self, completion: Completion) -> None:
        if completion.tool_calls and completion.content.strip():
            item = {"id": self.ctx.ids.new(), "type": "agent_message", "text": completion.content}
            self.sink.emit("item.completed", {"item": item})

    def _finish(self, text: str, usage: TurnUsage) -> str:
        self.sink.emit(
            "item.completed", {"item": {"id": self.ctx.ids.new(), "type": "agent_message", "text": text}}
        )
        self.record("event_msg", {"type": "agent_message", "message": text})
        self._close_plan()
        self.sink.emit("turn.completed", {"usage": usage.as_dict()})
        return text

    def _check_limits(self, started: float, usage: TurnUsage) -> None:
        if time.monotonic() - started > self.limits.max_wall_s:
            raise TurnStopped(
                "max_wall_time", f"the turn ran past its wall-time limit of {self.limits.max_wall_s:g} s"
            )
        total = usage.input_tokens + usage.output_tokens
        if self.limits.max_tokens is not None and total >= self.limits.max_tokens:
            raise TurnStopped(
                "max_tokens", f"the turn used {total} tokens, reaching its limit of {self.limits.max_tokens}"
            )

    def _fail(self, stop: TurnStopped) -> None:
        self.record("event_msg", {"type": "turn_aborted", "reason": stop.reason, "message": stop.message})
        self.sink.emit("turn.failed", {"error": {"message": stop.message}})

    def _close_plan(self) -> None:
        plan = self.ctx.plan
        if plan.item_id is not None:
            self.sink.emit("item.completed", {"item": todo_item(plan.item_id, plan.items)})
            plan.item_id = None


def history_from_rollout(items: list[tuple[str, dict[str, Any]]]) -> list[Message]:
    """The model history a rollout recorded, ready to continue.

    A tool call whose output was never recorded (the process died while the tool ran) gets an
    output saying so, because an API refuses a history with an unanswered call.
    """
    messages: list[Message] = []
    pending: dict[str, str] = {}
    for kind, payload in items:
        if kind != "response_item":
            continue
        if payload.get("role") != "tool":
            _answer_missing(messages, pending)
        messages.append(payload)
        for call in payload.get("tool_calls") or ():
            pending[call["id"]] = call["function"]["name"]
        if payload.get("role") == "tool":
            pending.pop(payload.get("tool_call_id", ""), None)
    _answer_missing(messages, pending)
    return messages


def _answer_missing(messages: list[Message], pending: dict[str, str]) -> None:
    for call_id, name in pending.items():
        note = f"error: the session ended while {name} was running; its result is unknown"
        messages.append({"role": "tool", "tool_call_id": call_id, "content": note})
    pending.clear()
