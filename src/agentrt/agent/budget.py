"""A cost limit shared by many threads: a benchmark run's ``--max-cost``.

``CostCap`` wraps the one model a run's agents share. Before each request it adds what the request's
input alone would cost (estimated from its size) to what the run has spent; when that would pass the
limit the request is not sent and the thread stops with ``TurnStopped("max_cost")`` — the same typed
early end a session's ``max_cost_usd`` gives. Requests already in flight finish and are counted, so a
run overshoots by at most what its in-flight requests cost; once a request has been refused, the
cap is ``exhausted`` and the run starts no further task.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from agentrt.agent.context import estimate
from agentrt.agent.cost import Price, cost_text
from agentrt.agent.thread import TurnStopped
from agentrt.events import TokenUsage
from agentrt.interfaces import Model
from agentrt.messages import Completion, Message, StreamEvent


class CostCap:
    """``model`` whose requests, together, stop before their cost passes ``budget_usd`` at ``price``."""

    def __init__(self, model: Model, price: Price, budget_usd: float) -> None:
        self.model, self.price, self.budget_usd = model, price, budget_usd
        self.name = model.name
        self.spent_usd = 0.0
        self.exhausted = False

    def _admit(self, messages: Sequence[Message]) -> None:
        expected = self.price.cost(TokenUsage(estimate(messages)))
        if self.exhausted or self.spent_usd + expected > self.budget_usd:
            self.exhausted = True
            raise TurnStopped(
                "max_cost",
                f"the next request would take the run past its cost limit of ${self.budget_usd:g} "
                f"(spent {cost_text(self.spent_usd)}; the request's input alone costs about {cost_text(expected)})",
            )

    def _count(self, completion: Completion) -> None:
        u = completion.usage
        self.spent_usd += self.price.cost(TokenUsage(u.prompt_tokens, u.cached_tokens, u.completion_tokens))

    async def complete(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> Completion:
        self._admit(messages)
        completion = await self.model.complete(messages, tools)
        self._count(completion)
        return completion

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()
    ) -> AsyncIterator[StreamEvent]:
        self._admit(messages)
        async for event in self.model.stream(messages, tools):
            if isinstance(event, Completion):
                self._count(event)
            yield event

    async def aclose(self) -> None:
        await self.model.aclose()
