"""What an agent run reports: one typed event model for every consumer.

Every event is a small frozen dataclass. It is produced once and consumed by whoever listens: the
``--json`` writer (``JsonlSink``), the human renderer on stderr, the rollout file, the benchmark's
per-task telemetry, and tests (``Recorder``).

Public events are Codex's ``exec --json`` schema (``to_json`` gives the exact object, key order
included); internal events (``public = False``) carry what only some consumers need — streamed text,
per-file diffs, history items for the rollout, per-request timings::

    public    ThreadStarted  TurnStarted  TurnCompleted  TurnFailed
              ItemStarted  ItemUpdated  ItemCompleted  Error
    internal  AgentMessageDelta  FileDiff  HistoryItem  UserMessage  ModelResponse  TaskFinished

Items (``{"id": "item_N", "type": ..., ...}``): ``AgentMessage``, ``Reasoning``, ``CommandExecution``,
``FileChange``, ``TodoList``, ``ErrorItem``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TextIO

# -- items ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentMessage:
    id: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": "agent_message", "text": self.text}


@dataclass(frozen=True, slots=True)
class Reasoning:
    id: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": "reasoning", "text": self.text}


@dataclass(frozen=True, slots=True)
class CommandExecution:
    id: str
    command: str
    aggregated_output: str = ""
    exit_code: int | None = None
    status: str = "in_progress"
    """``in_progress``, ``completed``, ``failed`` or ``declined``."""
    duration_s: float | None = None
    """Wall time of the finished command (telemetry; not part of the JSON item)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "command_execution",
            "command": self.command,
            "aggregated_output": self.aggregated_output,
            "exit_code": self.exit_code,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class PatchChange:
    path: str
    kind: str
    """``add``, ``delete`` or ``update``."""


@dataclass(frozen=True, slots=True)
class FileChange:
    id: str
    changes: tuple[PatchChange, ...]
    status: str
    """``completed`` or ``failed``."""

    def to_json(self) -> dict[str, Any]:
        changes = [{"path": c.path, "kind": c.kind} for c in self.changes]
        return {"id": self.id, "type": "file_change", "changes": changes, "status": self.status}


@dataclass(frozen=True, slots=True)
class TodoEntry:
    text: str
    completed: bool


@dataclass(frozen=True, slots=True)
class TodoList:
    id: str
    items: tuple[TodoEntry, ...]

    def to_json(self) -> dict[str, Any]:
        items = [{"text": e.text, "completed": e.completed} for e in self.items]
        return {"id": self.id, "type": "todo_list", "items": items}


@dataclass(frozen=True, slots=True)
class ErrorItem:
    id: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": "error", "message": self.message}


Item = AgentMessage | Reasoning | CommandExecution | FileChange | TodoList | ErrorItem


class ItemIds:
    """Numbers items ``item_0``, ``item_1``… within one run."""

    def __init__(self) -> None:
        self._next = 0

    def new(self) -> str:
        item_id = f"item_{self._next}"
        self._next += 1
        return item_id


# -- usage ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens of a turn, as ``turn.completed`` reports them."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    counted: bool = False
    """The server sent no usage for some reply: its output tokens were counted, its input is unknown."""

    def plus(self, prompt: int, cached: int, output: int, counted: bool) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + prompt,
            self.cached_input_tokens + cached,
            self.output_tokens + output,
            self.counted or counted,
        )

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, int | bool]:
        out: dict[str, int | bool] = {
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
        }
        if self.counted:
            out["counted"] = True
        return out


# -- public events (Codex's exec --json schema) ---------------------------------------------------------


class _Public:
    __slots__ = ()
    kind: ClassVar[str]
    public: ClassVar[bool] = True

    def payload(self) -> dict[str, Any]:
        return {}

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, **self.payload()}


@dataclass(frozen=True, slots=True)
class ThreadStarted(_Public):
    kind: ClassVar[str] = "thread.started"
    thread_id: str

    def payload(self) -> dict[str, Any]:
        return {"thread_id": self.thread_id}


@dataclass(frozen=True, slots=True)
class TurnStarted(_Public):
    kind: ClassVar[str] = "turn.started"


