"""The seams of agentrt, in one place. Read this file first.

* ``Model``      — streams one completion as typed events (implementations: ``agentrt.model``).
* ``Sandbox``    — turns a command into the argv that really runs, under whatever OS isolation
                   applies (``agentrt.sandbox``); running unconfined is ``NoSandbox``, said explicitly.
* ``Approvals``  — decides whether a command the model wrote may run, and may run outside the
                   sandbox (policies in ``agentrt.agent.approvals``; asked by the ``shell`` tool).
* ``EventSink``  — receives what a run reports, as the typed events of ``agentrt.events``.

Everything here is a ``typing.Protocol``: implementations do not inherit from it. This module,
``agentrt.events``, ``agentrt.messages`` and the small one-home modules beside them (``truncation``,
``git``, ``process_group``, ``lazy``) are the leaves: they import nothing above them.
Dependencies run one way, checked by import-linter (``pyproject.toml``)::

    events, messages, … → interfaces → config → model | sandbox → tools → agent → bench → cli
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

from agentrt.events import EventSink
from agentrt.messages import Completion, Message, StreamEvent

__all__ = [
    "APPROVAL_POLICIES",
    "SANDBOX_MODES",
    "WIRE_APIS",
    "ApprovalPolicy",
    "Approvals",
    "EventSink",
    "Model",
    "Sandbox",
    "SandboxMode",
    "WireApi",
]

SandboxMode = Literal["read-only", "workspace-write", "danger-full-access"]
"""What commands may touch (``-s``, ``sandbox_mode``), Codex's names."""
SANDBOX_MODES: tuple[SandboxMode, ...] = get_args(SandboxMode)
ApprovalPolicy = Literal["untrusted", "on-failure", "on-request", "never"]
"""When a person is asked before a command runs (``-a``, ``approval_policy``), Codex's names."""
APPROVAL_POLICIES: tuple[ApprovalPolicy, ...] = get_args(ApprovalPolicy)
WireApi = Literal["chat", "responses"]
"""The request protocols a model endpoint speaks: Chat Completions or Responses."""
WIRE_APIS: tuple[WireApi, ...] = get_args(WireApi)


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

    async def aclose(self) -> None:
        """Release connections; the model is not used afterwards."""
        ...


class Sandbox(Protocol):
    name: str
    pass_fds: tuple[int, ...]  # file descriptors the wrapped argv needs: spawn it with pass_fds=...
    death_signal: bool
    """Spawn the wrapped argv with a parent-death signal (``process_group.die_with_parent(kill=...)``).
    ``False`` where what ``wrap`` returns ends by itself once agentrt is gone (bwrap's lifeline guard):
    a signal that killed bwrap half-way through its start would leave its inner process waiting for it
    for good."""

    def wrap(self, argv: Sequence[str], cwd: Path) -> list[str]:
        """Return the argv to execute so that ``argv`` runs confined to what the policy allows."""
        ...

    def close(self) -> None:
        """Release what the sandbox holds (a cgroup, a helper); it is not used afterwards."""
        ...


class Approvals(Protocol):
    """Each method returns ``None`` when the command may go ahead, else why not (told to the model)."""

    async def before_run(self, argv: Sequence[str], cwd: str) -> str | None:
        """May ``argv`` run (sandboxed)?"""
        ...

    async def escalate(self, argv: Sequence[str], cwd: str, justification: str) -> str | None:
        """The model asked to run ``argv`` outside the sandbox: may it?"""
        ...

    async def rerun_unsandboxed(self, argv: Sequence[str], cwd: str, denial: str) -> bool:
        """The sandbox blocked ``argv`` (``denial`` is the telling line): may it run again unconfined?"""
        ...
