"""``agentrt bench report``: one self-contained HTML page for one or more benchmark runs.

A run is the files ``agentrt bench humaneval`` writes in ``OUT/raw/``: ``<prefix>_<stamp>_summary.json``,
the per-task ``<prefix>_<stamp>.csv`` and the RSS timeline ``<prefix>_<stamp>_timeline.csv`` (runs from
before the timeline was written have none; their timeline charts say so). The page holds a summary
table (runs side by side), the RSS timelines of the runtime and of its children, the distribution of
each phase's latency (model, test, task) and every task's outcome. Charts are inline SVG
(``report_svg``); the page loads nothing and runs no script, so it works offline.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from agentrt.bench.report import pass_label, percent, prompt_tokens_text, run_order, timeline_path
from agentrt.bench.report_svg import (
    PALETTE,
    STATUS_COLOURS,
    Cell,
    Series,
    cdf_points,
    line_chart,
    outcome_grid,
)

_SUMMARY_GLOB = "*_summary.json"


@dataclass(frozen=True, slots=True)
class Run:
    """One run's files, read."""

    label: str
    summary: Mapping[str, object]
    rows: tuple[Mapping[str, str], ...]
    timeline: tuple[tuple[float, float, float, int], ...]
    source: Path


def find_summaries(paths: Sequence[Path]) -> list[Path]:
    """The summary file each of ``paths`` names: the file itself, or the newest summary in a directory
    (or in its ``raw/``). ``ValueError`` names a path that holds no run."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
            continue
        candidates = sorted([*path.glob(_SUMMARY_GLOB), *path.glob(f"raw/{_SUMMARY_GLOB}")], key=run_order)
        if not candidates:
            raise ValueError(
                f"no benchmark run in {path} (expected {_SUMMARY_GLOB} there or in {path / 'raw'})"
            )
        found.append(candidates[-1])
    return found


def load_run(summary_path: Path, label: str | None = None) -> Run:
    """The run whose summary is at ``summary_path``, with its CSV and timeline when present."""
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read benchmark summary {summary_path}: {exc}") from exc
    if not isinstance(summary, dict):
        raise ValueError(f"{summary_path} is not a benchmark summary (not a JSON object)")
    stem = summary_path.name.removesuffix("_summary.json")
    rows = tuple(_read_csv(summary_path.with_name(f"{stem}.csv")))
    timeline = tuple(_timeline_row(r) for r in _read_csv(timeline_path(summary_path)))
    return Run(label or _default_label(summary_path, summary), summary, rows, timeline, summary_path)


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        return []


def _timeline_row(row: Mapping[str, str]) -> tuple[float, float, float, int]:
    return float(row["t_s"]), float(row["rss_mib"]), float(row["children_rss_mib"]), int(row["live_children"])


def _default_label(summary_path: Path, summary: Mapping[str, object]) -> str:
    """``<results dir> · <agent>/<executor> · <stamp>``: which directory, what ran, when."""
    folder = summary_path.parent
    if folder.name == "raw":
        folder = folder.parent
    what = "/".join(str(summary[k]) for k in ("agent", "executor") if summary.get(k))
    return " · ".join(p for p in (folder.name, what, str(summary.get("started_at") or "")) if p)


def unique_labels(runs: Sequence[Run]) -> list[Run]:
    """The runs with ``#2``, ``#3`` … appended to labels that repeat."""
    seen: dict[str, int] = {}
    out = []
    for run in runs:
        seen[run.label] = seen.get(run.label, 0) + 1
        label = run.label if seen[run.label] == 1 else f"{run.label} #{seen[run.label]}"
        out.append(Run(label, run.summary, run.rows, run.timeline, run.source))
    return out


def write_report(runs: Sequence[Run], path: Path) -> Path:
    """Write the page for ``runs`` to ``path`` (through a temporary sibling); return ``path``."""
    text = render_report(runs)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(f"cannot write the report to {path}: {exc.strerror or exc}") from exc
    return path


