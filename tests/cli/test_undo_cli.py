"""``agentrt undo`` as a user runs it: a real ``agentrt exec`` turn against the simulator (through a
proxy that keeps every request), then ``agentrt undo --list`` / ``agentrt undo``, then ``exec resume``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentrt.model.sim.process import SimProcess

AGENTRT = [sys.executable, "-m", "agentrt"]

PATCH = """*** Begin Patch
*** Add File: hello.py
+print("hello")
*** Update File: README.md
@@
-# project
+# project, patched by the agent
*** Delete File: old.txt
*** End Patch"""

SCRIPT: list[dict[str, Any]] = [
    {"tool_calls": [{"name": "apply_patch", "arguments": {"input": PATCH}}]},
    {"content": "Patched the readme and added hello.py."},
]


class RecordingProxy:
    """Forwards every request to the simulator and keeps the JSON bodies sent to it."""

    def __init__(self, upstream: str) -> None:
        self.bodies: list[dict[str, Any]] = []
        origin = upstream.split("/v1")[0]
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if data:
                    proxy.bodies.append(json.loads(data))
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")
                }
                request = urllib.request.Request(
                    origin + self.path, data=data or None, headers=headers, method=self.command
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as reply:
                        status, body, kind = reply.status, reply.read(), reply.headers.get("Content-Type", "")
                except urllib.error.HTTPError as exc:
                    status, body, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[RecordingProxy]:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    with SimProcess(["--policy", "script", "--script", str(script)]) as sim:
        recording = RecordingProxy(sim.url)
        yield recording
        recording.close()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    (root / "README.md").write_text("# project\n")
    (root / "old.txt").write_text("deleted by the agent\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "initial"], check=True)
    (root / "notes.txt").write_text("the user's untracked notes\n")
    return root


def agentrt(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
    env |= {"AGENTRT_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [*AGENTRT, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def make_home(tmp_path: Path, url: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        'model = "agentrt-sim"\nmodel_provider = "sim"\n\n[model_providers.sim]\nname = "simulator"\n'
        f'base_url = "{url}"\nwire_api = "chat"\nrequires_api_key = false\n'
    )
    return home


def test_exec_turn_then_undo_list_undo_and_the_resumed_request_carries_the_note(
    tmp_path: Path, repo: Path, proxy: RecordingProxy
) -> None:
    home = make_home(tmp_path, proxy.url)
    before = {p.name: p.read_bytes() for p in repo.iterdir() if p.is_file()}

    turn = agentrt(
        home, repo, "exec", "-s", "workspace-write", "--enable", "undo", "patch the readme\nplease"
    )
    assert turn.returncode == 0, turn.stderr
    assert (repo / "hello.py").exists() and not (repo / "old.txt").exists()
    assert "# project, patched by the agent" in (repo / "README.md").read_text()

    listed = agentrt(home, repo, "undo", "--list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("session ") and lines[1].split() == [
        "N",
        "TURN",
        "ENDED",
        "(UTC)",
        "FILES",
        "PROMPT",
    ]
    row = lines[2].split()
    assert row[:2] == ["1", "1"] and row[4:] == ["3", "patch", "the", "readme"]
    assert len(lines) == 3

    # the user edits a file the turn touched: undo refuses and changes nothing
    patched = (repo / "README.md").read_text()
    (repo / "README.md").write_text(patched + "the user's line\n")
    refused = agentrt(home, repo, "undo")
    assert refused.returncode == 1
    assert (
        "README.md changed since that turn ended" in refused.stderr and "nothing was undone" in refused.stderr
    )
    assert (repo / "hello.py").exists()
    (repo / "README.md").write_text(patched)

    done = agentrt(home, repo, "undo")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("undid turn 1: 3 files back as before (2 restored, 1 removed)")
    assert {p.name: p.read_bytes() for p in repo.iterdir() if p.is_file()} == before

    again = agentrt(home, repo, "undo")
    assert again.returncode == 1 and "no turn to undo" in again.stderr
    assert "No turns to undo" in agentrt(home, repo, "undo", "--list").stdout

    resumed = agentrt(home, repo, "exec", "resume", "--last", "what changed?")
    assert resumed.returncode == 0, resumed.stderr
    last = proxy.bodies[-1]["messages"]
    users = [m["content"] for m in last if m["role"] == "user" and isinstance(m["content"], str)]
    assert users[-1] == "what changed?"
    note = users[-2]
    assert note.startswith("<undo>The user undid turn 1") and "README.md" in note and "hello.py" in note
    assert not any("<undo>" in str(m.get("content")) for m in proxy.bodies[0]["messages"])


def test_bad_usage_and_no_session(tmp_path: Path, repo: Path) -> None:
    home = tmp_path / "home"
    for args in (["undo", "0"], ["undo", "--list", "2"], ["undo", "two"]):
        bad = agentrt(home, repo, *args)
        assert bad.returncode == 2, (args, bad.stderr)
    none = agentrt(home, repo, "undo")
    assert none.returncode == 2 and "no session" in none.stderr
    assert "undo" in agentrt(home, repo, "--help").stdout
    helped = agentrt(home, repo, "undo", "--help")
    assert helped.returncode == 0 and "--list" in helped.stdout and "--enable undo" in helped.stdout
