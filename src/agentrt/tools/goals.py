"""The thread goal tools Codex 0.169 offers (``get_goal``, ``create_goal``, ``update_goal``).

A goal is an objective the user asked the agent to pursue, with an optional token budget. The tools
keep it per session and answer in Codex's JSON shape, so a model that knows Codex reads them as it
would there: ``{"goal": {threadId, objective, status, tokenBudget?, tokensUsed, timeUsedSeconds,
createdAt, updatedAt} | null, "remainingTokens": int | null, "completionBudgetReport": str | null}``.
Tokens used count what the model was sent uncached plus what it wrote, from the goal's creation on
(``usage``: the session's running total, read when a tool runs).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentrt.events import Event, ModelResponse
from agentrt.tools.registry import ToolArgumentError, ToolContext, function_spec

Usage = Callable[[], int]
"""The session's tokens so far (uncached input plus output)."""


class UsageMeter:
    """An event sink that keeps the session's running token total from each model response."""

    def __init__(self) -> None:
        self.tokens = 0

    def emit(self, event: Event) -> None:
        if isinstance(event, ModelResponse):
            u = event.turn_usage
            self.tokens = u.input_tokens - u.cached_input_tokens + u.output_tokens

    def total(self) -> int:
        return self.tokens


_STATUSES = ("complete", "blocked", "paused")


@dataclass(slots=True)
class Goal:
    objective: str
    token_budget: int | None
    created: int
    started_tokens: int
    status: str = "active"
    updated: int = 0


class Goals:
    """One session's goal, shared by its three tools (``tools()``)."""

    def __init__(self, thread_id: str, usage: Usage) -> None:
        self.thread_id = thread_id
        self.usage = usage
        self.goal: Goal | None = None

    def tools(self) -> list[Any]:
        return [GetGoal(self), CreateGoal(self), UpdateGoal(self)]

    def report(self, *, completed: bool = False) -> str:
        goal = self.goal
        if goal is None:
            return json.dumps({"goal": None, "remainingTokens": None, "completionBudgetReport": None})
        used = max(0, self.usage() - goal.started_tokens)
        shown: dict[str, Any] = {
            "threadId": self.thread_id,
            "objective": goal.objective,
            "status": goal.status,
        }
        if goal.token_budget is not None:
            shown["tokenBudget"] = goal.token_budget
        shown |= {
            "tokensUsed": used,
            "timeUsedSeconds": max(0, (goal.updated or goal.created) - goal.created),
            "createdAt": goal.created,
            "updatedAt": goal.updated or goal.created,
        }
        remaining = None if goal.token_budget is None else max(0, goal.token_budget - used)
        note = _COMPLETION_NOTE if completed else None
        return json.dumps(
            {"goal": shown, "remainingTokens": remaining, "completionBudgetReport": note},
            separators=(",", ":"),
        )


_COMPLETION_NOTE = (
    "The goal is complete. Tell the user what it used: tokens (goal.tokensUsed of goal.tokenBudget, "
    "when a budget was set) and, when goal.timeUsedSeconds is above 0, the time it took, briefly."
)


class GetGoal:
    name = "get_goal"
    read_only = True

    def __init__(self, goals: Goals) -> None:
        self.goals = goals

    def spec(self) -> dict[str, Any]:
        return function_spec(
            self.name, "Show this thread's goal: its objective, status, budget and what it has used.", {}, ()
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        return self.goals.report()


class CreateGoal:
    name = "create_goal"

    def __init__(self, goals: Goals) -> None:
        self.goals = goals

    def spec(self) -> dict[str, Any]:
        return function_spec(
            self.name,
            "Set a goal for this thread, only when the user (or your instructions) asked for one; give a "
            "token_budget only when a budget was asked for. Fails while an unfinished goal exists.",
            {
                "objective": {"type": "string", "description": "What the goal is, in the user's terms."},
                "token_budget": {"type": "integer", "description": "Tokens the goal may use, when asked."},
            },
            ("objective",),
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        goals = self.goals
        if goals.goal is not None and goals.goal.status != "complete":
            return "cannot create a new goal because this thread has an unfinished goal; complete it first"
        objective = str(args["objective"]).strip()
        if not objective:
            raise ToolArgumentError("objective must not be empty")
        budget = args.get("token_budget")
        if budget is not None and budget <= 0:
            raise ToolArgumentError("token_budget must be a positive number of tokens")
        goals.goal = Goal(objective, budget, int(time.time()), goals.usage())
        return goals.report()


class UpdateGoal:
    name = "update_goal"

    def __init__(self, goals: Goals) -> None:
        self.goals = goals

    def spec(self) -> dict[str, Any]:
        return function_spec(
            self.name,
            "Change the goal's status: complete when it is achieved, blocked when it cannot go on, paused "
            "only when the user asked to pause. Then report the result and stop working on the goal.",
            {"status": {"type": "string", "enum": list(_STATUSES), "description": "The goal's new status."}},
            ("status",),
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        status = str(args["status"])
        if status not in _STATUSES:
            raise ToolArgumentError(f"status must be one of {', '.join(_STATUSES)}")
        goal = self.goals.goal
        if goal is None:
            return "cannot update goal because this thread has no goal"
        goal.status, goal.updated = status, int(time.time())
        return self.goals.report(completed=status == "complete")
