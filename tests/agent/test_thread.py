"""The agent loop against the in-process ``ScriptedModel``: every early stop, cancellation mid-stream and
mid-command, malformed and unknown tool calls, and the answer check — with real tools and processes."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from agentrt.agent.thread import INTERRUPTED_NOTE, Limits, Thread, TurnStopped
from agentrt.events import (
    CommandExecution,
    HistoryItem,
    ItemCompleted,
    ItemStarted,
    Recorder,
    TodoList,
    TurnCompleted,
    TurnFailed,
)
from agentrt.model.scripted import ScriptedModel
from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.process import Confinement
from agentrt.tools.apply_patch.fsops import local_write
from agentrt.tools.coding import coding_tools
from agentrt.tools.registry import ToolContext, ToolRegistry


def plan_call(status: str = "in_progress") -> dict[str, Any]:
    return {"name": "update_plan", "arguments": {"plan": [{"step": "work", "status": status}]}}


def shell_call(*argv: str) -> dict[str, Any]:
    return {"name": "shell", "arguments": {"command": list(argv)}}


def make_thread(tmp_path: Path, model: ScriptedModel, **kw: Any) -> tuple[Thread, Recorder]:
    recorder = Recorder()
    tools = ToolRegistry(coding_tools(Confinement(NoSandbox(), dict(os.environ)), local_write))
    history = [{"role": "system", "content": "You are a test agent."}]
    return Thread(model, tools, recorder, cwd=tmp_path, history=history, **kw), recorder


def assert_consistent(messages: list[dict[str, Any]]) -> None:
    """Every tool call has exactly one output, right after its assistant message."""
    pending: list[str] = []
    for message in messages:
        if message["role"] == "tool":
            assert message["tool_call_id"] == pending.pop(0)
        else:
            assert not pending, f"calls {pending} have no output"
            pending = [c["id"] for c in message.get("tool_calls") or ()]
    assert not pending, f"calls {pending} have no output"


def failed(recorder: Recorder) -> list[TurnFailed]:
    return [e for e in recorder.events if isinstance(e, TurnFailed)]


def test_a_turn_runs_tools_then_answers_and_reports_everything(tmp_path: Path) -> None:
    model = ScriptedModel([{"tool_calls": [plan_call(), shell_call("echo", "hi")]}, "Done."])
    thread, recorder = make_thread(tmp_path, model)
    assert asyncio.run(thread.run_turn("go")) == "Done."
    model.assert_complete()
    assert_consistent(thread.messages)
    (done,) = [e for e in recorder.events if isinstance(e, TurnCompleted)]
    assert done.final == "Done." and done.usage.output_tokens > 0
    items = recorder.items()
    assert isinstance(items[0], CommandExecution) and items[0].aggregated_output == "hi\n"
    assert isinstance(items[-1], TodoList)  # the open plan is completed when the turn ends
    history = [e.message for e in recorder.events if isinstance(e, HistoryItem)]
    assert history == thread.messages[1:]  # every message added was reported for the rollout


def test_max_turns_stops_with_the_reason_and_a_consistent_history(tmp_path: Path) -> None:
    model = ScriptedModel([{"tool_calls": [plan_call()]}] * 3)
    thread, recorder = make_thread(tmp_path, model, limits=Limits(max_turns=3))
    with pytest.raises(TurnStopped) as stop:
        asyncio.run(thread.run_turn("go"))
    assert stop.value.reason == "max_turns" and "3 model requests" in stop.value.message
    model.assert_complete()
    assert_consistent(thread.messages)
    assert [f.reason for f in failed(recorder)] == ["max_turns"]


def test_max_wall_time_is_checked_before_each_request(tmp_path: Path) -> None:
    model = ScriptedModel([{"tool_calls": [shell_call("sleep", "0.3")]}, "never asked"])
    thread, recorder = make_thread(tmp_path, model, limits=Limits(max_wall_s=0.2))
    with pytest.raises(TurnStopped) as stop:
        asyncio.run(thread.run_turn("go"))
    assert stop.value.reason == "max_wall_time"
    assert len(model.requests) == 1  # the second request was never sent
    assert_consistent(thread.messages)
    assert failed(recorder)[0].message == stop.value.message


def test_max_tokens_counts_input_and_output(tmp_path: Path) -> None:
    model = ScriptedModel([{"tool_calls": [plan_call()]}, "never asked"])
    thread, _ = make_thread(tmp_path, model, limits=Limits(max_tokens=5))
    with pytest.raises(TurnStopped) as stop:
        asyncio.run(thread.run_turn("go"))
    assert stop.value.reason == "max_tokens" and "limit of 5" in stop.value.message
    assert len(model.requests) == 1


def test_a_model_error_stops_the_turn_with_its_type(tmp_path: Path) -> None:
    model = ScriptedModel([{"content": "x", "fault": "server_error", "fault_count": -1}])
    thread, recorder = make_thread(tmp_path, model)
    with pytest.raises(TurnStopped) as stop:
        asyncio.run(thread.run_turn("go"))
    assert stop.value.reason == "model_error" and stop.value.message.startswith("ServerError:")
    assert thread.messages[-1] == {"role": "user", "content": "go"}
    assert failed(recorder)[0].reason == "model_error"


def test_malformed_and_unknown_tool_calls_are_told_to_the_model_and_nothing_runs(tmp_path: Path) -> None:
    model = ScriptedModel(
        [
            {"tool_calls": [{"name": "shell", "arguments": "{not json"}]},
            {"tool_calls": [{"name": "rm_everything", "arguments": {}}]},
            {"tool_calls": [{"name": "shell", "arguments": {"command": ["touch", "x"], "sudo": True}}]},
            "Understood.",
        ]
    )
    thread, recorder = make_thread(tmp_path, model)
    assert asyncio.run(thread.run_turn("go")) == "Understood."
    outputs = [m["content"] for m in thread.messages if m["role"] == "tool"]
    assert "not valid JSON" in outputs[0] and "did not run" in outputs[0]
    assert "unknown tool 'rm_everything'" in outputs[1]
    assert "unknown argument 'sudo'" in outputs[2]
    assert not (tmp_path / "x").exists()
    assert not [i for i in recorder.items() if isinstance(i, CommandExecution)]
    model.assert_complete()


def test_an_answer_the_check_refuses_gets_its_feedback_and_another_try(tmp_path: Path) -> None:
    model = ScriptedModel(["wrong", "right"])
    seen: list[str] = []

    async def check(text: str, ctx: ToolContext) -> str | None:
        seen.append(text)
        return None if text == "right" else "Not quite: say right."

    thread, _ = make_thread(tmp_path, model, check_final=check)
    assert asyncio.run(thread.run_turn("go")) == "right"
    assert seen == ["wrong", "right"]
    assert model.requests[1][0][-1] == {"role": "user", "content": "Not quite: say right."}


def test_cancelled_mid_stream_records_the_interruption_not_a_partial_reply(tmp_path: Path) -> None:
    model = ScriptedModel(["word " * 200], delay_s=0.01)
    thread, recorder = make_thread(tmp_path, model)

    async def main() -> None:
        task = asyncio.create_task(thread.run_turn("go"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert thread.messages[-2:] == [
        {"role": "user", "content": "go"},
        {"role": "user", "content": INTERRUPTED_NOTE},  # the next request tells the model
    ]
    assert not any(m["role"] == "assistant" for m in thread.messages)
    assert_consistent(thread.messages)
    failed = [e for e in recorder.events if isinstance(e, TurnFailed)]
    assert [(e.reason, e.message) for e in failed] == [("interrupted", "the turn was interrupted")]


def test_cancelled_mid_command_kills_it_and_answers_every_pending_call(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = f"echo $$ > {pidfile}; exec sleep 30"
    model = ScriptedModel([{"tool_calls": [shell_call("sh", "-c", script), plan_call()]}])
    thread, recorder = make_thread(tmp_path, model)

    async def main() -> None:
        task = asyncio.create_task(thread.run_turn("go"))
        while not pidfile.exists() or not pidfile.read_text().strip():
            assert not task.done()
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the command outlived its cancelled turn"
    assert_consistent(thread.messages)
    outputs = [m["content"] for m in thread.messages if m["role"] == "tool"]
    assert len(outputs) == 2 and all("cancelled" in o for o in outputs)
    assert any(isinstance(e, ItemStarted) for e in recorder.events)
    assert not any(
        isinstance(e, ItemCompleted) and isinstance(e.item, CommandExecution) for e in recorder.events
    )


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def test_an_argument_too_long_to_exec_is_a_tool_error_and_the_turn_goes_on(tmp_path: Path) -> None:
    model = ScriptedModel([{"tool_calls": [shell_call("echo", "x" * 200_000)]}, "Used a file instead."])
    thread, recorder = make_thread(tmp_path, model)
    assert asyncio.run(thread.run_turn("go")) == "Used a file instead."
    (item,) = [i for i in recorder.items() if isinstance(i, CommandExecution)]
    assert item.exit_code == 126 and item.status == "failed"
    assert "Argument list too long" in item.aggregated_output and "through a file" in item.aggregated_output


class ExplodingTool:
    name = "explode"

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": "explode", "parameters": {"type": "object", "properties": {}}},
        }

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        raise RuntimeError("the tool broke")


def test_any_fatal_error_still_reports_turn_failed_before_it_propagates(tmp_path: Path) -> None:
    model = ScriptedModel([{"tool_calls": [{"name": "explode", "arguments": {}}]}])
    recorder = Recorder()
    thread = Thread(model, ToolRegistry([ExplodingTool()]), recorder, cwd=tmp_path)
    with pytest.raises(RuntimeError, match="the tool broke"):
        asyncio.run(thread.run_turn("go"))
    (fail,) = failed(recorder)
    assert fail.reason == "internal_error" and fail.message == "RuntimeError: the tool broke"
    assert recorder.events[-1] == fail


def test_a_reply_broken_mid_stream_is_asked_again_and_says_so(tmp_path: Path) -> None:
    import io

    from agentrt.agent.render import HumanSink
    from agentrt.events import Fanout, JsonlSink, Reconnecting
    from agentrt.model.client import OpenAIClient
    from agentrt.model.endpoint import Endpoint
    from agentrt.model.retry import RetryPolicy
    from agentrt.model.sim import SimConfig, start_sim_server

    script = ({"content": "The whole answer, in several tokens.", "fault": "truncate"},)
    jsonl, human, recorder = io.StringIO(), io.StringIO(), Recorder()
    sink = Fanout([recorder, JsonlSink(jsonl), HumanSink(human, color=False)])

    async def main() -> str:
        async with await start_sim_server(SimConfig(policy="script", script=script)) as server:
            client = OpenAIClient(
                Endpoint(server.base_url, "agentrt-sim"),
                retry=RetryPolicy(base_delay_s=0.01, max_delay_s=0.01),
            )
            try:
                return await Thread(client, ToolRegistry([]), sink, cwd=tmp_path).run_turn("go")
            finally:
                await client.aclose()

    assert asyncio.run(main()) == "The whole answer, in several tokens."
    (event,) = [e for e in recorder.events if isinstance(e, Reconnecting)]
    assert (event.attempt, event.max_attempts) == (1, 5) and "TruncatedStream" in event.reason
    lines = jsonl.getvalue().splitlines()
    assert any(
        line.startswith('{"type": "error", "message": "Reconnecting... 1/5 (TruncatedStream')
        for line in lines
    )
    assert "Reconnecting... 1/5" in human.getvalue()


class _SlowReader:
    """A read-only tool that records when each call starts and ends."""

    name = "slow_read"
    read_only = True

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}},
            },
        }

    async def run(self, args: dict[str, Any], ctx: Any) -> str:
        self.log.append(f"start {args['n']}")
        await asyncio.sleep(0.05 * (3 - args["n"]))  # the first call finishes last
        self.log.append(f"end {args['n']}")
        return f"read {args['n']}"


def test_read_only_calls_of_one_reply_run_together_and_answer_in_call_order(tmp_path: Path) -> None:
    log: list[str] = []
    reads = [{"name": "slow_read", "arguments": {"n": n}} for n in range(3)]
    model = ScriptedModel([{"tool_calls": [*reads, plan_call()]}, "Done."])
    tools = ToolRegistry(
        [_SlowReader(log), *coding_tools(Confinement(NoSandbox(), dict(os.environ)), local_write)]
    )
    thread = Thread(model, tools, Recorder(), cwd=tmp_path, history=[{"role": "system", "content": "s"}])
    assert asyncio.run(thread.run_turn("read")) == "Done."
    assert log[:3] == ["start 0", "start 1", "start 2"]  # all three began before any ended
    assert log[3:] == ["end 2", "end 1", "end 0"]
    outputs = [m["content"] for m in thread.messages if m["role"] == "tool"]
    assert outputs[:3] == ["read 0", "read 1", "read 2"]  # in the order the model asked
    assert_consistent(thread.messages)
