"""One retry policy for every face: ``stream()`` retries as ``complete()`` does, within one budget per call.

Against the real simulated server on loopback: a stream that breaks after its first delta is sent again
(``StreamRestart`` tells the consumer to drop what it got), ``Retry-After`` is honoured on every retry
and the request count stays within ``max_retries``, and a hung or stalled attempt is retried.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agentrt.config import load_config
from agentrt.messages import (
    Completion,
    Message,
    ReasoningDelta,
    RequestRetry,
    StreamEvent,
    StreamRestart,
    TextDelta,
    ToolCallDelta,
)
from agentrt.model.client import OpenAIClient
from agentrt.model.endpoint import Endpoint, Timeouts
from agentrt.model.errors import ModelTimeout, RateLimited, TruncatedStream
from agentrt.model.factory import build_client
from agentrt.model.retry import RetryPolicy
from agentrt.model.sim import SimConfig, SimServer, start_sim_server
from agentrt.model.text_tools import TextToolModel

T = TypeVar("T")
TEXT = "alpha beta gamma delta epsilon zeta eta theta"
MESSAGES = [{"role": "user", "content": "hi"}]
FAST = RetryPolicy(max_retries=3, stream_max_retries=3, base_delay_s=0.01, max_delay_s=0.05, budget_s=5.0)
SHORT = Timeouts(connect_s=2.0, headers_s=0.4, idle_s=0.4)
CALL = {"name": "shell", "arguments": {"command": ["echo", "one two three four five six"]}}


def config(**kw: Any) -> SimConfig:
    base: dict[str, Any] = {"policy": "script", "script": ({"content": TEXT},), "retry_after_s": 0.05}
    base.update(kw)
    return SimConfig(**base)


def with_server(
    sim: SimConfig,
    body: Callable[[SimServer, OpenAIClient], Awaitable[T]],
    *,
    retry: RetryPolicy = FAST,
    timeouts: Timeouts = SHORT,
    wire_api: str = "chat",
) -> T:
    async def main() -> T:
        async with await start_sim_server(sim) as server:
            endpoint = Endpoint(server.base_url, sim.model, wire_api=wire_api)
            client = OpenAIClient(endpoint, retry=retry, timeouts=timeouts, seed=1)
            try:
                return await asyncio.wait_for(body(server, client), 30)
            finally:
                await client.aclose()

    return asyncio.run(main())


def request_times(server: SimServer) -> list[float]:
    """When each completion request reached the server (loop time), recorded from now on."""
    times: list[float] = []
    handle = server.app.handle
    loop = asyncio.get_running_loop()

    def spy(req: Any) -> Any:
        times.append(loop.time())
        return handle(req)

    server.app.handle = spy  # type: ignore[method-assign]
    return times


async def events_of(client: OpenAIClient, tools: Sequence[dict[str, Any]] = ()) -> list[StreamEvent]:
    return [e async for e in client.stream(MESSAGES, tools)]


def after_last_restart(events: list[StreamEvent]) -> list[StreamEvent]:
    restarts = [i for i, e in enumerate(events) if isinstance(e, StreamRestart)]
    return events[restarts[-1] + 1 :] if restarts else events


# -- 4: a stream that fails after its first delta is sent again ------------------------------------------
@pytest.mark.parametrize("fault", ["truncate", "disconnect", "stall"])
@pytest.mark.parametrize("wire_api", ["chat", "responses"])
def test_a_stream_broken_after_its_first_delta_is_retried(fault: str, wire_api: str) -> None:
    async def body(server: SimServer, client: OpenAIClient) -> tuple[list[StreamEvent], int]:
        return await events_of(client), server.requests

    events, requests = with_server(config(fault=fault, fault_count=1), body, wire_api=wire_api)
    assert requests == 2
    [restart] = [e for e in events if isinstance(e, StreamRestart)]
    broken = events[: events.index(restart)]
    assert broken and all(isinstance(e, TextDelta) for e in broken)  # the first attempt did stream
    assert restart.attempt == 1 and restart.max_attempts == FAST.stream_max_retries
    assert restart.delay_s >= 0 and restart.reason
    final = events[-1]
    assert isinstance(final, Completion) and final.content == TEXT and final.attempts == 2
    retried = after_last_restart(events)[:-1]
    assert "".join(e.text for e in retried if isinstance(e, TextDelta)) == TEXT
    assert not any(isinstance(e, Completion) for e in events[:-1])


@pytest.mark.parametrize("wire_api", ["chat", "responses"])
def test_no_tool_call_of_a_broken_attempt_reaches_the_completion(wire_api: str) -> None:
    """The fault strikes inside the tool call's arguments; the completion holds only the retried call."""
    reply = {"content": "", "tool_calls": [CALL]}
    tools = [{"type": "function", "function": {"name": "shell"}}]

    async def body(server: SimServer, client: OpenAIClient) -> list[StreamEvent]:
        return await events_of(client, tools)

    sim = config(script=(reply,), fault="disconnect", fault_count=1)
    events = with_server(sim, body, wire_api=wire_api)
    restart = next(i for i, e in enumerate(events) if isinstance(e, StreamRestart))
    assert any(isinstance(e, ToolCallDelta) for e in events[:restart])  # a call had begun
    final = events[-1]
    assert isinstance(final, Completion)
    [call] = final.tool_calls
    assert call.name == "shell" and json.loads(call.arguments) == CALL["arguments"]
    assert final.content == ""


