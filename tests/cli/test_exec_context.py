"""A long ``agentrt exec`` task in a small window, against the simulator that refuses oversized requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentrt.model.sim.process import SimProcess

pytestmark = pytest.mark.slow

WINDOW = 4096
STEPS = 40


def run(tmp_path: Path, *overrides: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    repo, home = tmp_path / "repo", tmp_path / "home"
    repo.mkdir()
    home.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    command = ["bash", "-c", "printf 'data %.0s' {1..300}"]  # ~375 tokens of output per step
    call = {"content": "", "tool_calls": [{"name": "shell", "arguments": {"command": command}}]}
    script = tmp_path / "script.json"
    script.write_text(json.dumps([call] * STEPS + [{"content": "finished the long task"}]))
    args = ["--policy", "script", "--script", str(script), "--script-step", "requests"]
    with SimProcess([*args, "--context-window", str(WINDOW)]) as sim:
        (home / "config.toml").write_text(
            f'model = "agentrt-sim"\nmodel_provider = "sim"\nmodel_context_window = {WINDOW}\nmax_turns = 100\n'
            f'[model_providers.sim]\nname = "sim"\nbase_url = "{sim.url}"\nwire_api = "chat"\nrequires_api_key = false\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
        done = subprocess.run(
            [sys.executable, "-m", "agentrt", "exec", "-s", "workspace-write", *overrides, "do the long task"],
            cwd=repo, env=env | {"AGENTRT_HOME": str(home)}, capture_output=True, text=True, timeout=300,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    [rollout] = list((home / "sessions").rglob("rollout-*.jsonl"))
    return done, rollout


def test_without_masking_or_compaction_the_window_fills_and_the_turn_fails(tmp_path: Path) -> None:
    done, _ = run(tmp_path, "-c", "tool_output_masking=false", "-c", "model_auto_compact_token_limit=0")
    assert done.returncode == 1
    assert "ContextLengthExceeded" in done.stderr and "maximum context length is 4096" in done.stderr


def test_with_the_defaults_the_long_task_finishes_within_the_window(tmp_path: Path) -> None:
    done, rollout = run(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "finished the long task"
    lines = [json.loads(line) for line in rollout.read_text().splitlines()]
    sent = [
        x["payload"]["info"]["last_token_usage"]["input_tokens"]
        for x in lines
        if x["type"] == "event_msg" and x["payload"].get("type") == "token_count"
    ]
    assert len(sent) == STEPS + 1 and max(sent) <= WINDOW
    assert all(
        x["payload"]["info"]["model_context_window"] == WINDOW
        for x in lines
        if x["type"] == "event_msg" and x["payload"].get("type") == "token_count"
    )
    compacted = [x for x in lines if x["type"] == "compacted"]
    assert compacted and all(x["payload"]["replacement_history"] for x in compacted)
    assert "context compacted" in done.stderr
