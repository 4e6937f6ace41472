"""Recognising apply_patch command lines, as Codex intercepts them from the shell tool."""

from __future__ import annotations

import pytest

from agentrt.tools.apply_patch import PatchInvocation, parse_invocation, parse_patch

BODY = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch"


@pytest.mark.parametrize("command", ["apply_patch", "applypatch"])
def test_direct_call(command: str) -> None:
    assert parse_invocation([command, BODY]) == PatchInvocation(BODY)


@pytest.mark.parametrize(
    "argv",
    [
        ["bash", "-lc", f"apply_patch <<'EOF'\n{BODY}\nEOF\n"],
        ["/bin/bash", "-c", f"apply_patch <<EOF\n{BODY}\nEOF"],
        ["zsh", "-lc", f'applypatch <<"PATCH"\n{BODY}\nPATCH\n\n'],
        ["sh", "-c", f"\n  apply_patch   <<  'EOF'  \n{BODY}\n\n\nEOF\n"],
        ["pwsh", "-NoProfile", "-Command", f"apply_patch <<'EOF'\n{BODY}\nEOF"],
        ["powershell.exe", "-command", f"apply_patch <<'EOF'\n{BODY}\nEOF"],
        ["cmd", "/c", f"apply_patch <<'EOF'\n{BODY}\nEOF"],
    ],
)
def test_heredoc_forms(argv: list[str]) -> None:
    assert parse_invocation(argv) == PatchInvocation(BODY)


@pytest.mark.parametrize(
    ("prefix", "workdir"),
    [
        ("cd src &&", "src"),
        ("cd 'my dir' && ", "my dir"),
        ('cd "/abs/path"&&', "/abs/path"),
        ("cd ../x &&", "../x"),
    ],
)
def test_cd_then_apply_patch(prefix: str, workdir: str) -> None:
    argv = ["bash", "-lc", f"{prefix} apply_patch <<'EOF'\n{BODY}\nEOF\n"]
    assert parse_invocation(argv) == PatchInvocation(BODY, workdir)


@pytest.mark.parametrize(
    "argv",
    [
        ["apply_patch"],
        ["apply_patch", BODY, "extra"],
        ["apply-patch", BODY],
        [BODY],
        ["bash", "-lc", "echo hi"],
        ["bash", "-x", f"apply_patch <<'EOF'\n{BODY}\nEOF"],
        ["python", "-c", f"apply_patch <<'EOF'\n{BODY}\nEOF"],
        ["bash", "-lc", f"echo start; apply_patch <<'EOF'\n{BODY}\nEOF"],
        ["bash", "-lc", f"apply_patch <<'EOF'\n{BODY}\nEOF\necho done"],
        ["bash", "-lc", f"apply_patch <<'EOF' && echo done\n{BODY}\nEOF"],
        ["bash", "-lc", f"apply_patch <<'EOF'\n{BODY}\n"],
        ["bash", "-lc", f"apply_patch extra <<'EOF'\n{BODY}\nEOF"],
        ["bash", "-lc", f"cd a b && apply_patch <<'EOF'\n{BODY}\nEOF"],
        ["bash", "-lc", f"cd $HOME && apply_patch <<'EOF'\n{BODY}\nEOF"],
        ["bash", "-lc", f"cd a || apply_patch <<'EOF'\n{BODY}\nEOF"],
        ["bash", "-lc", f"cd -P a && apply_patch <<'EOF'\n{BODY}\nEOF"],
    ],
)
def test_other_commands_are_not_apply_patch(argv: list[str]) -> None:
    assert parse_invocation(argv) is None


def test_the_body_is_the_patch() -> None:
    found = parse_invocation(["bash", "-lc", f"apply_patch <<'EOF'\n{BODY}\nEOF\n"])
    assert found is not None
    assert parse_patch(found.patch)[0].path == "a.txt"


def test_a_direct_call_with_a_heredoc_literal_still_parses() -> None:
    found = parse_invocation(["apply_patch", f"<<'EOF'\n{BODY}\nEOF\n"])
    assert found is not None
    assert len(parse_patch(found.patch)) == 1
