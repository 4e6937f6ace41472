"""Running SWE-bench instances with the coding agent and writing the predictions.

Before any agent starts, every instance is checked: its clone found under ``--repos``
(``instances.find_clone``) and its base commit in it (``checkout.resolve_commit``); a problem stops the
run there with one line naming the instance. Then ``concurrency`` instances at a time: a fresh
checkout, the agent (``bench.repo_agent``) on the problem statement under the OS sandbox, the diff.

Results, under ``OUT``:

* ``predictions.jsonl``: one line per instance that ran to the end (``patched`` or ``empty``),
  ``{"instance_id", "model_name_or_path", "model_patch"}``, in the instances file's order; a line is
  appended as each instance finishes (a killed run keeps them) and the file is rewritten in order at
  the end. Instances that ended in an ``error`` have no line: ``--resume`` runs them again.
* ``instances/<id>/``: ``result.json`` (status, patch size and files, tokens, times, why the agent
  stopped), ``model.patch`` and ``trajectory.jsonl`` (the agent's events, its history included);
* ``raw/swe_<stamp>.csv`` and ``_summary.json`` (the bench columns; here ``status`` is ``passed`` for
  a non-empty patch, ``failed`` for none, ``error``: nothing is evaluated) and
  ``raw/swe_<stamp>_instances.csv`` (per instance: status, patch bytes and files, tokens, wall).

Statuses: ``patched`` (a non-empty diff), ``empty`` (the agent changed nothing the diff carries),
``error`` (the checkout, the model or the harness failed; interrupted). A model error is an ``error``
even when the agent had changed files; a turn stopped by its limits keeps what it did.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentrt.bench.repo_agent import RepoAgent
from agentrt.bench.report import provenance, summarize, timestamp, unique_stamp, write_results
from agentrt.bench.result import CSV_COLUMNS, Status, TaskResult, TaskTelemetry, result_from_row, task_row
from agentrt.bench.swe.instances import Instance, find_clone
from agentrt.interfaces import Model

STATUSES = ("patched", "empty", "error")
_ROW_STATUS: dict[str, Status] = {"patched": "passed", "empty": "failed", "error": "error"}
PREDICTIONS = "predictions.jsonl"
CHECKS_AT_ONCE = 8
INSTRUCTION = """\
The working directory is a git checkout of {repo} at commit {commit}. Resolve the issue below by
changing the repository's code. Read the relevant code first and reproduce the problem if you can;
then make the change that fixes it without breaking other behaviour, and run the relevant tests if
the environment allows. Your work is taken as the diff of the working tree against {commit} (new
files included): leave nothing in the checkout that is not part of the fix, and do not edit existing
tests to make them pass. When you are done, reply with a one-line summary.

<issue>
{problem}
</issue>
"""
_NOT_SUMMARIZED = (
    "passed", "pass_at_1", "first_attempt", "first_attempt_pass_rate", "recovered", "failed", "avg_retries",
    "test_p50_s", "test_p90_s", "test_p95_s", "test_p99_s",
)  # fmt: skip
"""``summarize``'s pass keys: nothing is evaluated here, so a SWE summary has none of them."""


@dataclass(frozen=True, kw_only=True)
class SweConfig:
    out_dir: Path
    repos: Path
    agent: RepoAgent
    model: Callable[[Instance], Model]
    """A model for each instance (the endpoint's client, shared; or a fresh scripted one)."""
    model_name: str
    """``model_name_or_path`` of the predictions."""
    concurrency: int = 4
    resume: bool = False
    """Keep the instances of ``out_dir`` that ran to the end (``load_kept``); run the others."""
    keep_checkouts: bool = False
    meta: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """An instance, checked: its clone and the full id of its base commit."""

    instance: Instance
    clone: Path
    commit: str


@dataclass
class InstanceOutcome:
    """One instance's result: the bench row plus what only SWE runs have."""

    instance: Instance
    row: TaskResult
    status: str = "error"
    patch: str = ""
    files: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()
    """Changed files the patch cannot carry (binary, not UTF-8)."""
    agent_s: float = 0.0
    stopped: str = ""
    """Why the agent's turn ended early (``max_turns``, ``max_wall_time``, ``model_error``…), if it did."""
    detail: str = ""
    kept: bool = False
    """From an earlier sitting (``--resume``)."""

    @property
    def patch_bytes(self) -> int:
        return len(self.patch.encode("utf-8"))

    def prediction(self, model_name: str) -> dict[str, str]:
        return {"instance_id": self.instance.id, "model_name_or_path": model_name, "model_patch": self.patch}


