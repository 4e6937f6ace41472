"""Secret stores are unreadable by default, in bwrap and Landlock alike (``[sandbox] deny_read``).

Each test builds a fake ``HOME`` holding secrets where the default list looks (``~/.ssh``,
``~/.netrc``, ``~/.docker/config.json``, ``~/.aws``) beside ordinary files, and runs ``cat`` and
``ls`` under the sandbox: the secrets must not come out, the ordinary files must.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sandbox_support import run, sandbox

from agentrt.sandbox import SandboxPolicy, SandboxUnavailable, choose_sandbox, policy_for
from agentrt.sandbox.landlock import LandlockSandbox
from agentrt.sandbox.policy import DEFAULT_DENY_READ

SECRET = "s3cret-canary"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fake HOME: secrets in ~/.ssh, ~/.netrc, ~/.docker/config.json; notes beside them."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text(f"{SECRET}-ssh\n")
    (home / ".netrc").write_text(f"machine example.com password {SECRET}-netrc\n")
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(f'{{"auth": "{SECRET}-docker"}}\n')
    (home / ".docker" / "daemon.json").write_text("{}\n")
    (home / "notes.txt").write_text("notes\n")
    return home


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "plain.txt").write_text("plain\n")
    return ws


def policy(mode: str, ws: Path, home: Path, raw: dict[str, Any] | None = None) -> SandboxPolicy:
    """``policy_for`` with ``home`` as the user's HOME and agentrt's home beside the workspace."""
    agentrt_home = ws.parent / "agentrt-home"
    return policy_for(mode, ws, home=agentrt_home, raw=raw or {}, env={"HOME": str(home)})


def cat_and_ls(*paths: Path, listing: Path) -> str:
    """A script printing each path's contents (or ``unreadable P``), then ``ls -a listing``."""
    cats = "\n".join(f"cat {p} 2>/dev/null || echo unreadable {p}" for p in paths)
    return f"{cats}\necho --\nls -a {listing}\n"


@pytest.mark.parametrize("mode", ["read-only", "workspace-write"])
def test_default_list_hides_secret_files_and_directories(
    mechanism: str, mode: str, ws: Path, home: Path
) -> None:
    pol = policy(mode, ws, home)
    secrets = (home / ".ssh" / "id_ed25519", home / ".netrc", home / ".docker" / "config.json")
    beside = (home / "notes.txt", home / ".docker" / "daemon.json")
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, cat_and_ls(*secrets, *beside, listing=home))
        listed = run(box, pol, ["ls", "-a", str(home / ".docker")])
    assert SECRET not in result.stdout, result.stdout
    assert "notes\n{}\n--\n" in result.stdout, (result.stdout, result.stderr)
    assert {".ssh", ".netrc", ".docker", "notes.txt"} <= set(result.stdout.split("--\n")[1].split())
    assert "daemon.json" in listed.stdout.split(), listed


def test_a_symlinked_secret_is_denied_by_its_real_path(mechanism: str, ws: Path, home: Path) -> None:
    real = home.parent / "aws-store"
    real.mkdir()
    (real / "credentials").write_text(f"{SECRET}-aws\n")
    (home / ".aws").symlink_to(real)
    pol = policy("read-only", ws, home)
    assert home / ".aws" in pol.deny_read and real in pol.deny_read
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, cat_and_ls(home / ".aws" / "credentials", real / "credentials", listing=home))
    assert SECRET not in result.stdout and "unreadable" in result.stdout, result.stdout


def test_agentrt_config_and_auth_are_denied(mechanism: str, ws: Path, home: Path) -> None:
    agentrt_home = ws.parent / "agentrt-home"
    agentrt_home.mkdir()
    (agentrt_home / "config.toml").write_text(f'# key = "{SECRET}-config"\n')
    (agentrt_home / "auth.json").write_text(f'{{"token": "{SECRET}-auth"}}\n')
    (agentrt_home / "history.txt").write_text("history\n")
    pol = policy("workspace-write", ws, home)
    files = [agentrt_home / name for name in ("config.toml", "auth.json", "history.txt")]
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, cat_and_ls(*files, listing=agentrt_home))
    assert SECRET not in result.stdout and "history\n" in result.stdout, result.stdout


