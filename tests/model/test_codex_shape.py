"""Requests shaped as Codex 0.169 shapes them (parity mode), seen on a real loopback server: base
instructions as developer messages, the session id in headers and ``client_metadata``."""

from __future__ import annotations

import asyncio

from agentrt.config import ProviderConfig
from agentrt.model.factory import RequestSettings, build_client
from agentrt.model.responses import request_body
from capture_server import capture_server

HISTORY = [
    {"role": "system", "content": "base"},
    {"role": "system", "content": "permissions"},
    {"role": "user", "content": [{"type": "input_text", "text": "<environment_context/>"}]},
    {"role": "user", "content": "go"},
]


def test_leading_system_messages_become_developer_items_only_when_asked() -> None:
    plain = request_body("m", HISTORY)
    assert plain["instructions"] == "base\n\npermissions"
    assert [i["role"] for i in plain["input"]] == ["user", "user"]
    shaped = request_body("m", HISTORY, developer_instructions=True)
    assert "instructions" not in shaped
    assert [(i["role"], i["content"][0]["text"]) for i in shaped["input"][:2]] == [
        ("developer", "base"),
        ("developer", "permissions"),
    ]
    # a system message later in the history stays where it is, in either shape
    late = [*HISTORY, {"role": "system", "content": "later"}]
    assert request_body("m", late, developer_instructions=True)["input"][-1]["role"] == "system"


def send(settings: RequestSettings) -> tuple[dict[str, str], dict[str, object]]:
    with capture_server([{"text": "ok"}]) as server:
        provider = ProviderConfig(id="cap", name="cap", base_url=server.url, wire_api="responses")

        async def main() -> None:
            client = build_client(provider, "m", {}, settings)
            try:
                await client.complete(HISTORY)
            finally:
                await client.aclose()

        asyncio.run(main())
        (request,) = server.requests
    return request.headers, request.body


def test_codex_shape_on_the_wire() -> None:
    headers, body = send(RequestSettings(cache_key="thread-1", codex_shape=True, reasoning_summary="auto"))
    assert (headers["session-id"], headers["thread-id"], headers["originator"]) == (
        "thread-1",
        "thread-1",
        "agentrt_exec",
    )
    assert body["client_metadata"] == {
        "session_id": "thread-1",
        "thread_id": "thread-1",
        "x-codex-window-id": "thread-1:0",
    }
    assert body["reasoning"] == {"summary": "auto"} and body["include"] == ["reasoning.encrypted_content"]
    assert "instructions" not in body and body["prompt_cache_key"] == "thread-1"

    headers, body = send(RequestSettings(cache_key="thread-1"))
    assert (
        "session-id" not in headers
        and "client_metadata" not in body
        and body["instructions"] == "base\n\npermissions"
    )
