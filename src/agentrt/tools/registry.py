"""The tools a coding agent offers its model, and the one place tool calls are dispatched.

A tool is a name, a JSON-schema ``spec`` (Chat Completions function shape) and an async ``run``.
``ToolRegistry.dispatch`` decodes and checks the arguments first: malformed JSON, a missing or
mistyped argument, or an unknown tool go back to the model as an error text and nothing runs.
Whatever a tool returns is cut to the output budget (head and tail kept) before the model sees it.
A tool owns its state; the ``ToolContext`` every call gets is small.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from agentrt.events import Event, ItemIds
from agentrt.messages import ToolCall
from agentrt.tools.paths import PathMap
from agentrt.truncation import head_tail


class ToolArgumentError(Exception):
    """The model's arguments do not fit the tool; the message goes back to the model."""


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What every tool call gets: the directory it works in and where it reports.

    Everything else a tool needs (a sandbox, an environment, a plan, a file writer) it owns itself.
    """

    cwd: Path
    emit: Callable[[Event], None]
    ids: ItemIds
    paths: PathMap = PathMap()
    """Container paths of the host's directories (a benchmark task's ``/app``; ``tools.paths``)."""

    def path(self, raw: str) -> Path:
        """Where a path the model named lies on this host: through ``paths``, relative ones from ``cwd``."""
        path = Path(self.paths.host(raw))
        return path if path.is_absolute() else self.cwd / path


class Tool(Protocol):
    name: str

    def spec(self) -> dict[str, Any]: ...

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str: ...


@runtime_checkable
class EndsWithTurn(Protocol):
    """A tool with something to close when a turn ends (the plan tool's open ``todo_list`` item)."""

    def end_turn(self, ctx: ToolContext) -> None: ...


@runtime_checkable
class Attaches(Protocol):
    """A tool whose calls leave content parts (images: ``view_image``) for the turn loop to send, in a
    user message after the calls' results (a tool result is text)."""

    def take_attachments(self) -> list[dict[str, Any]]:
        """The parts left since the last call, in call order; they are handed over once."""
        ...


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
    __slots__ = ("output_max_bytes", "tools")

    def __init__(self, tools: Iterable[Tool], *, output_max_bytes: int = 16 * 1024) -> None:
        self.tools = {t.name: t for t in tools}
        self.output_max_bytes = output_max_bytes

    def add(self, *tools: Tool) -> None:
        """Offer more tools from the next request on (a session's agent or memory tools); a tool of the
        same name is replaced."""
        self.tools.update((t.name, t) for t in tools)

    def specs(self) -> list[dict[str, Any]]:
        return [t.spec() for t in self.tools.values()]

    def read_only(self, name: str) -> bool:
        """Whether tool ``name`` only reads (a ``read_only = True`` attribute): such calls may overlap."""
        return bool(getattr(self.tools.get(name), "read_only", False))

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
        return head_tail(output, self.output_max_bytes)

    def take_attachments(self) -> list[dict[str, Any]]:
        """The content parts the tools left for the model since the last time (``Attaches``)."""
        return [part for t in self.tools.values() if isinstance(t, Attaches) for part in t.take_attachments()]

    def end_turn(self, ctx: ToolContext) -> None:
        for tool in self.tools.values():
            if isinstance(tool, EndsWithTurn):
                tool.end_turn(ctx)


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
    """Required keys present, no unknown keys, top-level JSON types right (bool is not a number).
    A tool that is not a function (one the server runs, such as ``web_search``) takes any arguments."""
    if "function" not in spec:
        return
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
