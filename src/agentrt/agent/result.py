"""What one agent run on one task reports: a row of the benchmark CSV."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["passed", "failed", "error"]
"""``passed``: a test run passed. ``failed``: every attempt ran and none passed.
``error``: the run stopped on something other than a failing test (model error, cancellation)."""


@dataclass(slots=True)
class TaskResult:
    id: str
    status: Status
    attempts: int = 0
    """Model calls whose reply reached the test runner (or was attempted)."""
    retries: int = 0
    """``attempts - 1`` when at least one attempt ran."""
    first_attempt_pass: bool = False
    wall_s: float = 0.0
    model_s: float = 0.0
    """Summed over attempts: request sent to stream end."""
    ttft_s: float | None = None
    """Time to first token of the first attempt."""
    test_s: float = 0.0
    """Summed over attempts: wall time of the pytest runs."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str = ""


CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "status",
    "attempts",
    "retries",
    "first_attempt_pass",
    "wall_s",
    "model_s",
    "ttft_s",
    "test_s",
    "prompt_tokens",
    "completion_tokens",
    "error",
)
