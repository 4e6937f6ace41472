"""What an agent run reports: one typed event model for every consumer.

Every event is a small immutable value (``_Value``: a frozen dataclass written out, see there). It is produced once and consumed by whoever listens: the
``--json`` writer (``JsonlSink``), the human renderer on stderr, the rollout file, the benchmark's
per-task telemetry, and tests (``Recorder``).

Public events are Codex's ``exec --json`` schema (``to_json`` gives the exact object, key order
included); internal events (``public = False``) carry what only some consumers need — streamed text,
per-file diffs, history items for the rollout, per-request timings::

    public    ThreadStarted  TurnStarted  TurnCompleted  TurnFailed
              ItemStarted  ItemUpdated  ItemCompleted  Error  Reconnecting (an "error" event)
    internal  AgentMessageDelta  FileDiff  HistoryItem  UserMessage  ModelResponse  TaskFinished
              AgentEvent (a sub-agent's event, tagged with its id)

Items (``{"id": "item_N", "type": ..., ...}``): ``AgentMessage``, ``Reasoning``, ``CommandExecution``,
``FileChange``, ``TodoList``, ``ErrorItem``, ``CollabToolCall`` (a sub-agent tool call), ``McpToolCall``
(a call of an MCP server's tool), and agentrt's ``GuardianAssessment`` (a verdict of the guardian
reviewer, ``agent.guardian``; Codex's exec has no such item).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Protocol, TextIO

# -- values --------------------------------------------------------------------------------------------


class _Value:
    """An immutable value: set once in ``__init__``, compared, hashed and shown by its slots.

    What ``@dataclass(frozen=True, slots=True)`` gives, written out because every class costs the
    benchmark's memory floor: 13.7 KiB per frozen dataclass against 1.8 KiB per class like this one
    (tracemalloc, Python 3.11) — about 300 KiB over the classes of this module.
    """

    __slots__: tuple[str, ...] = ()

    def _names(self) -> tuple[str, ...]:
        """The fields: the slots of every class from the base down."""
        return tuple(n for cls in reversed(type(self).__mro__) for n in cls.__dict__.get("__slots__", ()))

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._names())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Value) and type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._names())
        return f"{type(self).__name__}({shown})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")


def _set(obj: _Value, **values: object) -> None:
    for name, value in values.items():
        object.__setattr__(obj, name, value)


# -- items ---------------------------------------------------------------------------------------------


class AgentMessage(_Value):
    __slots__ = ("id", "text")
    id: str
    text: str

    def __init__(self, id: str, text: str) -> None:
        _set(self, id=id, text=text)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": "agent_message", "text": self.text}


class Reasoning(_Value):
    __slots__ = ("id", "text")
    id: str
    text: str

    def __init__(self, id: str, text: str) -> None:
        _set(self, id=id, text=text)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": "reasoning", "text": self.text}


class CommandExecution(_Value):
    __slots__ = ("id", "command", "aggregated_output", "exit_code", "status", "duration_s")
    id: str
    command: str
    aggregated_output: str
    exit_code: int | None
    status: str
    """``in_progress``, ``completed``, ``failed`` or ``declined``."""
    duration_s: float | None
    """Wall time of the finished command (telemetry; not part of the JSON item)."""

    def __init__(
        self,
        id: str,
        command: str,
        aggregated_output: str = "",
        exit_code: int | None = None,
        status: str = "in_progress",
        duration_s: float | None = None,
    ) -> None:
        _set(
            self,
            id=id,
            command=command,
            aggregated_output=aggregated_output,
            exit_code=exit_code,
            status=status,
            duration_s=duration_s,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "command_execution",
            "command": self.command,
            "aggregated_output": self.aggregated_output,
            "exit_code": self.exit_code,
            "status": self.status,
        }


class PatchChange(_Value):
    __slots__ = ("path", "kind")
    path: str
    kind: str
    """``add``, ``delete`` or ``update``."""

    def __init__(self, path: str, kind: str) -> None:
        _set(self, path=path, kind=kind)


class FileChange(_Value):
    __slots__ = ("id", "changes", "status")
    id: str
    changes: tuple[PatchChange, ...]
    status: str
    """``completed`` or ``failed``."""

    def __init__(self, id: str, changes: tuple[PatchChange, ...], status: str) -> None:
        _set(self, id=id, changes=changes, status=status)

    def to_json(self) -> dict[str, Any]:
        changes = [{"path": c.path, "kind": c.kind} for c in self.changes]
        return {"id": self.id, "type": "file_change", "changes": changes, "status": self.status}


class TodoEntry(_Value):
    __slots__ = ("text", "completed")
    text: str
    completed: bool

    def __init__(self, text: str, completed: bool) -> None:
        _set(self, text=text, completed=completed)


class TodoList(_Value):
    __slots__ = ("id", "items")
    id: str
    items: tuple[TodoEntry, ...]

    def __init__(self, id: str, items: tuple[TodoEntry, ...]) -> None:
        _set(self, id=id, items=items)

    def to_json(self) -> dict[str, Any]:
        items = [{"text": e.text, "completed": e.completed} for e in self.items]
        return {"id": self.id, "type": "todo_list", "items": items}


class ErrorItem(_Value):
    __slots__ = ("id", "message")
    id: str
    message: str

    def __init__(self, id: str, message: str) -> None:
        _set(self, id=id, message=message)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": "error", "message": self.message}


class GuardianAssessment(_Value):
    """The guardian's verdict on one approval request (``approvals_reviewer = "guardian"``), an
    agentrt item: ``status`` ``approved``, ``denied`` or ``timed_out``; without a verdict (no answer,
    a malformed one, a timeout) ``risk_level`` and ``user_authorization`` are ``None`` and
    ``rationale`` says what went wrong."""

    __slots__ = ("id", "command", "cwd", "status", "risk_level", "user_authorization", "rationale")
    id: str
    command: str
    cwd: str
    """Where the command would run (the rollout line's ``action``; not part of the JSON item)."""
    status: str
    risk_level: str | None
    user_authorization: str | None
    rationale: str

    def __init__(
        self,
        id: str,
        command: str,
        cwd: str,
        status: str,
        risk_level: str | None,
        user_authorization: str | None,
        rationale: str,
    ) -> None:
        _set(
            self,
            id=id,
            command=command,
            cwd=cwd,
            status=status,
            risk_level=risk_level,
            user_authorization=user_authorization,
            rationale=rationale,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "guardian_assessment",
            "command": self.command,
            "status": self.status,
            "risk_level": self.risk_level,
            "user_authorization": self.user_authorization,
            "rationale": self.rationale,
        }


class CollabToolCall(_Value):
    """A call of a sub-agent tool (issue 13, feature ``multi_agent``), Codex's ``collab_tool_call`` item:
    ``tool`` ``spawn_agent``, ``send_input``, ``wait``, ``close_agent`` or ``resume_agent``; ``states``
    maps an agent id to ``(status, message)`` (``status``: ``pending_init``, ``running``,
    ``interrupted``, ``completed``, ``errored``, ``shutdown`` or ``not_found``); ``status`` is the
    call's: ``in_progress``, ``completed`` or ``failed``. ``nicknames`` (agent id → nickname) is for
    renderers, not part of the JSON item."""

    __slots__ = (
        "id",
        "tool",
        "sender_thread_id",
        "receiver_thread_ids",
        "prompt",
        "states",
        "status",
        "nicknames",
    )
    id: str
    tool: str
    sender_thread_id: str
    receiver_thread_ids: tuple[str, ...]
    prompt: str | None
    states: tuple[tuple[str, str, str | None], ...]
    status: str
    nicknames: tuple[tuple[str, str], ...]

    def __init__(
        self,
        id: str,
        tool: str,
        sender_thread_id: str,
        receiver_thread_ids: tuple[str, ...] = (),
        prompt: str | None = None,
        states: tuple[tuple[str, str, str | None], ...] = (),
        status: str = "in_progress",
        nicknames: tuple[tuple[str, str], ...] = (),
    ) -> None:
        _set(
            self, id=id, tool=tool, sender_thread_id=sender_thread_id, receiver_thread_ids=receiver_thread_ids,
            prompt=prompt, states=states, status=status, nicknames=nicknames,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "collab_tool_call",
            "tool": self.tool,
            "sender_thread_id": self.sender_thread_id,
            "receiver_thread_ids": list(self.receiver_thread_ids),
            "prompt": self.prompt,
            "agents_states": {
                aid: {"status": status, "message": message} for aid, status, message in self.states
            },
            "status": self.status,
        }


class McpToolCall(_Value):
    """A call of an MCP server's tool (``agentrt.tools.mcp``), Codex's ``mcp_tool_call`` item: ``result``
    is ``{content, structured_content}`` when the server answered, ``error`` ``{message}`` when it did not;
    ``status`` ``in_progress``, ``completed`` or ``failed``."""

    __slots__ = ("id", "server", "tool", "arguments", "result", "error", "status")
    id: str
    server: str
    tool: str
    arguments: Any
    result: dict[str, Any] | None
    error: str | None
    status: str

    def __init__(
        self, id: str, server: str, tool: str, arguments: Any, result: dict[str, Any] | None = None,
        error: str | None = None, status: str = "in_progress",
    ) -> None:  # fmt: skip
        values = {"server": server, "tool": tool, "arguments": arguments, "result": result, "error": error}
        _set(self, id=id, status=status, **values)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "mcp_tool_call",
            "server": self.server,
            "tool": self.tool,
            "arguments": self.arguments,
            "result": self.result,
            "error": {"message": self.error} if self.error is not None else None,
            "status": self.status,
        }


