"""A wire format: what differs between the two request protocols of an OpenAI-compatible server.

===============  ===========================  =============================
``wire_api``     class                        request
===============  ===========================  =============================
``"chat"``       ``chat.ChatWire``            ``POST {base}/chat/completions``
``"responses"``  ``responses.ResponsesWire``  ``POST {base}/responses``
===============  ===========================  =============================

A ``WireFormat`` owns the request (its path and body, and whether a rejected body can be made
acceptable) and makes one ``WireFold`` per request, which folds the response's events into deltas and
one ``Completion``. Everything else is shared by both wires: ``OpenAIClient`` (``client.py``) owns
connections and retries, and ``Exchange`` (``exchange.py``) owns one response's HTTP status, timers,
TTFT and the waking of a streaming consumer, handing each SSE event (or a plain JSON body) to the fold.
``wire_for`` imports a wire's module only when an endpoint speaks it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentrt.messages import Completion, Message, ReasoningDelta, TextDelta, ToolCall, ToolCallDelta
from agentrt.model.errors import BadRequest

Delta = TextDelta | ToolCallDelta | ReasoningDelta
Emit = Callable[[Delta], None]
"""Where a fold hands each delta as soon as it has folded it."""


class WireFold(Protocol):
    """Folds one response; every method runs inside the connection's callbacks.

    Deltas go to the ``Emit`` the fold was made with. A ``ModelError`` raised by ``event`` or
    ``plain`` (a server error event, or ``MalformedResponse`` for what is not the protocol) ends the
    exchange with that error.
    """

    @property
    def terminal(self) -> str:
        """The event that ends a stream well, as a ``TruncatedStream`` message names it."""
        ...

    @property
    def done(self) -> bool:
        """The terminal event has arrived; later events are ignored."""
        ...

    def event(self, name: str, data: str) -> None:
        """One SSE event: its ``event:`` name (``"message"`` when none) and its data."""
        ...

    def plain(self, body: str) -> None:
        """The whole JSON body of a server that ignored ``stream: true``."""
        ...

    def completion(self, ttft_s: float | None, total_s: float) -> Completion:
        """The folded result, once ``done`` or after ``plain``; the exchange supplies the timing."""
        ...


class WireFormat(Protocol):
    """One request protocol. An instance belongs to one client: it may adapt after a rejection."""

    @property
    def path(self) -> str:
        """Appended to the endpoint's base URL: ``/chat/completions``, ``/responses``."""
        ...

    def body(
        self,
        model: str,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]],
        params: Mapping[str, Any],
    ) -> bytes:
        """The streamed request as JSON bytes; ``params`` are the client's extra request fields."""
        ...

    def fall_back(self, error: BadRequest) -> bool:
        """True when the wire changed its later bodies because of this 400, so the call is sent again."""
        ...

    def fold(self, url: str, emit: Emit) -> WireFold:
        """A fold for one response from ``url`` (named in error messages)."""
        ...


def wire_for(wire_api: str) -> WireFormat:
    """A fresh ``WireFormat`` for an ``Endpoint.wire_api``; only the wire spoken gets imported."""
    if wire_api == "responses":
        from agentrt.model.responses import ResponsesWire

        return ResponsesWire()
    if wire_api == "chat":
        from agentrt.model.chat import ChatWire

        return ChatWire()
    raise ValueError(f"unknown wire_api {wire_api!r}")


# -- shared by the folds -------------------------------------------------------------------------------
@dataclass(slots=True)
class ToolCallParts:
    """One tool call as its deltas arrive."""

    id: str = ""
    name: str = ""
    args: list[str] = field(default_factory=list)

    def call(self, index: int) -> ToolCall:
        """The assembled call; ``call_{index}`` when the server sent no id."""
        return ToolCall(self.id or f"call_{index}", self.name, "".join(self.args))
