"""One request's response, whatever its wire: the ``BodySink`` that ``OpenAIClient`` hands a connection.

The response is parsed inside the connection's callbacks (HTTP framing, then SSE) and each event goes
to the wire's ``WireFold`` as it arrives. The exchange itself owns what both wires share: the HTTP
status (a non-200 becomes the typed error for its status), the headers and idle deadlines, TTFT and
total time, and the waking of a streaming consumer: ``complete`` waits only for the end; ``stream`` is
woken once per batch of deltas that arrived together. A stream that ends before its wire's terminal
event is a ``TruncatedStream`` and its partial text is dropped.

What a response may cost is bounded by the client's ``max_reply_chars`` (``ReplyTooLarge`` past it):
the fold holds at most that much text; one SSE event, or a plain JSON body, at most
``body_limit(max_reply_chars)`` bytes. An error body is kept up to 1 MiB and cut there.
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
from agentrt.model.wire import Delta, WireFold, WireFormat, too_large

_ERROR_BODY_LIMIT = 1 << 20
"""Bytes of a non-200 body kept for its error message; the rest is dropped."""


def body_limit(max_reply_chars: int) -> int:
    """Bytes one SSE event or a plain JSON body may take for a reply of ``max_reply_chars``.

    JSON carries the reply's text escaped (a quote or newline takes two bytes, a non-ASCII character
    up to six, ``\\uXXXX``), and a Responses stream repeats the whole text in its ``*.done`` and
    ``response.completed`` events, so one event may be some times the text's size: four times and
    1 MiB more is room for any reply under the cap, and still a bound.
    """
    return 4 * max_reply_chars + (1 << 20)


class Exchange:
    """The sink of one response: status, timers and waking here; parsing and folding in the wire's fold."""

    def __init__(
        self, url: str, timeouts: Timeouts, wire: WireFormat, want_events: bool, max_reply_chars: int
    ) -> None:
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
        self._max_chars = max_reply_chars
        self._max_body = body_limit(max_reply_chars)
        # The parser and the fold call back into this exchange (a reference cycle): ``_drop`` lets go of
        # them when the response is over, so the reply's text is freed with its ``Completion`` and not
        # at the next full garbage collection.
        fold = wire.fold(url, self._emit, max_reply_chars)
        self._fold: WireFold | None = fold
        self._parser: SSEParser | None = SSEParser(fold.event)
        """Hands each event straight to the fold; a ``ModelError`` the fold raises comes out of
        ``feed`` and ends the exchange."""
        self._ttft: float | None = None
        self.streamed = False
        """A delta has arrived: a failure from now on breaks a stream that had begun."""

    # -- BodySink -------------------------------------------------------------------------------
    def start(self, head: ResponseHead) -> None:
        self._head = head
        self._sse = head.status == 200 and "event-stream" in head.headers.get("content-type", "")
        self._last = self._loop.time()
        self._limit = self.timeouts.idle_s
        self._timer.cancel()  # the headers deadline is met; the idle deadline starts now
        self._timer = self._loop.call_later(self._limit, self._check_idle)

    def feed(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or self.result.done():
            return
        if not self._sse:
            head = self._head
            if head is not None and head.status == 200:
                if len(self._raw) + len(data) > self._max_body:
                    self.fail(too_large(self.url, self._max_chars))
                    return
                self._raw += data
            elif len(self._raw) < _ERROR_BODY_LIMIT:
                self._raw += data
            return
        seen = parser.events
        try:
            parser.feed(data)
        except ModelError as exc:
            self.fail(exc)
            return
        if parser.events != seen:  # events came: the stream is not idle (timed once per piece, not per event)
            self._last = self._loop.time()
        if parser.buffered > self._max_body:
            self.fail(too_large(self.url, self._max_chars))

    @property
    def reads_may_wait(self) -> bool:
        """Nobody reads the deltas (``complete``) and the first has come (TTFT is taken): the rest of
        the body may be read late, as the pool's ``ReadPacer`` reads it."""
        return self.events is None and self._ttft is not None

    def end(self) -> None:
        fold = self._fold
        if fold is None or self.result.done():
            return
        head = self._head
        assert head is not None
        if head.status != 200:
            body = self._raw.decode("utf-8", "replace")
            retry_after = parse_retry_after(head.headers.get("retry-after"), time.time())
            self.fail(error_for_status(head.status, body, url=self.url, retry_after=retry_after))
        elif not self._sse:
            try:
                fold.plain(self._raw.decode("utf-8", "replace"))
            except ModelError as exc:
                self.fail(exc)
                return
            self._ttft = self._loop.time() - self._t0
            self._resolve()
        elif not fold.done:
            terminal = fold.terminal
            self.fail(TruncatedStream(f"stream from {self.url} ended before its terminal {terminal} event"))
        else:
            self._resolve()

    def fail(self, exc: ModelError) -> None:
        self._timer.cancel()
        if not self.result.done():
            self.result.set_exception(exc)
        self._drop()
        self._poke()

    def abandon(self) -> None:
        """Nobody waits for this response any more (the consumer left, or was cancelled)."""
        self._timer.cancel()
        if not self.result.done():
            self.result.cancel()  # not an error that no one retrieves
        self._drop()
        self._poke()

    def _drop(self) -> None:
        self._parser = self._fold = None
        self._raw = bytearray()

    # -- from the fold ---------------------------------------------------------------------------
    def _emit(self, delta: Delta) -> None:
        if self._ttft is None:
            self.streamed = True
            if not isinstance(delta, ReasoningDelta):
                self._ttft = self._loop.time() - self._t0  # TTFT: the first text or tool-call delta
                if self.events is None and self._fold is not None:
                    self._fold.mute()  # nobody reads the deltas: the fold stops making them
        if self.events is not None:
            self.events.append(delta)
            self._poke()

    def _resolve(self) -> None:
        self._timer.cancel()
        fold = self._fold
        assert fold is not None
        self.result.set_result(fold.completion(self._ttft, self._loop.time() - self._t0))
        self._drop()
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
