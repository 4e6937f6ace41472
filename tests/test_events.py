"""The event model: immutable values, Codex's JSON shapes, and the JSONL writer's public-only rule."""

from __future__ import annotations

import io
import json

import pytest

from agentrt.events import (
    AgentMessage,
    AgentMessageDelta,
    CommandExecution,
    ItemCompleted,
    ItemStarted,
    JsonlSink,
    TokenUsage,
    TurnCompleted,
    TurnFailed,
)


def test_values_compare_hash_and_refuse_changes() -> None:
    a, b = AgentMessage("item_0", "hi"), AgentMessage("item_0", "hi")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != AgentMessage("item_0", "ho")
    assert ItemStarted(a) != ItemCompleted(a)  # same fields, different kinds
    assert ItemStarted(a) == ItemStarted(b) and ItemStarted(a) != ItemStarted(AgentMessage("item_1", "hi"))
    assert repr(ItemCompleted(a)) == "ItemCompleted(item=AgentMessage(id='item_0', text='hi'))"
    with pytest.raises(AttributeError, match="immutable"):
        a.text = "changed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del a.text
    assert repr(a) == "AgentMessage(id='item_0', text='hi')"


def test_usage_adds_up_and_says_when_it_was_counted() -> None:
    u = TokenUsage().plus(100, 20, 7, False).plus(50, 0, 3, True)
    assert (u.input_tokens, u.cached_input_tokens, u.output_tokens, u.total) == (150, 20, 10, 160)
    assert u.as_dict() == {
        "input_tokens": 150,
        "cached_input_tokens": 20,
        "cache_write_input_tokens": 0,
        "output_tokens": 10,
        "reasoning_output_tokens": 0,
        "counted": True,
    }


def test_jsonl_writes_public_events_only_in_codex_key_order() -> None:
    out = io.StringIO()
    sink = JsonlSink(out)
    item = CommandExecution("item_1", "ls", "a\n", 0, "completed", duration_s=0.5)
    for event in (AgentMessageDelta("x"), ItemCompleted(item), TurnFailed("boom", "model_error")):
        sink.emit(event)
    lines = out.getvalue().splitlines()
    assert lines == [
        '{"type": "item.completed", "item": {"id": "item_1", "type": "command_execution", "command": "ls", '
        '"aggregated_output": "a\\n", "exit_code": 0, "status": "completed"}}',
        '{"type": "turn.failed", "error": {"message": "boom"}}',
    ]
    done = TurnCompleted(TokenUsage(1, 0, 2), final="answer")
    assert json.loads(json.dumps(done.to_json())) == {
        "type": "turn.completed",
        "usage": {
            "input_tokens": 1,
            "cached_input_tokens": 0,
            "cache_write_input_tokens": 0,
            "output_tokens": 2,
            "reasoning_output_tokens": 0,
        },
    }
