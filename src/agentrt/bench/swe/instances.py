"""SWE-bench instances read from a JSONL file and matched with their local clones.

One JSON object per line (blank lines skipped) with the string fields ``instance_id``, ``repo``
(``owner/name``), ``base_commit`` (a commit id) and ``problem_statement``; every other field
(``patch``, ``test_patch``, ``hints_text``, ``FAIL_TO_PASS`` …) is ignored. A problem raises
``InstanceError``: one line naming the file's line and, when it can be read, the instance.

Clones live under the ``--repos`` directory, found for ``owner/name`` at (the first that exists):

* ``DIR/owner__name`` — the spelling SWE-bench's instance ids use (``django__django-11099``);
* ``DIR/owner/name``;
* ``DIR/name``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

FIELDS = ("instance_id", "repo", "base_commit", "problem_statement")
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_COMMIT = re.compile(r"[0-9a-fA-F]{7,64}")
_ID_IN_TEXT = re.compile(r'"instance_id"\s*:\s*"([^"\\]{1,200})"')


class InstanceError(ValueError):
    """An instances file, instance or clone that cannot be used (one line, naming the instance)."""


@dataclass(frozen=True)
class Instance:
    id: str
    repo: str
    """``owner/name``."""
    base_commit: str
    problem_statement: str
    line: int
    """Its line in the instances file."""

    @property
    def slug(self) -> str:
        """The instance id as a directory name (``OUT/instances/<slug>``)."""
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.id).lstrip(".") or "_"


def load_instances(path: Path) -> list[Instance]:
    """Every instance in ``path``, in order; ``InstanceError`` at the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise InstanceError(f"cannot read instances file {path}: {reason}") from None
    found: list[Instance] = []
    first_line: dict[str, int] = {}
    slugs: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        instance = _instance(raw, f"{path} line {number}", number)
        if instance.id in first_line:
            raise InstanceError(
                f"{path} line {number}: instance {instance.id}: "
                f"instance_id already given on line {first_line[instance.id]}"
            )
        if slugs.setdefault(instance.slug, instance.id) != instance.id:
            raise InstanceError(
                f"{path} line {number}: instance {instance.id}: its directory name {instance.slug!r} "
                f"is that of instance {slugs[instance.slug]}"
            )
        first_line[instance.id] = number
        found.append(instance)
    if not found:
        raise InstanceError(f"{path}: no instances (one JSON object per line expected)")
    return found


def _instance(raw: str, where: str, number: int) -> Instance:
    try:
        record = json.loads(raw)
    except ValueError as exc:
        named = _ID_IN_TEXT.search(raw)
        instance = f" (instance {named[1]})" if named else ""
        raise InstanceError(f"{where}{instance}: not valid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise InstanceError(f"{where}: not a JSON object")
    instance_id = record.get("instance_id")
    if not isinstance(instance_id, str) or not instance_id.strip():
        raise InstanceError(f"{where}: instance_id is missing or not a non-empty string")
    named_where = f"{where}: instance {instance_id}"
    for field in FIELDS[1:]:
        if not isinstance(record.get(field), str):
            state = "missing" if field not in record else "not a string"
            raise InstanceError(f"{named_where}: {field} is {state}")
    repo, commit = record["repo"].strip(), record["base_commit"].strip()
    if not _REPO.fullmatch(repo):
        raise InstanceError(f"{named_where}: repo {repo!r} is not owner/name")
    if not _COMMIT.fullmatch(commit):
        raise InstanceError(f"{named_where}: base_commit {commit!r} is not a commit id (hex)")
    if not record["problem_statement"].strip():
        raise InstanceError(f"{named_where}: problem_statement is empty")
    return Instance(instance_id, repo, commit, record["problem_statement"], number)


def clone_candidates(repos: Path, repo: str) -> list[Path]:
    """Where the clone of ``owner/name`` may be, in the order looked at (module docstring)."""
    owner, name = repo.split("/", 1)
    return [repos / f"{owner}__{name}", repos / owner / name, repos / name]


def find_clone(repos: Path, instance: Instance) -> Path:
    """The directory holding ``instance``'s clone; ``InstanceError`` naming where it looked."""
    candidates = clone_candidates(repos, instance.repo)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise InstanceError(f"instance {instance.id}: no clone of {instance.repo} (looked for {looked})")
