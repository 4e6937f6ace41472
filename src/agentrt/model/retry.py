"""When and how long to wait before trying a model request again."""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

DEFAULT_BUDGET_S = 900.0
"""``RetryPolicy.budget_s`` unless configured: three provider idle timeouts (see ``RetryPolicy``)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Jittered exponential backoff, bounded in count and in time, one budget per ``stream``/``complete``.

    A failed attempt is retried when its error is retryable (``ModelError.retryable``) and the call has
    retries left of its kind:

    * ``max_retries`` (a provider's ``request_max_retries``, 4 as Codex) for attempts that failed before
      the response streamed anything: no connection, 429, 5xx, no headers in time;
    * ``stream_max_retries`` (5 as Codex) for attempts that failed after the response began to stream
      deltas: cut off, disconnected, idle mid-stream. ``stream`` then yields a ``StreamRestart`` first.

    The n-th retry of the call (both kinds counted) waits a uniform draw from ``[0, min(max_delay_s,
    base_delay_s * 2**n)]`` ("full jitter"), unless the server said how long (``Retry-After``, or a
    Responses error's "try again in"): then exactly that, on every retry.

    ``budget_s`` bounds the time the call spends without the server streaming anything: no retry is
    started whose wait would end more than ``budget_s`` after the call began, or after the last
    attempt that had streamed deltas before it failed. So a server that never answers (a hang, a 429
    with a long ``Retry-After``) is given up on, while a long stream that breaks late is still retried
    (those are bounded by ``stream_max_retries`` and by each attempt's idle timeout).

    Why 900 s: every attempt already has its own deadlines (``Timeouts``: 300 s for headers and for
    an idle stream with a provider's defaults, Codex's ``stream_idle_timeout_ms``), so the total must
    outlast one such deadline plus a backoff or a hung attempt is never retried — the old 120 s total
    made a hang or a stall fatal. 900 s is three of them: a request that hangs is sent three times
    before the call gives up after ~15 minutes, which is what a person waiting on an unresponsive
    endpoint would accept, and well inside a turn's 30-minute wall-time limit. ``build_client`` raises
    it to three times a provider's longer timeouts.
    """

    max_retries: int = 4
    stream_max_retries: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    budget_s: float = DEFAULT_BUDGET_S

    def delay(self, retry_index: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return max(0.0, retry_after)
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * (2**retry_index)))


class RetryBudget:
    """What one call has left of its ``RetryPolicy``: counts per kind and the time budget's clock."""

    __slots__ = ("_policy", "_rng", "_started", "attempts", "request_retries", "stream_retries")

    def __init__(self, policy: RetryPolicy, rng: random.Random, now: float) -> None:
        self._policy = policy
        self._rng = rng
        self._started = now
        self.attempts = 0
        """Attempts started so far (requests sent, not counting a resend on a stale connection)."""
        self.request_retries = 0
        self.stream_retries = 0

    def next_delay(self, retry_after: float | None, *, streamed: bool, now: float) -> float | None:
        """The wait before the next attempt, counting it; ``None`` when the call must give up.

        ``streamed``: the failed attempt had received deltas (a stream retry; the clock restarts).
        """
        policy = self._policy
        if streamed:
            if self.stream_retries >= policy.stream_max_retries:
                return None
            self._started = now
        elif self.request_retries >= policy.max_retries:
            return None
        delay = policy.delay(self.request_retries + self.stream_retries, retry_after, self._rng)
        if now - self._started + delay > policy.budget_s:
            return None
        if streamed:
            self.stream_retries += 1
        else:
            self.request_retries += 1
        return delay


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (``now`` is epoch)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
