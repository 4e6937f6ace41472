"""Continuing a ``bench tasks`` run (``--resume RUN_DIR``): what an earlier sitting finished is kept.

A task is kept when ``RUN_DIR/tasks/<id>/result.json`` says it ran to the end (``passed``, ``failed``
or ``unsupported``) with the same solver (``agent``) and model; an ``error``, a task interrupted or
never started, or a result written before rows were recorded in it runs again. A task recorded under
another solver or model stops the resume with a line naming it: one run's results come from one model.
The earlier sittings' wall time and count come from the newest summary in ``RUN_DIR/raw``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agentrt.bench.report import run_order
from agentrt.bench.result import result_from_row
from agentrt.bench.tasks.runner import TaskOutcome
from agentrt.bench.tasks.spec import TaskSpec

KEPT_OUTCOMES = ("passed", "failed", "unsupported")


@dataclass(frozen=True)
class Earlier:
    """What the earlier sittings left: each kept task's outcome, their wall time and count."""

    kept: Mapping[str, TaskOutcome] = field(default_factory=dict)
    wall_s: float = 0.0
    sittings: int = 0
    files: tuple[str, ...] = ()
    """The earlier sittings' summaries in ``raw/``, oldest first (``resumed_from``)."""


def load_earlier(out_dir: Path, specs: Sequence[TaskSpec], *, agent: str, model: str) -> Earlier:
    """The kept tasks of the run in ``out_dir`` for ``specs``; ``ValueError`` when there is no run there
    or a task of it was solved by another agent or model."""
    if not (out_dir / "tasks").is_dir():
        raise ValueError(f"cannot resume {out_dir}: no bench tasks run there (no tasks/ in it)")
    kept: dict[str, TaskOutcome] = {}
    for spec in specs:
        record = _read(out_dir / "tasks" / spec.id / "result.json")
        if record is None:
            continue
        recorded = (record.get("agent"), record.get("model"))
        if recorded != (agent, model):
            raise ValueError(
                f"cannot resume {out_dir}: task {spec.id} was run with --agent {recorded[0]} and model "
                f"{recorded[1]!r}, now --agent {agent} and model {model!r} (give the same, or another --out)"
            )
        if record.get("outcome") in KEPT_OUTCOMES:
            kept[spec.id] = _outcome(record)
    summaries = sorted((out_dir / "raw").glob("tasks_*_summary.json"), key=run_order)
    wall, sittings = 0.0, 1 if kept else 0
    if summaries:
        last = _read(summaries[-1]) or {}
        wall = _number(last.get("wall_s"), 0.0)
        sittings = int(_number(last.get("sittings"), 1.0))
    return Earlier(kept, wall, sittings, tuple(p.name for p in summaries))


def _outcome(record: Mapping[str, object]) -> TaskOutcome:
    row = record["row"]
    assert isinstance(row, Mapping)  # checked by _read
    reward = record.get("reward")
    return TaskOutcome(
        result_from_row(row), str(record["outcome"]),
        reward=float(reward) if isinstance(reward, int | float) else None,
        agent_s=_number(record.get("agent_s"), 0.0), verifier_s=_number(record.get("verifier_s"), 0.0),
        harness_ms=_number(record.get("harness_ms"), 0.0),
        agent_timed_out=record.get("agent_timed_out") is True,
        verifier_timed_out=record.get("verifier_timed_out") is True, detail=str(record.get("detail") or ""),
        kept=True,
    )  # fmt: skip


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _read(path: Path) -> dict[str, object] | None:
    """A JSON object from ``path``, or ``None`` when it is missing, unreadable or not a result with a row."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if path.name == "result.json":
        try:
            result_from_row(data["row"])
        except (KeyError, TypeError, ValueError):
            return None
    return data
