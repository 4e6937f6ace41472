"""The ``update_plan`` tool: ``{explanation?, plan: [{step, status}]}``; shown as a ``todo_list`` item."""

from __future__ import annotations

from typing import Any

from agentrt.tools.registry import ToolArgumentError, ToolContext, function_spec

STATUSES = ("pending", "in_progress", "completed")


class PlanTool:
    name = "update_plan"

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
            items.append({"text": s["step"], "completed": s["status"] == "completed"})
        if sum(1 for s in steps if s["status"] == "in_progress") > 1:
            raise ToolArgumentError("at most one step may be in_progress")
        plan = ctx.plan
        first = plan.item_id is None
        if first:
            plan.item_id = ctx.ids.new()
        plan.items = items
        ctx.emit("item.started" if first else "item.updated", {"item": todo_item(plan.item_id or "", items)})
        return "Plan updated"


def todo_item(item_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": item_id, "type": "todo_list", "items": items}
