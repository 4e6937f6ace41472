"""The base prompt and AGENTS.md discovery, on real directories and a real ``git init`` repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

from agentrt.agent.instructions import agents_md_message, base_instructions, discover_agents_md
from agentrt.git import git_root


def git_init(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True, capture_output=True)
    return path


def test_base_instructions_describe_the_tools() -> None:
    text = base_instructions()
    for word in ("shell", "apply_patch", "update_plan", "read_file", "list_dir", "grep_files"):
        assert f"`{word}`" in text
    assert "*** Begin Patch" in text and "*** End Patch" in text and "timeout_ms" in text


def test_git_root(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    deep = repo / "a" / "b"
    deep.mkdir(parents=True)
    assert git_root(deep) == repo
    assert git_root(repo) == repo
    (tmp_path / "plain").mkdir()
    assert git_root(tmp_path / "plain") != repo
    worktree = tmp_path / "wt"
    worktree.mkdir()
    (worktree / ".git").write_text("gitdir: /nowhere\n")  # a .git file counts too
    assert git_root(worktree) == worktree


def test_chain_from_git_root_to_cwd(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "AGENTS.md").write_text("global\n")
    repo = git_init(tmp_path / "repo")
    cwd = repo / "pkg" / "sub"
    cwd.mkdir(parents=True)
    (tmp_path / "AGENTS.md").write_text("above the repo: ignored\n")
    (repo / "AGENTS.md").write_text("root\n")
    (repo / "pkg" / "AGENTS.md").write_text("pkg\n")
    (cwd / "AGENTS.md").write_text("sub\n")
    notes = discover_agents_md(cwd, home)
    assert notes == [
        (home / "AGENTS.md", "global\n"),
        (repo / "AGENTS.md", "root\n"),
        (repo / "pkg" / "AGENTS.md", "pkg\n"),
        (cwd / "AGENTS.md", "sub\n"),
    ]
    message = agents_md_message(cwd, home)
    assert message == {
        "role": "user",
        "content": f"# AGENTS.md instructions for {cwd}\n\n<INSTRUCTIONS>\nglobal\n\nroot\n\npkg\n\nsub\n</INSTRUCTIONS>",
    }


def test_override_precedence_and_empty_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "AGENTS.override.md").write_text("global override")
    (home / "AGENTS.md").write_text("global plain")
    repo = git_init(tmp_path / "repo")
    (repo / "AGENTS.override.md").write_text("root override")
    (repo / "AGENTS.md").write_text("root plain")
    sub = repo / "sub"
    sub.mkdir()
    (sub / "AGENTS.override.md").write_text("  \n\n")  # empty: the plain file counts
    (sub / "AGENTS.md").write_text("sub plain")
    texts = [text for _, text in discover_agents_md(sub, home)]
    assert texts == ["global override", "root override", "sub plain"]
    (home / "AGENTS.override.md").write_text("")
    assert discover_agents_md(sub, home)[0] == (home / "AGENTS.md", "global plain")


def test_cwd_only_without_git(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    cwd = outer / "inner"
    cwd.mkdir(parents=True)
    (outer / "AGENTS.md").write_text("outer")
    (cwd / "AGENTS.md").write_text("inner")
    home = tmp_path / "emptyhome"
    if git_root(cwd) is None:  # the temp dir is not inside some repository
        assert discover_agents_md(cwd, home) == [(cwd / "AGENTS.md", "inner")]
    (cwd / "AGENTS.md").write_text("")
    if git_root(cwd) is None:
        assert discover_agents_md(cwd, home) == []
        assert agents_md_message(cwd, home) is None


def test_total_is_capped(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "AGENTS.md").write_text("g" * 10)
    repo = git_init(tmp_path / "repo")
    (repo / "AGENTS.md").write_text("r" * 100)
    sub = repo / "sub"
    sub.mkdir()
    (sub / "AGENTS.md").write_text("s" * 100)
    notes = discover_agents_md(sub, home, max_bytes=50)
    assert [text for _, text in notes] == ["g" * 10, "r" * 40]
    assert discover_agents_md(sub, home, max_bytes=0) == []
    (home / "AGENTS.md").write_text("é" * 10)  # 2 bytes each: a cut never splits a character
    assert [t for _, t in discover_agents_md(sub, home, max_bytes=7)] == ["é" * 3]
