"""How the contract loop retries: what a retry is sampled with, what it is shown, in which conversation.

At temperature 0 a model shown its failing test output mostly answers the same code again, so a retry
can be made to differ from the first attempt in four ways (each a ``bench humaneval`` option):

- ``temperature`` (``--retry-temperature``): retries are sampled, the first attempt stays as configured;
- ``seed`` (``--retry-seed``): attempt *k* sends ``seed + k`` (a chat-wire parameter llama.cpp and vLLM
  honour), so sampled retries are reproducible and differ from one another;
- ``feedback`` (``--retry-feedback``): ``output`` feeds pytest's output back (trimmed); ``assertion``
  feeds the failing check, where the solution raised and pytest's verdict (``failure.read_failure``);
  ``reason`` (``--retry-reason``) asks for the cause in a sentence or two before the code;
- ``context`` (``--retry-context``): ``continue`` sends the whole conversation; ``fresh`` sends the task
  alone with the last answer's code and its feedback appended, as a new conversation — or, with
  ``code`` off (``--no-retry-code``), the task and the feedback without the code.

The first attempt is never changed, so first-attempt pass rates stay comparable across strategies.
``AttemptModel`` applies the sampling and context parts per request; the agent loop and its history
(which keeps every attempt, as the trajectory) are untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, runtime_checkable

from agentrt.bench.humaneval.extract import extract_code
from agentrt.bench.humaneval.prompt import previous_attempt
from agentrt.bench.humaneval.strategy import RetryStrategy
from agentrt.interfaces import Model
from agentrt.messages import Completion, Message, StreamEvent


@runtime_checkable
class Tunable(Protocol):
    """A model that can make a sibling sending other request parameters (``OpenAIClient.with_params``)."""

    def with_params(self, **params: Any) -> Model: ...


def retry_model(model: Model, strategy: RetryStrategy, max_retries: int) -> Model:
    """``model`` as the contract loop's agents use it under ``strategy`` (itself when nothing changes)."""
    if not strategy.changes_requests or max_retries == 0:
        return model
    retries: list[Model] = []
    for attempt in range(2, max_retries + 2):
        params: dict[str, Any] = {}
        if strategy.temperature is not None:
            params["temperature"] = strategy.temperature
        if strategy.seed is not None:
            params["seed"] = strategy.seed + attempt
        if not params:
            retries.append(model)
        elif isinstance(model, Tunable):
            retries.append(model.with_params(**params))
        else:
            raise TypeError(f"model {model.name!r} cannot change its request parameters per attempt")
    fresh = strategy.context == "fresh"
    return AttemptModel(model, retries, fresh=fresh, code=strategy.code)


class AttemptModel:
    """Sends a task's first attempt through ``base``; attempt *k* ≥ 2 through ``retries[k-2]`` (the
    last one again past the end), with the conversation made fresh when ``fresh`` (showing the last
    answer's code when ``code``). The attempt is read from the history itself (one assistant reply per
    attempt), so one instance serves every agent."""

    __slots__ = ("_base", "_code", "_fresh", "_retries", "name")

    def __init__(self, base: Model, retries: Sequence[Model], *, fresh: bool, code: bool = True) -> None:
        self._base, self._retries, self._fresh, self._code = base, tuple(retries), fresh, code
        self.name = base.name

    def stream(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()
    ) -> AsyncIterator[StreamEvent]:
        model, sent = self._route(messages)
        return model.stream(sent, tools)

    async def complete(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> Completion:
        model, sent = self._route(messages)
        return await model.complete(sent, tools)

    async def aclose(self) -> None:
        await self._base.aclose()  # the retries' siblings share its connections

    def _route(self, messages: Sequence[Message]) -> tuple[Model, Sequence[Message]]:
        replies = sum(1 for m in messages if m.get("role") == "assistant")
        if replies == 0 or not self._retries:
            return self._base, messages
        model = self._retries[min(replies, len(self._retries)) - 1]
        return model, fresh_view(messages, code=self._code) if self._fresh else messages


def fresh_view(messages: Sequence[Message], *, code: bool = True) -> list[Message]:
    """The conversation a fresh retry sends: the system message(s), then the task's message with the
    last answer's code (unless not ``code``) and the feedback on it appended."""
    system = [m for m in messages if m.get("role") == "system"]
    users = [m for m in messages if m.get("role") == "user"]
    answers = [m for m in messages if m.get("role") == "assistant"]
    if len(users) < 2 or not answers:
        return list(messages)
    task, feedback = _text(users[0]), _text(users[-1])
    last = extract_code(_text(answers[-1])) if code else None
    if last is None:  # no code to show (or the last answer had none: the feedback says so)
        return [*system, {"role": "user", "content": f"{task}\n\n{feedback}"}]
    return [*system, {"role": "user", "content": task + previous_attempt(last, feedback)}]


def _text(message: Message) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""
