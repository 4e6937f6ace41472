"""Compaction: a history near the window's limit replaced by what the work needs to go on.

::

    before:  [initial context] [prompt₁] … [older work: calls, outputs, answers] … [newest messages]
    after:   [initial context] [user prompts, newest kept within a budget; the first always]
             [handoff summary written by the model] [newest messages, verbatim]

The initial context is the system prompt, the AGENTS.md notes and the environment (the newest
environment message, if the sandbox or approvals were switched since). The newest messages start at
a user or assistant message, so every tool call kept keeps its output. The summary comes from one
model request (no tools) over the history with the compaction instructions at the end; a history too
large for that request loses its oldest messages first. A failure (model error, empty summary)
raises ``CompactionFailed`` and the caller keeps the history it had.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentrt.agent.context import Context, ContextPolicy, estimate, message_tokens
from agentrt.agent.instructions import is_context_message
from agentrt.interfaces import Model
from agentrt.messages import Message, message_text
from agentrt.model.errors import ModelError

SUMMARY_OPEN = "<handoff_summary>\nThe earlier part of this conversation was compacted. A summary of it, written for you:\n\n"
SUMMARY_CLOSE = "\n</handoff_summary>"
PROMPTS_BUDGET = 20_000
"""Tokens of the user's earlier prompts kept verbatim at most (and at most a fifth of the window)."""
SUMMARY_REQUEST_SHARE = 0.8
"""The summary request carries at most this share of the window (room for the summary itself)."""
KEEP_RECENT = 6
"""Newest messages kept verbatim (fewer when they would take more than a third of the window)."""

DEFAULT_INSTRUCTIONS = """\
The conversation above is about to be compacted: everything before this message will be replaced by \
your summary, the user's own messages and the newest few messages. Write the summary another engineer \
(or you, with no memory of this) needs to carry on without asking anything:

1. The task, in the user's terms, and any constraints they set.
2. Decisions made and why; approaches tried that failed.
3. Files created, changed or read that matter, with what changed.
4. Commands whose results matter (tests, builds) and those results.
5. What remains to be done, in order, and the very next step.

Be specific (paths, names, numbers) and brief. Write only the summary."""


class CompactionFailed(Exception):
    """The summary could not be made; the history stays as it was."""


@dataclass(frozen=True, slots=True)
class Compaction:
    summary: str
    history: list[Message]


async def compact(
    model: Model, messages: Sequence[Message], policy: ContextPolicy, *, instructions: str | None = None
) -> Compaction:
    """The compacted history of ``messages`` (see the module docstring)."""
    initial, rest = _split(messages)
    tail = _tail(rest, policy)
    older = list(rest[: len(rest) - len(tail)])
    request = _summary_request(initial, older + tail, instructions or DEFAULT_INSTRUCTIONS, policy)
    try:
        completion = await model.complete(request, [])
    except ModelError as exc:
        raise CompactionFailed(f"the summary request failed: {exc.message}") from exc
    summary = completion.content.strip()
    if not summary:
        raise CompactionFailed("the model answered the summary request with no text")
    handoff: Message = {"role": "user", "content": SUMMARY_OPEN + summary + SUMMARY_CLOSE}
    return Compaction(summary, [*initial, *_prompts(older, policy), handoff, *tail])


def is_summary(message: Message) -> bool:
    return message.get("role") == "user" and message_text(message.get("content")).startswith(SUMMARY_OPEN)


def _split(messages: Sequence[Message]) -> tuple[list[Message], list[Message]]:
    """The initial context (newest environment message swapped in) and the rest."""
    n = 0
    while n < len(messages) and (messages[n].get("role") == "system" or is_context_message(messages[n])):
        n += 1
    initial, rest = list(messages[:n]), list(messages[n:])
    newest_env = next((m for m in reversed(rest) if _is_environment(m)), None)
    if newest_env is not None:
        initial = [newest_env if _is_environment(m) else m for m in initial]
    return initial, [m for m in rest if not _is_environment(m)]


def _is_environment(message: Message) -> bool:
    return message.get("role") == "user" and message_text(message.get("content")).startswith(
        "<environment_context>"
    )


def _tail(rest: Sequence[Message], policy: ContextPolicy) -> list[Message]:
    """The newest messages to keep verbatim: whole steps (a message and the tool outputs after it),
    newest first, up to ``KEEP_RECENT`` messages and a third of the window; the newest step always."""
    budget = policy.window // 3
    start, used = len(rest), 0
    while start > 0:
        step = start - 1
        while step > 0 and rest[step].get("role") == "tool":
            step -= 1  # a tool output goes with the call before it
        cost = sum(message_tokens(m) for m in rest[step:start])
        taken = len(rest) - start
        if taken and (taken >= KEEP_RECENT or used + cost > budget):
            break
        start, used = step, used + cost
    return list(rest[start:])


def _prompts(older: Sequence[Message], policy: ContextPolicy) -> list[Message]:
    """The user's own prompts in ``older``, newest kept within the budget, the first always, in order."""
    prompts = [
        m for m in older if m.get("role") == "user" and not is_summary(m) and not is_context_message(m)
    ]
    if not prompts:
        return []
    budget = min(PROMPTS_BUDGET, policy.window // 5)
    kept: list[Message] = []
    used = message_tokens(prompts[0])
    for m in reversed(prompts[1:]):
        used += message_tokens(m)
        if used > budget:
            break
        kept.append(m)
    return [_fitted(prompts[0], policy), *reversed(kept)]


def _fitted(message: Message, policy: ContextPolicy) -> Message:
    return Context(policy).view([message])[0]


def _summary_request(
    initial: list[Message], history: list[Message], instructions: str, policy: ContextPolicy
) -> list[Message]:
    """The summary request: the history (masked, oldest dropped until it fits) and the instructions."""
    context = Context(policy)
    ask: Message = {"role": "user", "content": instructions}
    room = int(policy.window * SUMMARY_REQUEST_SHARE) - estimate([*initial, ask])
    body = context.view(history)
    while body and estimate(body) > room:
        body = _drop_oldest(body)
    return [*initial, *body, ask]


def _drop_oldest(body: list[Message]) -> list[Message]:
    """``body`` without its oldest message, and without tool outputs left orphaned by that."""
    rest = body[1:]
    while rest and rest[0].get("role") == "tool":
        rest = rest[1:]
    return rest
