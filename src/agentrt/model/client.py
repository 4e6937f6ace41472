"""``OpenAIClient``: the ``Model`` for any OpenAI-compatible endpoint, over Chat Completions or Responses.

The client owns connections, retries and request headers; ``Exchange`` (``exchange.py``) owns one
response; the endpoint's ``WireFormat`` (``wire.py``: ``ChatWire`` or ``ResponsesWire``) owns the
request path and body and the folding of the response's events.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from agentrt.messages import Completion, Message, StreamEvent
from agentrt.model.endpoint import Endpoint, Timeouts
from agentrt.model.errors import (
    BadRequest,
    ConnectError,
    ModelError,
    ModelTimeout,
    RateLimited,
    error_for_status,
)
from agentrt.model.exchange import Exchange
from agentrt.model.http import ConnectionPool, HttpConnection, Origin, build_request, fetch
from agentrt.model.retry import RetryPolicy
from agentrt.model.wire import wire_for

T = TypeVar("T")


class OpenAIClient:
    """Streams completions; retries what is worth retrying, within the policy's bounds.

    ``endpoint.wire_api`` picks the wire: ``"chat"`` posts to ``{base}/chat/completions``,
    ``"responses"`` to ``{base}/responses`` (history and tools mapped by ``agentrt.model.responses``).
    Either way the caller gets the same ``Completion`` and deltas. ``endpoint.headers`` go with every
    request, after the client's own (see ``request_headers``).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.name = endpoint.model
        self.origin = Origin.parse(endpoint.base_url)
        self.wire = wire_for(endpoint.wire_api)  # only clients that speak Responses load its module
        self.url = endpoint.base_url.rstrip("/") + self.wire.path
        self.retry = retry or RetryPolicy()
        self.timeouts = timeouts or Timeouts()
        self.params = dict(params or {})
        self._pool = ConnectionPool(self.timeouts.connect_s)
        self._rng = random.Random(seed)
        self.simulator_detected = False
        """Set by ``list_models`` when the server said it is agentrt's simulator."""
        self._headers = request_headers(endpoint)

    async def complete(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> Completion:
        async def once() -> Completion:
            conn, exchange, reused = await self._open(messages, tools, want_events=False)
            try:
                return await self._finish(conn, exchange)
            except ConnectError:
                if not reused or conn.got_bytes:
                    raise
            # The server had closed the idle keep-alive connection: send again on a fresh one.
            conn, exchange, _ = await self._open(messages, tools, want_events=False, fresh=True)
            return await self._finish(conn, exchange)

        attempts = 0

        async def counted() -> Completion:
            nonlocal attempts
            attempts += 1
            return await once()

        completion = await self._with_retries(counted)
        return replace(completion, attempts=attempts) if attempts > 1 else completion

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()
    ) -> AsyncIterator[StreamEvent]:
        """Deltas as they arrive, then the ``Completion``.

        Retries happen only while nothing has been yielded: a failure before the first delta is
        retried through ``complete`` (whose result is yielded alone); a failure after it is raised.
        """

        async def once() -> tuple[HttpConnection, Exchange, bool]:
            return await self._open(messages, tools, want_events=True)

        conn, exchange, _ = await self._with_retries(once)
        yielded = False
        try:
            while not exchange.result.done() or exchange.events:
                await exchange.wait()
                for event in exchange.take_events():
                    yielded = True
                    yield event
        finally:
            if not exchange.result.done():
                conn.abort()
                exchange.fail(ModelTimeout("the consumer stopped reading"))
        try:
            completion = await self._finish(conn, exchange)
        except ModelError:
            if yielded:
                raise
            completion = await self.complete(messages, tools)
        yield completion

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
        request = build_request(self.origin, "POST", self.wire.path, self._headers, body)
        conn = None if fresh else self._pool.take_idle(self.origin)
        reused = conn is not None
        if conn is None:
            conn = await self._pool.connect(self.origin)
        exchange = Exchange(self.url, self.timeouts, self.wire, want_events)
        conn.send(request, exchange)
        return conn, exchange, reused

    async def _finish(self, conn: HttpConnection, exchange: Exchange) -> Completion:
        try:
            completion = await exchange.result
        except BaseException:
            conn.abort()
            exchange.fail(ModelTimeout("cancelled"))
            raise
        self._pool.release(self.origin, conn)
        return completion

    # -- retries --------------------------------------------------------------------------------
    async def _with_retries(self, attempt: Callable[[], Awaitable[T]]) -> T:
        loop = asyncio.get_running_loop()
        started = loop.time()
        retries = 0
        while True:
            try:
                return await attempt()
            except BadRequest as exc:
                if self.wire.fall_back(exc):  # e.g. an older server that rejects stream_options
                    continue
                raise
            except ModelError as exc:
                if not exc.retryable or retries >= self.retry.max_retries:
                    raise
                retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
                delay = self.retry.delay(retries, retry_after, self._rng)
                if loop.time() - started + delay > self.retry.budget_s:
                    raise
                retries += 1
                await asyncio.sleep(delay)


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
