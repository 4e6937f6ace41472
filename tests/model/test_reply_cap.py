"""What one reply may cost: a cap on its size (``ReplyTooLarge``) and memory a few times its size."""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agentrt.config import load_config
from agentrt.messages import Completion, StreamRestart
from agentrt.model.client import OpenAIClient
from agentrt.model.endpoint import MAX_REPLY_CHARS, Endpoint, Timeouts
from agentrt.model.errors import ModelError, ReplyTooLarge
from agentrt.model.exchange import body_limit
from agentrt.model.factory import build_client
from agentrt.model.retry import RetryPolicy
from agentrt.model.sim import SimConfig, SimServer, start_sim_server
from agentrt.model.sim.process import SimProcess
from agentrt.model.wire import TextParts

T = TypeVar("T")
MESSAGES = [{"role": "user", "content": "hi"}]
RETRY = RetryPolicy(max_retries=3, stream_max_retries=3, base_delay_s=0.01, max_delay_s=0.05, budget_s=5.0)
SHORT = Timeouts(connect_s=2.0, headers_s=2.0, idle_s=2.0)


def words(size: int, word: int = 5) -> str:
    """``size`` characters of ``word``-character simulated tokens (a word and its space)."""
    return (("x" * (word - 1) + " ") * (size // word + 1))[:size]


def with_server(
    reply: dict[str, Any],
    body: Callable[[SimServer, OpenAIClient], Awaitable[T]],
    *,
    cap: int,
    wire_api: str = "chat",
    params: dict[str, Any] | None = None,
) -> T:
    async def main() -> T:
        async with await start_sim_server(SimConfig(policy="script", script=(reply,))) as server:
            endpoint = Endpoint(server.base_url, "agentrt-sim", wire_api=wire_api)
            client = OpenAIClient(endpoint, retry=RETRY, timeouts=SHORT, params=params, max_reply_chars=cap)
            try:
                return await asyncio.wait_for(body(server, client), 30)
            finally:
                await client.aclose()

    return asyncio.run(main())


async def run_face(client: OpenAIClient, face: str) -> Completion:
    if face == "complete":
        return await client.complete(MESSAGES)
    final = None
    async for event in client.stream(MESSAGES):
        assert not isinstance(event, StreamRestart)
        final = event
    assert isinstance(final, Completion)
    return final


REPLIES = {
    "text": {"content": words(3000)},
    "tool": {"tool_calls": [{"name": "write", "arguments": json.dumps({"text": words(3000)})}]},
}


@pytest.mark.parametrize("kind", ["text", "tool"])
@pytest.mark.parametrize("wire_api", ["chat", "responses"])
@pytest.mark.parametrize("face", ["stream", "complete", "plain"])
def test_a_reply_over_the_cap_fails_with_reply_too_large_and_is_not_retried(
    kind: str, wire_api: str, face: str
) -> None:
    reply = REPLIES[kind]
    params = {"stream": False} if face == "plain" else None  # a server that answers with one JSON body

    async def body(server: SimServer, client: OpenAIClient) -> tuple[ModelError, int]:
        with pytest.raises(ReplyTooLarge) as info:
            await run_face(client, "complete" if face == "plain" else face)
        return info.value, server.requests

    error, requests = with_server(reply, body, cap=2000, wire_api=wire_api, params=params)
    assert requests == 1 and not error.retryable
    assert "2000" in error.message

    async def fits(server: SimServer, client: OpenAIClient) -> Completion:
        return await run_face(client, "complete" if face == "plain" else face)

    completion = with_server(reply, fits, cap=4000, wire_api=wire_api, params=params)
    assert len(completion.content) + sum(len(c.arguments) for c in completion.tool_calls) >= 3000


def test_a_plain_reply_over_one_mib_is_read_whole() -> None:
    """A server that ignores ``stream: true`` may send a big body; it is no longer cut at 1 MiB."""
    text = words(1_500_000)

    async def body(server: SimServer, client: OpenAIClient) -> Completion:
        return await client.complete(MESSAGES)

    completion = with_server({"content": text}, body, cap=MAX_REPLY_CHARS, params={"stream": False})
    assert completion.content == text


def test_the_cap_is_a_provider_key_with_the_clients_default(tmp_path: Path) -> None:
    cfg = load_config(tmp_path, env={}, overrides=["model_provider=local"])
    assert build_client(cfg.provider, cfg.model, {}).max_reply_chars == MAX_REPLY_CHARS == 4 * 1024 * 1024
    cfg = load_config(
        tmp_path, env={}, overrides=["model_provider=local", "model_providers.local.max_reply_chars=7"]
    )
    assert build_client(cfg.provider, cfg.model, {}).max_reply_chars == 7


@pytest.mark.parametrize(("kind", "mib"), [("text", 2), ("tool", 1)])
def test_a_two_mib_reply_costs_a_few_times_its_size(tmp_path: Path, kind: str, mib: int) -> None:
    """Traced allocations of the client while a 2 MiB reply (a 1 MiB tool call: tracing is slow) streams
    from a simulator in another process, as 16-character tokens."""
    size = mib * 1024 * 1024
    text = words(size, word=16)
    reply: dict[str, Any] = {"content": text}
    if kind == "tool":
        reply = {"tool_calls": [{"name": "write", "arguments": text}]}
    script = tmp_path / "script.json"
    script.write_text(json.dumps([reply]))
    del text, reply

    async def main(url: str) -> tuple[int, int]:
        client = OpenAIClient(Endpoint(url, "agentrt-sim"), retry=RETRY)
        try:
            gc.collect()
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            got = 0
            async for event in client.stream(MESSAGES):
                if isinstance(event, Completion):
                    got = len(event.content) + sum(len(c.arguments) for c in event.tool_calls)
            return got, tracemalloc.get_traced_memory()[1] - base
        finally:
            await client.aclose()

    with SimProcess(["--policy", "script", "--script", str(script)]) as sim:
        tracemalloc.start()
        try:
            got, peak = asyncio.run(main(sim.url))
        finally:
            tracemalloc.stop()
    assert got == size
    assert peak < 3 * size, f"peak {peak / size:.1f}x the reply"  # 5.6x (text) before it was bounded


def test_one_sse_event_that_never_ends_is_cut_at_the_body_limit() -> None:
    """A server that streams one event without end (no blank line) is not buffered without bound."""
    cap = 1000
    limit = body_limit(cap)
    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            writer.write(b"data: ")
            for _ in range(limit // 65536 + 4):
                writer.write(b"y" * 65536)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = OpenAIClient(Endpoint(f"http://127.0.0.1:{port}/v1", "m"), retry=RETRY, max_reply_chars=cap)
        try:
            with pytest.raises(ReplyTooLarge):
                await asyncio.wait_for(client.complete(MESSAGES), 20)
        finally:
            await client.aclose()
            server.close()
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await server.wait_closed()

    asyncio.run(main())


def test_text_parts_hold_many_pieces_as_a_few_strings() -> None:
    parts = TextParts()
    pieces = [f"w{i} " for i in range(10_000)]
    for piece in pieces:
        parts.add(piece)
    assert len(parts) <= len(pieces) // TextParts.JOIN + TextParts.JOIN
    assert parts.text() == "".join(pieces)
    assert parts.compact() == len(parts.text()) and len(parts) <= len(pieces) // TextParts.JOIN + 1
