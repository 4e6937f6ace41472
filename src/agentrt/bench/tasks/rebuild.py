"""MirrorCode-style rebuild tasks (``kind = "rebuild"`` in ``task.toml``).

The agent gets the program's documentation (``instruction.md`` and whatever ``environment/`` holds)
and the visible end-to-end cases, written to ``<WORKDIR>/visible_cases.json``; the held-out cases
stay on the host (the task directory is hidden from the agent) and score the rebuild. A case is
``{"args": [...], "stdin": "...", "stdout": "...", "exit_code": 0}`` (``stdin`` optional, default
empty; ``exit_code`` default 0); it passes when the program, run as ``[rebuild] command`` + ``args``
from the working directory with that stdin, prints exactly ``stdout`` (byte for byte) and exits
with ``exit_code``. Reward = the share of held-out cases passed; solved = all of them.

Files: ``cases/visible.json`` and ``cases/held_out.json`` (JSON arrays), ``[rebuild] command`` (an
argv list, e.g. ``["python3", "/app/wc.py"]``); ``tests/`` is not used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOTE = (
    "\n\nThe visible end-to-end cases are in {path} (each: args, stdin, expected stdout byte for byte, "
    "expected exit_code); the program is run as {command} followed by a case's args. "
    "Held-out cases of the same kind decide the score."
)


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    stdin: str
    stdout: str
    exit_code: int


def load_cases(path: Path) -> list[Case]:
    """The cases in ``path``; ``ValueError`` says which one is malformed."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path.parent.name}/{path.name}: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path.parent.name}/{path.name} must be a non-empty JSON array of cases")
    return [_case(item, f"{path.name}[{i}]") for i, item in enumerate(raw)]


def _case(item: Any, where: str) -> Case:
    if not isinstance(item, dict):
        raise ValueError(f"{where} is not an object")
    args, stdin, stdout = item.get("args", []), item.get("stdin", ""), item.get("stdout")
    code = item.get("exit_code", 0)
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ValueError(f"{where}: args must be a list of strings")
    if not isinstance(stdin, str) or not isinstance(stdout, str):
        raise ValueError(f"{where}: stdin and stdout must be strings")
    if isinstance(code, bool) or not isinstance(code, int):
        raise ValueError(f"{where}: exit_code must be an integer")
    return Case(tuple(args), stdin, stdout, code)


def rebuild_command(table: Mapping[str, Any]) -> tuple[str, ...]:
    command = table.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        raise ValueError("[rebuild] command must be a non-empty list of strings")
    return tuple(command)


def case_argv(command: Sequence[str], case: Case, stdin_file: str) -> list[str]:
    """The argv that runs ``case`` with its stdin read from ``stdin_file`` (in the container)."""
    return ["/bin/sh", "-c", 'f="$1"; shift; exec "$@" < "$f"', "case", stdin_file, *command, *case.args]


def case_json(cases: Sequence[Case]) -> str:
    return json.dumps([c.__dict__ | {"args": list(c.args)} for c in cases], indent=2) + "\n"
