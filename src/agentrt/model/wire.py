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

A fold holds the text of the reply it folds (content, tool-call names and arguments, reasoning) at
about its own size (``TextParts``) and no more than ``max_chars`` of it: it checks every
``TextParts.JOIN`` deltas and at the end, and past the cap raises ``ReplyTooLarge``, which ends the
exchange.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from json.scanner import make_scanner
from typing import Any, ClassVar, Protocol, cast

from agentrt.messages import Completion, Message, ReasoningDelta, TextDelta, ToolCall, ToolCallDelta
from agentrt.model.errors import BadRequest, ReplyTooLarge

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

    def mute(self) -> None:
        """Hand no more deltas to the ``Emit``: nobody reads them (the exchange had what it needs of
        the first; a delta object per token is then a cost with no reader)."""
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

    def fold(self, url: str, emit: Emit, max_chars: int) -> WireFold:
        """A fold for one response from ``url`` (named in error messages) of at most ``max_chars``."""
        ...


def wire_for(wire_api: str, *, developer_instructions: bool = False) -> WireFormat:
    """A fresh ``WireFormat`` for an ``Endpoint.wire_api``; only the wire spoken gets imported.
    ``developer_instructions``: see ``Endpoint.developer_instructions``."""
    if wire_api == "responses":
        from agentrt.model.responses import ResponsesWire

        return ResponsesWire(developer_instructions)
    if wire_api == "chat":
        from agentrt.model.chat import ChatWire

        return ChatWire()
    raise ValueError(f"unknown wire_api {wire_api!r}")


# -- shared by the folds -------------------------------------------------------------------------------
_SCAN: Callable[[str, int], tuple[Any, int]] = make_scanner(cast(Any, json.JSONDecoder()))
"""The C scanner ``json.loads`` ends in, without the three Python calls and two regex matches on the
way (4.2 us against 1.6 us for a 160-byte chunk: a cost paid once per streamed token)."""


def load_event(data: str) -> Any:
    """``json.loads(data)`` for one event's data, the same value or the same error: a document that
    is one JSON value with nothing around it goes through the scanner alone; anything else (space
    around it, extra data, a syntax error) through ``json.loads`` itself."""
    try:
        value, end = _SCAN(data, 0)
    except (StopIteration, ValueError):
        return json.loads(data)
    if end != len(data):
        return json.loads(data)
    return value


class TextParts(list[str]):
    """Text that arrives in many small pieces: the list of them (``append`` is the list's own, as cheap
    per delta as before), which ``compact`` joins now and then, so the text is held at about its size.

    Kept as a list to the end, a five-character token costs some 60 bytes of string header and list
    slot, twelve times its text: a 5 MiB reply held ~65 MiB. A fold calls ``compact`` every ``JOIN``
    deltas (one string per ~``JOIN`` tokens, one copy of the text as it arrives) and once at the end.
    """

    __slots__ = ("_joined", "size")

    JOIN: ClassVar[int] = 256

    def __init__(self, first: str = "") -> None:
        super().__init__((first,) if first else ())
        self._joined = 0
        """How many leading items are joined chunks."""
        self.size = 0
        """Characters in those chunks."""

    def compact(self) -> int:
        """Join the pieces that came since the last call into one chunk; the characters so far."""
        done = self._joined
        if len(self) - done > 1:
            tail = "".join(self[done:])
            del self[done:]
            self.append(tail)
        if len(self) > done:
            self.size += len(self[done])
            self._joined = done + 1
        return self.size

    def add(self, piece: str) -> None:
        """``append``, then ``compact`` every ``JOIN`` pieces: for a holder that counts no deltas."""
        self.append(piece)
        if len(self) - self._joined >= self.JOIN:
            self.compact()

    def text(self) -> str:
        """The whole text so far."""
        return "".join(self)


@dataclass(slots=True)
class ToolCallParts:
    """One tool call as its deltas arrive."""

    id: str = ""
    name: str = ""
    args: TextParts = field(default_factory=TextParts)

    def call(self, index: int) -> ToolCall:
        """The assembled call; ``call_{index}`` when the server sent no id."""
        return ToolCall(self.id or f"call_{index}", self.name, self.args.text())


class ReplyCap:
    """Counts a reply's deltas and, every ``TextParts.JOIN`` of them (and once at the end), joins its
    text and checks the reply against ``max_chars``: the one place both folds bound what a reply costs.
    It holds the fold's own containers, so it sees their text as it grows."""

    __slots__ = ("_due", "_max", "_texts", "_tools", "_url", "deltas")

    def __init__(
        self, url: str, max_chars: int, texts: tuple[TextParts, ...], tools: dict[int, ToolCallParts]
    ) -> None:
        self._url, self._max, self._texts, self._tools = url, max_chars, texts, tools
        self._due = TextParts.JOIN
        self.deltas = 0
        """Deltas counted so far (the completion tokens when the server sends no usage)."""

    def count(self) -> None:
        """One more delta; ``ReplyTooLarge`` when the reply passed the cap at a check."""
        self.deltas += 1
        if self.deltas >= self._due:
            self.check()

    def check(self) -> None:
        """Join the text that came since the last check; ``ReplyTooLarge`` when it passed the cap."""
        self._due = self.deltas + TextParts.JOIN
        size = sum(text.compact() for text in self._texts)
        for parts in self._tools.values():
            size += parts.args.compact() + len(parts.name)
        if size > self._max:
            raise too_large(self._url, self._max)


def too_large(url: str, max_chars: int) -> ReplyTooLarge:
    """The error of a reply from ``url`` whose text passed ``max_chars``."""
    return ReplyTooLarge(
        f"the reply from {url} passed {max_chars} characters of text and tool-call arguments "
        "(the provider's max_reply_chars)",
        max_chars,
    )
