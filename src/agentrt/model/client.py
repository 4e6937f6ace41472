"""``OpenAIClient``: the ``Model`` for any OpenAI-compatible endpoint, over Chat Completions or Responses.

The client owns connections, retries and request headers; ``Exchange`` (``exchange.py``) owns one
response; the endpoint's ``WireFormat`` (``wire.py``: ``ChatWire`` or ``ResponsesWire``) owns the
request path and body and the folding of the response's events.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import replace
from typing import Any

from agentrt.messages import Completion, Message, RequestRetry, StreamEvent, StreamRestart
from agentrt.model.endpoint import MAX_REPLY_CHARS, Endpoint, Timeouts
from agentrt.model.errors import (
    BadRequest,
    ConnectError,
    ModelError,
    RateLimited,
    error_for_status,
)
from agentrt.model.exchange import Exchange
from agentrt.model.http import ConnectionPool, HttpConnection, Origin, build_request, fetch
from agentrt.model.retry import RetryBudget, RetryPolicy
from agentrt.model.wire import wire_for


class OpenAIClient:
    """Streams completions; retries what is worth retrying, within the policy's bounds.

    ``endpoint.wire_api`` picks the wire: ``"chat"`` posts to ``{base}/chat/completions``,
    ``"responses"`` to ``{base}/responses`` (history and tools mapped by ``agentrt.model.responses``).
    Either way the caller gets the same ``Completion`` and deltas. ``endpoint.headers`` go with every
    request, after the client's own (see ``request_headers``).

    ``stream`` and ``complete`` retry alike (``RetryPolicy``): one budget per call, counted across
    every attempt. A reply's text may not pass ``max_reply_chars`` (``ReplyTooLarge``, not retried).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
        max_reply_chars: int = MAX_REPLY_CHARS,
        read_interval_s: float = 0.0,
    ) -> None:
        self.endpoint = endpoint
        self.name = endpoint.model
        self.origin = Origin.parse(endpoint.base_url)
        # Only clients that speak Responses load its module.
        self.wire = wire_for(endpoint.wire_api, developer_instructions=endpoint.developer_instructions)
        self.path = self.wire.path + endpoint.query
        self.url = endpoint.base_url.rstrip("/") + self.path
        self.retry = retry or RetryPolicy()
        self.timeouts = timeouts or Timeouts()
        self.params = dict(params or {})
        self.max_reply_chars = max_reply_chars
        """Most characters of text (content, tool-call names and arguments, reasoning) one reply may have."""
        self._pool = ConnectionPool(self.timeouts.connect_s, read_interval_s=read_interval_s)
        """``read_interval_s`` > 0: a ``complete()``'s response, once its first token is in, is read at
        most once per interval (``ReadPacer``); ``stream()`` reads every piece as it arrives."""
        self._rng = random.Random(seed)
        self.simulator_detected = False
        """Set by ``list_models`` when the server said it is agentrt's simulator."""
        self._headers = request_headers(endpoint)

    def with_params(self, **params: Any) -> OpenAIClient:
        """A sibling whose requests carry ``params`` over this client's (e.g. a retry's ``temperature``
        and ``seed``); it shares this client's connections, so close only this one."""
        sibling = copy.copy(self)
        sibling.params = {**self.params, **params}
        return sibling

    async def complete(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> Completion:
        """The ``Completion`` of the reply, after retries as ``stream`` makes them (without the deltas:
        the exchange then never wakes a reader per delta)."""
        async with aclosing(self._attempts(messages, tools, want_events=False)) as attempts:
            async for event in attempts:
                if isinstance(event, Completion):
                    return event
        raise AssertionError("the attempts end with a Completion")  # pragma: no cover

    def stream(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()
    ) -> AsyncIterator[StreamEvent]:
        """Deltas as they arrive, then the ``Completion``; retried as ``RetryPolicy`` says.

        An attempt that fails before the response streamed anything is sent again unseen by the
        consumer. One that fails after it began yields a ``StreamRestart`` (the deltas so far are
        void) before the wait and the new attempt's deltas; the ``Completion`` is the last attempt's
        alone.
        """
        return self._attempts(messages, tools, want_events=True)

    async def _attempts(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], *, want_events: bool
    ) -> AsyncGenerator[StreamEvent, None]:
        """The one retry loop of ``stream`` and ``complete``: one budget across every attempt."""
        loop = asyncio.get_running_loop()
        budget = RetryBudget(self.retry, self._rng, loop.time())
        fresh = False
        while True:
            budget.attempts += not fresh
            conn = exchange = None
            reused = False
            try:
                conn, exchange, reused = await self._open(
                    messages, tools, want_events=want_events, fresh=fresh
                )
                try:
                    while want_events and (not exchange.result.done() or exchange.events):
                        await exchange.wait()
                        for event in exchange.take_events():
                            yield event
                finally:
                    if not exchange.result.done() and want_events:  # the consumer stopped reading
                        conn.abort()
                        exchange.abandon()
                completion = await self._finish(conn, exchange)
            except ModelError as exc:
                fresh = _stale(exc, conn, reused=reused and not fresh)
                if fresh:
                    continue  # the server had closed the idle keep-alive connection: send again on a new one
                delay = self._retry_delay(exc, budget, exchange, loop)
                if delay is None:
                    raise
                reason = f"{type(exc).__name__}: {exc.message}"
                if exchange is not None and exchange.streamed:
                    yield StreamRestart(budget.stream_retries, self.retry.stream_max_retries, reason, delay)
                elif want_events:
                    yield RequestRetry(budget.request_retries, self.retry.max_retries, reason, delay)
                await asyncio.sleep(delay)
                continue
            yield replace(completion, attempts=budget.attempts) if budget.attempts > 1 else completion
            return

    async def list_models(self) -> list[str]:
        """The model ids ``GET {base}/models`` lists; ``[]`` when the server does not say.

        Raises ``ConnectError``/``ModelTimeout`` when the endpoint cannot be reached and ``AuthError``
        when it refuses the key — the checks worth making once before a long run.
        """
        head, body = await fetch(
            self._pool, self.origin, "GET", "/models", self._headers, timeout_s=self.timeouts.connect_s + 20
        )
        self.simulator_detected = head.headers.get("x-agentrt-simulated") == "1"
        if head.status in (401, 403):
            raise error_for_status(
                head.status, body.decode("utf-8", "replace"), url=self.origin_url("/models")
            )
        if head.status != 200:
            return []
        try:
            data = json.loads(body)["data"]
            return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]
        except (ValueError, KeyError, TypeError):
            return []

    def origin_url(self, path: str) -> str:
        return self.endpoint.base_url.rstrip("/") + path

    async def aclose(self) -> None:
        self._pool.close()

    # -- one attempt ----------------------------------------------------------------------------
    async def _open(
        self,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]],
        *,
        want_events: bool,
        fresh: bool = False,
    ) -> tuple[HttpConnection, Exchange, bool]:
        """Send the request on an idle keep-alive connection if there is one, else on a new one."""
        body = self.wire.body(self.endpoint.model, messages, tools, self.params)
        request = build_request(self.origin, "POST", self.path, self._headers, body)
        del body
        conn = None if fresh else self._pool.take_idle(self.origin)
        reused = conn is not None
        if conn is None:
            conn = await self._pool.connect(self.origin)
        exchange = Exchange(self.url, self.timeouts, self.wire, want_events, self.max_reply_chars)
        conn.send(request, exchange)
        return conn, exchange, reused

    async def _finish(self, conn: HttpConnection, exchange: Exchange) -> Completion:
        try:
            completion = await exchange.result
        except BaseException:
            conn.abort()
            exchange.abandon()
            raise
        self._pool.release(self.origin, conn)
        return completion

    # -- retries --------------------------------------------------------------------------------
    def _retry_delay(
        self, exc: ModelError, budget: RetryBudget, exchange: Exchange | None, loop: asyncio.AbstractEventLoop
    ) -> float | None:
        """Seconds to wait before the next attempt after ``exc``; ``None`` when the call gives up.

        A 400 that made the wire change its body (``fall_back``) is sent again at once, uncounted.
        """
        if isinstance(exc, BadRequest) and self.wire.fall_back(exc):
            return 0.0  # e.g. a server that rejects stream_options: its wire dropped them
        if not exc.retryable:
            return None
        retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
        streamed = exchange is not None and exchange.streamed
        return budget.next_delay(retry_after, streamed=streamed, now=loop.time())


def _stale(exc: ModelError, conn: HttpConnection | None, *, reused: bool) -> bool:
    """A reused keep-alive connection the server had closed before it answered: worth one resend."""
    return reused and isinstance(exc, ConnectError) and conn is not None and not conn.got_bytes


def request_headers(endpoint: Endpoint) -> dict[str, str]:
    """The client's own headers, then the endpoint's, each replacing one of the same name (any case).

    The ``Authorization`` built from ``api_key`` stays unless the endpoint's headers set their own.
    """
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream", "User-Agent": "agentrt"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    for name, value in endpoint.headers:
        for own in [k for k in headers if k.lower() == name.lower()]:
            del headers[own]
        headers[name] = value
    return headers
