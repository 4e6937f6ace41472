"""When and how long to wait before trying a model request again."""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Jittered exponential backoff, bounded both in count and in total time.

    The n-th retry waits a uniform draw from ``[0, min(max_delay_s, base_delay_s * 2**n)]`` ("full
    jitter"), unless the server sent ``Retry-After``: then exactly that, and no retry at all when it
    would end past ``budget_s`` (counted from the first attempt).
    """

    max_retries: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    budget_s: float = 120.0

    def delay(self, retry_index: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return max(0.0, retry_after)
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * (2**retry_index)))


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
