"""Prices and costs: the shipped table, the user's table over it, unknown stays unknown."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrt.agent.cost import Price, cost_text, price_for, shipped_prices
from agentrt.events import TokenUsage


def test_the_shipped_table_says_its_date_and_source() -> None:
    table = shipped_prices()
    assert table["date"] and "pricing" in table["source"]
    assert all({"input", "output"} <= set(v) for v in table["models"].values())


def test_prices_by_name_then_longest_prefix_user_first() -> None:
    assert price_for("gpt-5") == Price(1.25, 0.125, 10.0)
    assert price_for("gpt-5-mini-2025-08-07") == Price(0.25, 0.025, 2.0)  # gpt-5-mini, not gpt-5
    assert price_for("openai/gpt-4.1") == Price(2.0, 0.5, 8.0)
    assert price_for("qwen2.5-coder:7b") is None  # unknown: never 0
    mine = {"qwen2.5-coder": {"input": 0.1, "output": 0.2}}
    assert price_for("qwen2.5-coder-7b", mine) == Price(0.1, 0.1, 0.2)  # cached defaults to input
    assert price_for("gpt-5", {"gpt-5": {"input": 9, "cached_input": 1, "output": 9}}) == Price(9, 1, 9)
    assert price_for("gpt-5", {"gpt-5": {"input": "lots"}}) == Price(1.25, 0.125, 10.0)  # a bad row is no row


def test_cached_input_is_charged_at_the_cached_price() -> None:
    usage = TokenUsage(input_tokens=1_000_000, cached_input_tokens=400_000, output_tokens=100_000)
    assert Price(1.25, 0.125, 10.0).cost(usage) == pytest.approx(0.6 * 1.25 + 0.4 * 0.125 + 0.1 * 10.0)
    assert cost_text(None) == "unknown" and cost_text(0.01234) == "$0.0123" and cost_text(12.5) == "$12.50"


def test_an_unknown_price_is_reported_as_unknown_not_zero(tmp_path: Path) -> None:
    import asyncio

    from agentrt.agent.thread import Thread
    from agentrt.events import Recorder, TurnCompleted
    from agentrt.model.scripted import ScriptedModel
    from agentrt.tools.registry import ToolRegistry

    for price, expected in ((None, None), (Price(1.0, 1.0, 1.0), "a number")):
        recorder = Recorder()
        thread = Thread(ScriptedModel(["done"]), ToolRegistry(()), recorder, cwd=tmp_path, price=price)
        asyncio.run(thread.run_turn("go"))
        (done,) = [e for e in recorder.events if isinstance(e, TurnCompleted)]
        assert done.costed and done.payload()["cost_usd"] == (None if expected is None else done.cost_usd)
        assert (done.cost_usd is None) == (expected is None)


def test_max_cost_stops_before_the_request_that_would_cross_it(tmp_path: Path) -> None:
    import asyncio

    from agentrt.agent.context import estimate
    from agentrt.agent.thread import Limits, Thread, TurnStopped
    from agentrt.events import Recorder, TurnFailed
    from agentrt.model.scripted import ScriptedModel
    from agentrt.tools.plan import PlanTool
    from agentrt.tools.registry import ToolRegistry

    price = Price(1000.0, 1000.0, 1000.0)  # $0.001 a token: easy to reason about
    plan = {"name": "update_plan", "arguments": {"plan": [{"step": "a", "status": "in_progress"}]}}
    model = ScriptedModel([{"tool_calls": [plan]}, {"tool_calls": [plan]}, "done"])
    history = [{"role": "system", "content": "s" * 400}]
    first = price.cost(TokenUsage(estimate([*history, {"role": "user", "content": "go"}])))
    recorder = Recorder()
    thread = Thread(
        model, ToolRegistry([PlanTool()]), recorder, cwd=tmp_path, history=history, price=price,
        limits=Limits(max_cost_usd=first * 1.5),
    )  # fmt: skip
    with pytest.raises(TurnStopped) as stopped:
        asyncio.run(thread.run_turn("go"))
    assert stopped.value.reason == "max_cost" and "cost limit of $" in stopped.value.message
    assert len(model.requests) == 1  # the first fit; the second would have crossed, and was not sent
    assert [e.reason for e in recorder.events if isinstance(e, TurnFailed)] == ["max_cost"]
