"""Streaming client for OpenAI-compatible Chat Completions (``POST {base}/chat/completions``).

One request is an *exchange*: its response is parsed inside the connection's callbacks (HTTP framing,
then SSE, then ``json.loads`` per chunk) and folded into one ``Completion`` as it arrives. ``complete``
waits only for the end; ``stream`` is woken once per batch of deltas that arrived together.
A stream that ends without ``data: [DONE]`` is a ``TruncatedStream`` and its partial text is dropped.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from agentrt.model.errors import (
    MalformedResponse,
    ModelError,
    ModelTimeout,
    TruncatedStream,
    error_for_status,
)
from agentrt.model.http import ResponseHead
from agentrt.model.retry import parse_retry_after
from agentrt.model.sse import SSEParser
from agentrt.model.types import Completion, StreamEvent, TextDelta, ToolCall, ToolCallDelta, Usage

WIRE_APIS = ("chat", "responses")
"""The request protocols an ``Endpoint`` can speak."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    model: str
    api_key: str | None = None
    simulated: bool = False
    """True when the endpoint is agentrt's own simulator; every report says so."""
    wire_api: str = "chat"
    """``"chat"``: ``POST {base}/chat/completions``; ``"responses"``: ``POST {base}/responses``."""

    def __post_init__(self) -> None:
        if self.wire_api not in WIRE_APIS:
            raise ValueError(f"unknown wire_api {self.wire_api!r}; expected one of {', '.join(WIRE_APIS)}")


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect_s: float = 10.0
    headers_s: float = 300.0
    """From sending the request to the response headers."""
    idle_s: float = 120.0
    """Longest gap between two SSE data events (keep-alive comments do not count)."""


@dataclass(slots=True)
class _ToolAcc:
    id: str = ""
    name: str = ""
    args: list[str] = field(default_factory=list)