def test_stream_retries_are_bounded_by_stream_max_retries() -> None:
    policy = RetryPolicy(max_retries=0, stream_max_retries=2, base_delay_s=0.01, max_delay_s=0.02)

    async def body(server: SimServer, client: OpenAIClient) -> tuple[list[StreamEvent], int]:
        seen: list[StreamEvent] = []
        with pytest.raises(TruncatedStream):
            async for e in client.stream(MESSAGES):
                seen.append(e)  # noqa: PERF401 - the stream raises at the end
        return seen, server.requests

    seen, requests = with_server(config(fault="truncate", fault_count=-1), body, retry=policy)
    assert requests == 3
    restarts = [e for e in seen if isinstance(e, StreamRestart)]
    assert [(r.attempt, r.max_attempts) for r in restarts] == [(1, 2), (2, 2)]
    assert not any(isinstance(e, Completion) for e in seen)


def test_stream_and_request_retries_have_separate_counts() -> None:
    """``max_retries=0`` still lets a broken stream be sent again; it does not let a 429 be."""
    policy = RetryPolicy(max_retries=0, stream_max_retries=5, base_delay_s=0.01, max_delay_s=0.02)

    async def broken(server: SimServer, client: OpenAIClient) -> Completion:
        final = (await events_of(client))[-1]
        assert isinstance(final, Completion)
        return final

    assert with_server(config(fault="truncate", fault_count=1), broken, retry=policy).content == TEXT

    async def limited(server: SimServer, client: OpenAIClient) -> int:
        with pytest.raises(RateLimited):
            await events_of(client)
        return server.requests

    assert with_server(config(fault="rate_limit", fault_count=-1), limited, retry=policy) == 1


def test_complete_counts_a_broken_stream_as_a_stream_retry() -> None:
    policy = RetryPolicy(max_retries=0, stream_max_retries=1, base_delay_s=0.01, max_delay_s=0.02)

    async def body(server: SimServer, client: OpenAIClient) -> tuple[Completion, int]:
        return await client.complete(MESSAGES), server.requests

    completion, requests = with_server(config(fault="disconnect", fault_count=1), body, retry=policy)
    assert completion.content == TEXT and completion.attempts == 2 and requests == 2


def test_a_malformed_stream_is_not_retried() -> None:
    async def body(server: SimServer, client: OpenAIClient) -> int:
        with pytest.raises(Exception, match="malformed"):
            await events_of(client)
        return server.requests

    assert with_server(config(fault="malformed", fault_count=-1), body) == 1


class _Restarting:
    """A model whose stream breaks once: text, a restart, then the whole reply again."""

    name = "restarting"

    def __init__(self, first: str, reply: str) -> None:
        self.first, self.reply = first, reply

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()
    ) -> AsyncIterator[StreamEvent]:
        for word in self.first.split(" "):
            yield TextDelta(word + " ")
        yield ReasoningDelta("thinking")
        yield StreamRestart(attempt=1, max_attempts=5, reason="TruncatedStream: cut", delay_s=0.0)
        for word in self.reply.split(" "):
            yield TextDelta(word + " ")
        yield Completion("".join(w + " " for w in self.reply.split(" ")))

    async def complete(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> Completion:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


def test_text_tool_model_passes_a_restart_on_and_starts_its_text_again() -> None:
    tools = [{"type": "function", "function": {"name": "shell", "parameters": {}}}]
    model = TextToolModel(_Restarting("partial words here", "the whole answer"))

    async def main() -> list[StreamEvent]:
        return [e async for e in model.stream(MESSAGES, tools)]

    events = asyncio.run(main())
    restart = next(i for i, e in enumerate(events) if isinstance(e, StreamRestart))
    after = events[restart + 1 :]
    final = after[-1]
    assert isinstance(final, Completion)
    assert "".join(e.text for e in after if isinstance(e, TextDelta)) == final.content
    assert final.content.strip() == "the whole answer"


# -- 5: Retry-After on every retry, one request budget per call -------------------------------------------
def test_stream_honours_retry_after_and_sends_no_request_past_max_retries() -> None:
    policy = RetryPolicy(max_retries=2, stream_max_retries=5, base_delay_s=0.001, max_delay_s=0.002)

    async def body(server: SimServer, client: OpenAIClient) -> list[float]:
        times = request_times(server)
        with pytest.raises(RateLimited):
            await events_of(client)
        return times

    times = with_server(config(fault="rate_limit", fault_count=-1, retry_after_s=0.2), body, retry=policy)
    assert len(times) == 3  # the first request and max_retries retries: no extra one
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= 0.19 for gap in gaps), gaps


