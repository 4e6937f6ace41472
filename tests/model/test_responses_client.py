"""The client over the Responses wire (``wire_api="responses"``), against the simulator and small loopback servers."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from agentrt.messages import Completion, ReasoningDelta, TextDelta, ToolCallDelta
from agentrt.model.client import OpenAIClient
from agentrt.model.endpoint import Endpoint, Timeouts
from agentrt.model.errors import (
    BadRequest,
    ConnectError,
    ContextLengthExceeded,
    MalformedResponse,
    ModelTimeout,
    RateLimited,
    ServerError,
    TruncatedStream,
)
from agentrt.model.responses import request_body, response_error
from agentrt.model.retry import RetryPolicy
from agentrt.model.sim import SimConfig, SimServer, start_sim_server

T = TypeVar("T")
TEXT = "alpha beta gamma delta epsilon zeta eta theta"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
FAST_RETRY = RetryPolicy(
    max_retries=3, stream_max_retries=3, base_delay_s=0.01, max_delay_s=0.05, budget_s=5.0
)
SHORT = Timeouts(connect_s=2.0, headers_s=0.4, idle_s=0.4)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "shell",
            "description": "Run a command.",
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
        },
    }
]


def script_config(*replies: Any, **kw: Any) -> SimConfig:
    base: dict[str, Any] = {
        "policy": "script",
        "script": replies or ({"content": TEXT},),
        "retry_after_s": 0.05,
    }
    return SimConfig(**(base | kw))


def with_sim(
    config: SimConfig, body: Callable[[SimServer, OpenAIClient], Awaitable[T]], **client_kw: Any
) -> T:
    async def main() -> T:
        async with await start_sim_server(config) as server:
            client = OpenAIClient(
                Endpoint(server.base_url, config.model, wire_api="responses"),
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


async def stream_all(server: SimServer, client: OpenAIClient) -> list[Any]:
    return [e async for e in client.stream(MESSAGES, TOOLS)]


def test_endpoint_wire_api_is_validated() -> None:
    assert Endpoint("http://127.0.0.1:1/v1", "m").wire_api == "chat"
    with pytest.raises(ValueError, match="wire_api"):
        Endpoint("http://127.0.0.1:1/v1", "m", wire_api="grpc")


def test_complete_text_usage_and_ttft() -> None:
    c = with_sim(script_config(ttft_ms=60), complete)
    assert (c.content, c.finish_reason, c.tool_calls, c.reasoning) == (TEXT, "stop", (), "")
    assert c.usage.completion_tokens == len(TEXT.split()) and not c.usage.counted
    assert c.usage.prompt_tokens == (len("Be brief.") + len("hi")) // 4 + 1
    assert c.usage.cached_tokens == 0
    assert c.ttft_s is not None and 0.05 <= c.ttft_s <= c.total_s
    assert c.attempts == 1


def test_stream_yields_text_deltas_then_completion() -> None:
    events = with_sim(script_config(tps=400), stream_all)
    final = events[-1]
    assert isinstance(final, Completion) and final.content == TEXT
    assert [e.text for e in events[:-1] if isinstance(e, TextDelta)] == [
        w if i == 0 else " " + w for i, w in enumerate(TEXT.split())
    ]
    assert not any(isinstance(e, Completion) for e in events[:-1])


def test_tool_calls_are_assembled() -> None:
    reply = {
        "content": "Looking.",
        "tool_calls": [
            {"id": "call_a", "name": "shell", "arguments": {"cmd": "ls -la"}},
            {"name": "read_file", "arguments": '{"path": "a.py"}'},
        ],
    }
    events = with_sim(script_config(reply), stream_all)
    final = events[-1]
    assert isinstance(final, Completion)
    assert final.content == "Looking." and final.finish_reason == "tool_calls"
    assert [(c.id, c.name) for c in final.tool_calls][0] == ("call_a", "shell")
    assert final.tool_calls[1].name == "read_file" and final.tool_calls[1].id.startswith("call_")
    assert json.loads(final.tool_calls[0].arguments) == {"cmd": "ls -la"}
    assert final.tool_calls[1].arguments == '{"path": "a.py"}'
    heads = [e for e in events if isinstance(e, ToolCallDelta) and e.name]
    assert [(d.index, d.id, d.name) for d in heads] == [
        (0, "call_a", "shell"),
        (1, final.tool_calls[1].id, "read_file"),
    ]
    pieces = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == 1)
    assert pieces == final.tool_calls[1].arguments
    assert final.as_message()["tool_calls"][0] == {
        "id": "call_a",
        "type": "function",
        "function": {"name": "shell", "arguments": final.tool_calls[0].arguments},
    }


def test_reasoning_summary_is_streamed_and_kept_apart() -> None:
    reply = {"reasoning": "First think. Then answer.", "content": "Answer."}
    events = with_sim(script_config(reply), stream_all)
    final = events[-1]
    assert isinstance(final, Completion)
    assert final.reasoning == "First think. Then answer." and final.content == "Answer."
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == final.reasoning
    assert final.usage.completion_tokens == 4 + 1  # reasoning tokens count as output tokens
    assert "reasoning" not in final.as_message()


def test_multi_turn_history_round_trips_function_call_outputs() -> None:
    script = (
        {"content": "Let me look.", "tool_calls": [{"name": "shell", "arguments": {"cmd": "ls"}}]},
        {
            "tool_calls": [
                {"name": "shell", "arguments": {"cmd": "cat a.py"}},
                {"name": "shell", "arguments": {}},
            ]
        },
        {"content": "All done."},
    )

    async def body(server: SimServer, client: OpenAIClient) -> list[Completion]:
        history: list[dict[str, Any]] = list(MESSAGES)
        got = []
        for _ in range(4):
            c = await client.complete(history, TOOLS)
            got.append(c)
            history.append(c.as_message())
            history += [
                {"role": "tool", "tool_call_id": t.id, "content": f"ran {t.arguments}"} for t in c.tool_calls
            ]
        return got

    got = with_sim(script_config(*script), body)
    assert [len(c.tool_calls) for c in got] == [1, 2, 0, 0]
    assert got[1].content == "" and json.loads(got[1].tool_calls[0].arguments) == {"cmd": "cat a.py"}
    assert (got[2].content, got[3].content) == ("All done.", "All done.")
    assert got[3].usage.prompt_tokens > got[1].usage.prompt_tokens  # tool outputs reached the server


def test_request_body_maps_chat_history_to_items() -> None:
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "fix it"}]},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "shell", "arguments": '{"cmd":"ls"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a.py"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c2", "function": {"name": "shell"}}]},
        {"role": "tool", "tool_call_id": "c2", "content": "ok"},
        {"role": "assistant", "content": ""},
    ]
    body = request_body("m", history, TOOLS, {"max_tokens": 50, "stream_options": {"include_usage": True}})
    assert body["instructions"] == "Be brief."
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Looking."}]},
        {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": '{"cmd":"ls"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "a.py"},
        {"type": "function_call", "call_id": "c2", "name": "shell", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c2", "output": "ok"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": ""}]},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "name": "shell",
            "description": "Run a command.",
            "parameters": TOOLS[0]["function"]["parameters"],
            "strict": False,
        }
    ]
    assert (body["tool_choice"], body["parallel_tool_calls"], body["store"], body["stream"]) == (
        "auto",
        True,
        False,
        True,
    )
    assert body["max_output_tokens"] == 50 and "stream_options" not in body and "max_tokens" not in body
    bare = request_body("m", [{"role": "user", "content": "hi"}])
    assert "instructions" not in bare and "tools" not in bare and "tool_choice" not in bare


def test_both_wires_give_the_same_completion() -> None:
    reply = {"content": TEXT, "tool_calls": [{"id": "c9", "name": "shell", "arguments": {"cmd": "ls"}}]}

    async def main() -> tuple[Completion, Completion]:
        async with await start_sim_server(script_config(reply)) as server:
            out = []
            for wire in ("chat", "responses"):
                client = OpenAIClient(Endpoint(server.base_url, "agentrt-sim", wire_api=wire))
                try:
                    out.append(await client.complete(MESSAGES, TOOLS))
                finally:
                    await client.aclose()
            return out[0], out[1]

    chat, resp = asyncio.run(main())
    assert (chat.content, chat.tool_calls, chat.finish_reason) == (
        resp.content,
        resp.tool_calls,
        resp.finish_reason,
    )
    assert chat.usage.prompt_tokens == resp.usage.prompt_tokens
    assert chat.usage.completion_tokens == resp.usage.completion_tokens


def test_non_streamed_response_object_is_folded() -> None:
    reply = {
        "reasoning": "Hmm.",
        "content": TEXT,
        "tool_calls": [{"name": "shell", "arguments": {"cmd": "ls"}}],
    }
    c = with_sim(script_config(reply), complete, params={"stream": False})
    assert (c.content, c.reasoning, c.finish_reason) == (TEXT, "Hmm.", "tool_calls")
    assert c.tool_calls[0].name == "shell" and json.loads(c.tool_calls[0].arguments) == {"cmd": "ls"}
    assert c.usage.completion_tokens == 1 + len(TEXT.split()) + 1 + 2 and not c.usage.counted


def test_keep_alive_connection_is_reused() -> None:
    async def body(server: SimServer, client: OpenAIClient) -> int:
        for _ in range(4):
            await client.complete(MESSAGES)
        return len(server.connections)

    assert with_sim(script_config(), body) == 1


@pytest.mark.parametrize("fault", ["rate_limit", "server_error", "hang", "stall", "truncate", "disconnect"])
def test_transient_fault_once_then_success_after_retry(fault: str) -> None:
    async def body(server: SimServer, client: OpenAIClient) -> tuple[Completion, int]:
        return await asyncio.wait_for(client.complete(MESSAGES), 10), server.requests

    c, requests = with_sim(script_config(fault=fault, fault_count=1), body)
    assert (c.content, requests, c.attempts) == (TEXT, 2, 2)


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
    async def body(server: SimServer, client: OpenAIClient) -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(error):
            await asyncio.wait_for(client.complete(MESSAGES), 15)
        return loop.time() - t0, server.requests

    elapsed, requests = with_sim(script_config(fault=fault, fault_count=-1), body)
    assert elapsed < 4 * SHORT.headers_s + 2.0
    assert requests == (1 if fault == "malformed" else 1 + FAST_RETRY.max_retries)


@pytest.mark.parametrize("fault", ["truncate", "stall", "disconnect"])
def test_broken_stream_never_yields_a_completion(fault: str) -> None:
    async def body(server: SimServer, client: OpenAIClient) -> list[Any]:
        seen: list[Any] = []
        with pytest.raises((TruncatedStream, ModelTimeout, ConnectError)):
            async for e in client.stream(MESSAGES):
                seen.append(e)  # noqa: PERF401 - the stream raises midway
        return seen

    seen = with_sim(
        script_config(fault=fault, fault_count=-1),
        body,
        retry=RetryPolicy(max_retries=0, stream_max_retries=0),
    )
    assert [type(e) for e in seen] == [TextDelta, TextDelta]


# -- events the simulator does not send: a canned loopback server ---------------------------------------
def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def done(
    usage: dict[str, Any] | None = None, kind: str = "response.completed", **extra: Any
) -> dict[str, Any]:
    return {"type": kind, "response": {"id": "resp_1", "status": kind.split(".")[1], "usage": usage, **extra}}


def with_canned(
    bodies: list[bytes], body: Callable[[OpenAIClient], Awaitable[T]], **client_kw: Any
) -> tuple[T, int]:
    """Serve ``bodies`` (SSE, one per request, the last one repeated) and run ``body`` against them."""
    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
            requests.append(await reader.readexactly(int(match.group(1)) if match else 0))
            data = bodies[min(len(requests), len(bodies)) - 1]
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(data), data)
            )
            await writer.drain()
        finally:
            writer.close()

    async def main() -> T:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = OpenAIClient(
            Endpoint(f"http://127.0.0.1:{port}/v1", "m", wire_api="responses"),
            retry=client_kw.pop("retry", FAST_RETRY),
            timeouts=SHORT,
            seed=1,
        )
        try:
            return await body(client)
        finally:
            await client.aclose()
            server.close()
            await server.wait_closed()

    result = asyncio.run(main())
    assert all(json.loads(r)["input"] for r in requests)
    return result, len(requests)


async def canned_complete(client: OpenAIClient) -> Completion:
    return await client.complete(MESSAGES)


USAGE = {
    "input_tokens": 40,
    "input_tokens_details": {"cached_tokens": 32},
    "output_tokens": 3,
    "total_tokens": 43,
}


def test_items_sent_only_whole_are_folded() -> None:
    """A server that sends ``output_item.done`` items without deltas still gives a full ``Completion``."""
    call = {"type": "function_call", "call_id": "c7", "name": "shell", "arguments": '{"cmd":"ls"}'}
    message = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi."}]}
    reasoning = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "A."}, {"type": "summary_text", "text": "B."}],
    }
    body = sse(
        {"type": "response.created", "response": {"id": "resp_1"}},
        {"type": "response.output_item.done", "output_index": 0, "item": reasoning},
        {"type": "response.output_item.done", "output_index": 1, "item": message},
        {"type": "response.output_item.added", "output_index": 2, "item": call | {"arguments": ""}},
        {"type": "response.function_call_arguments.done", "output_index": 2, "arguments": call["arguments"]},
        {"type": "response.output_item.done", "output_index": 2, "item": call},
        done(USAGE),
    )
    c, _ = with_canned([body], canned_complete)
    assert (c.content, c.reasoning, c.finish_reason) == ("Hi.", "A.\n\nB.", "tool_calls")
    assert [(t.id, t.name, t.arguments) for t in c.tool_calls] == [("c7", "shell", '{"cmd":"ls"}')]
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.cached_tokens) == (40, 3, 32)


def test_incomplete_response_is_a_completion_with_finish_length() -> None:
    body = sse(
        {"type": "response.output_text.delta", "output_index": 0, "delta": "cut"},
        done(USAGE, "response.incomplete", incomplete_details={"reason": "max_output_tokens"}),
    )
    c, _ = with_canned([body], canned_complete)
    assert (c.content, c.finish_reason) == ("cut", "length")


def test_stream_without_response_completed_is_truncated() -> None:
    body = sse({"type": "response.output_text.delta", "output_index": 0, "delta": "cut"})
    with pytest.raises(TruncatedStream, match="response.completed"):
        with_canned([body], canned_complete, retry=RetryPolicy(max_retries=0, stream_max_retries=0))


def test_failed_rate_limit_is_retried_after_the_hinted_delay() -> None:
    error = {"code": "rate_limit_exceeded", "message": "Rate limit reached. Please try again in 150ms."}
    failed = sse({"type": "response.failed", "response": {"id": "r", "status": "failed", "error": error}})
    ok = sse({"type": "response.output_text.delta", "output_index": 0, "delta": "fine"}, done(USAGE))

    async def body(client: OpenAIClient) -> tuple[Completion, float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        c = await client.complete(MESSAGES)
        return c, loop.time() - t0

    (c, elapsed), requests = with_canned([failed, ok], body)
    assert (c.content, c.attempts, requests) == ("fine", 2, 2)
    assert elapsed >= 0.15


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (
            {
                "type": "response.failed",
                "response": {"error": {"code": "context_length_exceeded", "message": "too long"}},
            },
            ContextLengthExceeded,
        ),
        ({"type": "error", "code": "insufficient_quota", "message": "You exceeded your quota."}, BadRequest),
        (
            {
                "type": "error",
                "error": {"type": "invalid_request_error", "code": "invalid_prompt", "message": "no"},
            },
            BadRequest,
        ),
    ],
)
def test_failures_that_retrying_cannot_fix_are_raised_at_once(
    event: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        with_canned([sse(event)], canned_complete)
    assert not info.value.retryable  # type: ignore[attr-defined]


def test_response_error_mapping() -> None:
    url = "http://x/v1/responses"
    assert isinstance(response_error({"code": "server_is_overloaded"}, url), ServerError)
    assert isinstance(response_error({"code": "something_new"}, url), ServerError)
    assert isinstance(response_error(None, url), ServerError)
    limited = response_error({"code": "rate_limit_exceeded", "message": "Please try again in 1.5s."}, url)
    assert isinstance(limited, RateLimited) and limited.retry_after == 1.5


def test_a_done_line_in_a_responses_stream_is_ignored() -> None:
    """Some compatible servers end a Responses stream with Chat Completions' ``data: [DONE]``."""
    body = (
        sse(
            {"type": "response.output_text.delta", "output_index": 0, "delta": "fine"},
            done(USAGE),
        )
        + b"data: [DONE]\n\n"
    )
    early = (
        sse({"type": "response.output_text.delta", "output_index": 0, "delta": "also "}) + b"data: [DONE]\n\n"
    )
    c, _ = with_canned([body], canned_complete)
    assert c.content == "fine"
    c, _ = with_canned(
        [
            early
            + sse({"type": "response.output_text.delta", "output_index": 0, "delta": "fine"}, done(USAGE))
        ],
        canned_complete,
    )
    assert c.content == "also fine"


def test_a_404_on_responses_suggests_the_chat_wire() -> None:
    from agentrt.model.errors import ModelNotFound, error_for_status

    err = error_for_status(404, '{"error": {"message": "Not Found"}}', url="http://127.0.0.1:9/v1/responses")
    assert isinstance(err, ModelNotFound) and 'set wire_api = "chat"' in err.message
    other = error_for_status(404, "{}", url="http://127.0.0.1:9/v1/chat/completions")
    assert "wire_api" not in other.message
