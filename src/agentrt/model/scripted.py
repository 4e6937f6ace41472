"""``ScriptedModel``: an in-process, deterministic ``Model`` that replays a script, for tests.

The script uses the simulator's ``script`` policy format (see ``agentrt.model.sim.policies``): each
reply is a string or ``{"content", "tool_calls", "reasoning", "fault", "fault_count"}``. Unlike that
stateless policy, the script here is a queue: every ``stream`` call takes the next reply, so a test
states the model's side of a conversation in request order and needs no server or socket.

Rules a test can rely on:

* A reply is taken when ``stream`` is called (``complete`` calls it), however that stream then ends:
  completed, failed, cancelled or abandoned. A cancelled turn therefore does not replay; the next
  request gets the next reply.
* A reply with ``fault`` answers its first ``fault_count`` requests (default 1; -1 = every one) with
  that fault and stays at the head of the queue; the request after that gets the reply itself, so a
  retried request succeeds, as it does against the simulator.
* Asking past the end raises :class:`ScriptExhausted` (an ``AssertionError``, so no ``ModelError``
  handler retries it); :meth:`ScriptedModel.assert_complete` fails while replies are left unasked.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from typing import Any

from agentrt.messages import (
    Completion,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from agentrt.model.errors import (
    ConnectError,
    MalformedResponse,
    ModelError,
    ModelTimeout,
    RateLimited,
    ServerError,
    TruncatedStream,
)
from agentrt.model.sim.policies import Reply, parse_reply, prompt_tokens, tokens

FAULT_PREFIX_DELTAS = 2
"""Deltas a mid-stream fault lets through before it strikes (the simulator sends two content chunks)."""

MID_STREAM_FAULTS = frozenset({"stall", "truncate", "disconnect", "malformed"})
"""Faults that strike after some deltas, as the simulator's stream faults do; the rest strike first."""

Delta = TextDelta | ReasoningDelta | ToolCallDelta


class ScriptExhausted(AssertionError):
    """The model was asked for more replies than its script holds: the test's script is too short."""


def fault_error(mode: str, name: str) -> ModelError:
    """The ``ModelError`` the real client raises for the simulator's fault ``mode``."""
    where = f"scripted model {name!r}"
    if mode == "rate_limit":
        body = '{"error": {"message": "Rate limit reached (scripted).", "code": "rate_limit_exceeded"}}'
        # retry_after 0: a retrying caller tries again at once instead of sleeping in a test.
        return RateLimited(f"HTTP 429 from {where}: rate limit reached", 429, body, retry_after=0.0)
    if mode == "server_error":
        body = '{"error": {"message": "The server had an error (scripted).", "code": "server_error"}}'
        return ServerError(f"HTTP 500 from {where}: server error", 500, body)
    if mode == "hang":
        return ModelTimeout(f"{where}: no response in time (scripted hang)")
    if mode == "stall":
        return ModelTimeout(f"{where}: the stream went idle (scripted stall)")
    if mode == "truncate":
        return TruncatedStream(f"{where}: the stream ended before its terminal event (scripted)")
    if mode == "malformed":
        return MalformedResponse(f"{where}: an event that is not JSON (scripted)")
    if mode == "disconnect":
        return ConnectError(f"{where}: connection closed mid-stream (scripted)")
    raise ValueError(f"unknown fault mode {mode!r}")


def _chunks(text: str, size: int) -> Iterator[str]:
    """``text`` as pieces of ``size`` simulated tokens each; they join back to ``text``."""
    words = tokens(text)
    while piece := "".join(itertools.islice(words, size)):
        yield piece


def call_id(step: int, index: int, reply: Reply) -> str:
    """The id of tool call ``index`` of script ``step``: the scripted one, else ``call_<step>_<index>``."""
    given = reply.tool_calls[index].id
    return given if given is not None else f"call_{step}_{index}"


def reply_deltas(step: int, reply: Reply, chunk: int) -> list[Delta]:
    """Every delta of ``reply`` in stream order: reasoning, content, then each tool call."""
    deltas: list[Delta] = [ReasoningDelta(p) for p in _chunks(reply.reasoning, chunk)]
    deltas += [TextDelta(p) for p in _chunks(reply.content, chunk)]
    for i, call in enumerate(reply.tool_calls):
        deltas.append(ToolCallDelta(i, call_id(step, i, reply), call.name, ""))
        deltas += [ToolCallDelta(i, None, None, p) for p in _chunks(call.arguments, chunk)]
    return deltas


