"""The tools a coding agent offers its model, and the one place tool calls are dispatched.

A tool is a name, a JSON-schema ``spec`` (Chat Completions function shape) and an async ``run``.
``ToolRegistry.dispatch`` decodes and checks the arguments first: malformed JSON, a missing or
mistyped argument, or an unknown tool go back to the model as an error text and nothing runs.
Whatever a tool returns is cut to the output budget (head and tail kept) before the model sees it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agentrt.agent.approvals import ApprovalGate
from agentrt.agent.events import ItemIds
from agentrt.interfaces import Sandbox
from agentrt.model.types import ToolCall
from agentrt.tools.apply_patch.fsops import FileWrite


class ToolArgumentError(Exception):
    """The model's arguments do not fit the tool; the message goes back to the model."""


@dataclass
class PlanState:
    item_id: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ToolContext:
    cwd: Path
    emit: Callable[[str, dict[str, Any]], None]
    ids: ItemIds
    env: Mapping[str, str] | None = None
    sandbox: Sandbox | None = None
    output_cap: int = 64 * 1024
    default_timeout_s: float = 120.0
    plan: PlanState = field(default_factory=PlanState)
    approvals: ApprovalGate | None = None
    """``None``: commands run (under ``sandbox``) without any approval step."""
    ready: Callable[[], Awaitable[None]] | None = None
    """Awaited before a command runs: lets a session finish proving its sandbox (sets ``sandbox``, ``env``)."""
    patch_write: FileWrite | None = None
    """How ``apply_patch`` writes; ``None``: directly. A sandboxed session confines it to the policy."""


class Tool(Protocol):
    name: str

    def spec(self) -> dict[str, Any]: ...

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str: ...


def function_spec(
    name: str, description: str, properties: dict[str, Any], required: Iterable[str]
) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(required),
                "additionalProperties": False,
            },
        },
    }


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool], *, output_max_bytes: int = 16 * 1024) -> None:
        self.tools = {t.name: t for t in tools}
        self.output_max_bytes = output_max_bytes

    def specs(self) -> list[dict[str, Any]]:
        return [t.spec() for t in self.tools.values()]

    async def dispatch(self, call: ToolCall, ctx: ToolContext) -> str:
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.tools))
            return f"error: unknown tool {call.name!r}; the available tools are: {known}"
        try:
            args = decode_arguments(call.arguments)
            check_arguments(tool.spec(), args)
            output = await tool.run(args, ctx)
        except ToolArgumentError as exc:
            return f"error: invalid arguments for {call.name}: {exc}. The tool did not run."
        return truncate_middle(output, self.output_max_bytes)


def decode_arguments(raw: str) -> dict[str, Any]:
    try:
        args = json.loads(raw or "{}")
    except ValueError as exc:
        raise ToolArgumentError(f"arguments are not valid JSON ({exc})") from exc
    if not isinstance(args, dict):
        raise ToolArgumentError("arguments must be a JSON object")
    return args


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}


def check_arguments(spec: dict[str, Any], args: Mapping[str, Any]) -> None:
    """Required keys present, no unknown keys, top-level JSON types right (bool is not a number)."""
    params = spec["function"]["parameters"]
    props: dict[str, Any] = params["properties"]
    missing = [k for k in params.get("required", ()) if k not in args]
    if missing:
        raise ToolArgumentError(f"missing required argument(s): {', '.join(missing)}")
    for key, value in args.items():
        if key not in props:
            raise ToolArgumentError(f"unknown argument {key!r}; expected: {', '.join(props)}")
        expected = props[key].get("type")
        py = _JSON_TYPES.get(expected) if isinstance(expected, str) else None
        if py is not None and (
            not isinstance(value, py) or (isinstance(value, bool) and expected != "boolean")
        ):
            raise ToolArgumentError(f"argument {key!r} must be of type {expected}")


def truncate_middle(text: str, max_bytes: int) -> str:
    """At most about ``max_bytes`` of UTF-8: the head and the tail, the cut marked with its size."""
    data = text.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return text
    half = max_bytes // 2
    head = data[:half].decode("utf-8", "ignore")
    tail = data[-half:].decode("utf-8", "ignore")
    return f"{head}\n[... {len(data) - 2 * half} bytes truncated ...]\n{tail}"