def test_stream_waits_retry_after_before_its_first_retry() -> None:
    async def body(server: SimServer, client: OpenAIClient) -> tuple[list[float], list[StreamEvent]]:
        times = request_times(server)
        return times, await events_of(client)

    times, events = with_server(config(fault="rate_limit", fault_count=1, retry_after_s=0.25), body)
    assert len(times) == 2 and times[1] - times[0] >= 0.24
    assert not any(isinstance(e, StreamRestart) for e in events)  # nothing was streamed: nothing to void
    final = events[-1]
    assert isinstance(final, Completion) and final.attempts == 2


# -- 6: a hung or stalled attempt is retried ---------------------------------------------------------------
@pytest.mark.parametrize("fault", ["hang", "stall"])
@pytest.mark.parametrize("face", ["stream", "complete"])
def test_a_hung_or_stalled_first_attempt_is_retried_and_succeeds(fault: str, face: str) -> None:
    timeouts = Timeouts(connect_s=2.0, headers_s=0.3, idle_s=0.3)
    policy = RetryPolicy(base_delay_s=0.01, max_delay_s=0.05, budget_s=1.0)

    async def body(server: SimServer, client: OpenAIClient) -> tuple[Completion, int]:
        if face == "complete":
            return await client.complete(MESSAGES), server.requests
        final = (await events_of(client))[-1]
        assert isinstance(final, Completion)
        return final, server.requests

    completion, requests = with_server(
        config(fault=fault, fault_count=1), body, retry=policy, timeouts=timeouts
    )
    assert completion.content == TEXT and requests == 2


def test_the_time_budget_bounds_fruitless_attempts_but_not_streams_that_made_progress() -> None:
    """Each stall streamed deltas, so each restarts the budget's clock: every stream retry is made."""
    timeouts = Timeouts(connect_s=2.0, headers_s=0.25, idle_s=0.25)
    policy = RetryPolicy(
        max_retries=4, stream_max_retries=2, base_delay_s=0.01, max_delay_s=0.02, budget_s=0.4
    )

    async def stalls(server: SimServer, client: OpenAIClient) -> int:
        with pytest.raises(ModelTimeout, match="idle"):
            await events_of(client)
        return server.requests

    assert with_server(config(fault="stall", fault_count=-1), stalls, retry=policy, timeouts=timeouts) == 3

    async def hangs(server: SimServer, client: OpenAIClient) -> int:
        with pytest.raises(ModelTimeout, match="headers"):
            await events_of(client)
        return server.requests

    # 0.25 s + a retry fits in 0.4 s; a third attempt would start past it.
    assert with_server(config(fault="hang", fault_count=-1), hangs, retry=policy, timeouts=timeouts) == 2


def test_default_budget_outlasts_the_default_timeouts(tmp_path: Path) -> None:
    """With a provider's defaults a hung (no headers) or stalled attempt is retried, not given up on."""
    for provider in ("openai", "local"):
        cfg = load_config(tmp_path, env={}, overrides=[f"model_provider={provider}"])
        client = build_client(cfg.provider, cfg.model, {"OPENAI_API_KEY": "k"})
        retry, timeouts = client.retry, client.timeouts
        longest = max(timeouts.headers_s, timeouts.idle_s)
        assert timeouts.idle_s == cfg.provider.stream_idle_timeout_ms / 1000 == 300  # Codex's default
        assert retry.budget_s >= 2 * (longest + retry.max_delay_s)  # at least two attempts of either kind
        assert (retry.max_retries, retry.stream_max_retries) == (4, 5)  # Codex's defaults


def test_stream_max_retries_is_a_provider_key(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'model_provider = "mine"\n[model_providers.mine]\nbase_url = "http://127.0.0.1:9/v1"\n'
        "stream_max_retries = 9\nrequest_max_retries = 2\nstream_idle_timeout_ms = 2000000\n"
    )
    cfg = load_config(tmp_path, env={})
    client = build_client(cfg.provider, cfg.model, {})
    assert (client.retry.max_retries, client.retry.stream_max_retries) == (2, 9)
    assert client.retry.budget_s >= 2 * 2000  # the budget grows with a longer idle timeout


def test_a_consumer_that_stops_reading_leaves_no_unretrieved_error(caplog: pytest.LogCaptureFixture) -> None:
    """Leaving a stream early aborts its request quietly: no "Future exception was never retrieved"."""

    async def body(server: SimServer, client: OpenAIClient) -> None:
        events = client.stream(MESSAGES)
        async for _ in events:
            break
        await events.aclose()  # type: ignore[attr-defined]

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with_server(config(tps=20), body)
        gc.collect()
    assert "never retrieved" not in caplog.text


def test_a_request_retry_is_announced_before_its_wait() -> None:
    async def body(server: SimServer, client: OpenAIClient) -> list[StreamEvent]:
        return await events_of(client)

    events = with_server(config(fault="rate_limit", fault_count=1, retry_after_s=0.05), body)
    retries = [e for e in events if isinstance(e, RequestRetry)]
    assert len(retries) == 1 and retries[0].attempt == 1 and "RateLimited" in retries[0].reason
    assert retries[0].max_attempts >= 1 and retries[0].delay_s >= 0.04
    assert events.index(retries[0]) == 0 and isinstance(events[-1], Completion)