Item = (
    AgentMessage | Reasoning | CommandExecution | FileChange | TodoList | ErrorItem | GuardianAssessment
    | CollabToolCall | McpToolCall
)  # fmt: skip


class ItemIds:
    """Numbers items ``item_0``, ``item_1``… within one run."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def new(self) -> str:
        item_id = f"item_{self._next}"
        self._next += 1
        return item_id


# -- usage ---------------------------------------------------------------------------------------------


class TokenUsage(_Value):
    """Tokens of a turn, as ``turn.completed`` reports them."""

    __slots__ = ("input_tokens", "cached_input_tokens", "output_tokens", "counted")

    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    counted: bool
    """The server sent no usage for some reply: its output tokens were counted, its input is unknown."""

    def __init__(
        self,
        input_tokens: int = 0,
        cached_input_tokens: int = 0,
        output_tokens: int = 0,
        counted: bool = False,
    ) -> None:
        _set(
            self,
            input_tokens=input_tokens,
            cached_input_tokens=cached_input_tokens,
            output_tokens=output_tokens,
            counted=counted,
        )

    def plus(self, prompt: int, cached: int, output: int, counted: bool) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + prompt,
            self.cached_input_tokens + cached,
            self.output_tokens + output,
            self.counted or counted,
        )

    def add(self, other: TokenUsage) -> TokenUsage:
        return self.plus(other.input_tokens, other.cached_input_tokens, other.output_tokens, other.counted)

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, int | bool]:
        """Codex's five usage keys (agentrt counts no cache writes and no reasoning tokens apart: 0)."""
        out: dict[str, int | bool] = {
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "cache_write_input_tokens": 0,
            "output_tokens": self.output_tokens,
            "reasoning_output_tokens": 0,
        }
        if self.counted:
            out["counted"] = True
        return out


