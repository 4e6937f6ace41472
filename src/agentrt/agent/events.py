"""What a coding-agent run reports, as one stream of events in Codex's ``exec --json`` schema.

One event model feeds every consumer: the JSONL writer (``--json``), the human renderer on stderr, and
tests. Each event is ``(kind, data)``; ``kind`` is one of ``EVENT_KINDS`` or an internal delta kind
(``agent_message.delta``) that only live renderers use and the JSONL writer leaves out.

Items carry ``{"id": "item_N", "type": ..., ...}`` with ``type`` one of ``ITEM_TYPES``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from agentrt.interfaces import EventSink

EVENT_KINDS = frozenset(
    {
        "thread.started",
        "turn.started",
        "turn.completed",
        "turn.failed",
        "item.started",
        "item.updated",
        "item.completed",
        "error",
    }
)
ITEM_TYPES = frozenset(
    {"agent_message", "reasoning", "command_execution", "file_change", "todo_list", "error"}
)
DELTA = "agent_message.delta"
"""Internal: a piece of streamed assistant text, ``{"text": ...}``."""


class ItemIds:
    """Numbers items ``item_0``, ``item_1``… within one run."""

    def __init__(self) -> None:
        self._next = 0

    def new(self) -> str:
        item_id = f"item_{self._next}"
        self._next += 1
        return item_id


class Fanout:
    """An ``EventSink`` that forwards every event to several sinks."""

    def __init__(self, sinks: Iterable[EventSink]) -> None:
        self.sinks = list(sinks)

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        for sink in self.sinks:
            sink.emit(kind, data)


class Recorder:
    """An ``EventSink`` that keeps every event (tests, ``-o`` of the last message)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))

    def last_agent_message(self) -> str | None:
        for kind, data in reversed(self.events):
            item = data.get("item") or {}
            if kind == "item.completed" and item.get("type") == "agent_message":
                return str(item.get("text", ""))
        return None


class JsonlSink:
    """``--json``: one JSON object per line, flushed per line, Codex's event schema only."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        if kind not in EVENT_KINDS:
            return
        self.stream.write(json.dumps({"type": kind, **data}, ensure_ascii=False) + "\n")
        self.stream.flush()
