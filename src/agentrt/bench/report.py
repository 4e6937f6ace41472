"""Benchmark results: the per-task CSV, the run summary (JSON) and the terminal table.

``summarize`` turns the per-task ``TaskResult`` rows and the sampler's ``ResourceReport`` into one flat
mapping; ``write_results`` writes ``<out_dir>/raw/<prefix>_<stamp>.csv``,
``<out_dir>/raw/<prefix>_<stamp>_summary.json`` and, when the sampler kept one, the RSS timeline
``<out_dir>/raw/<prefix>_<stamp>_timeline.csv``, each atomically; ``render_table`` formats the summary
for a terminal. A run against the simulator is labelled simulated wherever its model is shown.

While a run goes, ``RowJournal`` appends each finished task's row to
``<out_dir>/raw/<prefix>_<stamp>_journal.jsonl`` (removed once the CSV and summary are written), so a
run killed outright loses no finished task; ``load_resume`` reads a run back — its newest summary, or
the journal of a sitting that never wrote one — for ``agentrt bench humaneval --resume``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from agentrt.bench.result import CSV_COLUMNS, FINISHED, TaskResult, result_from_row

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from agentrt.bench.telemetry import ResourceReport, Sample

_DIGITS = 4
_PERCENTILES = (50, 95, 99)
_SERIES = ("task_wall", "model", "ttft", "test")

SUMMARY_KEYS: tuple[str, ...] = (
    "tasks",
    "passed",
    "pass_at_1",
    "first_attempt",
    "first_attempt_pass_rate",
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
    cpu_tokens: int | None = None,
) -> dict[str, object]:
    """One flat mapping describing the run: ``meta`` as given, then the keys of ``SUMMARY_KEYS``.

    ``pass_at_1`` counts a task passed after any of its retries (the benchmark contract);
    ``first_attempt_pass_rate`` only those that passed on attempt 1. ``cpu_tokens``: the completion
    tokens streamed while ``resources`` was measured, for the runtime's CPU per 1k tokens (default:
    every row's; a resumed run's resources are its last sitting's, and so are those tokens).

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
        first_attempt_pass_rate=_round(first / tasks) if tasks else None,
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
    measured_tokens = completion_tokens if cpu_tokens is None else cpu_tokens
    if resources is not None and measured_tokens:
        cpu_per_1k = resources.runtime_cpu_s * 1e6 / measured_tokens
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


def unique_stamp(raw: Path, stamp: str, prefix: str = "python") -> str:
    """``stamp``, or ``stamp-2``, ``stamp-3`` … when a run in ``raw`` already has it (two sittings in
    one second must not overwrite each other's files)."""
    candidate, n = stamp, 1
    while any(
        (raw / f"{prefix}_{candidate}{suffix}").exists()
        for suffix in (".csv", "_summary.json", JOURNAL_SUFFIX)
    ):
        n += 1
        candidate = f"{stamp}-{n}"
    return candidate


# --- the row journal and resuming ------------------------------------------------------------------

JOURNAL_SUFFIX = "_journal.jsonl"
SUMMARY_SUFFIX = "_summary.json"

SITTING_KEYS: tuple[str, ...] = (
    "started_at",
    "concurrency",
    "executor",
    "interrupted",
    "peak_rss_mib",
    "peak_children_rss_mib",
    "peak_live_children",
    "runtime_cpu_s",
    "children_cpu_s",
    "runtime_cpu_ms_per_1k_tokens",
    "sampler_cpu_s",
    "sim_process",
    "sim_peak_rss_mib",
    "sim_cpu_s",
    "server_peak_rss_mib",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "git_commit",
)
"""What ``per_sitting`` keeps of each sitting: what it measured of its own process (RSS, CPU), what
it spent (tokens, cost) and how it ran; with ``sitting``, ``file``, ``wall_s`` and ``tasks_run``."""


