"""``agentrt sessions list`` as a user runs it: a real process over a real AGENTRT_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from agentrt.agent.rollout import RolloutWriter


def sessions_list(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTRT_HOME": str(home), "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "agentrt", "sessions", "list", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def record(home: Path, cwd: Path, prompt: str | None) -> str:
    with RolloutWriter.create(home, cwd=cwd, meta={"model": "m"}) as writer:
        if prompt is not None:
            writer.append("event_msg", {"type": "user_message", "message": prompt})
    time.sleep(0.003)
    return writer.id


def test_empty_home_prints_a_friendly_line(tmp_path: Path) -> None:
    done = sessions_list(tmp_path / "home", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("No sessions started in ") and "--all" in done.stdout
    done = sessions_list(tmp_path / "home", tmp_path, "--all")
    assert done.stdout.startswith("No sessions under ")
    assert sessions_list(tmp_path / "home", tmp_path, "--json").stdout == ""


def test_table_json_limit_and_all(tmp_path: Path) -> None:
    home = tmp_path / "home"
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    long_prompt = "fix the flaky test\nin the parser " + "and more words " * 20
    old = record(home, here, "first prompt")
    other = record(home, elsewhere, "elsewhere prompt")
    new = record(home, here, long_prompt)

    table = sessions_list(home, here)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["ID", "STARTED"]
    assert [line.split()[0] for line in lines[1:]] == [new, old]
    assert "fix the flaky test in the parser" in lines[1] and lines[1].endswith("…")
    assert all(len(line) <= 160 for line in lines)
    assert "first prompt" in lines[2]

    everything = sessions_list(home, here, "--all", "--json")
    rows = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [r["id"] for r in rows] == [new, other, old]
    assert rows[1]["cwd"] == str(elsewhere) and rows[1]["first_prompt"] == "elsewhere prompt"
    assert rows[0]["first_prompt"] == long_prompt and Path(rows[0]["path"]).is_file()
    assert set(rows[0]) == {"id", "started_at", "cwd", "first_prompt", "path", "cost_usd", "cost_tracked"}
    assert rows[0]["cost_tracked"] is False and rows[0]["cost_usd"] is None  # no turn completed

    limited = sessions_list(home, here, "--all", "--json", "--limit", "1")
    assert [json.loads(line)["id"] for line in limited.stdout.splitlines()] == [new]
    bad = sessions_list(home, here, "--limit", "-1")
    assert bad.returncode == 2 and "--limit must be 0 (all) or more" in bad.stderr


def test_damaged_rollouts_are_listed_or_skipped_never_a_crash(tmp_path: Path) -> None:
    home = tmp_path / "home"
    good = record(home, tmp_path, "real prompt")
    deep = "[" * 100_000
    damaged = record(home, tmp_path, None)
    with open(next((home / "sessions").rglob(f"*{damaged}.jsonl")), "a", encoding="utf-8") as fh:
        fh.write('{"type":"event_msg","payload":{"type":"user_message","x":' + deep + "\n")
        fh.write("\xff garbage\n")
    junk = record(home, tmp_path, "junk")
    next((home / "sessions").rglob(f"*{junk}.jsonl")).write_text(deep + "\n")

    done = sessions_list(home, tmp_path, "--json")
    assert (done.returncode, done.stderr) == (0, "")
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["id"], r["first_prompt"]) for r in rows] == [(damaged, None), (good, "real prompt")]