def render_report(runs: Sequence[Run]) -> str:
    """The whole page, as one string."""
    if not runs:
        raise ValueError("a report needs at least one run")
    runs = unique_labels(runs)
    legend = _run_legend(runs)
    sections = [
        _section("Summary", _summary_table(runs)),
        _section(
            "Memory over time",
            legend + _missing(runs, "timeline", lambda r: bool(r.timeline)) + _timeline_charts(runs),
        ),
        _section(
            "Latency per phase",
            legend + _missing(runs, "per-task CSV", lambda r: bool(r.rows)) + _latency_charts(runs),
        ),
        _section("Outcome per task", _outcomes(runs)),
    ]
    title = "agentrt benchmark report" + ("" if len(runs) == 1 else f": {len(runs)} runs")
    return _PAGE.format(title=escape(title), style=_STYLE, body="".join(sections))


def _run_legend(runs: Sequence[Run]) -> str:
    items = "".join(
        f'<span class="swatch" style="background:{_colour(i)}"></span>{escape(r.label)} '
        for i, r in enumerate(runs)
    )
    return f'<p class="legend">{items}</p>'


def _missing(runs: Sequence[Run], what: str, has: Callable[[Run], bool]) -> str:
    """A note naming the runs that have no ``what`` (older runs, or a summary copied alone)."""
    lacking = [r.label for r in runs if not has(r)]
    return f'<p class="note">no {what} recorded for: {escape(", ".join(lacking))}</p>' if lacking else ""