class RowJournal:
    """Each finished task's row, appended to ``<prefix>_<stamp>_journal.jsonl`` as it finishes.

    The first line is a header (``meta``, ``task_ids``, ``history``, ``resumed_from``); then one line per
    row: ``{"row": {...}, "kept": true}`` for a row kept from an earlier sitting, ``{"row": {...},
    "t_s": seconds since the sitting started}`` for one finished now. Each line is flushed to the
    kernel at once (a killed process loses nothing; no ``fsync``: a lost machine may). A write that
    fails turns the journal off; the run goes on and still writes its CSV and summary."""

    def __init__(self, path: Path, header: Mapping[str, object]) -> None:
        self.path = path
        self._file: IO[str] | None = open(path, "x", encoding="utf-8")  # noqa: SIM115 - lives with the run
        self._write({"journal": 1, **header})

    def add(self, result: TaskResult, *, t_s: float | None = None, kept: bool = False) -> None:
        line: dict[str, object] = {"row": {c: getattr(result, c) for c in CSV_COLUMNS}}
        if kept:
            line["kept"] = True
        if t_s is not None:
            line["t_s"] = round(t_s, 4)
        self._write(line)

    def _write(self, obj: Mapping[str, object]) -> None:
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(obj, default=str) + "\n")
            self._file.flush()
        except (OSError, ValueError):
            self.close(remove=False)

    def close(self, *, remove: bool) -> None:
        """Close; ``remove``: the run's CSV and summary are written, so the journal is done with."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
        if remove:
            try:
                self.path.unlink()
            except OSError:
                pass


@dataclass(frozen=True)
class ResumePoint:
    """A run read back to be resumed: the newest sitting's rows, and what came before it."""

    source: Path
    """The summary (or, for a sitting that was killed before writing one, the journal) read."""
    out_dir: Path
    """The run's ``--out`` directory: the resumed sitting writes its files in ``out_dir/raw``."""
    meta: Mapping[str, object]
    """The recorded summary (or the killed sitting's meta): the settings to check against."""
    task_ids: tuple[str, ...]
    """Every task of the run, ``ID#k`` for ``--repeat``, in order."""
    rows: Mapping[str, TaskResult]
    """The recorded row of each task that has one."""
    history: tuple[Mapping[str, object], ...]
    """``per_sitting``: one entry per earlier sitting, oldest first, the source's own last."""
    files: tuple[str, ...]
    """The earlier sittings' files (in ``out_dir/raw``), oldest first: ``resumed_from``."""

    @property
    def kept(self) -> dict[str, TaskResult]:
        """The rows that are results (``passed``, ``failed``): kept, not run again."""
        return {i: r for i, r in self.rows.items() if r.status in FINISHED}

    @property
    def killed(self) -> bool:
        """The sitting read was killed before it wrote a summary (its journal is all there is): even
        with every task finished, resuming it writes the run's summary."""
        return self.source.name.endswith(JOURNAL_SUFFIX)

    @property
    def unfinished(self) -> list[str]:
        kept = self.kept
        return [i for i in self.task_ids if i not in kept]


def run_order(path: Path) -> tuple[str, int]:
    """Sort key of a run's file ``<prefix>_<stamp>[-n]<suffix>``: by stamp, then by the ``-n`` of a
    sitting in the same second (``…Z-2`` after ``…Z``, ``…Z-10`` after ``…Z-9``)."""
    stem = path.name
    for suffix in (SUMMARY_SUFFIX, JOURNAL_SUFFIX, ".csv"):
        stem = stem.removesuffix(suffix)
    match = re.fullmatch(r"(.*?)(?:-(\d+))?", stem)
    assert match is not None
    return match[1], int(match[2] or 1)


def find_resume_source(path: Path) -> Path:
    """The file a resume reads for ``path``: a ``*_summary.json`` or ``*_journal.jsonl`` itself, or the
    newest sitting in a results directory (or in its ``raw/``) — its summary, or its journal when it
    was killed before writing one. ``ValueError`` says why there is none."""
    if path.is_file():
        if path.name.endswith((SUMMARY_SUFFIX, JOURNAL_SUFFIX)):
            return path
        raise ValueError(f"cannot resume from {path}: not a *{SUMMARY_SUFFIX} or *{JOURNAL_SUFFIX} file")
    if not path.is_dir():
        raise ValueError(f"cannot resume from {path}: no such directory")
    stems: dict[str, Path] = {}
    for folder in (path, path / "raw"):
        for journal in folder.glob(f"*{JOURNAL_SUFFIX}"):
            stems[str(folder / journal.name.removesuffix(JOURNAL_SUFFIX))] = journal
        for summary in folder.glob(f"*{SUMMARY_SUFFIX}"):  # a summary wins over its own journal
            stems[str(folder / summary.name.removesuffix(SUMMARY_SUFFIX))] = summary
    if not stems:
        raise ValueError(
            f"cannot resume from {path}: no benchmark run there (expected *{SUMMARY_SUFFIX} in it or in "
            f"{path / 'raw'}; give the --out directory of the run)"
        )
    newest = max(stems, key=lambda stem: run_order(Path(stem)))
    return stems[newest]


