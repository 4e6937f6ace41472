"""Every scenario of Codex's apply_patch conformance suite (tests/data/apply-patch), applied by agentrt.

Each scenario folder holds ``input/`` (absent: an empty directory), ``patch.txt`` and ``expected/``; the
whole tree left behind (every path, directory and byte) must equal ``expected/``, whether the patch
succeeds or not.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentrt.tools.apply_patch import PatchError, apply_patch

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "apply-patch"


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root``, relative, mapped to its bytes (``None`` for a directory)."""
    return {p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes() for p in root.rglob("*")}


def scenario_names() -> list[str]:
    return sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir())


def test_the_suite_is_all_there() -> None:
    assert len(scenario_names()) >= 19
    assert (SCENARIOS / "README.md").is_file()


@pytest.mark.parametrize("name", scenario_names())
def test_scenario(name: str, tmp_path: Path) -> None:
    scenario = SCENARIOS / name
    work = tmp_path / "work"
    if (scenario / "input").is_dir():
        shutil.copytree(scenario / "input", work)
    else:
        work.mkdir()
    patch = (scenario / "patch.txt").read_text(encoding="utf-8")
    try:
        apply_patch(patch, work)
    except PatchError:
        pass
    expected = scenario / "expected"
    assert tree(work) == (tree(expected) if expected.is_dir() else {})
