"""The ``update_plan`` tool: ``{explanation?, plan: [{step, status}]}``; shown as a ``todo_list`` item."""

from __future__ import annotations

from typing import Any

from agentrt.events import ItemCompleted, ItemStarted, ItemUpdated, TodoEntry, TodoList
from agentrt.tools.registry import ToolArgumentError, ToolContext, function_spec

STATUSES = ("pending", "in_progress", "completed")


class PlanTool:
    """Owns the plan: one ``todo_list`` item per turn, started by the first update, updated by the
    next ones, completed when the turn ends."""

    name = "update_plan"

    def __init__(self) -> None:
        self.item_id: str | None = None
        self.items: tuple[TodoEntry, ...] = ()

    def spec(self) -> dict[str, Any]:
        step = {
            "type": "object",
            "properties": {"step": {"type": "string"}, "status": {"type": "string", "enum": list(STATUSES)}},
            "required": ["step", "status"],
            "additionalProperties": False,
        }
        return function_spec(
            "update_plan",
            "Record the task plan: a list of steps, each pending, in_progress or completed (at most one in_progress).",
            {"explanation": {"type": "string"}, "plan": {"type": "array", "items": step}},
            ["plan"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        steps = args["plan"]
        items = []
        for i, s in enumerate(steps):
            if (
                not isinstance(s, dict)
                or not isinstance(s.get("step"), str)
                or s.get("status") not in STATUSES
            ):
                raise ToolArgumentError(
                    f"plan[{i}] must be {{step: string, status: one of {', '.join(STATUSES)}}}"
                )
            items.append(TodoEntry(s["step"], s["status"] == "completed"))
        if sum(1 for s in steps if s["status"] == "in_progress") > 1:
            raise ToolArgumentError("at most one step may be in_progress")
        first = self.item_id is None
        if self.item_id is None:
            self.item_id = ctx.ids.new()
        self.items = tuple(items)
        item = TodoList(self.item_id, self.items)
        ctx.emit(ItemStarted(item) if first else ItemUpdated(item))
        return "Plan updated"

    def end_turn(self, ctx: ToolContext) -> None:
        """Complete the turn's plan item, if there is one."""
        if self.item_id is not None:
            ctx.emit(ItemCompleted(TodoList(self.item_id, self.items)))
            self.item_id = None