class _Exchange:
    """The sink of one response: folds the stream into a ``Completion`` and enforces the idle timer.

    Subclasses that speak another wire override ``_on_event`` and ``_finish_plain`` (and, as needed,
    ``_make_usage`` and ``_completion``); the timers, waking and delta bookkeeping stay here.
    """

    _TERMINAL = "[DONE]"
    """The event that marks a complete stream, as named in a ``TruncatedStream`` message."""

    def __init__(self, url: str, timeouts: Timeouts, want_events: bool) -> None:
        self._loop = asyncio.get_running_loop()
        self.url = url
        self.timeouts = timeouts
        self.result: asyncio.Future[Completion] = self._loop.create_future()
        self.events: list[StreamEvent] | None = [] if want_events else None
        self._wake: asyncio.Future[None] | None = None
        self._t0 = self._last = self._loop.time()
        self._limit = timeouts.headers_s
        self._timer = self._loop.call_later(self._limit, self._check_idle)
        self._head: ResponseHead | None = None
        self._raw = bytearray()
        self._parser = SSEParser(self._on_event)
        self._content: list[str] = []
        self._tools: dict[int, _ToolAcc] = {}
        self._deltas = 0
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None
        self._ttft: float | None = None
        self._done = False

    # -- BodySink -------------------------------------------------------------------------------
    def start(self, head: ResponseHead) -> None:
        self._head = head
        self._last = self._loop.time()
        self._limit = self.timeouts.idle_s
        self._timer.cancel()  # the headers deadline is met; the idle deadline starts now
        self._timer = self._loop.call_later(self._limit, self._check_idle)

    def feed(self, data: bytes) -> None:
        if self.result.done():
            return
        assert self._head is not None
        if self._head.status != 200 or "event-stream" not in self._head.headers.get("content-type", ""):
            if len(self._raw) < 1 << 20:
                self._raw += data
            return
        try:
            self._parser.feed(data)
        except ModelError as exc:
            self.fail(exc)

    def end(self) -> None:
        if self.result.done():
            return
        head = self._head
        assert head is not None
        body = self._raw.decode("utf-8", "replace")
        if head.status != 200:
            retry_after = parse_retry_after(head.headers.get("retry-after"), time.time())
            self.fail(error_for_status(head.status, body, url=self.url, retry_after=retry_after))
        elif "event-stream" not in head.headers.get("content-type", ""):
            self._finish_plain(body)
        elif not self._done:
            self.fail(
                TruncatedStream(f"stream from {self.url} ended before its terminal {self._TERMINAL} event")
            )
        else:
            self._resolve()

    def fail(self, exc: ModelError) -> None:
        self._timer.cancel()
        if not self.result.done():
            self.result.set_exception(exc)
        self._poke()

    # -- folding --------------------------------------------------------------------------------
    def _on_event(self, _name: str, data: str) -> None:
        self._last = self._loop.time()
        if self._done or self.result.done():
            return
        if data == "[DONE]":
            self._done = True
            return
        try:
            chunk = json.loads(data)
            if "error" in chunk:
                raise _server_error(chunk["error"], self.url)
            for choice in chunk.get("choices") or ():
                self._on_choice(choice)
            if chunk.get("usage"):
                self._usage = chunk["usage"]
        except ModelError as exc:
            self.fail(exc)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            self.fail(MalformedResponse(f"malformed stream chunk from {self.url}: {data[:120]!r} ({exc})"))

    def _on_choice(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta") or {}
        text = delta.get("content")
        if text:
            self._content.append(text)
            self._got_delta(TextDelta(text))
        for tc in delta.get("tool_calls") or ():
            self._on_tool_delta(tc)
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]

    def _on_tool_delta(self, tc: dict[str, Any]) -> None:
        index = int(tc.get("index", 0))
        acc = self._tools.setdefault(index, _ToolAcc())
        fn = tc.get("function") or {}
        if tc.get("id"):
            acc.id = tc["id"]
        if fn.get("name"):
            acc.name += fn["name"]
        args = fn.get("arguments") or ""
        if args:
            acc.args.append(args)
        self._got_delta(ToolCallDelta(index, tc.get("id"), fn.get("name"), args))

    def _got_delta(self, event: StreamEvent) -> None:
        self._deltas += 1
        if self._ttft is None:
            self._ttft = self._loop.time() - self._t0
        if self.events is not None:
            self.events.append(event)
            self._poke()

    def _resolve(self) -> None:
        self._timer.cancel()
        self.result.set_result(self._completion())
        self._poke()

    def _completion(self) -> Completion:
        calls = tuple(
            ToolCall(a.id or f"call_{i}", a.name, "".join(a.args)) for i, a in sorted(self._tools.items())
        )
        return Completion(
            content="".join(self._content),
            tool_calls=calls,
            finish_reason=self._finish,
            usage=self._make_usage(),
            ttft_s=self._ttft,
            total_s=self._loop.time() - self._t0,
        )

    def _make_usage(self) -> Usage:
        u = self._usage
        if u:
            return Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
        return Usage(0, self._deltas, counted=True)

    def _finish_plain(self, body: str) -> None:
        """A server that ignored ``stream: true`` and sent one JSON completion."""
        try:
            doc = json.loads(body)
            msg = doc["choices"][0]["message"]
            self._finish = doc["choices"][0].get("finish_reason")
            self._usage = doc.get("usage")
            self._content = [msg.get("content") or ""]
            for i, tc in enumerate(msg.get("tool_calls") or ()):
                fn = tc["function"]
                self._tools[i] = _ToolAcc(tc.get("id", ""), fn["name"], [fn.get("arguments") or ""])
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            self.fail(MalformedResponse(f"unexpected response from {self.url}: {body[:120]!r}"))
            del exc
            return
        self._ttft = self._loop.time() - self._t0
        self._resolve()

    # -- waking and timing ----------------------------------------------------------------------
    async def wait(self) -> None:
        """Until new events arrived or the exchange ended."""
        if (self.events or self.result.done()) or self.events is None:
            return
        self._wake = self._loop.create_future()
        await self._wake

    def _poke(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _check_idle(self) -> None:
        elapsed = self._loop.time() - self._last
        if elapsed < self._limit:
            self._timer = self._loop.call_later(self._limit - elapsed, self._check_idle)
            return
        what = "no response headers" if self._head is None else "the stream went idle"
        self.fail(ModelTimeout(f"{what} for {self._limit:g} s from {self.url}"))


def _server_error(err: Any, url: str) -> ModelError:
    body = json.dumps({"error": err})
    code = str(err.get("code", "")) if isinstance(err, dict) else ""
    status = int(code) if code.isdigit() else 500
    return error_for_status(status, body, url=url)
