"""``ScriptedModel``: the in-process scripted ``Model`` streams, fails, runs out and cancels as documented."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from agentrt.interfaces import Model
from agentrt.messages import (
    Completion,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from agentrt.model.errors import (
    ConnectError,
    MalformedResponse,
    ModelError,
    ModelTimeout,
    RateLimited,
    ServerError,
    TruncatedStream,
)
from agentrt.model.scripted import ScriptedModel, ScriptExhausted
from agentrt.model.sim.policies import prompt_tokens

USER: list[Message] = [{"role": "user", "content": "Fix the bug in main.py please."}]
TOOLS: list[dict[str, Any]] = [{"type": "function", "function": {"name": "shell", "parameters": {}}}]


def _events(model: ScriptedModel, messages: list[Message] = USER) -> list[StreamEvent]:
    async def drain() -> list[StreamEvent]:
        return [e async for e in model.stream(messages, TOOLS)]

    return asyncio.run(drain())


def _failure(model: ScriptedModel) -> tuple[list[StreamEvent], BaseException]:
    """The events a failing stream yielded before it raised, and what it raised."""
    seen: list[StreamEvent] = []

    async def drain() -> None:
        async for event in model.stream(USER):
            seen.append(event)  # noqa: PERF401  (keeps what came before the stream raised)

    with pytest.raises(BaseException) as info:
        asyncio.run(drain())
    return seen, info.value


def test_is_a_model() -> None:
    model: Model = ScriptedModel(["hi"], name="m")
    assert model.name == "m"


def test_text_deltas_join_to_content_and_usage() -> None:
    content = "I will read the file first, then fix it."
    model = ScriptedModel([{"content": content, "reasoning": "Think about it."}])
    events = _events(model)
    *deltas, done = events
    assert isinstance(done, Completion)
    texts = [e.text for e in deltas if isinstance(e, TextDelta)]
    assert len(texts) > 3
    assert "".join(texts) == content == done.content
    assert "".join(e.text for e in deltas if isinstance(e, ReasoningDelta)) == "Think about it."
    assert done.reasoning == "Think about it."
    assert isinstance(deltas[0], ReasoningDelta)  # reasoning streams before the answer
    assert done.finish_reason == "stop"
    assert done.tool_calls == ()
    assert done.usage.completion_tokens == len(deltas)
    assert done.usage.prompt_tokens == prompt_tokens(USER)
    assert not done.usage.counted


def test_chunk_groups_tokens() -> None:
    content = "one two three four five"
    events = _events(ScriptedModel([content], chunk=2))
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert texts == ["one two", " three four", " five"]


def test_tool_calls_ids_and_arguments() -> None:
    script: list[object] = [
        "plain text first",
        {
            "content": "Running it.",
            "tool_calls": [
                {"name": "shell", "arguments": {"command": ["ls", "-la"]}},
                {"name": "read_file", "arguments": '{"path": "a.py"}', "id": "given_id"},
            ],
        },
    ]
    model = ScriptedModel(script)
    first = asyncio.run(model.complete(USER))
    assert first.content == "plain text first"
    events = _events(model)
    done = events[-1]
    assert isinstance(done, Completion)
    assert done.finish_reason == "tool_calls"
    assert [c.id for c in done.tool_calls] == ["call_1_0", "given_id"]
    assert [c.name for c in done.tool_calls] == ["shell", "read_file"]
    assert json.loads(done.tool_calls[0].arguments) == {"command": ["ls", "-la"]}
    assert done.tool_calls[1].arguments == '{"path": "a.py"}'
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    heads = [e for e in calls if e.name is not None]
    assert [(e.index, e.id, e.name) for e in heads] == [
        (0, "call_1_0", "shell"),
        (1, "given_id", "read_file"),
    ]
    for i, call in enumerate(done.tool_calls):
        assert "".join(e.arguments for e in calls if e.index == i) == call.arguments
    assert done.usage.completion_tokens == len(events) - 1
    assert done.as_message()["tool_calls"][0]["function"]["name"] == "shell"


def test_requests_are_recorded_as_copies() -> None:
    model = ScriptedModel(["a", "b"])
    messages: list[Message] = [{"role": "user", "content": "one"}]
    asyncio.run(model.complete(messages, TOOLS))
    messages[0]["content"] = "changed"
    messages.append({"role": "assistant", "content": "a"})
    asyncio.run(model.complete(messages))
    assert model.requests[0] == ([{"role": "user", "content": "one"}], TOOLS)
    assert model.requests[0][1] is not TOOLS
    assert len(model.requests[1][0]) == 2
    assert model.requests[1][1] == []


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
def test_every_fault_raises_its_error(fault: str, error: type[ModelError]) -> None:
    model = ScriptedModel([{"content": "one two three four five", "fault": fault}])
    seen, raised = _failure(model)
    assert type(raised) is error
    assert isinstance(raised, ModelError)
    assert not any(isinstance(e, Completion) for e in seen)
    mid_stream = fault in ("stall", "truncate", "disconnect", "malformed")
    assert [e.text for e in seen if isinstance(e, TextDelta)] == (["one", " two"] if mid_stream else [])


def test_http_faults_carry_status() -> None:
    _, limited = _failure(ScriptedModel([{"fault": "rate_limit"}]))
    assert isinstance(limited, RateLimited)
    assert (limited.status, limited.retry_after, limited.retryable) == (429, 0.0, True)
    _, server = _failure(ScriptedModel([{"fault": "server_error"}]))
    assert isinstance(server, ServerError)
    assert server.status == 500


def test_fault_then_retry_gets_the_reply() -> None:
    model = ScriptedModel(
        [{"content": "after two failures", "fault": "server_error", "fault_count": 2}, "next"]
    )
    for _ in range(2):
        _, raised = _failure(model)
        assert isinstance(raised, ServerError)
    assert model.unused == 1  # the faulting step was reached; "next" was not
    assert asyncio.run(model.complete(USER)).content == "after two failures"
    assert asyncio.run(model.complete(USER)).content == "next"
    assert len(model.requests) == 4
    model.assert_complete()


def test_fault_every_time_never_advances() -> None:
    model = ScriptedModel([{"content": "never", "fault": "hang", "fault_count": -1}, "unreached"])
    for _ in range(3):
        assert isinstance(_failure(model)[1], ModelTimeout)
    with pytest.raises(AssertionError, match="1 of 2 scripted replies were never requested"):
        model.assert_complete()


def test_exhaustion_and_assert_complete() -> None:
    model = ScriptedModel(["one", "two", "three"])
    with pytest.raises(AssertionError, match="3 of 3 scripted replies"):
        model.assert_complete()
    asyncio.run(model.complete(USER))
    with pytest.raises(AssertionError, match="2 of 3"):
        model.assert_complete()
    asyncio.run(model.complete(USER))
    asyncio.run(model.complete(USER))
    model.assert_complete()
    with pytest.raises(ScriptExhausted, match="request 4, but its script holds 3 replies"):
        asyncio.run(model.complete(USER))
    assert len(model.requests) == 4
    assert not issubclass(ScriptExhausted, ModelError)  # a retrying caller must not swallow it


def test_bad_script_is_rejected_up_front() -> None:
    with pytest.raises(ValueError, match="script reply 1: unknown fault"):
        ScriptedModel(["ok", {"fault": "explode"}])
    with pytest.raises(ValueError, match="chunk"):
        ScriptedModel(["ok"], chunk=0)
    with pytest.raises(ValueError, match="delay_s"):
        ScriptedModel(["ok"], delay_s=-1)


def test_delay_lets_a_turn_be_cancelled_and_the_next_step_follows() -> None:
    """A cancelled turn consumes its reply; the model answers the next request with the next reply."""
    slow = "a long reply of many words that takes a while to stream out fully"
    model = ScriptedModel([slow, {"content": "second", "tool_calls": [{"name": "shell", "arguments": {}}]}])
    model.delay_s = 0.05
    seen: list[StreamEvent] = []

    async def first_turn() -> None:
        async for event in model.stream(USER):
            seen.append(event)  # noqa: PERF401  (keeps what came before the stream raised)

    async def scenario() -> Completion:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(first_turn(), timeout=0.12)
        model.delay_s = 0.0
        return await model.complete(USER)

    second = asyncio.run(scenario())
    assert 0 < len(seen) < len(slow.split())  # it was cut off mid-stream
    assert all(isinstance(e, TextDelta) for e in seen)
    assert second.content == "second"
    assert second.tool_calls[0].id == "call_1_0"
    assert len(model.requests) == 2
    model.assert_complete()


def test_replay_is_deterministic() -> None:
    script: list[object] = [{"content": "x y z", "tool_calls": [{"name": "t", "arguments": {"a": 1}}]}]
    first, second = _events(ScriptedModel(script)), _events(ScriptedModel(script))
    assert first[:-1] == second[:-1]
    done_a, done_b = first[-1], second[-1]
    assert isinstance(done_a, Completion)
    assert isinstance(done_b, Completion)
    assert (done_a.content, done_a.tool_calls, done_a.usage) == (
        done_b.content,
        done_b.tool_calls,
        done_b.usage,
    )
