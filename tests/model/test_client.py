"""The chat client against the real simulated server on loopback: assembly, usage, faults, retries."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from agentrt.messages import Completion, TextDelta, ToolCallDelta
from agentrt.model.client import OpenAIClient
from agentrt.model.endpoint import Endpoint, Timeouts
from agentrt.model.errors import (
    AuthError,
    ConnectError,
    MalformedResponse,
    ModelNotFound,
    ModelTimeout,
    RateLimited,
    ServerError,
    TruncatedStream,
)
from agentrt.model.retry import RetryPolicy, parse_retry_after
from agentrt.model.sim import SimConfig, SimServer, start_sim_server

T = TypeVar("T")
TEXT = "alpha beta gamma delta epsilon zeta eta theta"
MESSAGES = [{"role": "user", "content": "hi"}]
FAST_RETRY = RetryPolicy(
    max_retries=3, stream_max_retries=3, base_delay_s=0.01, max_delay_s=0.05, budget_s=5.0
)
SHORT = Timeouts(connect_s=2.0, headers_s=0.4, idle_s=0.4)


def script_config(**kw: Any) -> SimConfig:
    base: dict[str, Any] = {"policy": "script", "script": ({"content": TEXT},), "retry_after_s": 0.05}
    base.update(kw)
    return SimConfig(**base)


def with_server(
    config: SimConfig, body: Callable[[SimServer, OpenAIClient], Awaitable[T]], **client_kw: Any
) -> T:
    async def main() -> T:
        async with await start_sim_server(config) as server:
            endpoint = Endpoint(
                server.base_url, client_kw.pop("model", config.model), client_kw.pop("api_key", None)
            )
            client = OpenAIClient(
                endpoint,
                retry=client_kw.pop("retry", FAST_RETRY),
                timeouts=client_kw.pop("timeouts", SHORT),
                seed=1,
                **client_kw,
            )
            try:
                return await body(server, client)
            finally:
                await client.aclose()

    return asyncio.run(main())


async def complete(server: SimServer, client: OpenAIClient) -> Completion:
    return await client.complete(MESSAGES)


def test_complete_assembles_text_usage_and_ttft() -> None:
    c = with_server(script_config(), complete)
    assert c.content == TEXT
    assert c.finish_reason == "stop"
    assert c.usage.completion_tokens == len(TEXT.split()) and not c.usage.counted
    assert c.usage.prompt_tokens > 0
    assert c.ttft_s is not None and 0 <= c.ttft_s <= c.total_s
    assert c.attempts == 1


def test_usage_is_counted_when_the_server_sends_none() -> None:
    async def body(server: SimServer, client: OpenAIClient) -> Completion:
        return await client.complete(MESSAGES)

    c = with_server(script_config(), body, params={"stream_options": {"include_usage": False}})
    assert c.usage.counted
    assert c.usage.completion_tokens == len(TEXT.split())


def test_stream_yields_deltas_then_completion() -> None:
    async def body(server: SimServer, client: OpenAIClient) -> list[Any]:
        return [e async for e in client.stream(MESSAGES)]

    events = with_server(script_config(tps=400), body)
    assert isinstance(events[-1], Completion)
    deltas = [e for e in events[:-1] if isinstance(e, TextDelta)]
    assert "".join(d.text for d in deltas) == TEXT == events[-1].content
    assert len(deltas) == len(TEXT.split())


def test_tool_calls_are_assembled_from_deltas() -> None:
    reply = {
        "content": "",
        "tool_calls": [
            {"name": "shell", "arguments": {"command": ["ls", "-la"]}},
            {"name": "read_file", "arguments": '{"path": "a.py"}'},
        ],
    }
    config = SimConfig(policy="script", script=(reply,))

    async def body(server: SimServer, client: OpenAIClient) -> list[Any]:
        return [
            e
            async for e in client.stream(
                MESSAGES, tools=[{"type": "function", "function": {"name": "shell"}}]
            )
        ]

    events = with_server(config, body)
    final = events[-1]
    assert isinstance(final, Completion)
    assert final.finish_reason == "tool_calls"
    assert [c.name for c in final.tool_calls] == ["shell", "read_file"]
    assert json.loads(final.tool_calls[0].arguments) == {"command": ["ls", "-la"]}
    assert json.loads(final.tool_calls[1].arguments) == {"path": "a.py"}
    assert all(c.id for c in final.tool_calls)
    assert any(isinstance(e, ToolCallDelta) for e in events)
    assert final.as_message()["tool_calls"][0]["function"]["name"] == "shell"


def test_keep_alive_connection_is_reused() -> None:
    async def body(server: SimServer, client: OpenAIClient) -> int:
        for _ in range(5):
            await client.complete(MESSAGES)
        return len(server.connections)

    assert with_server(script_config(), body) == 1


@pytest.mark.parametrize("fault", ["rate_limit", "server_error", "hang", "stall", "truncate", "disconnect"])
def test_transient_fault_once_then_success_after_retry(fault: str) -> None:
    async def body(server: SimServer, client: OpenAIClient) -> tuple[Completion, int]:
        c = await asyncio.wait_for(client.complete(MESSAGES), 10)
        return c, server.requests

    c, requests = with_server(script_config(fault=fault, fault_count=1), body)
    assert c.content == TEXT
    assert requests == 2
    assert c.attempts == 2


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("rate_limit", RateLimited),
        ("server_error", ServerError),
        ("hang", ModelTimeout),
        ("stall", ModelTimeout),
        ("truncate", TruncatedStream),
        ("malformed", MalformedResponse),
        ("disconnect", ConnectError),
    ],
)
def test_persistent_fault_ends_in_typed_error_within_bound(fault: str, error: type[Exception]) -> None:
    async def body(server: SimServer, client: OpenAIClient) -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(error):
            await asyncio.wait_for(client.complete(MESSAGES), 15)
        return loop.time() - t0

    elapsed = with_server(script_config(fault=fault, fault_count=-1), body)
    assert elapsed < 4 * SHORT.headers_s + 2.0


def test_malformed_chunk_is_not_retried() -> None:
    async def body(server: SimServer, client: OpenAIClient) -> int:
        with pytest.raises(MalformedResponse):
            await client.complete(MESSAGES)
        return server.requests

    assert with_server(script_config(fault="malformed", fault_count=-1), body) == 1


def test_retry_after_is_honoured() -> None:
    async def body(server: SimServer, client: OpenAIClient) -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await client.complete(MESSAGES)
        return loop.time() - t0

    slow_hint = script_config(fault="rate_limit", fault_count=1, retry_after_s=0.3)
    assert with_server(slow_hint, body) >= 0.3


def test_retry_after_beyond_budget_gives_up_at_once() -> None:
    policy = RetryPolicy(max_retries=3, base_delay_s=0.01, budget_s=1.0)

    async def body(server: SimServer, client: OpenAIClient) -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(RateLimited) as info:
            await client.complete(MESSAGES)
        assert info.value.retry_after == pytest.approx(30.0)
        return loop.time() - t0

    assert (
        with_server(script_config(fault="rate_limit", fault_count=-1, retry_after_s=30), body, retry=policy)
        < 1.0
    )


def test_stall_mid_stream_never_yields_a_completion_from_stream() -> None:
    async def body(server: SimServer, client: OpenAIClient) -> list[Any]:
        seen: list[Any] = []
        with pytest.raises(ModelTimeout):
            async for e in client.stream(MESSAGES):
                seen.append(e)  # noqa: PERF401 - the stream raises midway
        return seen

    seen = with_server(
        script_config(fault="stall", fault_count=-1),
        body,
        retry=RetryPolicy(max_retries=0, stream_max_retries=0),
    )
    assert seen and not any(isinstance(e, Completion) for e in seen)


def test_unknown_model_auth_and_unreachable_are_typed() -> None:
    with pytest.raises(ModelNotFound):
        with_server(script_config(), complete, model="no-such-model")
    with pytest.raises(AuthError):
        with_server(script_config(api_key="right"), complete, api_key="wrong")
    assert with_server(script_config(api_key="right"), complete, api_key="right").content == TEXT

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once the socket closes

    async def refused() -> None:
        client = OpenAIClient(Endpoint(f"http://127.0.0.1:{port}/v1", "m"), retry=FAST_RETRY)
        with pytest.raises(ConnectError, match="cannot connect"):
            await client.complete(MESSAGES)

    asyncio.run(refused())


def test_list_models() -> None:
    async def body(server: SimServer, client: OpenAIClient) -> list[str]:
        return await client.list_models()

    assert with_server(script_config(), body) == ["agentrt-sim"]


def test_hundred_concurrent_streams() -> None:
    async def body(server: SimServer, client: OpenAIClient) -> list[Completion]:
        return list(await asyncio.gather(*(client.complete(MESSAGES) for _ in range(100))))

    results = with_server(script_config(tps=500), body)
    assert all(c.content == TEXT for c in results)


def test_retry_policy_delays_are_bounded_and_jittered() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=4.0)
    rng = random.Random(3)
    delays = [policy.delay(n, None, rng) for n in range(10) for _ in range(20)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 100
    assert policy.delay(5, 7.5, rng) == 7.5


def test_parse_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("2", 0) == 2.0
    assert parse_retry_after("0.25", 0) == 0.25
    assert parse_retry_after(None, 0) is None
    assert parse_retry_after("soon", 0) is None
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", 40.0) == pytest.approx(60.0)


def test_client_runs_under_uvloop() -> None:
    """uvloop's transports are not ``asyncio.Transport`` subclasses; the client once asserted they were."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> Completion:
        async with await start_sim_server(script_config(tps=1000)) as server:
            client = OpenAIClient(Endpoint(server.base_url, "agentrt-sim"))
            try:
                await client.complete(MESSAGES)
                return await client.complete(MESSAGES)  # the second one reuses the connection
            finally:
                await client.aclose()

    assert uvloop.run(main()).content == TEXT


