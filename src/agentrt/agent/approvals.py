"""Approvals: when a command the model wrote may run, and when it may run outside the sandbox.

Codex's four policies (``-a``):

* ``untrusted``   — known-safe read-only commands run (sandboxed); anything else is asked first.
* ``on-failure``  — everything runs sandboxed; when the sandbox blocks a command, ask to rerun it
                    without the sandbox.
* ``on-request``  — everything runs sandboxed; the model may ask for escalation (``shell`` argument
                    ``with_escalated_permissions`` plus a ``justification``), which is asked.
* ``never``       — never ask (``exec`` uses it): denials and refused escalations go back to the model.

Every question goes through one ``Approver`` (the interactive session asks the person; ``exec``
answers with a fixed denial). A person may refuse with words (``Refusal``): they reach the model. An answer of "for this session" is remembered per exact command.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from agentrt.interfaces import APPROVAL_POLICIES


class Decision(Enum):
    APPROVED = "approved"
    APPROVED_FOR_SESSION = "approved_for_session"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    command: tuple[str, ...]
    cwd: str
    reason: str
    """Why it is asked: "not a known-safe command", "the sandbox blocked it: …", or the model's justification."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A denial with the person's words: what the agent should do instead (sent to the model)."""

    instead: str


class Approver(Protocol):
    """Decides approval requests. One that is not the person (the guardian) names itself in a
    ``reviewer`` attribute ("the guardian"); the model is told who refused."""

    async def decide(self, request: ApprovalRequest) -> Decision | Refusal: ...


class FixedApprover:
    """Answers every request the same way (``exec``: ``DENIED``; tests: whatever they need)."""

    def __init__(self, decision: Decision | Refusal = Decision.DENIED) -> None:
        self.decision = decision
        self.asked: list[ApprovalRequest] = []

    async def decide(self, request: ApprovalRequest) -> Decision | Refusal:
        self.asked.append(request)
        return self.decision


@dataclass
class ApprovalGate:
    """``Approvals`` by one of Codex's policies: the policy, the approver, and what this session approved."""

    policy: str
    approver: Approver = field(default_factory=FixedApprover)
    approved: set[tuple[str, ...]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.policy not in APPROVAL_POLICIES:
            raise ValueError(
                f"approval policy must be one of {', '.join(APPROVAL_POLICIES)}, got {self.policy!r}"
            )

    async def before_run(self, argv: Sequence[str], cwd: str) -> str | None:
        """``None`` when the command may run (sandboxed); otherwise why not, for the model."""
        if self.policy != "untrusted" or is_known_safe(argv):
            return None
        refusal = await self.ask(argv, cwd, "not a known-safe command")
        return (
            None if refusal is None else f"{self._who} did not approve this command; it was not run" + refusal
        )

    async def escalate(self, argv: Sequence[str], cwd: str, justification: str) -> str | None:
        """The model asked to run outside the sandbox: ``None`` when allowed, else why not."""
        if self.policy != "on-request":
            return (
                f"running outside the sandbox cannot be requested under the {self.policy!r} approval policy"
            )
        refusal = await self.ask(argv, cwd, justification or "the model asked to run without the sandbox")
        if refusal is None:
            return None
        return f"{self._who} did not approve running this command outside the sandbox" + refusal

    async def rerun_unsandboxed(self, argv: Sequence[str], cwd: str, denial: str) -> bool:
        """After a sandbox denial: may the command run again without the sandbox?"""
        if self.policy != "on-failure":
            return False
        return await self.ask(argv, cwd, f"the sandbox blocked it: {denial}") is None

    @property
    def _who(self) -> str:
        return str(getattr(self.approver, "reviewer", "the user"))

    async def ask(self, argv: Sequence[str], cwd: str, reason: str) -> str | None:
        """Ask the approver about ``argv`` (a command, or another action named as one, such as an MCP
        tool call): ``None`` when approved; else the tail of the refusal told to the model (the
        person's words). An answer "for this session" is remembered per exact ``argv``."""
        key = tuple(argv)
        if key in self.approved:
            return None
        decision = await self.approver.decide(ApprovalRequest(key, cwd, reason))
        if decision is Decision.APPROVED_FOR_SESSION:
            self.approved.add(key)
        if decision in (Decision.APPROVED, Decision.APPROVED_FOR_SESSION):
            return None
        if isinstance(decision, Refusal) and decision.instead.strip():
            if self._who != "the user":  # a reviewer's refusal is its reason, not a person's wish
                return f": {decision.instead.strip()}"
            return f". The user said what to do instead: {decision.instead.strip()}"
        return ""


_SAFE = frozenset(
    {
        "cat",
        "cd",
        "echo",
        "false",
        "grep",
        "head",
        "id",
        "ls",
        "nl",
        "pwd",
        "rg",
        "sort",
        "stat",
        "tail",
        "true",
        "uniq",
        "wc",
        "which",
        "whoami",
        "tree",
        "file",
        "basename",
        "dirname",
        "realpath",
        "date",
        "env",
    }
)
_SAFE_GIT = frozenset({"status", "log", "diff", "show", "branch", "rev-parse", "ls-files", "blame"})
_UNSAFE_FIND = frozenset(
    {"-exec", "-execdir", "-ok", "-okdir", "-delete", "-fls", "-fprint", "-fprint0", "-fprintf"}
)
_SHELL_SPLIT = re.compile(r"\s*(?:&&|\|\||;|\|)\s*")


def is_known_safe(argv: Sequence[str]) -> bool:
    """Read-only commands that may run without asking under ``untrusted``; ``bash -lc "a && b"`` when every part is."""
    if len(argv) == 3 and argv[0] in ("bash", "sh", "zsh") and argv[1] in ("-c", "-lc"):
        script = argv[2]
        if any(ch in script for ch in "<>`$()\n"):
            return False
        parts = [p.split() for p in _SHELL_SPLIT.split(script.strip()) if p.strip()]
        return bool(parts) and all(_simple_safe(p) for p in parts)
    return _simple_safe(list(argv))


def _simple_safe(argv: list[str]) -> bool:
    if not argv:
        return False
    name = argv[0].rsplit("/", 1)[-1]
    if name == "git":
        return len(argv) > 1 and argv[1] in _SAFE_GIT and "--output" not in " ".join(argv)
    if name == "find":
        return not any(a in _UNSAFE_FIND for a in argv)
    if name == "sed":
        return len(argv) >= 3 and argv[1] == "-n" and all(not a.startswith("-i") for a in argv)
    return name in _SAFE