# -- public events (Codex's exec --json schema) ---------------------------------------------------------


class _Public(_Value):
    __slots__ = ()
    kind: ClassVar[str]
    public: ClassVar[bool] = True

    def payload(self) -> dict[str, Any]:
        return {}

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, **self.payload()}


class ThreadStarted(_Public):
    __slots__ = ("thread_id",)
    kind: ClassVar[str] = "thread.started"
    thread_id: str

    def __init__(self, thread_id: str) -> None:
        _set(self, thread_id=thread_id)

    def payload(self) -> dict[str, Any]:
        return {"thread_id": self.thread_id}


class TurnStarted(_Public):
    __slots__ = ()
    kind: ClassVar[str] = "turn.started"


class TurnCompleted(_Public):
    __slots__ = ("usage", "final", "costed", "cost_usd", "turn_cost_usd")
    kind: ClassVar[str] = "turn.completed"
    usage: TokenUsage
    final: str
    """The final answer (not part of the JSON event; the rollout records it)."""
    costed: bool
    """Cost tracking is on (feature ``cost_tracking``): the event carries ``cost_usd``."""
    cost_usd: float | None
    """What ``usage`` (the session so far) cost; ``None`` when the model has no known price."""
    turn_cost_usd: float | None
    """What this turn alone cost; ``None`` when the model has no known price."""

    def __init__(
        self,
        usage: TokenUsage,
        final: str = "",
        *,
        costed: bool = False,
        cost_usd: float | None = None,
        turn_cost_usd: float | None = None,
    ) -> None:
        _set(self, usage=usage, final=final, costed=costed, cost_usd=cost_usd, turn_cost_usd=turn_cost_usd)

    def payload(self) -> dict[str, Any]:
        if self.costed:  # an agentrt extension: off in Codex parity (flag cost_tracking)
            return {
                "usage": self.usage.as_dict(),
                "cost_usd": self.cost_usd,
                "turn_cost_usd": self.turn_cost_usd,
            }
        return {"usage": self.usage.as_dict()}