def load_resume(path: Path) -> ResumePoint:
    """The run at ``path`` (``find_resume_source``), read back; ``ValueError`` names a damaged file."""
    source = find_resume_source(path)
    out_dir = source.parent.parent if source.parent.name == "raw" else source.parent
    if source.name.endswith(JOURNAL_SUFFIX):
        return _load_journal(source, out_dir)
    return _load_summary(source, out_dir)


def _load_summary(source: Path, out_dir: Path) -> ResumePoint:
    try:
        summary = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot resume from {source}: unreadable summary ({exc})") from exc
    if not isinstance(summary, dict) or "tasks" not in summary:
        raise ValueError(f"cannot resume from {source}: not a benchmark summary")
    csv_path = source.with_name(source.name.removesuffix(SUMMARY_SUFFIX) + ".csv")
    try:
        with csv_path.open(encoding="utf-8", newline="") as handle:
            records = list(csv.DictReader(handle))
    except OSError as exc:
        raise ValueError(
            f"cannot resume from {source}: its per-task rows {csv_path.name} cannot be read "
            f"({exc.strerror or exc})"
        ) from exc
    rows: dict[str, TaskResult] = {}
    for line, record in enumerate(records, start=2):
        try:
            row = result_from_row(record)
        except ValueError as exc:
            raise ValueError(f"cannot resume from {source}: {csv_path.name} line {line}: {exc}") from exc
        rows[row.id] = row
    if len(rows) != summary["tasks"] or len(records) != len(rows):
        raise ValueError(
            f"cannot resume from {source}: {csv_path.name} has {len(records)} rows, the summary counts "
            f"{summary['tasks']} tasks"
        )
    history = summary.get("per_sitting")
    if not isinstance(history, list) or not history:
        history = [_sitting_of(summary, source.name, rows.values())]
    earlier = summary.get("resumed_from")
    files = [*(earlier if isinstance(earlier, list) else []), source.name]
    return ResumePoint(source, out_dir, summary, tuple(rows), rows, tuple(history), tuple(files))


def _sitting_of(summary: Mapping[str, object], file: str, rows: Iterable[TaskResult]) -> dict[str, object]:
    """The ``per_sitting`` entry of a one-sitting summary (its top-level figures are its own)."""
    ran = [r for r in rows if r.error != "interrupted"]
    entry: dict[str, object] = {"sitting": 1, "file": file}
    entry["wall_s"] = summary.get("sitting_wall_s", summary.get("wall_s"))
    entry["tasks_run"] = len(ran)
    entry.update((k, summary[k]) for k in SITTING_KEYS if k in summary)
    return entry


def _load_journal(source: Path, out_dir: Path) -> ResumePoint:
    def damaged(why: str) -> ValueError:
        return ValueError(f"cannot resume from {source}: damaged journal ({why})")

    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"cannot resume from {source}: {exc.strerror or exc}") from exc
    objects: list[dict[str, object]] = []
    for number, text in enumerate(lines, start=1):
        try:
            obj = json.loads(text)
        except ValueError:
            if number == len(lines):  # the write the kill cut short
                break
            raise damaged(f"line {number} is not JSON") from None
        if not isinstance(obj, dict):
            raise damaged(f"line {number} is not an object")
        objects.append(obj)
    if not objects or objects[0].get("journal") != 1:
        raise damaged("no header line")
    header, entries = objects[0], objects[1:]
    meta, ids = header.get("meta"), header.get("task_ids")
    if not isinstance(meta, dict) or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise damaged("its header lacks the run's settings or task ids")
    rows: dict[str, TaskResult] = {}
    ran: list[TaskResult] = []
    last_t = 0.0
    for number, entry in enumerate(entries, start=2):
        record = entry.get("row")
        try:
            if not isinstance(record, dict):
                raise ValueError("no row")
            row = result_from_row(record)
        except ValueError as exc:
            raise damaged(f"line {number}: {exc}") from exc
        rows[row.id] = row
        if not entry.get("kept"):
            ran.append(row)
            t_s = entry.get("t_s")
            last_t = max(last_t, float(t_s) if isinstance(t_s, int | float) else 0.0)
    recorded = header.get("history")
    history = [h for h in recorded if isinstance(h, dict)] if isinstance(recorded, list) else []
    killed: dict[str, object] = {"sitting": len(history) + 1, "file": source.name, "wall_s": round(last_t, 4)}
    killed["tasks_run"] = len(ran)
    killed.update((k, meta[k]) for k in ("started_at", "concurrency", "executor", "git_commit") if k in meta)
    killed.update(
        killed=True,
        prompt_tokens=sum(r.prompt_tokens for r in ran),
        completion_tokens=sum(r.completion_tokens for r in ran),
    )
    earlier = header.get("resumed_from")
    files = [*(earlier if isinstance(earlier, list) else []), source.name]
    return ResumePoint(source, out_dir, meta, tuple(ids), rows, (*history, killed), tuple(files))


