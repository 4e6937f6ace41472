"""Sessions cross over: the real Codex CLI resumes an agentrt session with its history, and agentrt
resumes a Codex session with its tool calls. Skipped, saying why, where the Codex peer is absent.

Both run against the simulator's script policy, whose reply is chosen by the number of assistant
turns in the request: a resumed request that carries the other tool's history gets a reply that says
how many turns it saw, so the history's arrival is checked on the wire, not in a file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentrt.agent.rollout import history_from_rollout, read_rollout, session_info
from agentrt.model.sim.process import SimProcess

pytestmark = pytest.mark.slow


SCRIPT = [
    {
        "content": "",
        "tool_calls": [{"name": "shell", "arguments": {"command": ["echo", "cross-resume-output"]}}],
    },
    {"content": "first answer"},
    {"content": "the resumed request carried 2 earlier assistant turns"},
]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "CODEX_"))}


def codex_env(home: Path, url: str) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "agentrt-sim"\nmodel_provider = "sim"\n[model_providers.sim]\nname = "sim"\n'
        f'base_url = "{url}"\nenv_key = "LOCAL_KEY"\nwire_api = "responses"\n'
    )
    return clean_env() | {"CODEX_HOME": str(home), "LOCAL_KEY": "x"}


def agentrt_env(home: Path, url: str) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "agentrt-sim"\nmodel_provider = "sim"\n[model_providers.sim]\nname = "sim"\n'
        f'base_url = "{url}"\nwire_api = "responses"\nrequires_api_key = false\n'
    )
    return clean_env() | {"AGENTRT_HOME": str(home)}


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def copy_session(rollout: Path, sessions: Path) -> None:
    """Place a session file where the other tool looks: sessions/YYYY/MM/DD/ under its home."""
    day = sessions / Path(*rollout.parent.parts[-3:])
    day.mkdir(parents=True, exist_ok=True)
    shutil.copy(rollout, day / rollout.name)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def test_codex_resumes_an_agentrt_session_with_its_history(codex: Path, tmp_path: Path, repo: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    with SimProcess(["--policy", "script", "--script", str(script)]) as sim:
        ours = run([sys.executable, "-m", "agentrt", "exec", "-s", "workspace-write", "start here"], repo,
                   agentrt_env(tmp_path / "ahome", sim.url))  # fmt: skip
        assert ours.returncode == 0 and ours.stdout.strip() == "first answer", ours.stderr
        [rollout] = list((tmp_path / "ahome" / "sessions").rglob("rollout-*.jsonl"))
        session_id = rollout.stem.split("-", 6)[-1]
        env = codex_env(tmp_path / "chome", sim.url)
        copy_session(rollout, tmp_path / "chome" / "sessions")
        theirs = run([str(codex), "exec", "--json", "--skip-git-repo-check", "-s", "workspace-write",
                      "resume", session_id, "go on"], repo, env)  # fmt: skip
    assert theirs.returncode == 0, theirs.stderr[-2000:]
    said = [json.loads(x) for x in theirs.stdout.splitlines() if x.startswith("{")]
    answers = [e["item"]["text"] for e in said if e.get("item", {}).get("type") == "agent_message"]
    assert answers == ["the resumed request carried 2 earlier assistant turns"], theirs.stdout[-2000:]
    contexts = [json.loads(x)["payload"] for x in rollout.read_text().splitlines() if '"turn_context"' in x]
    assert contexts and contexts[0]["sandbox_policy"]["type"] == "workspace-write"  # agentrt's own line


def test_agentrt_resumes_a_codex_session_with_its_tool_calls(codex: Path, tmp_path: Path, repo: Path) -> None:
    script = tmp_path / "script.json"
    codex_script = [
        {"content": "", "tool_calls": [{"name": "exec_command", "arguments": {"cmd": "echo from-codex"}}]},
        *SCRIPT[1:],
    ]
    script.write_text(json.dumps(codex_script))
    with SimProcess(["--policy", "script", "--script", str(script)]) as sim:
        theirs = run([str(codex), "exec", "--json", "--skip-git-repo-check", "-s", "workspace-write",
                      "start in codex"], repo, codex_env(tmp_path / "chome", sim.url))  # fmt: skip
        assert theirs.returncode == 0, theirs.stderr[-2000:]
        [rollout] = list((tmp_path / "chome" / "sessions").rglob("rollout-*.jsonl"))
        history = history_from_rollout(read_rollout(rollout))
        calls = [c["function"]["name"] for m in history for c in m.get("tool_calls") or ()]
        assert calls == ["exec_command"]
        assert [m["content"] for m in history if m["role"] == "user"][-1] == "start in codex"
        assert any(m["role"] == "tool" for m in history)
        session_id = json.loads(rollout.read_text().splitlines()[0])["payload"]["id"]
        info = session_info(rollout)
        assert info is not None and info.first_prompt == "start in codex"  # listed and pickable
        env = agentrt_env(tmp_path / "ahome", sim.url)
        copy_session(rollout, tmp_path / "ahome" / "sessions")
        ours = run([sys.executable, "-m", "agentrt", "exec", "-s", "workspace-write", "resume", session_id, "go on"],
                   repo, env)  # fmt: skip
    assert ours.returncode == 0, ours.stderr[-2000:]
    assert ours.stdout.strip() == "the resumed request carried 2 earlier assistant turns"


def _shape(event: dict[str, Any]) -> tuple[Any, ...]:
    """An event with what must agree kept (kinds, keys, texts) and ids, times and counts left out."""
    item = event.get("item") or {}
    usage = event.get("usage") or {}
    return (event["type"], sorted(event), item.get("type"), sorted(item), item.get("text"), sorted(usage))


def test_the_same_scripted_session_gives_the_same_events_as_codex(
    codex: Path, tmp_path: Path, repo: Path
) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"content": "hello from both", "reasoning": "a short thought"}]))
    with SimProcess(["--policy", "script", "--script", str(script)]) as sim:
        theirs = run([str(codex), "exec", "--json", "--skip-git-repo-check", "-s", "workspace-write", "hi"],
                     repo, codex_env(tmp_path / "chome", sim.url))  # fmt: skip
        ours = run([sys.executable, "-m", "agentrt", "exec", "--json", "-s", "workspace-write",
                    "--disable", "cost_tracking", "hi"], repo, agentrt_env(tmp_path / "ahome", sim.url))  # fmt: skip
    assert theirs.returncode == 0 and ours.returncode == 0, (theirs.stderr[-1000:], ours.stderr[-1000:])

    def events(out: str) -> list[dict[str, Any]]:
        parsed = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
        return [
            e for e in parsed if (e.get("item") or {}).get("type") != "error"
        ]  # warnings differ by design

    codex_events, our_events = events(theirs.stdout), events(ours.stdout)
    assert [_shape(e) for e in our_events] == [_shape(e) for e in codex_events]
