"""``ReadPacer``: a ``complete()`` whose first token is in is read at most once per interval; a
``stream()`` is read as it arrives. Against the real simulator on loopback, on both event loops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
import uvloop

from agentrt.messages import Completion, TextDelta
from agentrt.model.client import OpenAIClient
from agentrt.model.endpoint import Endpoint
from agentrt.model.http import HttpConnection, ReadPacer
from agentrt.model.sim import SimConfig, SimServer, start_sim_server

T = TypeVar("T")
MESSAGES = [{"role": "user", "content": "hi"}]
WORDS = " ".join(f"w{i}" for i in range(40))


def run_on(loop_name: str, coro: Coroutine[Any, Any, T]) -> T:
    return uvloop.run(coro) if loop_name == "uvloop" else asyncio.run(coro)


def served(
    loop_name: str,
    tps: float,
    text: str,
    interval_s: float,
    body: Callable[[SimServer, OpenAIClient], Awaitable[T]],
    ttft_ms: float = 0.0,
) -> T:
    config = SimConfig(policy="script", script=({"content": text},), tps=tps, ttft_ms=ttft_ms)

    async def main() -> T:
        errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        async with await start_sim_server(config) as server:
            client = OpenAIClient(Endpoint(server.base_url, "agentrt-sim"), read_interval_s=interval_s)
            try:
                result = await body(server, client)
            finally:
                await client.aclose()  # cancels a tick still due
        assert errors == [], errors
        return result

    return run_on(loop_name, main())


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every ``buffer_updated`` (one per read of a socket), counted as the loop makes them."""
    seen: list[int] = []
    original = HttpConnection.buffer_updated

    def counted(self: HttpConnection, nbytes: int) -> None:
        seen.append(nbytes)
        original(self, nbytes)

    monkeypatch.setattr(HttpConnection, "buffer_updated", counted)
    return seen


async def complete(_: SimServer, client: OpenAIClient) -> Completion:
    return await client.complete(MESSAGES)


LOOPS = pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])


@LOOPS
def test_a_paced_complete_reads_a_token_stream_in_a_few_reads_with_the_same_result(
    loop_name: str, reads: list[int]
) -> None:
    plain = served(loop_name, 200, WORDS, 0.0, complete)
    plain_reads = len(reads)
    reads.clear()
    paced = served(loop_name, 200, WORDS, 0.1, complete)
    assert (paced.content, paced.usage, paced.finish_reason) == (
        plain.content,
        plain.usage,
        plain.finish_reason,
    )
    assert paced.content == WORDS
    # 40 tokens 5 ms apart: one read each when read at once; over ~200 ms, a read per 100 ms tick.
    assert plain_reads >= 20, plain_reads
    assert len(reads) <= 10 and 3 * len(reads) <= plain_reads, (len(reads), plain_reads)


@LOOPS
def test_the_first_token_is_read_at_once_and_the_end_at_the_next_tick(loop_name: str) -> None:
    # The head and a role-only chunk come at once, the first token 300 ms later: nothing is held
    # before that token is in.
    paced = served(loop_name, 100, "a b c d e f g h i j", 1.0, complete, ttft_ms=300)
    assert paced.content == "a b c d e f g h i j"
    assert paced.ttft_s is not None and 0.25 <= paced.ttft_s < 0.8, "TTFT is timed before any pacing"
    assert paced.ttft_s + 0.9 <= paced.total_s < 5.0, "the rest waited for the tick an interval later"


@LOOPS
def test_a_stream_is_read_as_it_arrives_whatever_the_pool_interval(loop_name: str) -> None:
    async def stream(_: SimServer, client: OpenAIClient) -> tuple[str, float]:
        t0 = time.monotonic()
        text = ""
        async for event in client.stream(MESSAGES):
            if isinstance(event, TextDelta):
                text += event.text
        return text, time.monotonic() - t0

    text, elapsed = served(loop_name, 100, "a b c d e f g h i j", 5.0, stream)
    assert text == "a b c d e f g h i j"
    assert elapsed < 2.5, f"a watched stream must not wait for the 5 s tick ({elapsed:.2f} s)"


@LOOPS
def test_closing_the_client_resumes_a_held_reply_at_once(loop_name: str) -> None:
    async def close_midway(_: SimServer, client: OpenAIClient) -> tuple[Completion, float]:
        task = asyncio.create_task(client.complete(MESSAGES))
        await asyncio.sleep(0.5)  # the first token came long ago; the reply waits for a 60 s tick
        assert not task.done()
        t0 = time.monotonic()
        await client.aclose()
        completion = await asyncio.wait_for(task, 5.0)
        return completion, time.monotonic() - t0

    completion, waited = served(loop_name, 100, "a b c d e f g h i j", 60.0, close_midway)
    assert completion.content == "a b c d e f g h i j" and waited < 5.0


@LOOPS
def test_a_reply_abandoned_while_held_leaves_no_error_and_the_pool_serves_on(loop_name: str) -> None:
    async def cancel_midway(_: SimServer, client: OpenAIClient) -> Completion:
        task = asyncio.create_task(client.complete(MESSAGES))
        await asyncio.sleep(0.15)  # held after its first token
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.4)  # the tick passes over the aborted connection
        return await client.complete(MESSAGES)  # the pool still serves

    again = served(loop_name, 100, "a b c d e f g h i j", 0.3, cancel_midway)
    assert again.content == "a b c d e f g h i j"


@pytest.mark.parametrize("interval", [0.0, -1.0, float("nan")])
def test_a_pacer_needs_a_positive_interval(interval: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        ReadPacer(interval)