def provenance() -> dict[str, object]:
    """Where a run's figures come from, for its summary: Python, the platform, agentrt's version and
    the commit it runs from."""
    import platform

    from agentrt import __version__

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "agentrt_version": __version__,
        "git_commit": git_commit(Path(__file__).resolve().parent),
    }


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
    interval = summary.get("read_interval_ms")
    if isinstance(interval, (int, float)) and interval > 0:
        context.append(f"replies read every {interval:g} ms")
    if context:
        lines.append("   ".join(context))
    if summary.get("ray"):
        lines.append(_ray_line(summary))
    if summary.get("interrupted"):
        lines.append("INTERRUPTED: partial results (unfinished tasks count as errors; --resume continues)")
    sittings = summary.get("sittings")
    if isinstance(sittings, int) and sittings > 1:
        kept = summary.get("kept_tasks")
        lines.append(
            f"resumed: sitting {sittings} of {sittings} ({_num(kept)} task(s) kept from earlier sittings); "
            "RSS and CPU below are this sitting's"
        )
    return lines


def _ray_line(s: Mapping[str, object]) -> str:
    """Where a Ray run's agents ran (``agentrt bench humaneval --ray``)."""
    actors, nodes = s.get("ray_actors"), s.get("ray_nodes")
    address = s.get("ray_address")
    where = {"local": "a local cluster", "auto": "the running cluster (auto)"}.get(
        str(address), f"the cluster at {address}"
    )
    line = f"ran on Ray: {_num(actors)} actor(s) on {_num(nodes)} node(s) of {where}"
    if s.get("ray_reruns"):
        line += f"; {_num(s.get('ray_reruns'))} task(s) rerun after their actor died"
    return line


def _ray_rows(s: Mapping[str, object]) -> list[tuple[str, str]]:
    """One row per Ray actor: where it ran, its peak RSS, CPU and tasks."""
    actors = s.get("ray_per_actor")
    if not isinstance(actors, list):
        return []
    return [
        (
            f"actor {a.get('actor')}",
            f"pid {a.get('pid')} on {a.get('node')}   peak RSS {_num(a.get('peak_rss_mib'), ' MiB', 1)}   "
            f"CPU {_num(a.get('cpu_s'), ' s', 2)}   tasks {_num(a.get('tasks'))}"
            + (f"   DIED: {a['died']}" if a.get("died") else ""),
        )
        for a in actors
        if isinstance(a, dict)
    ]


def pass_label(s: Mapping[str, object]) -> str:
    """``pass@1`` as a person must read it: the contract's pass@1 counts a pass after retries."""
    if s.get("agent") == "exec":
        return "pass@1 (with the agent's own test-and-fix turns)"
    retries = s.get("max_retries")
    if isinstance(retries, int) and not isinstance(retries, bool):
        return "pass@1 (no retries)" if retries == 0 else f"pass@1 (with up to {retries} retries)"
    return "pass@1 (with retries)"


def percent(value: object) -> str:
    """A 0..1 rate as ``80.0%`` (``-`` when there is none)."""
    return f"{value * 100:.1f}%" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _body_rows(s: Mapping[str, object]) -> list[tuple[str, str]]:
    wall = _num(s.get("wall_s"), " s", 2)
    sittings = s.get("sittings")
    if isinstance(sittings, int) and sittings > 1:
        wall += f" over {sittings} sittings (this sitting {_num(s.get('sitting_wall_s'), ' s', 2)})"
    return [
        ("tasks", _num(s.get("tasks"))),
        (
            "passed",
            f"{_num(s.get('passed'))}   {pass_label(s)} {percent(s.get('pass_at_1'))}   "
            f"first-attempt pass rate {percent(s.get('first_attempt_pass_rate'))}",
        ),
        (
            "outcome",
            f"first-attempt {_num(s.get('first_attempt'))}   recovered {_num(s.get('recovered'))}   "
            f"failed {_num(s.get('failed'))}   errors {_num(s.get('errors'))}",
        ),
        ("avg retries", _num(s.get("avg_retries"), digits=2) + _retry_strategy(s.get("retry"))),
        ("wall", wall),
    ]


