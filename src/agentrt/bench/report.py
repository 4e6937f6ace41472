"""Benchmark results: the per-task CSV, the run summary (JSON) and the terminal table.

``summarize`` turns the per-task ``TaskResult`` rows and the sampler's ``ResourceReport`` into one flat
mapping; ``write_results`` writes ``<out_dir>/raw/<prefix>_<stamp>.csv``,
``<out_dir>/raw/<prefix>_<stamp>_summary.json`` and, when the sampler kept one, the RSS timeline
``<out_dir>/raw/<prefix>_<stamp>_timeline.csv``, each atomically; ``render_table`` formats the summary
for a terminal. A run against the simulator is labelled simulated wherever its model is shown.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agentrt.bench.result import CSV_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from agentrt.bench.result import TaskResult
    from agentrt.bench.telemetry import ResourceReport, Sample

_DIGITS = 4
_PERCENTILES = (50, 95, 99)
_SERIES = ("task_wall", "model", "ttft", "test")

SUMMARY_KEYS: tuple[str, ...] = (
    "tasks",
    "passed",
    "pass_at_1",
    "first_attempt",
    "recovered",
    "failed",
    "errors",
    "avg_retries",
    "wall_s",
    *(f"{series}_p{p}_s" for series in _SERIES for p in _PERCENTILES),
    "peak_rss_mib",
    "peak_children_rss_mib",
    "peak_live_children",
    "runtime_cpu_s",
    "children_cpu_s",
    "prompt_tokens",
    "completion_tokens",
    "runtime_cpu_ms_per_1k_tokens",
)
"""The keys ``summarize`` always computes (the caller's ``meta`` comes on top of them)."""

TIMELINE_COLUMNS: tuple[str, ...] = ("t_s", "rss_mib", "children_rss_mib", "live_children")
"""The timeline file: seconds since the run started, the runtime's RSS, its live children's summed
RSS and their count, one row per kept sample."""


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (0..100) by linear interpolation between closest ranks; None if empty.

    Matches the default ("linear") method of the usual numeric libraries."""
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    frac = rank - low
    a = ordered[low]
    if frac == 0.0 or low + 1 >= len(ordered):
        return float(a)
    b = ordered[low + 1]
    value = a + (b - a) * frac
    return float(min(max(value, a), b))  # rounding must not step outside the bracketing values


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, _DIGITS)


def _percentiles(name: str, values: Sequence[float]) -> dict[str, object]:
    return {f"{name}_p{p}_s": _round(percentile(values, p)) for p in _PERCENTILES}


def summarize(
    results: Sequence[TaskResult],
    *,
    resources: ResourceReport | None,
    wall_s: float,
    meta: Mapping[str, object],
) -> dict[str, object]:
    """One flat mapping describing the run: ``meta`` as given, then the keys of ``SUMMARY_KEYS``.

    Fractions and seconds are rounded to 4 decimals; values that cannot exist (no tasks, no resource
    report, no tokens) are None. A computed key wins over a ``meta`` entry of the same name."""
    tasks = len(results)
    passed = sum(1 for r in results if r.status == "passed")
    first = sum(1 for r in results if r.first_attempt_pass)
    recovered = sum(1 for r in results if r.status == "passed" and not r.first_attempt_pass)
    completion_tokens = sum(r.completion_tokens for r in results)
    summary: dict[str, object] = dict(meta)
    summary.update(
        tasks=tasks,
        passed=passed,
        pass_at_1=_round(passed / tasks) if tasks else None,
        first_attempt=first,
        recovered=recovered,
        failed=sum(1 for r in results if r.status == "failed"),
        errors=sum(1 for r in results if r.status == "error"),
        avg_retries=_round(sum(r.retries for r in results) / tasks) if tasks else None,
        wall_s=_round(wall_s),
    )
    summary.update(_percentiles("task_wall", [r.wall_s for r in results]))
    summary.update(_percentiles("model", [r.model_s for r in results]))
    summary.update(_percentiles("ttft", [r.ttft_s for r in results if r.ttft_s is not None]))
    summary.update(_percentiles("test", [r.test_s for r in results]))
    cpu_per_1k: float | None = None
    if resources is not None and completion_tokens:
        cpu_per_1k = resources.runtime_cpu_s * 1e6 / completion_tokens
    summary.update(
        peak_rss_mib=_round(resources.peak_rss_mib) if resources else None,
        peak_children_rss_mib=_round(resources.peak_children_rss_mib) if resources else None,
        peak_live_children=resources.peak_live_children if resources else None,
        runtime_cpu_s=_round(resources.runtime_cpu_s) if resources else None,
        children_cpu_s=_round(resources.children_cpu_s) if resources else None,
        prompt_tokens=sum(r.prompt_tokens for r in results),
        completion_tokens=completion_tokens,
        runtime_cpu_ms_per_1k_tokens=_round(cpu_per_1k),
    )
    return summary


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.{_DIGITS}f}"
    return str(value)


def _csv_text(results: Sequence[TaskResult]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for result in results:
        writer.writerow([_cell(getattr(result, column)) for column in CSV_COLUMNS])
    return buffer.getvalue()


def _timeline_text(timeline: Sequence[Sample]) -> str:
    lines = [",".join(TIMELINE_COLUMNS)]
    lines.extend(f"{s.t_s:.3f},{s.rss_mib:.2f},{s.children_rss_mib:.2f},{s.live_children}" for s in timeline)
    return "\n".join(lines) + "\n"


def timeline_path(summary_path: Path) -> Path:
    """The timeline file that goes with the summary at ``summary_path``."""
    return summary_path.with_name(summary_path.name.removesuffix("_summary.json") + "_timeline.csv")


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling and ``os.replace``: all or nothing."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def write_results(
    out_dir: Path,
    results: Sequence[TaskResult],
    summary: Mapping[str, object],
    *,
    stamp: str,
    prefix: str = "python",
    timeline: Sequence[Sample] = (),
) -> tuple[Path, Path]:
    """Write ``<out_dir>/raw/<prefix>_<stamp>.csv`` and ``..._summary.json``; return both paths.

    The CSV has the ``CSV_COLUMNS`` header and one row per result, in order (floats to 4 decimals,
    None empty, booleans ``true``/``false``). A non-empty ``timeline`` is written beside them
    (``timeline_path``). An unwritable directory raises ``OSError`` naming it."""
    raw = Path(out_dir) / "raw"
    csv_path = raw / f"{prefix}_{stamp}.csv"
    json_path = raw / f"{prefix}_{stamp}_summary.json"
    try:
        raw.mkdir(parents=True, exist_ok=True)
        _write_atomic(csv_path, _csv_text(results))
        _write_atomic(json_path, json.dumps(dict(summary), indent=2, default=str) + "\n")
        if timeline:
            _write_atomic(timeline_path(json_path), _timeline_text(timeline))
    except OSError as exc:
        message = f"cannot write benchmark results to {raw}: {exc.strerror or exc}"
        raise (OSError(exc.errno, message) if exc.errno is not None else OSError(message)) from exc
    return csv_path, json_path


def timestamp() -> str:
    """The current UTC time as a filename-safe stamp, e.g. ``20261127T101530Z``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def git_commit(cwd: Path) -> str | None:
    """The commit checked out in the repository holding ``cwd``; None outside one or before a commit."""
    from agentrt.git import git_info

    commit = (git_info(cwd) or {}).get("commit_hash")
    return commit if commit and all(c in "0123456789abcdef" for c in commit) else None


def _num(value: object, unit: str = "", digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def _model_line(summary: Mapping[str, object]) -> str | None:
    model = summary.get("model")
    simulated = bool(summary.get("simulated"))
    if model is None and not simulated:
        return None
    name = "(unknown)" if model is None else str(model)
    return f"model: {name} (simulated)" if simulated else f"model: {name}"


def _header_lines(summary: Mapping[str, object]) -> list[str]:
    lines: list[str] = []
    model_line = _model_line(summary)
    if model_line is not None:
        lines.append(model_line)
    context = [
        f"{key} {summary[key]}"
        for key in ("dataset", "concurrency", "base_url")
        if summary.get(key) not in (None, "")
    ]
    if context:
        lines.append("   ".join(context))
    if summary.get("interrupted"):
        lines.append("INTERRUPTED: partial results (unfinished tasks count as errors)")
    return lines


def _body_rows(s: Mapping[str, object]) -> list[tuple[str, str]]:
    pass_at_1 = s.get("pass_at_1")
    pct = f"{pass_at_1 * 100:.1f}%" if isinstance(pass_at_1, (int, float)) else "-"
    return [
        ("tasks", _num(s.get("tasks"))),
        ("passed", f"{_num(s.get('passed'))}   pass@1 {pct}"),
        (
            "outcome",
            f"first-attempt {_num(s.get('first_attempt'))}   recovered {_num(s.get('recovered'))}   "
            f"failed {_num(s.get('failed'))}   errors {_num(s.get('errors'))}",
        ),
        ("avg retries", _num(s.get("avg_retries"), digits=2)),
        ("wall", _num(s.get("wall_s"), " s", 2)),
    ]


def _resource_rows(s: Mapping[str, object]) -> list[tuple[str, str]]:
    cpu_per_1k = s.get("runtime_cpu_ms_per_1k_tokens")
    per_tokens = f"   ({_num(cpu_per_1k, ' ms', 2)} per 1k tokens)" if cpu_per_1k is not None else ""
    return [
        (
            "peak RSS",
            f"runtime {_num(s.get('peak_rss_mib'), ' MiB', 1)}   "
            f"children {_num(s.get('peak_children_rss_mib'), ' MiB', 1)} "
            f"(max {_num(s.get('peak_live_children'))} live)",
        ),
        (
            "CPU",
            f"runtime {_num(s.get('runtime_cpu_s'), ' s', 2)}   "
            f"children {_num(s.get('children_cpu_s'), ' s', 2)}{per_tokens}",
        ),
        (
            "tokens",
            f"prompt {_num(s.get('prompt_tokens'))}   completion {_num(s.get('completion_tokens'))}"
            f"   cost {_cost_text(s)}",
        ),
        *_test_rows(s),
    ]


def _cost_text(s: Mapping[str, object]) -> str:
    """The run's cost: ``$0.0123``, or ``unknown`` for a model with no price (never shown as 0)."""
    from agentrt.agent.cost import cost_text

    cost = s.get("cost_usd")
    text = cost_text(float(cost)) if isinstance(cost, int | float) else "unknown"
    limit = s.get("max_cost_usd")
    return text if not isinstance(limit, int | float) else f"{text} (limit ${limit:g})"


def _test_rows(s: Mapping[str, object]) -> list[tuple[str, str]]:
    """The test runs' line (with the executor, when known) and the memory budget's (when one was set)."""
    rows: list[tuple[str, str]] = []
    if s.get("test_runs") is not None:
        executor = f"{s['executor']}: " if s.get("executor") else ""
        cpu = f"{_num(s.get('test_cpu_ms_per_run'), ' ms', 1)} CPU/run"
        if s.get("test_cpu_source") == "children_cpu_s":  # getrusage: a sandbox's own children are not seen
            cpu += " (reaped children only: under bubblewrap the tests' CPU is not seen)"
        rows.append((
            "test runs",
            f"{executor}{_num(s.get('test_runs'))} runs   {cpu}   peak {_num(s.get('test_peak_rss_mib'), ' MiB', 1)}/run",
        ))  # fmt: skip
    if s.get("sim_process"):
        rows.append((
            "simulator",
            f"own process (not counted above)   peak RSS {_num(s.get('sim_peak_rss_mib'), ' MiB', 1)}"
            f"   CPU {_num(s.get('sim_cpu_s'), ' s', 2)}",
        ))  # fmt: skip
    if s.get("memory_budget_mib") is not None:
        rows.append((
            "memory budget",
            f"{_num(s.get('memory_budget_mib'), ' MiB', 0)}   children peak "
            f"{_num(s.get('peak_children_rss_mib'), ' MiB', 1)}   waited {_num(s.get('admission_wait_s'), ' s', 2)}"
            f" (max {_num(s.get('admission_max_wait_s'), ' s', 2)})",
        ))  # fmt: skip
    return rows


def _percentile_lines(s: Mapping[str, object], indent: int) -> list[str]:
    labels = {"task_wall": "task wall", "model": "model", "ttft": "ttft", "test": "test"}
    cells = [[_num(s.get(f"{series}_p{p}_s")) for p in _PERCENTILES] for series in _SERIES]
    width = max(8, *(len(c) for row in cells for c in row))
    head = "".join(f"p{p} (s)".rjust(width + 2) for p in _PERCENTILES)
    lines = [" " * indent + head]
    for series, row in zip(_SERIES, cells, strict=True):
        lines.append(labels[series].ljust(indent) + "".join(c.rjust(width + 2) for c in row))
    return lines


def render_table(summary: Mapping[str, object]) -> str:
    """The summary as aligned plain text for a terminal (no trailing newline)."""
    rows = _body_rows(summary)
    resource_rows = _resource_rows(summary)
    indent = max(len(label) for label, _ in (*rows, *resource_rows)) + 3
    lines = _header_lines(summary)
    if lines:
        lines.append("")
    lines.extend(label.ljust(indent) + value for label, value in rows)
    lines.append("")
    lines.extend(_percentile_lines(summary, indent))
    lines.append("")
    lines.extend(label.ljust(indent) + value for label, value in resource_rows)
    return "\n".join(lines)
