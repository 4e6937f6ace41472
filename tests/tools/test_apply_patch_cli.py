"""``agentrt apply-patch``: real subprocesses in temporary directories, as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** Update File: old.txt\n-one\n+two\n*** End Patch\n"
SUCCESS = "Success. Updated the following files:\nA hello.txt\nM old.txt\n"


def agentrt(cwd: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "agentrt", *args], cwd=cwd, input=stdin, capture_output=True, timeout=60
    )
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def test_patch_as_the_argument_from_a_shell(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("one\n")
    (tmp_path / "patch").write_text(PATCH)
    done = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m agentrt apply-patch "$(cat patch)"'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, SUCCESS, "")
    assert (tmp_path / "hello.txt").read_text() == "hi\n"
    assert (tmp_path / "old.txt").read_text() == "two\n"


def test_patch_from_stdin(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("one\n")
    done = agentrt(tmp_path, "apply-patch", "-", stdin=PATCH.encode())
    assert (done.returncode, done.stdout, done.stderr) == (0, SUCCESS, "")


def test_failure_prints_codex_error_and_exits_1(tmp_path: Path) -> None:
    done = agentrt(tmp_path, "apply-patch", PATCH)
    assert done.returncode == 1
    assert done.stdout == ""
    assert (
        done.stderr
        == f"Failed to read file to update {os.path.realpath(tmp_path)}/old.txt: No such file or directory (os error 2)\n"
    )
    assert (tmp_path / "hello.txt").read_text() == "hi\n"  # not atomic, as in Codex


def test_parse_error_and_empty_patch(tmp_path: Path) -> None:
    done = agentrt(tmp_path, "apply-patch", "nonsense")
    assert (done.returncode, done.stderr) == (
        1,
        "Invalid patch: The first line of the patch must be '*** Begin Patch'\n",
    )
    done = agentrt(tmp_path, "apply-patch", "*** Begin Patch\n*** End Patch")
    assert (done.returncode, done.stderr) == (1, "No files were modified.\n")


def test_stdin_that_is_not_utf8(tmp_path: Path) -> None:
    done = agentrt(
        tmp_path, "apply-patch", "-", stdin=b"*** Begin Patch\n*** Add File: a\n+\xff\n*** End Patch"
    )
    assert done.returncode == 1
    assert done.stderr == "Error: Failed to read PATCH from stdin.\nstream did not contain valid UTF-8\n"
    assert list(tmp_path.iterdir()) == []


def test_missing_argument_is_a_usage_error(tmp_path: Path) -> None:
    assert agentrt(tmp_path, "apply-patch").returncode == 2