def _retry_strategy(retry: object) -> str:
    """How retries differed from the first attempt (``--retry-*``), or nothing when they did not."""
    if not isinstance(retry, dict):
        return ""
    said = []
    if retry.get("temperature") is not None:
        said.append(f"temperature {retry['temperature']:g}")
    if retry.get("seed") is not None:
        said.append(f"seed {retry['seed']}+attempt")
    if retry.get("feedback") == "assertion":
        said.append("the failing assertion fed back")
    if retry.get("reason"):
        said.append("reason first")
    if retry.get("context") == "fresh":
        said.append("fresh conversation" if retry.get("code", True) else "fresh conversation, no code")
    return f"   (retries: {', '.join(said)})" if said else ""


def _runtime_name(s: Mapping[str, object]) -> str:
    """Which process the runtime figures are: agentrt's, with the simulator when it ran inside it."""
    if s.get("simulated") and s.get("sim_process") is False:
        return "agentrt process (incl. simulator)"
    if s.get("ray"):
        return "largest Ray actor"
    return "agentrt process"


def _resource_rows(s: Mapping[str, object]) -> list[tuple[str, str]]:
    cpu_per_1k = s.get("runtime_cpu_ms_per_1k_tokens")
    per_tokens = f" ({_num(cpu_per_1k, ' ms', 2)} per 1k tokens)" if cpu_per_1k is not None else ""
    sittings = s.get("sittings")
    scope = f"sitting {sittings} of {sittings}: " if isinstance(sittings, int) and sittings > 1 else ""
    sim_rss = sim_cpu = server_rss = ""
    if s.get("sim_process"):
        sim_rss = f"   simulator process {_num(s.get('sim_peak_rss_mib'), ' MiB', 1)}"
        sim_cpu = f"   simulator process {_num(s.get('sim_cpu_s'), ' s', 2)}"
    if s.get("server_peak_rss_mib") is not None:
        server_rss = f"   model server process {_num(s.get('server_peak_rss_mib'), ' MiB', 1)}"
    runtime = _runtime_name(s)
    cpu_name = "Ray actors" if s.get("ray") else runtime  # RSS: the largest actor's; CPU: all of theirs
    return [
        (
            "peak RSS",
            f"{scope}{runtime} {_num(s.get('peak_rss_mib'), ' MiB', 1)}   "
            f"test children {_num(s.get('peak_children_rss_mib'), ' MiB', 1)} "
            f"(summed, max {_num(s.get('peak_live_children'))} live){sim_rss}{server_rss}",
        ),
        (
            "CPU",
            f"{scope}{cpu_name} {_num(s.get('runtime_cpu_s'), ' s', 2)}{per_tokens}   "
            f"test children {_num(s.get('children_cpu_s'), ' s', 2)} (reaped){sim_cpu}",
        ),
        (
            "tokens",
            f"prompt {prompt_tokens_text(s)}   completion {_num(s.get('completion_tokens'))}   cost {_cost_text(s)}",
        ),
        *_test_rows(s),
        *_ray_rows(s),
    ]


def prompt_tokens_text(s: Mapping[str, object]) -> str:
    """A summary's prompt tokens as a person reads them (the table, the HTML report): ``not
    reported`` where replies were counted but the server reported no usage (llama-cpp-python's
    stream), never a 0 that reads as a measurement."""
    prompt, completion = s.get("prompt_tokens"), s.get("completion_tokens")
    if prompt == 0 and isinstance(completion, int) and completion > 0:
        return "not reported"
    return _num(prompt)


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
        if s.get("test_cpu_ms_per_run_median_task") is not None:
            cpu += f" (median task {_num(s.get('test_cpu_ms_per_run_median_task'), ' ms', 1)})"
        if s.get("test_cpu_source") == "children_cpu_s":  # getrusage: a sandbox's own children are not seen
            cpu += " (reaped children only: under bubblewrap the tests' CPU is not seen)"
        rows.append((
            "test runs",
            f"{executor}{_num(s.get('test_runs'))} runs   {cpu}   peak {_num(s.get('test_peak_rss_mib'), ' MiB', 1)}/run",
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