class TurnFailed(_Public):
    __slots__ = ("message", "reason")
    kind: ClassVar[str] = "turn.failed"
    message: str
    reason: str
    """Why: ``max_turns``, ``max_wall_time``, ``max_tokens``, ``model_error``, … (rollout only)."""

    def __init__(self, message: str, reason: str = "") -> None:
        _set(self, message=message, reason=reason)

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": self.message}}


class _ItemEvent(_Public):
    """An item's lifecycle step: started, updated or completed."""

    __slots__ = ("item",)
    item: Item

    def __init__(self, item: Item) -> None:
        _set(self, item=item)

    def payload(self) -> dict[str, Any]:
        return {"item": self.item.to_json()}


class ItemStarted(_ItemEvent):
    __slots__ = ()
    kind: ClassVar[str] = "item.started"


class ItemUpdated(_ItemEvent):
    __slots__ = ()
    kind: ClassVar[str] = "item.updated"


class ItemCompleted(_ItemEvent):
    __slots__ = ()
    kind: ClassVar[str] = "item.completed"


class Reconnecting(_Public):
    """The model's reply broke after it had begun and is being asked again; the text streamed since
    the request was sent is void. Codex reports it as an ``error`` event: ``Reconnecting... 1/5``."""

    __slots__ = ("attempt", "max_attempts", "reason")
    kind: ClassVar[str] = "error"
    attempt: int
    max_attempts: int
    reason: str

    def __init__(self, attempt: int, max_attempts: int, reason: str) -> None:
        _set(self, attempt=attempt, max_attempts=max_attempts, reason=reason)

    @property
    def message(self) -> str:
        return f"Reconnecting... {self.attempt}/{self.max_attempts}"

    def payload(self) -> dict[str, Any]:
        return {"message": f"{self.message} ({self.reason})"}


class Error(_Public):
    __slots__ = ("message",)
    kind: ClassVar[str] = "error"
    message: str

    def __init__(self, message: str) -> None:
        _set(self, message=message)

    def payload(self) -> dict[str, Any]:
        return {"message": self.message}


# -- internal events -----------------------------------------------------------------------------------


class _Internal(_Public):
    __slots__ = ()
    public: ClassVar[bool] = False


class AgentMessageDelta(_Internal):
    """A piece of streamed assistant text, for live renderers."""

    __slots__ = ("text",)

    kind: ClassVar[str] = "agent_message.delta"
    text: str

    def __init__(self, text: str) -> None:
        _set(self, text=text)