def test_an_empty_list_reads_anywhere(mechanism: str, ws: Path, home: Path) -> None:
    pol = policy("read-only", ws, home, raw={"sandbox": {"deny_read": []}})
    assert pol.deny_read == ()
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, cat_and_ls(home / ".ssh" / "id_ed25519", home / ".netrc", listing=home))
    assert f"{SECRET}-ssh" in result.stdout and f"{SECRET}-netrc" in result.stdout, result.stdout


def test_a_denied_path_inside_the_workspace_stays_hidden(mechanism: str, ws: Path, home: Path) -> None:
    (ws / ".env").write_text(f"TOKEN={SECRET}-env\n")
    (ws / "keys").mkdir()
    (ws / "keys" / "deploy.pem").write_text(f"{SECRET}-pem\n")
    raw = {"sandbox": {"deny_read": [str(ws / ".env"), str(ws / "keys")]}}
    pol = policy("workspace-write", ws, home, raw=raw)
    script = cat_and_ls(ws / ".env", ws / "keys" / "deploy.pem", ws / "plain.txt", listing=ws)
    script += "echo new > new.txt && cat new.txt\necho x > keys/planted.pem || echo no-write\n"
    with sandbox(pol, mechanism) as box:
        result = run(box, pol, script)
    assert SECRET not in result.stdout, result.stdout
    assert "plain\n" in result.stdout and "new\n" in result.stdout and "no-write" in result.stdout
    assert sorted(p.name for p in (ws / "keys").iterdir()) == ["deploy.pem"]
    assert (ws / ".env").read_text() == f"TOKEN={SECRET}-env\n"


def test_a_self_test_that_reads_its_probe_secret_fails(
    mechanism: str, ws: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mechanism that stops hiding what it is told to hide is refused at start-up."""
    if mechanism == "bwrap":
        monkeypatch.setattr("agentrt.sandbox.bwrap.hide_args", lambda paths: [])
    else:
        wrap = LandlockSandbox.wrap
        monkeypatch.setattr(LandlockSandbox, "wrap", lambda self, argv, cwd, **_: wrap(self, argv, cwd))
    with pytest.raises(SandboxUnavailable, match="self-test failed.*read .*secret-"):
        choose_sandbox(policy("read-only", ws, home), mechanisms=(mechanism,))


# --- the policy, without running anything ------------------------------------------------------


def test_the_default_list_expands_home_and_adds_agentrt_files(tmp_path: Path) -> None:
    pol = policy_for("read-only", tmp_path, home=tmp_path / "ah", raw={}, env={"HOME": "/home/u"})
    expected = [Path(p.replace("~", "/home/u")) for p in DEFAULT_DENY_READ]
    assert list(pol.deny_read) == [*expected, tmp_path / "ah" / "config.toml", tmp_path / "ah" / "auth.json"]


def test_configured_paths_replace_the_default(tmp_path: Path) -> None:
    raw = {"sandbox": {"deny_read": ["~/secrets", "/srv/keys/../keys"]}}
    pol = policy_for("read-only", tmp_path, home=tmp_path, raw=raw, env={"HOME": "/home/u"})
    assert pol.deny_read == (Path("/home/u/secrets"), Path("/srv/keys"))


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"deny_read": "~/.ssh"}, "sandbox.deny_read"),
        ({"deny_read": ["relative/path"]}, "sandbox.deny_read"),
        ({"deny_read": ["~other/.ssh"]}, "sandbox.deny_read"),
        ({"deny_read": [3]}, "sandbox.deny_read"),
        ({"deny_write": []}, "sandbox.deny_write"),
        (["~/.ssh"], "sandbox: expected a table"),
    ],
)
def test_a_bad_sandbox_table_is_one_line_naming_the_key(tmp_path: Path, table: Any, key: str) -> None:
    with pytest.raises(ValueError, match=key) as err:
        policy_for("read-only", tmp_path, home=tmp_path, raw={"sandbox": table}, env={"HOME": "/h"})
    assert "\n" not in str(err.value)