class ScriptedModel:
    """A ``Model`` whose k-th request gets the k-th scripted reply, streamed as typed deltas.

    ``chunk`` is how many simulated tokens (see ``tokens``) one delta carries; ``delay_s`` is awaited
    before every delta, so a test can cancel a turn while it streams. ``requests`` holds a copy of
    every request, in order, including ones that failed or ran past the script.
    """

    def __init__(
        self, script: Sequence[object], *, name: str = "scripted", chunk: int = 1, delay_s: float = 0.0
    ) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1 token per delta, got {chunk}")
        if delay_s < 0:
            raise ValueError(f"delay_s must not be negative, got {delay_s}")
        self.name = name
        self.chunk = chunk
        self.delay_s = delay_s
        self.replies = tuple(parse_reply(r, f"script reply {i}") for i, r in enumerate(script))
        self.requests: list[tuple[list[Message], list[dict[str, Any]]]] = []
        self._next = 0
        """Index of the reply at the head of the queue."""
        self._reached = 0
        """How many replies some request has reached (a faulting head counts once it fired)."""
        self._faults_left = [r.fault_count for r in self.replies]

    @property
    def unused(self) -> int:
        """Replies that no request has reached yet."""
        return len(self.replies) - self._reached

    def assert_complete(self) -> None:
        """Fail when the script holds replies that were never asked for: the agent stopped early."""
        if self.unused:
            raise AssertionError(
                f"{self.unused} of {len(self.replies)} scripted replies were never requested "
                f"(the model got {len(self.requests)} requests)"
            )

    def _take(self) -> tuple[int, Reply] | None:
        """The step and reply that answer the request just recorded; ``None`` past the end."""
        step = self._next
        if step >= len(self.replies):
            return None
        self._reached = max(self._reached, step + 1)
        reply = self.replies[step]
        if reply.fault is not None and self._faults_left[step] != 0:
            if self._faults_left[step] > 0:
                self._faults_left[step] -= 1
            return step, reply
        self._next += 1
        return step, replace(reply, fault=None)

    def stream(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()
    ) -> AsyncIterator[StreamEvent]:
        """Record the request, take the next reply now, and return the stream that plays it."""
        self.requests.append((copy.deepcopy(list(messages)), copy.deepcopy(list(tools))))
        taken = self._take()
        if taken is None:
            return self._exhausted()
        return self._play(*taken, prompt_tokens(messages))

    async def complete(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> Completion:
        """Drain ``stream`` and return its ``Completion``."""
        async for event in self.stream(messages, tools):
            if isinstance(event, Completion):
                return event
        raise AssertionError("a scripted stream ended without a Completion")  # pragma: no cover

    async def aclose(self) -> None:
        """Nothing to release: the model is in-process."""

    async def _exhausted(self) -> AsyncIterator[StreamEvent]:
        """A stream that fails where model errors surface: while it is iterated."""
        raise ScriptExhausted(
            f"scripted model {self.name!r} got request {len(self.requests)}, "
            f"but its script holds {len(self.replies)} replies"
        )
        yield  # pragma: no cover  (makes this an async generator)

    async def _play(self, step: int, reply: Reply, prompt: int) -> AsyncIterator[StreamEvent]:
        started = time.perf_counter()
        deltas = reply_deltas(step, reply, self.chunk)
        if reply.fault is not None and reply.fault not in MID_STREAM_FAULTS:
            raise fault_error(reply.fault, self.name)
        if reply.fault is not None:
            deltas = deltas[:FAULT_PREFIX_DELTAS]
        ttft: float | None = None
        for delta in deltas:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            ttft = time.perf_counter() - started if ttft is None else ttft
            yield delta
        if reply.fault is not None:
            raise fault_error(reply.fault, self.name)
        yield self._completion(step, reply, len(deltas), prompt, ttft, time.perf_counter() - started)

    def _completion(
        self, step: int, reply: Reply, n_deltas: int, prompt: int, ttft: float | None, total: float
    ) -> Completion:
        calls = tuple(
            ToolCall(call_id(step, i, reply), c.name, c.arguments) for i, c in enumerate(reply.tool_calls)
        )
        return Completion(
            content=reply.content,
            tool_calls=calls,
            finish_reason="tool_calls" if calls else "stop",
            usage=Usage(prompt_tokens=prompt, completion_tokens=n_deltas),
            ttft_s=ttft,
            total_s=total,
            reasoning=reply.reasoning,
        )