class SweInterrupted(Exception):
    """The run was cancelled; what had finished was written. Carries the outcome."""

    def __init__(self, outcome: SweOutcome) -> None:
        super().__init__("interrupted")
        self.outcome = outcome


@dataclass(frozen=True)
class SweOutcome:
    instances: list[InstanceOutcome]
    summary: dict[str, object]
    predictions: Path
    csv_path: Path
    summary_path: Path
    instances_csv: Path


# --- checking the instances ------------------------------------------------------------------------


async def check_instances(instances: Sequence[Instance], repos: Path) -> list[Job]:
    """Each instance's clone and base commit, checked before anything runs; the first problem in the
    file's order raises ``InstanceError`` naming its instance."""
    from agentrt.bench.swe.checkout import resolve_commit

    gate = asyncio.Semaphore(CHECKS_AT_ONCE)
    found: list[Job | Exception | None] = [None] * len(instances)

    async def one(i: int, instance: Instance) -> None:
        async with gate:
            try:
                clone = find_clone(repos, instance)
                found[i] = Job(instance, clone, await resolve_commit(clone, instance))
            except (OSError, ValueError) as exc:
                found[i] = exc

    async with asyncio.TaskGroup() as group:
        for i, instance in enumerate(instances):
            group.create_task(one(i, instance))
    for item in found:
        if isinstance(item, Exception):
            raise item
    return [j for j in found if isinstance(j, Job)]


def instruction(job: Job) -> str:
    i = job.instance
    return INSTRUCTION.format(repo=i.repo, commit=job.commit, problem=i.problem_statement.strip())


# --- one instance ----------------------------------------------------------------------------------


def instance_dir(out_dir: Path, instance: Instance) -> Path:
    return out_dir / "instances" / instance.slug


async def solve_instance(job: Job, config: SweConfig, work_dir: Path) -> InstanceOutcome:
    """One instance end to end; never raises but for cancellation."""
    from agentrt.bench.tasks.runner import Trajectory

    out = instance_dir(config.out_dir, job.instance)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    trajectory = Trajectory(out / "trajectory.jsonl")
    outcome = InstanceOutcome(job.instance, TaskResult(job.instance.id, "error"))
    try:
        with task_row(job.instance.id, trajectory) as telemetry:
            outcome.row = telemetry.result
            await _work(job, config, work_dir, telemetry, outcome)
    except Exception as exc:  # one instance's failure is its row, not the run's end
        outcome.row.status, outcome.row.error = "error", f"harness: {type(exc).__name__}: {exc}"
    finally:
        trajectory.close()
        if not config.keep_checkouts:
            shutil.rmtree(work_dir, ignore_errors=True)
    if outcome.row.status == "error":
        outcome.status = "error"
        outcome.detail = outcome.detail or outcome.row.error
    _write_instance(out, outcome, config.model_name)
    return outcome


async def _work(
    job: Job, config: SweConfig, work_dir: Path, telemetry: TaskTelemetry, outcome: InstanceOutcome
) -> None:
    from agentrt.bench.repo_agent import run_in_repo
    from agentrt.bench.swe.checkout import make_checkout, take_diff
    from agentrt.sandbox import scoped_sandbox

    repo = await make_checkout(job.clone, job.commit, work_dir / "repo")
    agent = config.agent
    with scoped_sandbox(repo, agent.mechanism, home=agent.home, env=agent.env) as sandbox:
        started = time.perf_counter()
        model = config.model(job.instance)
        stopped = await run_in_repo(model, repo, instruction(job), agent, telemetry, sandbox)
        outcome.agent_s = time.perf_counter() - started
    diff = await take_diff(repo, job.commit)
    outcome.patch, outcome.files, outcome.left_out = diff.text, diff.files, diff.left_out
    notes = []
    if stopped is not None:
        outcome.stopped = stopped.reason
        notes.append(f"{stopped.reason}: {stopped.message}")
    if diff.left_out:
        notes.append(f"left out of the patch (binary or not UTF-8): {', '.join(diff.left_out)}")
    outcome.detail = "; ".join(notes)
    if stopped is not None and stopped.reason == "model_error":
        outcome.status = "error"
    else:
        outcome.status = "patched" if diff.text else "empty"
    outcome.row.status = _ROW_STATUS[outcome.status]
    outcome.row.error = outcome.detail if outcome.status == "error" else ""