def test_keep_alive_comments_do_not_reset_the_idle_timer() -> None:
    """A server that only sends SSE comments after the first token is idle, and is timed out as such."""

    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await serve(reader, writer)
        finally:
            writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )

        def chunk(data: bytes) -> bytes:
            return b"%x\r\n%s\r\n" % (len(data), data)

        first = b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n'
        writer.write(chunk(first))
        try:
            for _ in range(40):
                await asyncio.sleep(0.05)
                writer.write(chunk(b": keep-alive\n\n"))
                await writer.drain()
        except ConnectionError:
            pass

    async def main() -> float:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = OpenAIClient(
            Endpoint(f"http://127.0.0.1:{port}/v1", "m"),
            retry=RetryPolicy(max_retries=0, stream_max_retries=0),
            timeouts=Timeouts(headers_s=5, idle_s=0.3),
        )
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            with pytest.raises(ModelTimeout, match="idle"):
                await client.complete(MESSAGES)
            return loop.time() - t0
        finally:
            await client.aclose()
            server.close()
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await server.wait_closed()

    assert asyncio.run(main()) < 1.0


# -- a recording loopback server: request heads and bodies as they arrive ---------------------------------
SSE_HI = (
    b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}\n\n'
    b"data: [DONE]\n\n"
)

