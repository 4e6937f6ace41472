"""A benchmark run's cost: the model's price times its tokens; a model with no price is unknown."""

from __future__ import annotations

from agentrt.bench.report import render_table
from agentrt.bench.result import TaskResult
from agentrt.bench.runner import _cost


def test_run_cost_is_priced_or_unknown() -> None:
    results = [TaskResult("t1", "passed", prompt_tokens=600_000, completion_tokens=100_000)]
    assert _cost("gpt-5", results) == 0.6 * 1.25 + 0.1 * 10.0
    assert _cost("agentrt-sim", results) == 0.0  # the simulator is free, and known to be
    assert _cost("a-model-nobody-priced", results) is None
    assert "cost unknown" in render_table({"tasks": 1, "cost_usd": None})
    assert "cost $1.75" in render_table({"tasks": 1, "cost_usd": 1.75})