@dataclass(frozen=True, slots=True)
class TurnCompleted(_Public):
    kind: ClassVar[str] = "turn.completed"
    usage: TokenUsage
    final: str = ""
    """The final answer (not part of the JSON event; the rollout records it)."""

    def payload(self) -> dict[str, Any]:
        return {"usage": self.usage.as_dict()}


@dataclass(frozen=True, slots=True)
class TurnFailed(_Public):
    kind: ClassVar[str] = "turn.failed"
    message: str
    reason: str = ""
    """Why: ``max_turns``, ``max_wall_time``, ``max_tokens``, ``model_error``, … (rollout only)."""

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": self.message}}


@dataclass(frozen=True, slots=True)
class ItemStarted(_Public):
    kind: ClassVar[str] = "item.started"
    item: Item

    def payload(self) -> dict[str, Any]:
        return {"item": self.item.to_json()}


@dataclass(frozen=True, slots=True)
class ItemUpdated(_Public):
    kind: ClassVar[str] = "item.updated"
    item: Item

    def payload(self) -> dict[str, Any]:
        return {"item": self.item.to_json()}


@dataclass(frozen=True, slots=True)
class ItemCompleted(_Public):
    kind: ClassVar[str] = "item.completed"
    item: Item

    def payload(self) -> dict[str, Any]:
        return {"item": self.item.to_json()}


@dataclass(frozen=True, slots=True)
class Error(_Public):
    kind: ClassVar[str] = "error"
    message: str

    def payload(self) -> dict[str, Any]:
        return {"message": self.message}


# -- internal events -----------------------------------------------------------------------------------


class _Internal(_Public):
    __slots__ = ()
    public: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class AgentMessageDelta(_Internal):
    """A piece of streamed assistant text, for live renderers."""

    kind: ClassVar[str] = "agent_message.delta"
    text: str


@dataclass(frozen=True, slots=True)
class FileDiff(_Internal):
    """The unified diff a patch made to one file, for renderers."""

    kind: ClassVar[str] = "file_change.diff"
    path: str
    diff: str


@dataclass(frozen=True, slots=True)
class HistoryItem(_Internal):
    """A message added to the model history (the rollout's ``response_item``)."""

    kind: ClassVar[str] = "history.item"
    message: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class UserMessage(_Internal):
    """The user's prompt that starts a turn."""

    kind: ClassVar[str] = "user.message"
    text: str


@dataclass(frozen=True, slots=True)
class ModelResponse(_Internal):
    """One model request finished: its timings and usage, and the turn's usage so far."""

    kind: ClassVar[str] = "model.response"
    ttft_s: float | None
    total_s: float
    prompt_tokens: int
    completion_tokens: int
    turn_usage: TokenUsage = field(default_factory=TokenUsage)


@dataclass(frozen=True, slots=True)
class TaskFinished(_Internal):
    """A benchmark task ended (``status``: ``passed``, ``failed`` or ``error``)."""

    kind: ClassVar[str] = "task.finished"
    task_id: str
    status: str
    error: str = ""


Event = (
    ThreadStarted
    | TurnStarted
    | TurnCompleted
    | TurnFailed
    | ItemStarted
    | ItemUpdated
    | ItemCompleted
    | Error
    | AgentMessageDelta
    | FileDiff
    | HistoryItem
    | UserMessage
    | ModelResponse
    | TaskFinished
)


# -- sinks ---------------------------------------------------------------------------------------------


class EventSink(Protocol):
    def emit(self, event: Event) -> None:
        """Record one event. Must not block and must not raise."""
        ...


class NullSink:
    """Drops every event."""

    def emit(self, event: Event) -> None:
        return None


class Fanout:
    """Forwards every event to several sinks, in order."""

    def __init__(self, sinks: Iterable[EventSink]) -> None:
        self.sinks = list(sinks)

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)


class Recorder:
    """Keeps every event (tests, ``-o`` of the last message)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def items(self) -> list[Item]:
        """The items of ``item.completed`` events, in order."""
        return [e.item for e in self.events if isinstance(e, ItemCompleted)]


class JsonlSink:
    """``--json``: one JSON object per line, flushed per line, Codex's event schema only."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def emit(self, event: Event) -> None:
        if not event.public:
            return
        self.stream.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
        self.stream.flush()
