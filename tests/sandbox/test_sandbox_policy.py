"""Policies from config, the command environment, and in-process write confinement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentrt.sandbox import (
    SandboxPolicy,
    build_env,
    confined_write,
    policy_for,
    private_tmpdir,
    write_allowed,
)
from agentrt.sandbox.policy import within_any
from agentrt.tools.apply_patch import apply_patch

# --- policy_for ---------------------------------------------------------------------------------


def test_policy_from_config(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    raw = {"sandbox_workspace_write": {"writable_roots": ["/srv/cache"], "network_access": True}}
    pol = policy_for("workspace-write", tmp_path, home=tmp_path / ".agentrt", raw=raw)
    assert pol.writable_roots == (Path("/srv/cache"),) and pol.network and pol.network_allowed
    assert pol.protected == (tmp_path / ".git", tmp_path / ".agentrt")
    assert pol.write_roots() == (tmp_path, Path("/srv/cache"))
    read_only = policy_for("read-only", tmp_path, home=tmp_path / "h", raw=raw)
    assert read_only.write_roots() == () and not read_only.network_allowed


def test_missing_git_is_not_protected_and_home_outside_is_dropped(tmp_path: Path) -> None:
    pol = policy_for("workspace-write", tmp_path, home=Path("/nonexistent/agentrt-home"), raw={})
    assert pol.protected == ()


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"writable_roots": "relative"}, "sandbox_workspace_write.writable_roots"),
        ({"writable_roots": ["rel/path"]}, "sandbox_workspace_write.writable_roots"),
        ({"network_access": "yes"}, "sandbox_workspace_write.network_access"),
        ({"exclude_slash_tmp": True}, "sandbox_workspace_write.exclude_slash_tmp"),
    ],
)
def test_bad_workspace_write_table_names_the_key(tmp_path: Path, table: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        policy_for("workspace-write", tmp_path, home=tmp_path, raw={"sandbox_workspace_write": table})


def test_bad_mode_and_relative_paths_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sandbox_mode"):
        policy_for("yolo", tmp_path, home=tmp_path, raw={})
    with pytest.raises(ValueError, match="absolute"):
        SandboxPolicy("read-only", Path("rel"))


def test_private_tmpdir_only_for_workspace_write(tmp_path: Path) -> None:
    ww = policy_for("workspace-write", tmp_path, home=tmp_path / "h", raw={})
    with private_tmpdir(ww) as pol:
        assert pol.tmpdir is not None and pol.tmpdir.is_dir() and pol.tmpdir in pol.write_roots()
    assert not pol.tmpdir.exists()
    ro = policy_for("read-only", tmp_path, home=tmp_path / "h", raw={})
    with private_tmpdir(ro) as pol:
        assert pol.tmpdir is None


# --- build_env ----------------------------------------------------------------------------------

BASE = {
    "PATH": "/usr/bin",
    "HOME": "/root",
    "LC_ALL": "C.UTF-8",
    "OPENAI_API_KEY": "k",
    "GITHUB_TOKEN": "t",
    "my_secret": "s",
    "DATABASE_URL": "postgres://",
    "FOO": "1",
    "PAGER": "less",
}


def test_default_env_drops_secrets_and_is_non_interactive() -> None:
    env = build_env(BASE, None, tmpdir=None)
    assert "OPENAI_API_KEY" not in env and "GITHUB_TOKEN" not in env and "my_secret" not in env
    assert env["DATABASE_URL"] == "postgres://" and env["FOO"] == "1"
    assert env["CI"] == "1" and env["GIT_TERMINAL_PROMPT"] == "0" and env["PAGER"] == "cat"
    assert env["GIT_EDITOR"] == "true" and env["DEBIAN_FRONTEND"] == "noninteractive"
    assert env["PIP_NO_INPUT"] == "1" and env["npm_config_yes"] == "true"
    assert "AGENTRT_SANDBOX" not in env


def test_env_policy_steps_in_order(tmp_path: Path) -> None:
    core = build_env(BASE, {"inherit": "core"}, tmpdir=tmp_path, sandbox="bwrap", network=False)
    assert {k for k in core if k in BASE} == {"PATH", "HOME", "LC_ALL", "PAGER"}
    assert core["TMPDIR"] == core["TMP"] == core["TEMP"] == str(tmp_path)
    assert core["AGENTRT_SANDBOX"] == "bwrap" and core["AGENTRT_SANDBOX_NETWORK_DISABLED"] == "1"
    kept = build_env(BASE, {"ignore_default_excludes": True, "exclude": ["*_url"]}, tmpdir=None)
    assert kept["OPENAI_API_KEY"] == "k" and "DATABASE_URL" not in kept
    only = build_env(
        BASE,
        {"inherit": "none", "set": {"A": "1", "PAGER": "more"}, "include_only": ["a", "P*"]},
        tmpdir=None,
    )
    assert only["A"] == "1" and only["PAGER"] == "more" and "FOO" not in only and "PATH" not in only
    assert only["CI"] == "1"
    online = build_env(BASE, None, tmpdir=None, sandbox="landlock", network=True)
    assert online["AGENTRT_SANDBOX"] == "landlock" and "AGENTRT_SANDBOX_NETWORK_DISABLED" not in online


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"inherit": "some"}, "shell_environment_policy.inherit"),
        ({"exclude": "*X*"}, "shell_environment_policy.exclude"),
        ({"include_only": [1]}, "shell_environment_policy.include_only"),
        ({"set": {"A": 1}}, "shell_environment_policy.set"),
        ({"ignore_default_excludes": "no"}, "shell_environment_policy.ignore_default_excludes"),
        ({"inherits": "all"}, "shell_environment_policy.inherits"),
    ],
)
def test_bad_env_policy_names_the_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        build_env(BASE, table, tmpdir=None)


# --- write_allowed / confined_write -------------------------------------------------------------


@pytest.fixture
def layout(tmp_path: Path) -> tuple[SandboxPolicy, Path, Path]:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    (ws / ".git").mkdir(parents=True)
    outside.mkdir()
    (outside / "victim.txt").write_text("original\n")
    (ws / "up").symlink_to(outside)
    (ws / "hardlink.txt").hardlink_to(outside / "victim.txt")
    return policy_for("workspace-write", ws, home=tmp_path / "home", raw={}), ws, outside


def test_write_allowed(layout: tuple[SandboxPolicy, Path, Path]) -> None:
    pol, ws, outside = layout
    assert write_allowed(pol, ws / "new" / "file.py")
    assert write_allowed(pol, Path("/dev/null"))
    assert not write_allowed(pol, outside / "victim.txt")
    assert not write_allowed(pol, ws / ".." / "outside" / "x")
    assert not write_allowed(pol, ws / "up" / "x")
    assert not write_allowed(pol, ws / ".git" / "config")
    assert not write_allowed(pol, ws / "hardlink.txt"), "in-place write would change the outside file"
    assert not write_allowed(policy_for("read-only", ws, home=ws, raw={}), ws / "f")
    assert write_allowed(policy_for("danger-full-access", ws, home=ws, raw={}), outside / "victim.txt")


def test_confined_write(layout: tuple[SandboxPolicy, Path, Path]) -> None:
    pol, ws, outside = layout
    write = confined_write(pol)
    write(ws / "a" / "b.txt", b"new\n")
    assert (ws / "a" / "b.txt").read_bytes() == b"new\n"
    write(ws / "hardlink.txt", b"replaced\n")
    assert (ws / "hardlink.txt").read_text() == "replaced\n"
    assert (outside / "victim.txt").read_text() == "original\n"
    for target in (ws / "up" / "victim.txt", ws / ".git" / "config", outside / "x"):
        with pytest.raises(PermissionError):
            write(target, b"pwned\n")
    with pytest.raises(PermissionError):
        write(ws / "up" / "victim.txt", None)
    write(ws / "up", None)  # removes the link itself
    assert not (ws / "up").is_symlink() and (outside / "victim.txt").read_text() == "original\n"


def test_apply_patch_through_the_confined_seam(layout: tuple[SandboxPolicy, Path, Path]) -> None:
    pol, ws, outside = layout
    ok = "*** Begin Patch\n*** Add File: src/m.py\n+x = 1\n*** End Patch\n"
    apply_patch(ok, ws, write=confined_write(pol))
    assert (ws / "src" / "m.py").read_text() == "x = 1\n"
    escape = "*** Begin Patch\n*** Add File: up/evil.py\n+x = 1\n*** End Patch\n"
    with pytest.raises(Exception, match="evil.py"):
        apply_patch(escape, ws, write=confined_write(pol))
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


ABSOLUTE = st.lists(st.sampled_from(["a", "ab", "b", "a.b", ".."]), max_size=4).map(
    lambda parts: Path("/", *parts)
)


@given(path=ABSOLUTE, root=ABSOLUTE)
def test_within_any_is_the_lexical_parent_test(path: Path, root: Path) -> None:
    assert within_any(path, (root,)) == (path == root or root in path.parents)
