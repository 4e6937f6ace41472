"""A contract-loop retry strategy as data: what the options say (``retry.py`` carries it out).

A leaf: the command line builds its options from it without loading the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Feedback = Literal["output", "assertion"]
Context = Literal["continue", "fresh"]
FEEDBACKS: tuple[str, ...] = get_args(Feedback)
CONTEXTS: tuple[str, ...] = get_args(Context)


@dataclass(frozen=True, slots=True)
class RetryStrategy:
    temperature: float | None = None
    """Sampling temperature of retries; ``None``: as the first attempt."""
    seed: int | None = None
    """Attempt *k* sends ``seed + k``; ``None``: no seed is sent."""
    feedback: Feedback = "output"
    reason: bool = False
    context: Context = "continue"
    code: bool = True
    """Whether a fresh retry shows the last answer's code; ``False``: the task and the feedback alone,
    so the wrong code cannot anchor the retry. A continued conversation holds the code anyway."""

    @property
    def changes_requests(self) -> bool:
        """Whether a retry's request differs from what the loop would send without a strategy."""
        return self.temperature is not None or self.seed is not None or self.context == "fresh"

    def as_dict(self) -> dict[str, object]:
        return {
            "temperature": self.temperature,
            "seed": self.seed,
            "feedback": self.feedback,
            "reason": self.reason,
            "context": self.context,
            "code": self.code,
        }


LOCAL_RETRY = RetryStrategy(
    temperature=0.7, seed=0, feedback="assertion", reason=True, context="fresh", code=False
)
"""``--local``'s retries. On the 24 HumanEval tasks Qwen2.5-Coder-1.5B failed at its first attempt,
greedy retries shown pytest's output in the continued conversation recovered 1; sampled ones with the
failing assertion, the cause asked for first and a fresh conversation showing the wrong code, 7;
the same without the wrong code, the most (``benchmarks/results/retry-study/README.md``;
``benchmarks/retry_study.py`` compares the strategies one by one)."""
