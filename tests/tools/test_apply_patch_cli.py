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


def patch(*hunks: str) -> str:
    return "*** Begin Patch\n" + "".join(hunks) + "*** End Patch\n"


def test_paths_outside_the_current_directory_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    (work / "old.txt").write_text("one\n")
    (outside / "victim.txt").write_text("keep\n")
    (work / "link").symlink_to(outside)
    (work / "victim.txt").symlink_to(outside / "victim.txt")
    first = "*** Add File: inside.txt\n+x\n"
    cases = {
        "../escape.txt": patch(first, "*** Add File: ../escape.txt\n+x\n"),
        str(outside / "abs.txt"): patch(first, f"*** Add File: {outside}/abs.txt\n+x\n"),
        "sub/../../escape.txt": patch(first, "*** Add File: sub/../../escape.txt\n+x\n"),
        "link/via-link.txt": patch(first, "*** Add File: link/via-link.txt\n+x\n"),
        "victim.txt": patch(first, "*** Update File: victim.txt\n-keep\n+gone\n"),
        "../moved.txt": patch(first, "*** Update File: old.txt\n*** Move to: ../moved.txt\n-one\n+two\n"),
        "../outside/victim.txt": patch(first, "*** Delete File: ../outside/victim.txt\n"),
    }
    for shown, text in cases.items():
        done = agentrt(work, "apply-patch", text)
        assert done.returncode == 1, shown
        assert done.stdout == ""
        assert done.stderr == f"Error: refusing to write outside the current directory: {shown}\n"
        assert sorted(p.name for p in work.iterdir()) == ["link", "old.txt", "victim.txt"]
        assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
        assert (outside / "victim.txt").read_text() == "keep\n" and (work / "old.txt").read_text() == "one\n"


def test_paths_that_stay_inside_still_apply(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("one\n")
    text = patch("*** Add File: sub/../new.txt\n+x\n", f"*** Update File: {tmp_path}/old.txt\n-one\n+two\n")
    done = agentrt(tmp_path, "apply-patch", text)
    assert (done.returncode, done.stderr) == (0, "")
    assert (tmp_path / "new.txt").read_text() == "x\n" and (tmp_path / "old.txt").read_text() == "two\n"
