"""``agentrt bench subagents``: the simulator plays parent and helpers; the run reports RSS per live helper."""

from __future__ import annotations

import asyncio
import json

from agentrt.bench.subagents import CHILD_PROMPT, PARENT_PROMPT, HelpersPolicy, run_task


def test_policy_plays_parent_and_helpers_from_the_request_alone() -> None:
    policy = HelpersPolicy(2)
    parent = [{"role": "user", "content": PARENT_PROMPT.format(task=7, n=2)}]
    spawn = policy.reply(parent)
    assert [json.loads(c.arguments)["message"] for c in spawn.tool_calls] == [
        CHILD_PROMPT.format(k=k, task=7) for k in range(2)
    ]
    helper = policy.reply(
        [{"role": "system", "content": "base"}, {"role": "user", "content": CHILD_PROMPT.format(k=1, task=7)}]
    )
    assert helper.content == "Helper 1 of task 7: fact reported." and not helper.tool_calls
    spawned = [*parent, {"role": "assistant", "content": ""}]
    spawned += [{"role": "tool", "content": json.dumps({"agent_id": a, "nickname": a})} for a in ("a", "b")]
    wait = policy.reply(spawned)
    assert json.loads(wait.tool_calls[0].arguments)["targets"] == ["a", "b"]
    half = [
        *spawned,
        {"role": "tool", "content": json.dumps({"status": {"a": {"completed": "x"}}, "timed_out": False})},
    ]
    assert json.loads(policy.reply(half).tool_calls[0].arguments)["targets"] == ["b"]
    done = [
        *half,
        {"role": "tool", "content": json.dumps({"status": {"b": {"completed": "y"}}, "timed_out": False})},
    ]
    assert policy.reply(done).content == "All 2 helpers reported."


def test_a_task_spawns_its_helpers_over_the_wire_and_reports_them_live() -> None:
    run = asyncio.run(run_task(6))
    assert run.answer == "All 6 helpers reported."
    assert (run.children, run.live_children) == (6, 6)
    assert run.rss_per_live_child_kib is not None and run.spawn_ms_median is not None
    assert run.spawn_ms_max is not None and run.spawn_ms_max >= run.spawn_ms_median > 0
    assert run.peak_rss_mib >= run.rss_live_mib > 0


def test_no_helpers_is_the_baseline() -> None:
    run = asyncio.run(run_task(0))
    assert (run.answer, run.live_children, run.rss_per_live_child_kib, run.spawn_ms_median) == (
        "All 0 helpers reported.", 0, None, None,
    )  # fmt: skip
