"""Context accounting, tool-output masking and compaction, with the in-process scripted model."""

from __future__ import annotations

import asyncio
import copy
import os
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentrt.agent.compact import SUMMARY_OPEN, compact
from agentrt.agent.context import (
    DEFAULT_WINDOW,
    MASK_PREFIX,
    Context,
    ContextPolicy,
    estimate,
    mask_old_outputs,
    message_tokens,
    window_for,
)
from agentrt.agent.rollout import RolloutSink, RolloutWriter, history_from_rollout, read_rollout
from agentrt.agent.thread import Thread
from agentrt.events import ContextCompacted, Error, Fanout, Recorder
from agentrt.model.scripted import ScriptedModel
from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.process import Confinement
from agentrt.tools.apply_patch.fsops import local_write
from agentrt.tools.coding import coding_tools
from agentrt.tools.registry import ToolRegistry

SYSTEM = {"role": "system", "content": "You are a test agent."}
ENV = {"role": "user", "content": "<environment_context>\n  <cwd>/w</cwd>\n</environment_context>"}


def step(i: int, output_chars: int = 400) -> list[dict[str, Any]]:
    """One model step: an assistant message with a shell call, and its output."""
    call = {
        "id": f"c{i}",
        "type": "function",
        "function": {"name": "shell", "arguments": f'{{"command": ["s{i}"]}}'},
    }
    return [
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": f"c{i}", "content": f"out{i} " + "x" * output_chars},
    ]


def history(steps: int, output_chars: int = 400) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [SYSTEM, ENV, {"role": "user", "content": "the task: do it all"}]
    for i in range(steps):
        messages += step(i, output_chars)
    return messages


def test_the_window_comes_from_config_then_the_table_then_a_default() -> None:
    assert window_for("gpt-5-codex", 5000) == (5000, True)
    assert window_for("gpt-4.1-mini", None) == (1_047_576, True)  # longest prefix: gpt-4.1, not gpt-4o
    assert window_for("openai/gpt-5", None) == (272_000, True)
    assert window_for("some-new-model", None) == (DEFAULT_WINDOW, False)


def test_a_message_too_large_for_the_window_is_cut_never_sent_whole() -> None:
    huge = "A" * 40_000 + "MIDDLE" + "Z" * 40_000
    messages = [SYSTEM, {"role": "user", "content": huge}]
    sent = Context(ContextPolicy(window=8192, masking=False)).view(messages)
    assert message_tokens(sent[1]) <= 8192 // 2
    assert sent[1]["content"].startswith("AAAA") and sent[1]["content"].endswith("ZZZZ")
    assert "omitted" in sent[1]["content"] and "MIDDLE" not in sent[1]["content"]
    assert messages[1]["content"] == huge  # the history itself is untouched


def test_tool_output_token_limit_caps_any_single_output() -> None:
    messages = history(1, output_chars=4000)
    sent = Context(ContextPolicy(window=100_000, output_cap=200, masking=False)).view(messages)
    assert message_tokens(sent[-1]) <= 200
    assert sent[-1]["content"].startswith("out0 ")


def test_masking_hides_old_outputs_but_never_the_newest() -> None:
    messages = history(12, output_chars=2000)
    policy = ContextPolicy(window=8000, keep_turns=3)  # the history is well past half the window
    sent = Context(policy).view(messages)
    outputs = [m["content"] for m in sent if m["role"] == "tool"]
    assert all(o.startswith(MASK_PREFIX) for o in outputs[:9])
    assert outputs[9:] == [m["content"] for m in messages if m["role"] == "tool"][9:]
    assert "shell call c0" in outputs[0]  # the placeholder names the call
    assert estimate(sent) < estimate(messages) / 3
    assert [m for m in sent if m["role"] != "tool"] == [m for m in messages if m["role"] != "tool"]


def test_no_masking_below_half_the_window() -> None:
    messages = history(12)
    assert Context(ContextPolicy(window=1_000_000)).view(messages) == messages
    assert Context(ContextPolicy(window=2000, masking=False)).view(messages) == messages


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=30), st.integers(0, 6))
def test_masking_keeps_the_newest_turns_and_every_non_tool_message(sizes: list[int], keep: int) -> None:
    messages: list[dict[str, Any]] = [SYSTEM]
    for i, size in enumerate(sizes):
        messages += step(i, size)
    before = copy.deepcopy(messages)
    masked = mask_old_outputs(messages, keep)
    assert messages == before
    assert len(masked) == len(messages)
    newest = {f"c{i}" for i in range(max(len(sizes) - keep, 0), len(sizes))} if keep else set()
    for original, sent in zip(messages, masked, strict=True):
        if original["role"] != "tool" or original["tool_call_id"] in newest:
            assert sent == original
        else:
            assert (
                sent["content"].startswith(MASK_PREFIX) and sent["tool_call_id"] == original["tool_call_id"]
            )