class FileDiff(_Internal):
    """The unified diff a patch made to one file, for renderers."""

    __slots__ = ("path", "diff")

    kind: ClassVar[str] = "file_change.diff"
    path: str
    diff: str

    def __init__(self, path: str, diff: str) -> None:
        _set(self, path=path, diff=diff)


class HistoryItem(_Internal):
    """A message added to the model history (the rollout's ``response_item``)."""

    __slots__ = ("message",)

    kind: ClassVar[str] = "history.item"
    message: Mapping[str, Any]

    def __init__(self, message: Mapping[str, Any]) -> None:
        _set(self, message=message)


class UserMessage(_Internal):
    """The user's prompt that starts a turn."""

    __slots__ = ("text",)

    kind: ClassVar[str] = "user.message"
    text: str

    def __init__(self, text: str) -> None:
        _set(self, text=text)


class ModelResponse(_Internal):
    """One model request finished: its timings and usage, and the thread's usage so far
    (``turn_usage``: every turn of the thread, a resumed session's earlier ones included)."""

    __slots__ = (
        "ttft_s", "total_s", "prompt_tokens", "completion_tokens", "turn_usage", "cached_tokens", "context_window"
    )  # fmt: skip

    kind: ClassVar[str] = "model.response"
    ttft_s: float | None
    total_s: float
    prompt_tokens: int
    completion_tokens: int
    turn_usage: TokenUsage
    cached_tokens: int
    context_window: int | None
    """The model's context window in tokens, when the thread accounts for it."""

    def __init__(
        self,
        ttft_s: float | None,
        total_s: float,
        prompt_tokens: int,
        completion_tokens: int,
        turn_usage: TokenUsage,
        cached_tokens: int = 0,
        context_window: int | None = None,
    ) -> None:
        _set(
            self,
            ttft_s=ttft_s,
            total_s=total_s,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            turn_usage=turn_usage,
            cached_tokens=cached_tokens,
            context_window=context_window,
        )


class ContextCompacted(_Internal):
    """The history was compacted: ``history`` replaces it (the rollout's ``compacted`` line)."""

    __slots__ = ("summary", "history", "before_tokens", "after_tokens")

    kind: ClassVar[str] = "context.compacted"
    summary: str
    history: tuple[Mapping[str, Any], ...]
    before_tokens: int
    after_tokens: int

    def __init__(
        self, summary: str, history: tuple[Mapping[str, Any], ...], before_tokens: int, after_tokens: int
    ) -> None:
        _set(self, summary=summary, history=history, before_tokens=before_tokens, after_tokens=after_tokens)


class TaskFinished(_Internal):
    """A benchmark task ended (``status``: ``passed``, ``failed`` or ``error``)."""

    __slots__ = ("task_id", "status", "error")

    kind: ClassVar[str] = "task.finished"
    task_id: str
    status: str
    error: str

    def __init__(self, task_id: str, status: str, error: str = "") -> None:
        _set(self, task_id=task_id, status=status, error=error)


class AgentEvent(_Internal):
    """An event of a sub-agent (feature ``multi_agent``), forwarded to the session's sink: ``agent_id``
    is the sub-agent's thread id, ``nickname`` its display name, ``event`` what it reported."""

    __slots__ = ("agent_id", "nickname", "event")

    kind: ClassVar[str] = "agent.event"
    agent_id: str
    nickname: str
    event: Event

    def __init__(self, agent_id: str, nickname: str, event: Event) -> None:
        _set(self, agent_id=agent_id, nickname=nickname, event=event)


Event = (
    ThreadStarted
    | TurnStarted
    | TurnCompleted
    | TurnFailed
    | ItemStarted
    | ItemUpdated
    | ItemCompleted
    | Error
    | Reconnecting
    | AgentMessageDelta
    | FileDiff
    | HistoryItem
    | UserMessage
    | ModelResponse
    | ContextCompacted
    | TaskFinished
    | AgentEvent
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
