"""Which words open the interactive session and which name a subcommand, and the help that says so."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentrt.cli.main import _opens_session, build_parser


@pytest.mark.parametrize(
    ("words", "session"),
    [
        ([], True),
        (["fix the failing test"], True),
        (["-m", "gpt-5", "hello"], True),
        (["-m", "exec"], True),  # a value of an option is not a subcommand
        (["-C", ".", "--help"], True),
        (["--sim", "demo.json", "-s", "workspace-write"], True),
        (["exec", "hi"], False),
        (["e", "hi"], False),
        (["resume", "--last"], False),
        (["--debug", "bench", "humaneval"], False),
        (["--help"], False),
        (["--version"], False),
    ],
)
def test_words_route_to_the_session_or_a_subcommand(words: list[str], session: bool) -> None:
    assert _opens_session(words, build_parser()) is session


def test_help_teaches_both_faces() -> None:
    top = subprocess.run(
        [sys.executable, "-m", "agentrt", "--help"], capture_output=True, text=True, timeout=30
    )
    assert top.returncode == 0 and "interactive session" in top.stdout and "exec" in top.stdout
    session = subprocess.run(
        [sys.executable, "-m", "agentrt", "-C", ".", "--help"], capture_output=True, text=True, timeout=30
    )
    assert session.returncode == 0
    assert session.stdout.startswith("usage: agentrt [OPTIONS] [PROMPT]")
    assert "Esc" in session.stdout and "--sim" in session.stdout
    resume = subprocess.run(
        [sys.executable, "-m", "agentrt", "resume", "--help"], capture_output=True, text=True, timeout=30
    )
    assert resume.stdout.startswith("usage: agentrt resume ")
