"""One task directory, read and checked: ``TaskSpec`` from ``load_task``.

A Harbor task is ``instruction.md``, ``task.toml``, ``tests/test.sh`` (+ its files), an optional
``solution/solve.sh`` and ``environment/`` with a ``Dockerfile``. Only the Dockerfile subset that a
bind mount can reproduce is run: ``FROM`` (ignored: the host's userland stands in for the image),
``WORKDIR`` and ``COPY`` of files from ``environment/`` into the working directory. Anything else
makes the task ``unsupported`` with the reason; it is never run differently.

``task.toml`` (all optional but the types): ``kind`` (``harbor``, default, or ``rebuild``),
``[agent] timeout_sec``, ``[verifier] timeout_sec`` (default 600 each; per case for ``rebuild``,
see ``rebuild``), ``env`` tables in
``[environment]`` (every phase), ``[agent]``, ``[verifier]`` and ``[solution]``, ``[metadata]`` (kept
as is). A malformed file raises ``TaskError`` with one line naming the task.
"""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

DEFAULT_TIMEOUT_S = 600.0
KINDS = ("harbor", "rebuild")
RESERVED = ("/tests", "/logs", "/solution", "/tmp", "/proc", "/dev", "/sys")
"""Container paths the layout itself provides: a WORKDIR there cannot be bound."""


class TaskError(ValueError):
    """A task directory that cannot be read (one line, naming the task)."""


@dataclass(frozen=True)
class Copy:
    """One ``COPY``: paths relative to ``environment/`` into ``dest`` (absolute, in the container)."""

    sources: tuple[str, ...]
    dest: str


@dataclass(frozen=True)
class TaskSpec:
    """A task directory, checked."""

    id: str
    root: Path
    kind: str
    instruction: str
    agent_timeout_s: float
    verifier_timeout_s: float
    workdir: str = "/app"
    copies: tuple[Copy, ...] = ()
    env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per phase (``agent``, ``verifier``, ``solution``), ``[environment] env`` merged under each."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    unsupported: str | None = None
    """Why the task cannot run here, or ``None``."""
    command: tuple[str, ...] = ()
    """``rebuild``: how a case runs the program (``[rebuild] command``)."""

    @property
    def tests_dir(self) -> Path:
        return self.root / "tests"

    @property
    def solution(self) -> Path:
        return self.root / "solution" / "solve.sh"


def find_tasks(paths: list[Path]) -> list[Path]:
    """Each path that is a task directory (holds ``task.toml``), else its sub-directories that are,
    sorted by name. ``TaskError`` for a path that is neither."""
    found: list[Path] = []
    for path in paths:
        if (path / "task.toml").is_file():
            found.append(path)
            continue
        if not path.is_dir():
            raise TaskError(f"{path}: no such task directory")
        children = sorted(p for p in path.iterdir() if (p / "task.toml").is_file())
        if not children:
            raise TaskError(f"{path}: neither a task directory (no task.toml) nor a directory of tasks")
        found.extend(children)
    return found


def load_task(root: Path) -> TaskSpec:
    """The task in ``root``; ``TaskError`` (one line, naming it) when it is malformed."""
    name = root.name
    try:
        raw = tomllib.loads((root / "task.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"task {name}: cannot read task.toml: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"task {name}: task.toml is not valid TOML: {exc}") from None
    try:
        return _spec(root, raw)
    except _FileProblem as exc:
        raise TaskError(f"task {name}: {exc}") from None
    except ValueError as exc:
        raise TaskError(f"task {name}: task.toml: {exc}") from None


class _FileProblem(ValueError):
    """A task file other than task.toml is missing or malformed."""


def _spec(root: Path, raw: dict[str, Any]) -> TaskSpec:
    kind = raw.get("kind", "harbor")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    agent, verifier = _table(raw, "agent"), _table(raw, "verifier")
    solution, environment = _table(raw, "solution"), _table(raw, "environment")
    metadata = _table(raw, "metadata")
    common = _env(environment, "environment")
    env = {
        phase: {**common, **_env(table, phase)}
        for phase, table in (("agent", agent), ("verifier", verifier), ("solution", solution))
    }
    instruction_file = root / "instruction.md"
    if not instruction_file.is_file():
        raise _FileProblem("instruction.md is missing")
    if kind == "harbor" and not (root / "tests" / "test.sh").is_file():
        raise _FileProblem("tests/test.sh is missing")
    command: tuple[str, ...] = ()
    if kind == "rebuild":
        from agentrt.bench.tasks.rebuild import load_cases, rebuild_command

        command = rebuild_command(_table(raw, "rebuild"))
        try:
            load_cases(root / "cases" / "visible.json")
            load_cases(root / "cases" / "held_out.json")
        except ValueError as exc:
            raise _FileProblem(str(exc)) from None
    spec = TaskSpec(
        id=root.name,
        root=root,
        kind=kind,
        instruction=instruction_file.read_text(encoding="utf-8"),
        agent_timeout_s=_timeout(agent, "agent"),
        verifier_timeout_s=_timeout(verifier, "verifier"),
        env=env,
        metadata=metadata,
        command=command,
    )
    try:
        workdir, copies = parse_dockerfile(root / "environment")
    except Unsupported as exc:
        return _replace_unsupported(spec, str(exc))
    return TaskSpec(**{**spec.__dict__, "workdir": workdir, "copies": copies})


def _replace_unsupported(spec: TaskSpec, reason: str) -> TaskSpec:
    return TaskSpec(**{**spec.__dict__, "unsupported": reason})


def _table(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"[{key}] must be a table, got {type(value).__name__}")
    return value


def _timeout(table: Mapping[str, Any], name: str) -> float:
    value = table.get("timeout_sec", DEFAULT_TIMEOUT_S)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"[{name}] timeout_sec must be a positive number, got {value!r}")
    return float(value)


