"""``agentrt sandbox --explain`` and the denied reads end to end: real processes, a fake HOME."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentrt.sandbox.confine import landlock_abi

AGENTRT = [sys.executable, "-m", "agentrt"]
SECRET = "s3cret-canary"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fake HOME with ``~/.ssh`` and ``~/.netrc`` holding secrets, and agentrt's home inside it."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(f"{SECRET}-ssh\n")
    (home / ".netrc").write_text(f"password {SECRET}-netrc\n")
    (home / ".agentrt").mkdir()
    return home


def agentrt(home: Path, *args: str, without_bwrap: bool = False) -> subprocess.CompletedProcess[str]:
    """``agentrt ARGS`` with ``home`` as HOME (and ``~/.agentrt`` as its home); PATH without bwrap
    (nor anything else) when asked, so Landlock is chosen."""
    env = {k: v for k, v in os.environ.items() if k not in ("AGENTRT_HOME",)}
    env["HOME"] = str(home)
    if without_bwrap:
        env["PATH"] = str(home / "no-bin")
    return subprocess.run(
        [*AGENTRT, *args], cwd=home, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def explained(stdout: str) -> dict[str, str]:
    """Each ``--explain`` row's first word -> the rest (for a long path: the line below it)."""
    rows: dict[str, str] = {}
    pending = None
    for line in stdout.splitlines():
        words = line.split(None, 1)
        if pending is not None:
            rows[pending], pending = line.strip(), None
        elif len(words) == 1 and words[0].startswith("/"):
            pending = words[0]
        elif len(words) == 2:
            rows[words[0]] = words[1]
    return rows


def mechanisms() -> list[str]:
    found = ["bwrap"] if shutil.which("bwrap") else []
    return found + (["landlock"] if landlock_abi() >= 1 else [])


@pytest.fixture(params=["bwrap", "landlock"])
def mechanism(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name not in mechanisms():
        pytest.skip(f"{name} is not available here")
    return name


def test_explain_lists_denied_reads_and_the_mechanism(mechanism: str, home: Path) -> None:
    done = agentrt(home, "sandbox", "--explain", without_bwrap=mechanism == "landlock")
    assert done.returncode == 0, done.stderr
    rows = explained(done.stdout)
    assert rows["mechanism"].split()[0] == mechanism, done.stdout
    for path in (home / ".ssh", home / ".netrc", Path("/etc/shadow"), home / ".agentrt" / "auth.json"):
        assert rows[str(path)].startswith("default"), done.stdout
    assert rows[str(home / ".aws")] == "default; absent, nothing to hide"
    assert SECRET not in done.stdout + done.stderr


def test_explain_says_a_configured_list_comes_from_the_config(home: Path) -> None:
    (home / ".agentrt" / "config.toml").write_text(f'[sandbox]\ndeny_read = ["~/.netrc", "{home}/vault"]\n')
    done = agentrt(home, "sandbox", "--explain", "--mode", "read-only")
    rows = explained(done.stdout)
    assert rows[str(home / ".netrc")] == "config: [sandbox] deny_read", done.stdout
    assert rows[str(home / "vault")] == "config: [sandbox] deny_read; absent, nothing to hide"
    assert str(home / ".ssh") not in done.stdout


def test_explain_columns_are_aligned(home: Path) -> None:
    """Every "where from" starts in one column, a long path's on the line below it."""
    done = agentrt(home, "sandbox", "--explain")
    found = (re.search(r"\s(default)\b", line) for line in done.stdout.splitlines())
    columns = {match.start(1) for match in found if match}
    assert len(columns) == 1, done.stdout


def test_the_sandboxed_command_cannot_read_a_secret(mechanism: str, home: Path) -> None:
    script = f"/bin/cat {home / '.netrc'} {home / '.ssh' / 'id_rsa'}; /bin/ls -a {home}"
    done = agentrt(home, "sandbox", "--", "/bin/sh", "-c", script, without_bwrap=mechanism == "landlock")
    assert f"agentrt: sandbox: {mechanism}" in done.stderr
    assert SECRET not in done.stdout and ".netrc" in done.stdout.split(), (done.stdout, done.stderr)


@pytest.mark.parametrize("value", ['"~/.ssh"', '["relative"]', "[1, 2]"])
def test_a_bad_deny_read_is_a_one_line_error(home: Path, value: str) -> None:
    (home / ".agentrt" / "config.toml").write_text(f"[sandbox]\ndeny_read = {value}\n")
    for args in (["--explain"], ["--", "true"]):
        done = agentrt(home, "sandbox", *args)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and "sandbox.deny_read" in done.stderr, done.stderr
