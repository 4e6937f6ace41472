"""Codex's goal tools: Codex 0.169's JSON shapes and refusals, tokens counted from the goal's creation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from agentrt.events import ItemIds, ModelResponse, TokenUsage
from agentrt.tools.goals import Goals, UsageMeter
from agentrt.tools.registry import ToolContext, ToolRegistry


def call(registry: ToolRegistry, name: str, **args: Any) -> str:
    from agentrt.messages import ToolCall

    ctx = ToolContext(Path("."), lambda e: None, ItemIds())
    return asyncio.run(registry.dispatch(ToolCall("c1", name, json.dumps(args)), ctx))


def test_a_goal_from_creation_to_completion() -> None:
    meter = UsageMeter()
    registry = ToolRegistry(Goals("thread-9", meter.total).tools())
    assert json.loads(call(registry, "get_goal")) == {
        "goal": None,
        "remainingTokens": None,
        "completionBudgetReport": None,
    }
    assert (
        call(registry, "update_goal", status="paused") == "cannot update goal because this thread has no goal"
    )

    meter.emit(ModelResponse(None, 0.1, 100, 10, TokenUsage(100, 40, 10)))  # 70 tokens before the goal
    created = json.loads(call(registry, "create_goal", objective="ship it", token_budget=1000))
    assert created["goal"]["threadId"] == "thread-9" and created["goal"]["status"] == "active"
    assert created["goal"]["tokenBudget"] == 1000 and created["goal"]["tokensUsed"] == 0
    assert created["remainingTokens"] == 1000
    assert call(registry, "create_goal", objective="another").startswith("cannot create a new goal")

    meter.emit(ModelResponse(None, 0.1, 100, 10, TokenUsage(300, 100, 30)))  # 230 in all: 160 since
    done = json.loads(call(registry, "update_goal", status="complete"))
    assert done["goal"]["status"] == "complete" and done["goal"]["tokensUsed"] == 160
    assert done["remainingTokens"] == 840 and "tokens" in done["completionBudgetReport"]
    assert json.loads(call(registry, "create_goal", objective="next"))["goal"]["objective"] == "next"


def test_bad_arguments_are_told_to_the_model() -> None:
    registry = ToolRegistry(Goals("t", lambda: 0).tools())
    assert "status must be one of complete, blocked, paused" in call(registry, "update_goal", status="done")
    assert "token_budget must be a positive" in call(registry, "create_goal", objective="x", token_budget=0)
    assert "objective must not be empty" in call(registry, "create_goal", objective="  ")
