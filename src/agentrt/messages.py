"""Typed values that cross the model seam: messages in, stream events out.

Messages are plain dicts in the OpenAI Chat Completions wire shape (``{"role": ..., "content": ...}``),
so they serialise without conversion. Everything a stream produces is a small frozen dataclass;
``Completion`` is the fold of one whole stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]
"""One chat message in wire shape: ``role``, ``content`` and, for tool use, ``tool_calls``."""

REASONING_KEY = "reasoning_items"
"""An assistant message's reasoning items (Responses wire); the chat wire leaves the key out."""


def message_text(content: object) -> str:
    """The text of a message's ``content``: a string, or the text parts of a content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    """The raw JSON text of the arguments, exactly as the model produced it."""


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    counted: bool = False
    """True when the server sent no usage and the client counted content deltas instead."""
    cached_tokens: int = 0
    """Prompt tokens the server said it served from its prompt cache (part of ``prompt_tokens``)."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning summary (Responses wire only); never part of ``content``."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True, slots=True)
class Completion:
    """The assembled result of one streamed request. Only a stream that ended properly yields one."""

    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    ttft_s: float | None = None
    """Seconds from sending the request to the first content or tool-call delta."""
    total_s: float = 0.0
    attempts: int = 1
    """HTTP attempts it took (1 = no retry)."""
    reasoning: str = ""
    """The reasoning summary the server streamed, when it sent one; not part of ``as_message``."""
    reasoning_items: tuple[dict[str, Any], ...] = ()
    """The Responses wire's reasoning items as sent (summary, encrypted content): they go back to the
    server with the rest of the turn, so a reasoning model keeps its reasoning across tool calls."""

    def as_message(self) -> Message:
        msg: Message = {"role": "assistant", "content": self.content}
        if self.reasoning_items:
            msg[REASONING_KEY] = [dict(item) for item in self.reasoning_items]
        if self.tool_calls:
            msg["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        return msg


@dataclass(frozen=True, slots=True)
class StreamRestart:
    """The stream broke after it had begun and is being sent again: every delta yielded before this
    event (text, reasoning, tool calls) is void. The deltas after it, and the ``Completion``, are the
    new attempt's alone; a stream may restart more than once.

    Yielded before the retry's wait, so a consumer can show it at once ("Reconnecting… 1/5").
    """

    attempt: int
    """Which stream retry this is, from 1."""
    max_attempts: int
    """The most stream retries the call makes (the provider's ``stream_max_retries``)."""
    reason: str
    """Why the stream broke: ``"<ErrorType>: <message>"`` (``TruncatedStream: stream from … ended …``)."""
    delay_s: float
    """Seconds the client waits before it sends the request again."""


@dataclass(frozen=True, slots=True)
class RequestRetry:
    """A request failed before its reply began (429, 5xx, no connection) and will be sent again after
    ``delay_s``; nothing streamed is void. Yielded before the wait, so a consumer can say so at once."""

    attempt: int
    """Which request retry this is, from 1."""
    max_attempts: int
    """The most request retries the call makes (the provider's ``request_max_retries``)."""
    reason: str
    delay_s: float


StreamEvent = TextDelta | ToolCallDelta | ReasoningDelta | StreamRestart | RequestRetry | Completion
"""What ``Model.stream`` yields: deltas as they arrive, then exactly one ``Completion`` last. A
``StreamRestart`` voids the deltas before it (the stream is being sent again); a ``RequestRetry``
says a request is being sent again before anything streamed."""