def _section(title: str, body: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{body}</section>"


# --- summary table ---------------------------------------------------------------------------------

Formatter = Callable[[Mapping[str, object]], str]


def _num(key: str, unit: str = "", digits: int = 2) -> Formatter:
    def cell(s: Mapping[str, object]) -> str:
        value = s.get(key)
        if isinstance(value, bool) or value is None:
            return "–" if value is None else str(value).lower()
        if isinstance(value, float):
            return f"{value:.{digits}f}{unit}"
        return f"{value}{unit}"

    return cell


def _passed(s: Mapping[str, object]) -> str:
    """``pass_at_1`` as passed/tasks (rate), with the retries it allows (``pass_label``)."""
    rate = s.get("pass_at_1")
    pct = f" ({percent(rate)})" if isinstance(rate, (int, float)) else ""
    allowed = pass_label(s).removeprefix("pass@1 (").removesuffix(")")
    return f"{s.get('passed', '–')}/{s.get('tasks', '–')}{pct} · {allowed}"


def _first_attempt(s: Mapping[str, object]) -> str:
    rate = s.get("first_attempt_pass_rate")
    if not isinstance(rate, (int, float)) and isinstance(s.get("tasks"), int) and s.get("tasks"):
        rate = int(str(s.get("first_attempt", 0))) / int(str(s["tasks"]))  # a run from before the key
    pct = f" ({percent(rate)})" if isinstance(rate, (int, float)) else ""
    return f"{s.get('first_attempt', '–')}/{s.get('tasks', '–')}{pct}"


def _sittings(s: Mapping[str, object]) -> str:
    sittings = s.get("sittings")
    if isinstance(sittings, int) and sittings > 1:
        return f"{sittings} (resumed; RSS and CPU rows: the last sitting's, {s.get('kept_tasks', '–')} tasks kept)"
    return "1"


def _wall(s: Mapping[str, object]) -> str:
    wall = _num("wall_s", " s")(s)
    sittings = s.get("sittings")
    if isinstance(sittings, int) and sittings > 1:
        wall += f" (this sitting {_num('sitting_wall_s', ' s')(s)})"
    return wall


def _simulator(s: Mapping[str, object]) -> str:
    if s.get("sim_process"):
        return f"own process: {_num('sim_peak_rss_mib', ' MiB', 1)(s)} / {_num('sim_cpu_s', ' s')(s)}"
    if s.get("simulated") and s.get("sim_process") is False:
        return "inside the agentrt process (counted there)"
    return "–"


def _outcome(s: Mapping[str, object]) -> str:
    keys = ("first_attempt", "recovered", "failed", "errors")
    return " / ".join(str(s.get(k, "–")) for k in keys)


def _model(s: Mapping[str, object]) -> str:
    return f"{s.get('model', '–')}{' (simulated)' if s.get('simulated') else ''}"


def _percentiles(series: str) -> Formatter:
    def cell(s: Mapping[str, object]) -> str:
        values = [s.get(f"{series}_p{p}_s") for p in (50, 95, 99)]
        return " / ".join(f"{v:.3f}" if isinstance(v, (int, float)) else "–" for v in values)

    return cell


_SUMMARY_ROWS: tuple[tuple[str, Formatter], ...] = (
    ("agent / executor", lambda s: f"{s.get('agent', '–')} / {s.get('executor', '–')}"),
    ("model", _model),
    ("concurrency", _num("concurrency")),
    ("pass@1 (passed after up to N retries)", _passed),
    ("first-attempt pass rate", _first_attempt),
    ("first / recovered / failed / errors", _outcome),
    ("sittings", _sittings),
    ("wall (all sittings)", _wall),
    ("peak RSS agentrt process", _num("peak_rss_mib", " MiB", 1)),
    (
        "peak RSS test children, summed (max live)",
        lambda s: f"{_num('peak_children_rss_mib', ' MiB', 1)(s)} ({s.get('peak_live_children', '–')})",
    ),
    ("CPU agentrt process", _num("runtime_cpu_s", " s")),
    ("CPU test children (reaped)", _num("children_cpu_s", " s")),
    ("simulator process RSS / CPU", _simulator),
    ("agentrt process CPU / 1k tokens", _num("runtime_cpu_ms_per_1k_tokens", " ms", 1)),
    ("test CPU / run", _num("test_cpu_ms_per_run", " ms", 1)),
    ("task p50 / p95 / p99 (s)", _percentiles("task_wall")),
    ("model p50 / p95 / p99 (s)", _percentiles("model")),
    ("test p50 / p95 / p99 (s)", _percentiles("test")),
    ("ttft p50 / p95 / p99 (s)", _percentiles("ttft")),
    ("memory budget", _num("memory_budget_mib", " MiB", 0)),
    (
        "tokens (prompt / completion)",
        lambda s: f"{prompt_tokens_text(s)} / {s.get('completion_tokens', '–')}",
    ),
    ("started / commit", lambda s: f"{s.get('started_at', '–')} / {str(s.get('git_commit') or '–')[:10]}"),
)


_OPTIONAL_ROWS: dict[str, Callable[[Mapping[str, object]], bool]] = {
    "sittings": lambda s: isinstance(s.get("sittings"), int) and int(str(s["sittings"])) > 1,
    "simulator process RSS / CPU": lambda s: bool(s.get("simulated")),
}
"""Rows shown only when some run has something to say there (a resumed run; a simulated model)."""


def _summary_table(runs: Sequence[Run]) -> str:
    head = "".join(
        f'<th><span class="swatch" style="background:{_colour(i)}"></span>{escape(r.label)}</th>'
        for i, r in enumerate(runs)
    )
    body = []
    for label, cell in _SUMMARY_ROWS:
        optional = _OPTIONAL_ROWS.get(label)
        if optional is not None and not any(optional(r.summary) for r in runs):
            continue
        cells = "".join(f"<td>{escape(cell(r.summary))}</td>" for r in runs)
        body.append(f"<tr><th>{escape(label)}</th>{cells}</tr>")
    interrupted = [r.label for r in runs if r.summary.get("interrupted")]
    note = (
        f'<p class="warn">interrupted (partial): {escape(", ".join(interrupted))}</p>' if interrupted else ""
    )
    return f'{note}<table class="summary"><tr><th></th>{head}</tr>{"".join(body)}</table>'


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


# --- charts ----------------------------------------------------------------------------------------


def _timeline_charts(runs: Sequence[Run]) -> str:
    runtime = [
        Series(r.label, _colour(i), [(t, rss) for t, rss, _, _ in r.timeline]) for i, r in enumerate(runs)
    ]
    children = [
        Series(r.label, _colour(i), [(t, kids) for t, _, kids, _ in r.timeline]) for i, r in enumerate(runs)
    ]
    live = [
        Series(r.label, _colour(i), [(t, float(n)) for t, _, _, n in r.timeline]) for i, r in enumerate(runs)
    ]
    return _row(
        line_chart(runtime, title="runtime RSS", x_label="seconds since start", y_label="MiB"),
        line_chart(
            children, title="children RSS (summed, live)", x_label="seconds since start", y_label="MiB"
        ),
        line_chart(live, title="live child processes", x_label="seconds since start", y_label="processes"),
    )


_PHASES = (("model_s", "model (request → stream end, summed)"), ("test_s", "test (pytest runs, summed)"),
           ("wall_s", "task (start → result)"), ("ttft_s", "time to first token"))  # fmt: skip


def _latency_charts(runs: Sequence[Run]) -> str:
    charts = []
    for column, title in _PHASES:
        series = [
            Series(r.label, _colour(i), cdf_points(_floats(r.rows, column))) for i, r in enumerate(runs)
        ]
        charts.append(
            line_chart(series, title=title, x_label="seconds", y_label="share of tasks ≤ x", y_max=1.0)
        )
    return _row(*charts)


def _floats(rows: Sequence[Mapping[str, str]], column: str) -> list[float]:
    out = []
    for row in rows:
        try:
            out.append(float(row.get(column) or ""))
        except ValueError:
            continue
    return out


def _row(*charts: str) -> str:
    return '<div class="row">' + "".join(f"<figure>{c}</figure>" for c in charts) + "</div>"


# --- outcomes --------------------------------------------------------------------------------------


def _status(row: Mapping[str, str]) -> str:
    status = row.get("status", "")
    if status == "passed":
        return "first" if row.get("first_attempt_pass") == "true" else "recovered"
    return status if status in STATUS_COLOURS else "error"


def _cell(row: Mapping[str, str]) -> Cell:
    status = _status(row)
    text = (
        f"{row.get('id', '?')}: {status}, {row.get('attempts', '?')} attempt(s), {row.get('wall_s', '?')} s"
    )
    if row.get("error"):
        text += f" — {row['error']}"
    return Cell(status, text)


def _outcomes(runs: Sequence[Run]) -> str:
    legend = "".join(
        f'<span class="swatch" style="background:{colour}"></span>{escape(name)} '
        for name, colour in zip(("passed on attempt 1", "passed after a retry", "failed", "error"),
                                STATUS_COLOURS.values(), strict=True)
    )  # fmt: skip
    parts = [f'<p class="legend">{legend}</p>']
    for i, run in enumerate(runs):
        counts = {k: sum(_status(r) == k for r in run.rows) for k in STATUS_COLOURS}
        tally = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        parts.append(
            f'<h3><span class="swatch" style="background:{_colour(i)}"></span>{escape(run.label)}'
            f" <small>{escape(tally or 'no per-task rows')}</small></h3>"
        )
        parts.append(outcome_grid([_cell(r) for r in run.rows]))
        parts.append(_not_first(run.rows))
    return "".join(parts)


def _not_first(rows: Sequence[Mapping[str, str]]) -> str:
    """A table of the tasks that did not pass on attempt 1 (at most 50 listed)."""
    others = [r for r in rows if _status(r) != "first"]
    if not others:
        return ""
    body = "".join(
        f"<tr><td>{escape(r.get('id', ''))}</td><td>{escape(_status(r))}</td><td>{escape(r.get('attempts', ''))}</td>"
        f"<td>{escape(r.get('wall_s', ''))}</td><td>{escape(r.get('error', '')[:200])}</td></tr>"
        for r in others[:50]
    )
    more = f"<p>… and {len(others) - 50} more</p>" if len(others) > 50 else ""
    head = "<tr><th>task</th><th>outcome</th><th>attempts</th><th>wall (s)</th><th>error</th></tr>"
    return f'<details><summary>{len(others)} not passed on attempt 1</summary><table class="tasks">{head}{body}</table>{more}</details>'


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;background:#fff}
h1{font-size:20px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}h3{font-size:14px}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
table.summary td{font-variant-numeric:tabular-nums}
.row{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}
svg.chart text{font-size:11px;fill:#333}svg.chart text.title{font-size:13px;font-weight:600}
svg.chart text.label{fill:#666}svg.chart text.empty{fill:#999;font-size:14px}
svg.chart line.grid{stroke:#eee}svg.chart line.tick{stroke:#999}svg.chart polyline.axis{fill:none;stroke:#999}
.swatch{display:inline-block;width:10px;height:10px;margin:0 5px 0 8px}.warn{color:#b00}.note{color:#666}
small{color:#666;font-weight:normal}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{style}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""
