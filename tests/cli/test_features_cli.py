"""``agentrt features list|enable|disable`` as a user runs it: a real process over a real AGENTRT_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agentrt.config.features import SPECS


def agentrt(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTRT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "agentrt", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_list_is_sorted_with_aligned_columns(tmp_path: Path) -> None:
    done = agentrt(tmp_path, "features", "list")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    rows = [line.split("  ") for line in lines]
    keys = [line.split()[0] for line in lines]
    assert keys == sorted(SPECS)
    # Aligned: the stage and enabled columns start at the same place on every line.
    stage_at = {len(line) - len(line[len(key) :].lstrip()) for line, key in zip(lines, keys, strict=True)}
    assert len(stage_at) == 1 and len(rows) == len(SPECS)
    enabled_at = {line.rfind(" ") for line in lines}
    assert len(enabled_at) == 1
    table = {line.split()[0]: line.split()[-1] for line in lines}
    assert table["cost_tracking"] == "true" and table["undo"] == "false"
    assert "under development" in next(line for line in lines if line.startswith("agent_message_board "))
    assert "experimental" in next(line for line in lines if line.startswith("undo "))
    assert "removed" in next(line for line in lines if line.startswith("enable_fanout "))


def test_list_json_and_flags(tmp_path: Path) -> None:
    done = agentrt(tmp_path, "features", "list", "--json", "--enable", "undo")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    undo = next(row for row in rows if row["key"] == "undo")
    assert undo == {
        "key": "undo",
        "stage": "experimental",
        "enabled": True,
        "default": False,
        "origin": "codex",
        "requires": [],
        "aliases": [],
    }


CONFIG = """\
# My agentrt config — hand written.
model = "gpt-5"   # the usual

[features]
# flags I care about
shell_snapshot = false    # slow on this box
connectors = false

[tui]
animations = false  # calm
"""


def test_enable_and_disable_keep_the_rest_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    done = agentrt(tmp_path, "features", "enable", "undo")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"enabled undo in {path}\n"
    assert path.read_text() == CONFIG.replace("connectors = false\n", "connectors = false\nundo = true\n")
    assert agentrt(tmp_path, "features", "disable", "undo").returncode == 0
    assert path.read_text() == CONFIG.replace("connectors = false\n", "connectors = false\nundo = false\n")
    # A legacy name writes the key that replaced it, and drops the old line.
    done = agentrt(tmp_path, "features", "enable", "connectors")
    assert done.returncode == 0, done.stderr
    assert "'connectors' is a legacy name; wrote 'apps'" in done.stderr
    assert path.read_text() == CONFIG.replace("connectors = false\n", "undo = false\napps = true\n")
    listed = agentrt(tmp_path, "features", "list").stdout.splitlines()
    table = {line.split()[0]: line.split()[-1] for line in listed}
    assert (table["apps"], table["undo"], table["shell_snapshot"]) == ("true", "false", "false")


def test_enable_creates_the_file_and_warns_for_an_unstable_flag(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = agentrt(home, "features", "enable", "agent_message_board")
    assert done.returncode == 0, done.stderr
    assert (home / "config.toml").read_text() == "[features]\nagent_message_board = true\n"
    assert done.stderr.count("under-development features enabled: agent_message_board") == 1


def test_an_unknown_key_is_exit_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    for args in (("features", "enable", "und"), ("features", "list", "--enable", "und")):
        done = agentrt(tmp_path, *args)
        assert done.returncode == 2
        assert done.stdout == ""
        assert len(done.stderr.splitlines()) == 1 and "unknown feature" in done.stderr
        assert "did you mean 'undo'" in done.stderr
    assert path.read_text() == CONFIG
    done = agentrt(tmp_path, "features", "enable", "sqlite")
    assert done.returncode == 2 and "removed" in done.stderr
    assert path.read_text() == CONFIG
