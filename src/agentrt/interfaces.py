"""The seams of agentrt, in one place. Read this file first.

* ``Model``      — streams one completion as typed events (``agentrt.model``).
* ``Sandbox``    — turns a command into the argv that really runs, under whatever OS isolation
                   applies (``agentrt.sandbox``); the no-op sandbox returns the argv unchanged.
* ``EventSink``  — receives what an agent run reports (``agentrt.agent``, ``agentrt.bench``).

Everything here is a ``typing.Protocol``: implementations do not inherit from it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from agentrt.model.types import Completion, Message, StreamEvent


class Model(Protocol):
    name: str

    def stream(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()
    ) -> AsyncIterator[StreamEvent]:
        """Yield deltas as they arrive, then one ``Completion``; raise a ``ModelError`` otherwise."""
        ...

    async def complete(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> Completion:
        """Drain ``stream`` and return its ``Completion``."""
        ...


class Sandbox(Protocol):
    name: str

    def wrap(self, argv: Sequence[str], cwd: Path) -> list[str]:
        """Return the argv to execute so that ``argv`` runs confined to what the policy allows."""
        ...


class EventSink(Protocol):
    def emit(self, kind: str, data: dict[str, Any]) -> None:
        """Record one event. Must not block and must not raise."""
        ...
