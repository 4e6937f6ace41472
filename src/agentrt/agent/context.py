"""The context window: what a request carries, and what is sent so that it fits.

* **Accounting.** Each response's usage says how many tokens the request carried (the server's count,
  or agentrt's count of characters / 4 when it sends none). Before a request, the history is
  estimated the same way and scaled by how far the last estimate fell short of the server's count.
* **The window** comes from ``model_context_window``, else the table of known models below, else a
  conservative default (said once).
* **What is sent** (``Context.view``) — the history itself is never changed here, and the rollout
  keeps everything:
  - any one message larger than half the window is cut (head and tail), and a tool output larger
    than ``tool_output_token_limit`` too;
  - once the history passes half the window, the outputs of tool calls older than the newest
    ``tool_output_mask_keep_turns`` model turns are replaced by a one-line placeholder naming the call.
* **Compaction** (``agent.compact``) is due when a request would carry ``model_auto_compact_token_limit``
  tokens (default: 90 % of the window; 0 turns it off), or when the server refuses a request as too long.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agentrt.messages import Message, message_text
from agentrt.truncation import head_tail

DEFAULT_WINDOW = 32_768
"""Tokens assumed for a model the table does not know: small enough to be safe on most servers."""

KNOWN_WINDOWS: Mapping[str, int] = {
    # Model-name prefix → context window in tokens, as the providers publish them (2026-12). The
    # longest matching prefix wins; ``model_context_window`` overrides any of them.
    "gpt-5": 272_000,
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "codex-mini": 200_000,
    "qwen2.5-coder": 32_768,
    "smollm2": 8_192,
    "agentrt-sim": 131_072,
}
AUTO_COMPACT_SHARE = 0.9
MASK_FROM_SHARE = 0.5
"""Masking starts once the history passes this share of the window (below it, the prompt prefix stays
byte-identical from request to request, which keeps the server's prompt cache warm)."""
MESSAGE_SHARE = 0.5
"""No one message may take more than this share of the window."""
CHARS_PER_TOKEN = 4
_MARKER_CHARS = 48
"""Room for the ``[... N characters omitted ...]`` line a cut adds."""


def window_for(model: str, configured: int | None) -> tuple[int, bool]:
    """``(tokens, known)``: the configured window, else the table's, else ``DEFAULT_WINDOW`` (unknown)."""
    if configured is not None:
        return configured, True
    name = model.lower().rsplit("/", 1)[-1]
    matches = [prefix for prefix in KNOWN_WINDOWS if name.startswith(prefix)]
    if not matches:
        return DEFAULT_WINDOW, False
    return KNOWN_WINDOWS[max(matches, key=len)], True


def message_tokens(message: Mapping[str, object]) -> int:
    """A message's size in tokens, counted as characters / 4 (content, tool-call names and arguments)."""
    chars = len(message_text(message.get("content")))
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function", {}) if isinstance(call, dict) else {}
            chars += len(str(function.get("name", ""))) + len(str(function.get("arguments", "")))
    return chars // CHARS_PER_TOKEN + 4


def estimate(messages: Sequence[Mapping[str, object]]) -> int:
    return sum(message_tokens(m) for m in messages) + 3


@dataclass(frozen=True, slots=True)
class ContextPolicy:
    """The knobs: window, when to compact, masking, and the per-output cap (all in tokens)."""

    window: int = DEFAULT_WINDOW
    compact_at: int | None = None
    """``None``: ``AUTO_COMPACT_SHARE`` of the window."""
    masking: bool = True
    keep_turns: int = 5
    output_cap: int | None = None
    known_window: bool = True
    instructions: str | None = None
    """The compaction instructions; ``None``: ``agent.compact.DEFAULT_INSTRUCTIONS``."""

    @property
    def compacting(self) -> bool:
        """``compact_at = 0`` turns compaction off, automatic and on a server's refusal alike."""
        return self.compact_at != 0

    @property
    def compact_limit(self) -> int:
        return self.compact_at if self.compact_at is not None else int(self.window * AUTO_COMPACT_SHARE)


class Context:
    """One thread's accounting: tokens in context after the last response, and the view that is sent."""

    __slots__ = ("factor", "policy", "used")

    def __init__(self, policy: ContextPolicy) -> None:
        self.policy = policy
        self.used = 0
        """Tokens in context after the last response (its request's input plus its output)."""
        self.factor = 1.0
        """How much the server's counts exceed agentrt's estimate (never below 1)."""

    def view(self, messages: Sequence[Message]) -> list[Message]:
        """What is sent for ``messages``: oversized messages cut, old tool outputs masked once large."""
        sent = [self._fitted(m) for m in messages]
        if self.policy.masking and estimate(sent) * self.factor > self.policy.window * MASK_FROM_SHARE:
            sent = mask_old_outputs(sent, self.policy.keep_turns)
        return sent

    def expected(self, messages: Sequence[Message]) -> int:
        """Tokens the next request would carry, sending ``messages``."""
        return self.tokens(self.view(messages))

    def tokens(self, sent: Sequence[Message]) -> int:
        """Tokens a request carrying ``sent`` (a ``view``) would have, as the server would count them."""
        return int(estimate(sent) * self.factor)

    def over(self, sent: Sequence[Message]) -> bool:
        """Whether ``sent`` (a ``view``) is too large to send: the history must be compacted first."""
        return self.policy.compacting and self.tokens(sent) >= self.policy.compact_limit

    def record(self, sent: Sequence[Message], input_tokens: int, output_tokens: int, counted: bool) -> None:
        """A response's usage: what its request carried, as the server counted it."""
        self.used = input_tokens + output_tokens
        guess = estimate(sent)
        if not counted and guess > 0 and input_tokens > 0:
            self.factor = max(1.0, min(4.0, input_tokens / guess))

    def _fitted(self, message: Message) -> Message:
        limit = int(self.policy.window * MESSAGE_SHARE)
        if message.get("role") == "tool" and self.policy.output_cap is not None:
            limit = min(limit, self.policy.output_cap)
        content = message.get("content")
        if not isinstance(content, str) or message_tokens(message) <= limit:
            return message
        chars = max((limit - 4) * CHARS_PER_TOKEN - _MARKER_CHARS, 1)
        return {**message, "content": head_tail(content, chars, unit="characters")}


def mask_old_outputs(messages: Sequence[Message], keep_turns: int) -> list[Message]:
    """``messages`` with the outputs of tool calls made before the newest ``keep_turns`` model turns
    replaced by one line that names the call (what it cost, and how to get it back)."""
    turns = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if len(turns) <= keep_turns:
        return list(messages)
    boundary = turns[-keep_turns] if keep_turns else len(messages)
    names = _call_names(messages[:boundary])
    out = list(messages)
    for i in range(boundary):
        m = messages[i]
        if m.get("role") == "tool" and not str(m.get("content", "")).startswith(MASK_PREFIX):
            out[i] = {**m, "content": placeholder(names.get(str(m.get("tool_call_id")), "tool"), m)}
    return out


MASK_PREFIX = "[output of "


def placeholder(name: str, message: Mapping[str, object]) -> str:
    call_id = message.get("tool_call_id", "?")
    tokens = message_tokens(message)
    return (
        f"{MASK_PREFIX}{name} call {call_id} left out to save context ({tokens} tokens); "
        "run it again if you need it]"
    )


def _call_names(messages: Sequence[Message]) -> dict[str, str]:
    names: dict[str, str] = {}
    for m in messages:
        for call in m.get("tool_calls") or ():
            function = call.get("function", {}) if isinstance(call, dict) else {}
            names[str(call.get("id"))] = str(function.get("name", "tool"))
    return names
