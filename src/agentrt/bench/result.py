"""What one agent run on one task reports: a row of the benchmark CSV."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, get_args

from agentrt.events import CommandExecution, Event, EventSink, ItemCompleted, ModelResponse

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
    test_runs: int = 0
    test_cpu_s: float | None = None
    """Summed user+sys CPU of the test runs, from ``wait4`` (``--executor fork``; else unknown)."""
    test_peak_rss_mib: float | None = None
    """Highest peak RSS of one test run, from ``wait4`` (``--executor fork``; else unknown)."""
    admission_wait_s: float = 0.0
    """Summed time the test runs waited for memory admission (``--memory-budget``)."""


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
    "test_runs",
    "test_cpu_s",
    "test_peak_rss_mib",
    "admission_wait_s",
    "prompt_tokens",
    "completion_tokens",
    "error",
)


FINISHED: frozenset[str] = frozenset(("passed", "failed"))
"""The statuses that are a result: a resumed run keeps these rows and runs every ``error`` row again
(interrupted, stopped at the cost limit, not started, model or harness error)."""

_INTS = ("attempts", "retries", "test_runs", "prompt_tokens", "completion_tokens")
_FLOATS = ("wall_s", "model_s", "test_s", "admission_wait_s")
_OPTIONAL_FLOATS = ("ttft_s", "test_cpu_s", "test_peak_rss_mib")


def result_from_row(row: Mapping[str, object]) -> TaskResult:
    """The ``TaskResult`` of one CSV row (strings, as ``csv.DictReader`` reads them) or of one
    journal row (JSON values). ``ValueError`` names the column that is missing or unreadable."""
    missing = [c for c in CSV_COLUMNS if c not in row]
    if missing:
        raise ValueError(f"missing column(s) {', '.join(missing)}")
    status = row["status"]
    if status not in get_args(Status):
        raise ValueError(f"status {status!r} is not one of passed, failed, error")
    values: dict[str, object] = {"id": _text(row["id"], "id"), "status": status}
    values["error"] = "" if row["error"] is None else str(row["error"])
    for column in _INTS:
        values[column] = int(_number(row[column], column))
    for column in _FLOATS:
        values[column] = float(_number(row[column], column))
    for column in _OPTIONAL_FLOATS:
        cell = row[column]
        values[column] = None if cell in ("", None) else float(_number(cell, column))
    flag = row["first_attempt_pass"]
    if flag not in ("true", "false", True, False):
        raise ValueError(f"first_attempt_pass {flag!r} is neither true nor false")
    values["first_attempt_pass"] = flag in ("true", True)
    return TaskResult(**values)  # type: ignore[arg-type]


def _text(value: object, column: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{column} is empty")
    return value


def _number(value: object, column: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{column} {value!r} is not a number")
    if isinstance(value, int | float):
        return value
    try:
        return float(str(value))
    except ValueError:
        raise ValueError(f"{column} {value!r} is not a number") from None


class TaskTelemetry:
    """An ``EventSink`` that turns one task's agent events into its CSV row (``result``).

    Model requests (``ModelResponse``) give ``attempts``, model time, the first TTFT and tokens;
    finished pytest commands (``CommandExecution`` items) give ``test_s`` and ``test_runs`` (whether
    each passed). Every event is passed on to ``forward``.
    """

    __slots__ = ("forward", "result", "test_runs")

    def __init__(self, task_id: str, forward: EventSink | None = None) -> None:
        self.result = TaskResult(task_id, "failed")
        self.test_runs: list[bool] = []
        self.forward = forward

    def emit(self, event: Event) -> None:
        r = self.result
        if isinstance(event, ModelResponse):
            r.attempts += 1
            r.model_s += event.total_s
            if r.attempts == 1:
                r.ttft_s = event.ttft_s
            r.prompt_tokens += event.prompt_tokens
            r.completion_tokens += event.completion_tokens
        elif isinstance(event, ItemCompleted) and isinstance(event.item, CommandExecution):
            item = event.item
            if "pytest" in item.command and item.duration_s is not None:
                r.test_s += item.duration_s
                self.test_runs.append(item.exit_code == 0)
        if self.forward is not None:
            self.forward.emit(event)


@contextmanager
def task_row(task_id: str, sink: EventSink | None) -> Iterator[TaskTelemetry]:
    """The row of one task being worked on: timed from here, and closed however the work ends — an
    ``OSError`` becomes an ``error`` row (``workspace: …``); ``retries`` and ``wall_s`` are filled in."""
    started = time.perf_counter()
    telemetry = TaskTelemetry(task_id, sink)
    result = telemetry.result
    try:
        yield telemetry
    except OSError as exc:
        result.status, result.error = "error", f"workspace: {exc}"
    finally:
        result.retries = max(0, result.attempts - 1)
        result.test_runs = len(telemetry.test_runs)
        result.wall_s = time.perf_counter() - started
