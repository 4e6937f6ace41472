"""Approvals asked in the terminal: the question above the composer, answered by one keypress.

``y`` runs the command, ``a`` runs it and stops asking about that exact command for the session,
``n`` refuses and lets the person type what the agent should do instead (sent to the model with the
refusal). Esc refuses and interrupts the turn. The composer's key bindings call ``answer``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from agentrt.agent.approvals import ApprovalRequest, Decision, Refusal

CHOICES = (
    "[y] yes   [a] yes, and don't ask again for this command   [n] no, tell the agent what to do instead"
)


class PendingApproval:
    """One question waiting for its answer; ``feedback`` while the person types what to do instead."""

    def __init__(self, request: ApprovalRequest, future: asyncio.Future[Decision | Refusal]) -> None:
        self.request = request
        self.future = future
        self.feedback = False
        self.draft = ""
        """The composer's text when ``n`` was pressed, given back once the refusal is sent."""


class PromptApprover:
    """The interactive session's ``Approver``: asks, waits for the keypress, says what was chosen."""

    def __init__(
        self,
        show: Callable[[ApprovalRequest], Awaitable[None]],
        said: Callable[[str], None],
        changed: Callable[[], None],
    ) -> None:
        self._show, self._said, self._changed = show, said, changed
        self.pending: PendingApproval | None = None

    async def decide(self, request: ApprovalRequest) -> Decision | Refusal:
        future: asyncio.Future[Decision | Refusal] = asyncio.get_running_loop().create_future()
        await self._show(request)  # the question is on screen before the composer asks for the key
        self.pending = PendingApproval(request, future)
        self._changed()
        try:
            answer = await future
        finally:
            self.pending = None
            self._changed()
        self._said(_echo(answer))
        return answer

    def answer(self, decision: Decision | Refusal) -> None:
        pending = self.pending
        if pending is not None and not pending.future.done():
            pending.future.set_result(decision)


def _echo(answer: Decision | Refusal) -> str:
    if answer is Decision.APPROVED:
        return "✔ approved"
    if answer is Decision.APPROVED_FOR_SESSION:
        return "✔ approved for this session"
    if isinstance(answer, Refusal) and answer.instead.strip():
        return f"✘ refused — told the agent: {answer.instead.strip()}"
    return "✘ refused"
