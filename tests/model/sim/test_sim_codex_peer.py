"""The real Codex CLI (0.169, Responses API only) completes turns against ``agentrt sim-server``.

Skipped when no Codex binary is installed: set ``AGENTRT_CODEX_BIN``, or install it with
``scripts/install-codex-peer`` (into ``$AGENTRT_PEER_DIR``, default ``~/.cache/agentrt-peer``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex_peer import codex_binary

CODEX = codex_binary()
pytestmark = pytest.mark.skipif(CODEX is None, reason="Codex CLI not installed (scripts/install-codex-peer)")


@pytest.fixture
def sim_script(tmp_path: Path) -> Iterator[Any]:
    """Starts ``agentrt sim-server`` on a script; yields a function that writes the script and returns the base URL."""
    procs: list[subprocess.Popen[str]] = []

    def start(replies: list[Any]) -> str:
        script = tmp_path / "script.json"
        script.write_text(json.dumps(replies))
        cmd = [sys.executable, "-m", "agentrt", "sim-server", "--policy", "script", "--script", str(script)]
        cmd += ["--port", "0", "--model", "scripted"]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        procs.append(proc)
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "listening on http://127.0.0.1:" in line, line
        return line.split("listening on ")[1].split()[0]

    try:
        yield start
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stderr is not None:
                proc.stderr.close()


def run_codex(tmp_path: Path, base_url: str, prompt: str, *flags: str) -> list[dict[str, Any]]:
    """``codex exec --json`` against ``base_url`` with a throwaway ``CODEX_HOME``; its JSONL events."""
    assert CODEX is not None
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        'model = "scripted"\nmodel_provider = "local"\ncheck_for_update_on_startup = false\n'
        "[model_providers.local]\n"
        f'name = "local"\nbase_url = "{base_url}"\nenv_key = "LOCAL_KEY"\nwire_api = "responses"\n'
    )
    drop = {"OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL"}
    env = {k: v for k, v in os.environ.items() if k not in drop} | {"CODEX_HOME": str(home), "LOCAL_KEY": "x"}
    argv = [str(CODEX), "exec", "--json", "--skip-git-repo-check", *flags, prompt]
    done = subprocess.run(
        argv, cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def messages(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["item"]["text"]
        for e in events
        if e["type"] == "item.completed" and e["item"]["type"] == "agent_message"
    ]


def test_codex_exec_completes_a_turn_with_the_simulated_reply(tmp_path: Path, sim_script: Any) -> None:
    base_url = sim_script([{"content": "Hello from the simulator."}])
    events = run_codex(tmp_path, base_url, "say hi")
    assert messages(events) == ["Hello from the simulator."]
    (completed,) = [e for e in events if e["type"] == "turn.completed"]
    assert completed["usage"]["output_tokens"] == 4  # the simulator's count, read from response.completed
    assert completed["usage"]["input_tokens"] > 0


def test_codex_runs_a_function_call_and_sends_its_output_back(tmp_path: Path, sim_script: Any) -> None:
    """Step 0 asks for a shell command; only a request carrying its ``function_call_output`` gets step 1."""
    replies = [
        {
            "reasoning": "I should run a command.",
            "content": "Running it.",
            "tool_calls": [{"name": "exec_command", "arguments": {"cmd": "echo peer-tool-ok"}}],
        },
        {"content": "The command ran."},
    ]
    events = run_codex(tmp_path, sim_script(replies), "run it", "-s", "danger-full-access")
    assert messages(events) == ["Running it.", "The command ran."]
    commands = [
        e["item"]
        for e in events
        if e["type"] == "item.completed" and e["item"]["type"] == "command_execution"
    ]
    assert [c["aggregated_output"].strip() for c in commands] == ["peer-tool-ok"]
    reasoning = [e["item"]["text"] for e in events if e.get("item", {}).get("type") == "reasoning"]
    assert reasoning == ["I should run a command."]
    assert any(e["type"] == "turn.completed" for e in events)
