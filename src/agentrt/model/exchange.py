"""One request's response, whatever its wire: the ``BodySink`` that ``OpenAIClient`` hands a connection.

The response is parsed inside the connection's callbacks (HTTP framing, then SSE) and each event goes
to the wire's ``WireFold`` as it arrives. The exchange itself owns what both wires share: the HTTP
status (a non-200 becomes the typed error for its status), the headers and idle deadlines, TTFT and
total time, and the waking of a streaming consumer: ``complete`` waits only for the end; ``stream`` is
woken once per batch of deltas that arrived together. A stream that ends before its wire's terminal
event is a ``TruncatedStream`` and its partial text is dropped.
"""

from __future__ import annotations

import asyncio
import time

from agentrt.messages import Completion, ReasoningDelta, StreamEvent
from agentrt.model.endpoint import Timeouts
from agentrt.model.errors import ModelError, ModelTimeout, TruncatedStream, error_for_status
from agentrt.model.http import ResponseHead
from agentrt.model.retry import parse_retry_after
from agentrt.model.sse import SSEParser
from agentrt.model.wire import Delta, WireFormat


class Exchange:
    """The sink of one response: status, timers and waking here; parsing and folding in the wire's fold."""

    def __init__(self, url: str, timeouts: Timeouts, wire: WireFormat, want_events: bool) -> None:
        self._loop = asyncio.get_running_loop()
        self.url = url
        self.timeouts = timeouts
        self.result: asyncio.Future[Completion] = self._loop.create_future()
        self.events: list[StreamEvent] | None = [] if want_events else None
        """Deltas not yet taken by the consumer; ``None`` when nobody streams them."""
        self._wake: asyncio.Future[None] | None = None
        self._t0 = self._last = self._loop.time()
        self._limit = timeouts.headers_s
        self._timer = self._loop.call_later(self._limit, self._check_idle)
        self._head: ResponseHead | None = None
        self._sse = False
        """The response is a 200 event stream: its body goes to the SSE parser, not into ``_raw``."""
        self._raw = bytearray()
        self._parser = SSEParser(self._on_event)
        self._fold = wire.fold(url, self._emit)
        self._ttft: float | None = None

    # -- BodySink -------------------------------------------------------------------------------
    def start(self, head: ResponseHead) -> None:
        self._head = head
        self._sse = head.status == 200 and "event-stream" in head.headers.get("content-type", "")
        self._last = self._loop.time()
        self._limit = self.timeouts.idle_s
        self._timer.cancel()  # the headers deadline is met; the idle deadline starts now
        self._timer = self._loop.call_later(self._limit, self._check_idle)

    def feed(self, data: bytes) -> None:
        if self.result.done():
            return
        if not self._sse:
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
        if head.status != 200:
            body = self._raw.decode("utf-8", "replace")
            retry_after = parse_retry_after(head.headers.get("retry-after"), time.time())
            self.fail(error_for_status(head.status, body, url=self.url, retry_after=retry_after))
        elif not self._sse:
            try:
                self._fold.plain(self._raw.decode("utf-8", "replace"))
            except ModelError as exc:
                self.fail(exc)
                return
            self._ttft = self._loop.time() - self._t0
            self._resolve()
        elif not self._fold.done:
            terminal = self._fold.terminal
            self.fail(TruncatedStream(f"stream from {self.url} ended before its terminal {terminal} event"))
        else:
            self._resolve()

    def fail(self, exc: ModelError) -> None:
        self._timer.cancel()
        if not self.result.done():
            self.result.set_exception(exc)
        self._poke()

    # -- from the parser and the fold -----------------------------------------------------------
    def _on_event(self, name: str, data: str) -> None:
        self._last = self._loop.time()
        if self.result.done():
            return
        try:
            self._fold.event(name, data)
        except ModelError as exc:
            self.fail(exc)

    def _emit(self, delta: Delta) -> None:
        if self._ttft is None and not isinstance(delta, ReasoningDelta):
            self._ttft = self._loop.time() - self._t0  # TTFT: the first text or tool-call delta
        if self.events is not None:
            self.events.append(delta)
            self._poke()

    def _resolve(self) -> None:
        self._timer.cancel()
        self.result.set_result(self._fold.completion(self._ttft, self._loop.time() - self._t0))
        self._poke()

    # -- waking and timing ----------------------------------------------------------------------
    async def wait(self) -> None:
        """Until new events arrived or the exchange ended."""
        if (self.events or self.result.done()) or self.events is None:
            return
        self._wake = self._loop.create_future()
        await self._wake

    def take_events(self) -> list[StreamEvent]:
        """The deltas that arrived since the last call, in order."""
        events = self.events
        if not events:
            return []
        self.events = []
        return events

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
