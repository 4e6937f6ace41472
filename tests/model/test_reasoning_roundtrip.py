"""Reasoning on the Responses wire as Codex sends it: request parameters, reasoning items kept with
their assistant message, sent back in later requests, recorded in the rollout and resumed from it."""

from __future__ import annotations

import json
from typing import Any

from agentrt.messages import REASONING_KEY, Completion, ToolCall
from agentrt.model.chat import ChatWire
from agentrt.model.factory import RequestSettings, request_params
from agentrt.model.responses import append_item, message_items, request_body

REASONING = {
    "type": "reasoning",
    "id": "rs_1",
    "summary": [{"type": "summary_text", "text": "think"}],
    "encrypted_content": "enc==",
}


def test_reasoning_and_verbosity_parameters_per_wire() -> None:
    settings = RequestSettings(
        reasoning_effort="high", reasoning_summary="auto", verbosity="low", cache_key="thread-1",
        output_schema={"type": "object"},
    )  # fmt: skip
    responses = request_params(settings, "responses")
    assert responses["reasoning"] == {"effort": "high", "summary": "auto"}
    assert responses["include"] == ["reasoning.encrypted_content"]
    assert responses["text"]["verbosity"] == "low" and responses["text"]["format"]["type"] == "json_schema"
    assert responses["prompt_cache_key"] == "thread-1"
    chat = request_params(settings, "chat")
    assert (chat["reasoning_effort"], chat["verbosity"]) == ("high", "low")
    assert not {"reasoning", "include", "prompt_cache_key"} & set(chat)
    assert request_params(RequestSettings(), "responses") == {}  # nothing unasked is sent


def test_reasoning_items_go_back_with_their_message_and_never_to_chat() -> None:
    completion = Completion(
        content="", tool_calls=(ToolCall("c1", "shell", '{"command": ["ls"]}'),), reasoning_items=(REASONING,)
    )
    message = completion.as_message()
    history = [
        {"role": "user", "content": "go"},
        message,
        {"role": "tool", "tool_call_id": "c1", "content": "a"},
    ]
    body = request_body("m", history, [])
    kinds = [item["type"] for item in body["input"]]
    assert kinds == ["message", "reasoning", "function_call", "function_call_output"]
    assert body["input"][1] == REASONING
    chat = json.loads(ChatWire().body("m", history, [], {}))
    assert all(REASONING_KEY not in m for m in chat["messages"]) and len(chat["messages"]) == 3


def test_reasoning_items_survive_the_rollout_round_trip() -> None:
    message: dict[str, Any] = {"role": "assistant", "content": "done", REASONING_KEY: [REASONING]}
    items = message_items(message)
    assert [i["type"] for i in items] == ["reasoning", "message"]
    folded: list[dict[str, Any]] = []
    for item in items:
        append_item(folded, item)
    assert folded == [message]
    calls: list[dict[str, Any]] = []
    for item in [REASONING, {"type": "function_call", "call_id": "c9", "name": "shell", "arguments": "{}"}]:
        append_item(calls, item)
    assert (
        len(calls) == 1 and calls[0][REASONING_KEY] == [REASONING] and calls[0]["tool_calls"][0]["id"] == "c9"
    )