def _write_instance(out: Path, outcome: InstanceOutcome, model_name: str) -> None:
    if outcome.patch:
        (out / "model.patch").write_text(outcome.patch, encoding="utf-8")
    i = outcome.instance
    record = {
        "instance_id": i.id, "repo": i.repo, "base_commit": i.base_commit, "model_name_or_path": model_name,
        "status": outcome.status, "patch_bytes": outcome.patch_bytes, "files": list(outcome.files),
        "left_out": list(outcome.left_out), "agent_s": round(outcome.agent_s, 4), "stopped": outcome.stopped,
        "detail": outcome.detail, "row": {c: getattr(outcome.row, c) for c in CSV_COLUMNS},
    }  # fmt: skip
    (out / "result.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


# --- resuming --------------------------------------------------------------------------------------


def load_kept(config: SweConfig, jobs: Sequence[Job]) -> dict[str, InstanceOutcome]:
    """The instances of ``config.out_dir`` that an earlier sitting ran to the end (``patched`` or
    ``empty``) for the same repository and base commit: kept, not run again. ``ValueError`` when the
    directory holds no run, or one made under another ``model_name_or_path``."""
    if not (config.out_dir / "instances").is_dir():
        raise ValueError(f"cannot resume {config.out_dir}: no bench swe run there (no instances/ in it)")
    kept: dict[str, InstanceOutcome] = {}
    for job in jobs:
        found = _read_instance(instance_dir(config.out_dir, job.instance), job.instance)
        if found is None:
            continue
        outcome, recorded = found
        if recorded != config.model_name:
            raise ValueError(
                f"cannot resume {config.out_dir}: instance {job.instance.id} was run with model_name_or_path "
                f"{recorded!r}, now {config.model_name!r} (give --model-name {recorded}, or another --out)"
            )
        kept[job.instance.id] = outcome
    return kept


def _read_instance(out: Path, instance: Instance) -> tuple[InstanceOutcome, str] | None:
    """A finished instance's outcome and the ``model_name_or_path`` it ran under, else ``None``."""
    try:
        record = json.loads((out / "result.json").read_text(encoding="utf-8"))
        if record.get("status") not in ("patched", "empty"):
            return None
        if (record.get("repo"), record.get("base_commit")) != (instance.repo, instance.base_commit):
            return None
        patch = (out / "model.patch").read_text(encoding="utf-8") if record["status"] == "patched" else ""
        row = result_from_row(record["row"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if row.id != instance.id or (record["status"] == "patched") != bool(patch):
        return None
    outcome = InstanceOutcome(
        instance, row, record["status"], patch, tuple(record.get("files") or ()),
        tuple(record.get("left_out") or ()), float(record.get("agent_s") or 0.0),
        str(record.get("stopped") or ""), str(record.get("detail") or ""), kept=True,
    )  # fmt: skip
    return outcome, str(record.get("model_name_or_path"))


# --- the run ---------------------------------------------------------------------------------------


class _Predictions:
    """``predictions.jsonl``: the kept lines at once, each new one as its instance finishes, and the
    whole file in the instances' order at the end (``finish``)."""

    def __init__(self, path: Path, model_name: str, kept: Sequence[InstanceOutcome]) -> None:
        self.path, self.model_name = path, model_name
        self.finish(kept)
        self.file = path.open("a", encoding="utf-8")

    def add(self, outcome: InstanceOutcome) -> None:
        if outcome.status != "error":
            self.file.write(json.dumps(outcome.prediction(self.model_name)) + "\n")
            self.file.flush()

    def finish(self, outcomes: Sequence[InstanceOutcome]) -> None:
        lines = [json.dumps(o.prediction(self.model_name)) + "\n" for o in outcomes if o.status != "error"]
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temp.write_text("".join(lines), encoding="utf-8")
        os.replace(temp, self.path)

    def close(self) -> None:
        self.file.close()


async def run_swe(
    jobs: Sequence[Job], config: SweConfig, on_done: Callable[[InstanceOutcome], None] | None = None
) -> SweOutcome:
    """Every job but the kept ones (``config.resume``), ``config.concurrency`` at a time; results
    written under ``config.out_dir`` (module docstring). Cancelled: what finished is written, then
    ``SweInterrupted``."""
    from agentrt.bench.runner import prepare_out_dir, uncancel
    from agentrt.bench.telemetry import ResourceSampler

    prepare_out_dir(config.out_dir)
    kept = load_kept(config, jobs) if config.resume else {}
    stamp = unique_stamp(config.out_dir / "raw", timestamp(), "swe")
    predictions = _Predictions(config.out_dir / PREDICTIONS, config.model_name, list(kept.values()))
    done: dict[str, InstanceOutcome] = dict(kept)
    work_root = Path(tempfile.mkdtemp(prefix="agentrt-swe-"))
    gate = asyncio.Semaphore(config.concurrency)
    interrupted = False

    async def one(i: int, job: Job) -> None:
        async with gate:
            outcome = await solve_instance(job, config, work_root / f"{i:05d}")
        done[job.instance.id] = outcome
        predictions.add(outcome)
        if on_done is not None:
            on_done(outcome)

    started = time.perf_counter()
    try:
        async with ResourceSampler(interval_s=0.25) as sampler:
            try:
                async with asyncio.TaskGroup() as group:
                    for i, job in enumerate(jobs):
                        if job.instance.id not in kept:
                            group.create_task(one(i, job))
            except asyncio.CancelledError:
                interrupted = True
        wall = time.perf_counter() - started
    finally:
        predictions.close()
        if not config.keep_checkouts:
            shutil.rmtree(work_root, ignore_errors=True)
    if interrupted:
        uncancel()
    outcomes = [done.get(j.instance.id) or _interrupted(j) for j in jobs]
    predictions.finish(outcomes)
    result = _write_run(outcomes, config, stamp, wall, sampler, interrupted)
    if interrupted:
        raise SweInterrupted(result)
    return result


def _interrupted(job: Job) -> InstanceOutcome:
    row = TaskResult(job.instance.id, "error", error="interrupted")
    return InstanceOutcome(job.instance, row, "error", detail="interrupted")


def _write_run(
    outcomes: list[InstanceOutcome],
    config: SweConfig,
    stamp: str,
    wall: float,
    sampler: Any,
    interrupted: bool,
) -> SweOutcome:
    resources = sampler.report()
    summary = summarize(
        [o.row for o in outcomes], resources=resources, wall_s=wall, meta=_meta(config, stamp)
    )
    for key in _NOT_SUMMARIZED:
        summary.pop(key, None)
    sizes = sorted(o.patch_bytes for o in outcomes if o.status == "patched")
    count = {s: sum(1 for o in outcomes if o.status == s) for s in STATUSES}
    predictions = config.out_dir / PREDICTIONS
    summary.update(
        instances=len(outcomes), patched=count["patched"], empty=count["empty"], errors=count["error"],
        kept=sum(1 for o in outcomes if o.kept), interrupted=interrupted,
        patch_rate=round(count["patched"] / len(outcomes), 4) if outcomes else None,
        patch_bytes_p50=statistics.median(sizes) if sizes else None, patch_bytes_max=sizes[-1] if sizes else None,
        predictions=str(predictions), evaluated=False,
    )  # fmt: skip
    csv_path, summary_path = write_results(
        config.out_dir,
        [o.row for o in outcomes],
        summary,
        stamp=stamp,
        prefix="swe",
        timeline=resources.timeline,
    )
    instances_csv = csv_path.with_name(f"swe_{stamp}_instances.csv")
    instances_csv.write_text(_instances_csv(outcomes), encoding="utf-8")
    return SweOutcome(outcomes, summary, predictions, csv_path, summary_path, instances_csv)


def _meta(config: SweConfig, stamp: str) -> dict[str, object]:
    agent = config.agent
    return {
        "suite": "swe", "agent": "exec", "model_name_or_path": config.model_name,
        "concurrency": config.concurrency, "max_turns": agent.limits.max_turns,
        "timeout_s": agent.limits.max_wall_s, "repos": str(config.repos), "sandbox": agent.mechanism,
        **provenance(), "started_at": stamp, **config.meta,
    }  # fmt: skip


INSTANCE_COLUMNS = (
    "instance_id", "status", "patch_bytes", "patch_files", "attempts", "prompt_tokens", "completion_tokens",
    "model_s", "agent_s", "wall_s", "stopped", "kept", "detail",
)  # fmt: skip


def _instances_csv(outcomes: Sequence[InstanceOutcome]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INSTANCE_COLUMNS)
    for o in outcomes:
        r = o.row
        writer.writerow([
            o.instance.id, o.status, o.patch_bytes, len(o.files), r.attempts, r.prompt_tokens,
            r.completion_tokens, f"{r.model_s:.4f}", f"{o.agent_s:.4f}", f"{r.wall_s:.4f}", o.stopped,
            "true" if o.kept else "false", o.detail,
        ])  # fmt: skip
    return buffer.getvalue()
