"""`exec` and `bench` never load the interactive session's libraries (prompt_toolkit, rich).

Checked on real runs with ``python -X importtime``, which lists every module a process imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tty_support import session_env

HEAVY = ("prompt_toolkit", "rich", "pygments", "markdown_it")


def imported(stderr: str) -> set[str]:
    """Top-level package names from ``-X importtime`` lines (``import time: self | cumulative | name``)."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def run(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "agentrt", *args],
        cwd=cwd, env=session_env(home), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_exec_does_not_import_the_interactive_libraries(tmp_path: Path) -> None:
    script = tmp_path / "s.json"
    script.write_text(json.dumps([{"content": "# Done\n\n**bold** answer"}]))
    done = run(["exec", "--skip-git-repo-check", "--sim", str(script), "hi"], tmp_path, tmp_path / "home")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Done" in done.stdout
    names = imported(done.stderr)
    assert "agentrt" in names and "asyncio" in names  # the listing is real
    assert not names & set(HEAVY)
    assert "sqlite3" not in names  # the memories feature is off: its store is never opened


def test_bench_does_not_import_the_interactive_libraries(tmp_path: Path) -> None:
    done = run(
        ["bench", "humaneval", "--limit", "2", "--out", str(tmp_path / "out"), "--no-progress"],
        tmp_path,
        tmp_path / "home",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = imported(done.stderr)
    assert "agentrt" in names
    assert not names & set(HEAVY)


def test_the_interactive_session_does_import_them(tmp_path: Path) -> None:
    """The counter-check: the same listing shows them when the interactive mode is asked for."""
    done = run(["--help"], tmp_path, tmp_path / "home")
    assert done.returncode == 0
    assert not imported(done.stderr) & set(HEAVY)  # help alone stays lean too
    probe = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import agentrt.interactive.app"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert {"prompt_toolkit", "rich"} <= imported(probe.stderr)