Seen = list[tuple[list[tuple[str, str]], dict[str, Any]]]
"""Per request: its header lines as ``(lower-cased name, value)`` in order, and its JSON body."""


def http_response(status: str, content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def with_recorder(
    answer: Callable[[dict[str, Any]], bytes], body: Callable[[str], Awaitable[T]]
) -> tuple[T, Seen]:
    """Run ``body(base_url)`` against a keep-alive server that answers each request with ``answer(json)``."""
    seen: Seen = []
    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                lines = [line.partition(":") for line in head.split("\r\n")[1:-2]]
                headers = [(name.strip().lower(), value.strip()) for name, _, value in lines]
                length = int(dict(headers)["content-length"])
                request = json.loads(await reader.readexactly(length))
                seen.append((headers, request))
                writer.write(answer(request))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> T:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await body(f"http://127.0.0.1:{port}/v1")
        finally:
            server.close()
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await server.wait_closed()

    return asyncio.run(main()), seen


def answer_hi(request: dict[str, Any]) -> bytes:
    return http_response("200 OK", "text/event-stream", SSE_HI)


def test_configured_headers_are_sent_and_override_the_clients_own() -> None:
    configured = (("X-Title", "agentrt tests"), ("user-agent", "custom/1.0"))

    async def body(base_url: str) -> Completion:
        client = OpenAIClient(Endpoint(base_url, "m", "sk-1", headers=configured), retry=FAST_RETRY)
        try:
            return await client.complete(MESSAGES)
        finally:
            await client.aclose()

    completion, seen = with_recorder(answer_hi, body)
    assert completion.content == "hi"
    [(headers, _)] = seen
    names = [name for name, _ in headers]
    assert len(names) == len(set(names)), headers  # an override replaces, never repeats
    sent = dict(headers)
    assert sent["x-title"] == "agentrt tests"
    assert sent["user-agent"] == "custom/1.0"
    assert sent["authorization"] == "Bearer sk-1"  # kept: the configured headers set none
    assert sent["content-type"] == "application/json"


def test_configured_authorization_replaces_the_api_key() -> None:
    async def body(base_url: str) -> Completion:
        endpoint = Endpoint(base_url, "m", "sk-1", headers=(("AUTHORIZATION", "Token abc"),))
        client = OpenAIClient(endpoint, retry=FAST_RETRY)
        try:
            return await client.complete(MESSAGES)
        finally:
            await client.aclose()

    _, [(headers, _)] = with_recorder(answer_hi, body)
    assert [v for name, v in headers if name == "authorization"] == ["Token abc"]


def test_configured_headers_reach_the_simulator_with_its_api_key() -> None:
    """With the simulated server: the extra header arrives, and the key from ``api_key`` still passes."""

    async def body(server: SimServer, client: OpenAIClient) -> tuple[Completion, list[dict[str, str]]]:
        seen: list[dict[str, str]] = []
        handle = server.app.handle

        def spy(req: Any) -> Any:
            seen.append(dict(req.headers))
            return handle(req)

        server.app.handle = spy  # type: ignore[method-assign]
        return await client.complete(MESSAGES), seen

    async def run() -> tuple[Completion, list[dict[str, str]]]:
        async with await start_sim_server(script_config(api_key="right")) as server:
            endpoint = Endpoint(server.base_url, "agentrt-sim", "right", headers=(("X-Org", "o-1"),))
            client = OpenAIClient(endpoint, retry=FAST_RETRY, timeouts=SHORT)
            try:
                return await body(server, client)
            finally:
                await client.aclose()

    completion, seen = asyncio.run(run())
    assert completion.content == TEXT
    assert seen and all(h.get("x-org") == "o-1" for h in seen)


@pytest.mark.parametrize(
    "header",
    [
        ("Bad Name", "v"),
        ("X-A", "line\r\nInjected: 1"),
        ("", "v"),
        ("X-A", "\u20ac"),
        ("Content-Length", "1"),
    ],
)
def test_endpoint_rejects_headers_that_would_break_the_request(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="header"):
        Endpoint("http://127.0.0.1:1/v1", "m", headers=(header,))


def test_a_server_that_rejects_stream_options_gets_the_request_again_without_it() -> None:
    def answer(request: dict[str, Any]) -> bytes:
        if "stream_options" in request:
            err = {"error": {"message": "Unrecognized request argument supplied: stream_options"}}
            return http_response("400 Bad Request", "application/json", json.dumps(err).encode())
        return answer_hi(request)

    async def body(base_url: str) -> list[Completion]:
        client = OpenAIClient(Endpoint(base_url, "m"), retry=FAST_RETRY)
        try:
            return [await client.complete(MESSAGES), await client.complete(MESSAGES)]
        finally:
            await client.aclose()

    completions, seen = with_recorder(answer, body)
    assert [c.content for c in completions] == ["hi", "hi"]
    assert all(c.usage.counted and c.usage.completion_tokens == 1 for c in completions)
    assert ["stream_options" in request for _, request in seen] == [True, False, False]


def test_a_chat_client_does_not_load_the_responses_wire() -> None:
    code = (
        "import sys\n"
        "from agentrt.model.client import OpenAIClient\n"
        "from agentrt.model.endpoint import Endpoint\n"
        "OpenAIClient(Endpoint('http://127.0.0.1:1/v1', 'm'))\n"
        "assert 'agentrt.model.responses' not in sys.modules, 'chat client loaded responses.py'\n"
        "OpenAIClient(Endpoint('http://127.0.0.1:1/v1', 'm', wire_api='responses'))\n"
        "assert 'agentrt.model.responses' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