def test_compaction_keeps_context_first_prompt_and_newest_messages_verbatim() -> None:
    messages = history(30)
    messages.insert(20, {"role": "user", "content": "also: keep the tests green"})
    model = ScriptedModel(["The task: do it all. Done steps 0-29; next: finish."])
    policy = ContextPolicy(window=8000)
    done = asyncio.run(compact(model, messages, policy))
    new = done.history
    assert new[:2] == [SYSTEM, ENV]
    assert new[2] == {"role": "user", "content": "the task: do it all"}  # the first prompt, verbatim
    assert {"role": "user", "content": "also: keep the tests green"} in new
    summary = next(m for m in new if m["content"].startswith(SUMMARY_OPEN))
    assert "Done steps 0-29" in summary["content"]
    tail = new[new.index(summary) + 1 :]
    assert tail and tail == messages[-len(tail) :]  # the newest messages, verbatim
    assert tail[0]["role"] in ("user", "assistant")  # no orphaned tool output
    assert estimate(new) < estimate(messages) / 3
    assert len(model.requests) == 1  # one request per compaction
    request, tools = model.requests[0]
    assert tools == [] and "compacted" in request[-1]["content"]
    assert estimate(request) <= 8000


def test_a_failing_compaction_keeps_the_history(tmp_path: Path) -> None:
    for script in (["   "], [{"fault": "server_error", "fault_count": -1}]):
        thread, recorder = _thread(tmp_path, ScriptedModel(script), ContextPolicy(window=4000))
        thread.messages = history(10)
        before = copy.deepcopy(thread.messages)
        assert asyncio.run(thread.compact()) is False
        assert thread.messages == before
        errors = [e for e in recorder.events if isinstance(e, Error)]
        assert len(errors) == 1 and "compaction failed, the full history is kept" in errors[0].message
        assert not [e for e in recorder.events if isinstance(e, ContextCompacted)]


class Summarizer:
    """A scripted model that answers a request offering no tools (a compaction's) with a summary itself."""

    def __init__(self, inner: ScriptedModel) -> None:
        self.inner = inner
        self.summary_requests: list[list[dict[str, Any]]] = []

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
        if tools:
            return await self.inner.complete(messages, tools)
        self.summary_requests.append(messages)
        n = len(self.summary_requests)
        return await ScriptedModel([f"Summary {n}: many ys printed so far; keep going."]).complete(
            messages, tools
        )

    def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
        return self.inner.stream(messages, tools)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_long_turn_compacts_and_resume_restores_the_compacted_history(tmp_path: Path) -> None:
    big = "printf 'y%.0s' $(seq 1 1200)"
    steps = [{"tool_calls": [{"name": "shell", "arguments": {"command": ["bash", "-c", big]}}]}] * 24
    model = Summarizer(ScriptedModel([*steps, "All done."]))
    writer = RolloutWriter.create(tmp_path / "home", cwd=tmp_path, meta={})
    recorder = Recorder()
    sink = Fanout([RolloutSink(writer), recorder])
    thread, _ = _thread(tmp_path, model, ContextPolicy(window=4000, masking=False), sink)  # type: ignore[arg-type]
    assert asyncio.run(thread.run_turn("make many ys")) == "All done."
    writer.close()
    compactions = [e for e in recorder.events if isinstance(e, ContextCompacted)]
    assert len(compactions) >= 2
    assert len(model.summary_requests) == len(compactions)  # one request per compaction
    assert all(estimate(request) <= 4000 for request, _ in model.inner.requests)
    assert all(estimate(request) <= 4000 for request in model.summary_requests)
    resumed = history_from_rollout(read_rollout(writer.path))
    assert resumed == thread.messages
    assert resumed[2] == {"role": "user", "content": "make many ys"}  # the first prompt survives
    assert any(m["content"].startswith(SUMMARY_OPEN) for m in resumed if m["role"] == "user")


def _thread(
    tmp_path: Path, model: ScriptedModel, policy: ContextPolicy, sink: Any = None
) -> tuple[Thread, Recorder]:
    recorder = Recorder()
    tools = ToolRegistry(coding_tools(Confinement(NoSandbox(), dict(os.environ)), local_write))
    thread = Thread(
        model, tools, sink or recorder, cwd=tmp_path, history=[SYSTEM, ENV], context=Context(policy)
    )
    return thread, recorder