def _env(table: Mapping[str, Any], name: str) -> dict[str, str]:
    value = table.get("env", {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) and not isinstance(v, bool)
        for k, v in value.items()
    ):
        raise ValueError(f"[{name}] env must be a table of strings")
    return {k: str(v) for k, v in value.items()}


class Unsupported(Exception):
    """The environment cannot be reproduced by the sandbox (the message says why)."""


def parse_dockerfile(environment: Path) -> tuple[str, tuple[Copy, ...]]:
    """``(WORKDIR, COPYs)`` of ``environment/Dockerfile``; ``Unsupported`` for anything beyond
    ``FROM``, ``WORKDIR`` and ``COPY`` of build-context files into the working directory."""
    if (environment / "docker-compose.yaml").exists() or (environment / "docker-compose.yml").exists():
        raise Unsupported("environment/docker-compose.yaml (several containers)")
    dockerfile = environment / "Dockerfile"
    if not dockerfile.is_file():
        raise Unsupported("no environment/Dockerfile")
    workdir = "/"
    copies: list[Copy] = []
    seen_from = False
    for number, line in _instructions(dockerfile.read_text(encoding="utf-8")):
        word, _, rest = line.partition(" ")
        op, rest = word.upper(), rest.strip()
        where = f"Dockerfile line {number}"
        if op == "FROM":
            if seen_from:
                raise Unsupported(f"{where}: multi-stage build (a second FROM)")
            seen_from = True
        elif op == "WORKDIR":
            workdir = _container_path(rest, workdir, where)
        elif op == "COPY":
            copies.append(_copy(rest, workdir, environment, where))
        else:
            raise Unsupported(
                f"{where}: {op} (only FROM, WORKDIR and COPY can be reproduced without a container)"
            )
    if workdir == "/" or any(workdir == r or workdir.startswith(r + "/") for r in RESERVED):
        raise Unsupported(f"WORKDIR {workdir} cannot be bound by the sandbox")
    for c in copies:
        if not (c.dest == workdir or c.dest.startswith(workdir.rstrip("/") + "/")):
            raise Unsupported(f"COPY to {c.dest}, outside WORKDIR {workdir} (only WORKDIR is bound)")
    return workdir, tuple(copies)


def _instructions(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        out.append((start, (pending + stripped).strip()))
        pending = ""
    if pending.strip():
        out.append((start, pending.strip()))
    return out


def _container_path(text: str, workdir: str, where: str) -> str:
    if not text or "$" in text or text.startswith("["):
        raise Unsupported(f"{where}: WORKDIR {text!r} (variables and JSON form are not supported)")
    return str(PurePosixPath(workdir) / text)


def _copy(rest: str, workdir: str, environment: Path, where: str) -> Copy:
    try:
        words = shlex.split(rest)
    except ValueError:
        raise Unsupported(f"{where}: COPY {rest!r} cannot be parsed") from None
    if any(w.startswith("--") for w in words) or rest.startswith("[") or len(words) < 2:
        raise Unsupported(f"{where}: COPY {rest!r} (flags, JSON form and --from are not supported)")
    *sources, dest = words
    context = environment.resolve()
    for source in sources:
        if any(ch in source for ch in "*?[$"):
            raise Unsupported(f"{where}: COPY source {source!r} (wildcards and variables are not supported)")
        path = (environment / source).resolve()
        if not (path == context or context in path.parents) or not path.exists():
            raise Unsupported(f"{where}: COPY source {source!r} is not in environment/")
    target = str(PurePosixPath(workdir) / dest)
    if dest.endswith("/") or len(sources) > 1:
        target += "/"
    return Copy(tuple(sources), target)
