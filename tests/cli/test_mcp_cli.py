"""``agentrt mcp list|get|add|remove``: Codex's output shapes, and config.toml edited with its comments kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ORIGINAL = '# my settings\nmodel = "x" # the model\n\n# servers below\n'


def agentrt(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentrt", "mcp", *args],
        env={**os.environ, "AGENTRT_HOME": str(home)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_add_list_get_remove_keep_the_files_comments(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(ORIGINAL)
    empty = agentrt(tmp_path, "list")
    assert empty.returncode == 0
    assert empty.stdout == "No MCP servers configured yet. Try `agentrt mcp add my-tool -- my-command`.\n"
    assert json.loads(agentrt(tmp_path, "list", "--json").stdout) == []
    added = agentrt(
        tmp_path, "add", "docs", "--env", "A=1", "--env", "B=2", "--", "python", "-m", "srv", "--flag"
    )
    assert added.returncode == 0 and added.stdout == "Added global MCP server 'docs'.\n"
    assert (
        agentrt(
            tmp_path, "add", "web", "--url", "http://127.0.0.1:9/mcp", "--bearer-token-env-var", "TOK"
        ).returncode
        == 0
    )
    text = (tmp_path / "config.toml").read_text()
    assert text.startswith(ORIGINAL)  # comments and layout kept, byte for byte
    assert '[mcp_servers.docs]\ncommand = "python"\nargs = ["-m", "srv", "--flag"]\n' in text
    assert '[mcp_servers.docs.env]\nA = "1"\nB = "2"\n' in text
    assert '[mcp_servers.web]\nurl = "http://127.0.0.1:9/mcp"\nbearer_token_env_var = "TOK"\n' in text
    listed = agentrt(tmp_path, "list").stdout.splitlines()
    assert listed[0].split() == ["Name", "Command", "Args", "Env", "Cwd", "Status", "Auth"]
    assert listed[1].split() == [
        "docs",
        "python",
        "-m",
        "srv",
        "--flag",
        "A=*****,",
        "B=*****",
        "-",
        "enabled",
        "Unsupported",
    ]
    assert listed[3].split() == ["Name", "Url", "Bearer", "Token", "Env", "Var", "Status", "Auth"]
    assert listed[4].split() == ["web", "http://127.0.0.1:9/mcp", "TOK", "enabled", "Bearer", "token"]
    shown = json.loads(agentrt(tmp_path, "list", "--json").stdout)
    assert [s["name"] for s in shown] == ["docs", "web"]
    assert shown[0]["transport"] == {
        "type": "stdio", "command": "python", "args": ["-m", "srv", "--flag"], "env": {"A": "1", "B": "2"},
        "env_vars": [], "cwd": None,
    }  # fmt: skip
    assert shown[1]["auth_status"] == "bearer_token" and shown[0]["auth_status"] == "unsupported"
    got = agentrt(tmp_path, "get", "docs").stdout
    assert got.splitlines() == [
        "docs", "  enabled: true", "  transport: stdio", "  command: python", "  args: -m srv --flag",
        "  cwd: -", "  env: A=*****, B=*****", "  remove: agentrt mcp remove docs",
    ]  # fmt: skip
    assert (
        json.loads(agentrt(tmp_path, "get", "web", "--json").stdout)["transport"]["url"]
        == "http://127.0.0.1:9/mcp"
    )
    missing = agentrt(tmp_path, "get", "nope")
    assert missing.returncode == 1 and "No MCP server named 'nope' found." in missing.stderr
    removed = agentrt(tmp_path, "remove", "docs")
    assert removed.stdout == "Removed global MCP server 'docs'.\n"
    assert agentrt(tmp_path, "remove", "docs").stdout == "No MCP server named 'docs' found.\n"
    agentrt(tmp_path, "remove", "web")
    assert (tmp_path / "config.toml").read_text().rstrip("\n") == ORIGINAL.rstrip("\n")


def test_add_refuses_what_codex_refuses(tmp_path: Path) -> None:
    bad = agentrt(tmp_path, "add", "bad name", "--", "x")
    assert bad.returncode == 2 and "invalid server name 'bad name'" in bad.stderr
    assert agentrt(tmp_path, "add", "x").returncode == 2  # neither a command nor --url
    assert agentrt(tmp_path, "add", "x", "--url", "http://h", "--", "cmd").returncode == 2  # both
    assert agentrt(tmp_path, "add", "x", "--env", "A=1", "--url", "http://h").returncode == 2
    assert agentrt(tmp_path, "add", "x", "--bearer-token-env-var", "T", "--", "cmd").returncode == 2
    assert not (tmp_path / "config.toml").exists()


def test_a_bad_entry_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[mcp_servers.both]\ncommand = "x"\nurl = "http://h"\n')
    done = agentrt(tmp_path, "list")
    assert done.returncode == 2 and "mcp_servers.both" in done.stderr
