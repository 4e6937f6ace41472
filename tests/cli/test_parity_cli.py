"""Parity mode as a user meets it, without the Codex peer: the tools and request shape it sends,
the extensions it refuses, and what stays agentrt's own outside it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from capture_server import Captured, capture_server


def run(
    tmp_path: Path, *args: str, config: str = ""
) -> tuple[subprocess.CompletedProcess[str], list[Captured]]:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    with capture_server([{"text": "done"}]) as server:
        (home / "config.toml").write_text(
            f'model = "m"\nmodel_provider = "cap"\n{config}\n[model_providers.cap]\nname = "cap"\n'
            f'base_url = "{server.url}"\nwire_api = "responses"\nrequires_api_key = false\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
        done = subprocess.run(
            [sys.executable, "-m", "agentrt", "exec", "--json", "--skip-git-repo-check", *args, "go"],
            cwd=work, env=env | {"AGENTRT_HOME": str(home)},
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return done, server.requests


def tool_names(request: Captured) -> list[str]:
    return [t.get("name", t["type"]) for t in request.body.get("tools", ())]


def test_parity_offers_codexs_tools_and_shape(tmp_path: Path) -> None:
    done, (request,) = run(tmp_path, "--parity", "-s", "workspace-write")
    assert done.returncode == 0, done.stderr
    assert tool_names(request) == [
        "exec_command", "write_stdin", "request_user_input", "view_image",
        "get_goal", "create_goal", "update_goal", "web_search",
    ]  # fmt: skip
    assert request.body["tools"][-1] == {"type": "web_search", "external_web_access": False}
    roles = [i["role"] for i in request.body["input"]]
    assert roles == ["developer", "developer", "user", "user"] and "instructions" not in request.body
    opening = request.body["input"][0]["content"][0]["text"]
    assert "exec_command" in opening and "`shell`" not in opening  # the guide to the tools it has
    assert "<current_date>" in request.body["input"][2]["content"][-1]["text"]
    assert '"cost_usd"' not in done.stdout  # cost tracking is agentrt's own: off


def test_parity_refuses_an_agentrt_extension_by_name(tmp_path: Path) -> None:
    done, requests = run(tmp_path, "--parity", "--enable", "cost_tracking")
    assert done.returncode == 2 and requests == []
    assert "--enable cost_tracking: feature 'cost_tracking' is agentrt's own" in done.stderr
    done, _ = run(tmp_path, config="parity = true\n[features]\ncost_tracking = true")
    assert done.returncode == 2 and "feature 'cost_tracking' is agentrt's own" in done.stderr


def test_outside_parity_the_tools_are_agentrts_and_web_search_only_when_asked(tmp_path: Path) -> None:
    done, (request,) = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert tool_names(request) == [
        "shell",
        "apply_patch",
        "update_plan",
        "read_file",
        "list_dir",
        "grep_files",
    ]
    assert "instructions" in request.body and "client_metadata" not in request.body
    _, (request,) = run(tmp_path, config='web_search = "live"')
    assert (
        tool_names(request)[-1] == "web_search" and request.body["tools"][-1]["external_web_access"] is True
    )
