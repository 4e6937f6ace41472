"""The ``exec --json`` stream of one scripted session, compared line by line with a recorded golden file.

The golden file was recorded before the agent core was reshaped; outside tools read this stream, so
any change to it must be deliberate. Regenerate (only for a deliberate change) with
``AGENTRT_REGOLD=1 pytest tests/cli/test_exec_golden.py``.

What varies between runs is fixed or masked: the repository lives at a path of constant length (the
simulator's prompt-token estimate counts characters), ``SHELL`` is fixed, the thread id and the
repository path are replaced by placeholders.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentrt.model.sim.process import SimProcess

DATA = Path(__file__).parent.parent / "data"

PATCH = """*** Begin Patch
*** Add File: notes.txt
+first line
+second line
*** End Patch"""

SCRIPT: list[dict[str, Any]] = [
    {
        "content": "Planning.",
        "reasoning": "Plan, then edit.",
        "tool_calls": [
            {
                "name": "update_plan",
                "arguments": {"plan": [{"step": "write notes", "status": "in_progress"}]},
            }
        ],
    },
    {"tool_calls": [{"name": "apply_patch", "arguments": {"input": PATCH}}]},
    {"tool_calls": [{"name": "shell", "arguments": {"command": ["cat", "notes.txt"]}}]},
    {"tool_calls": [{"name": "shell", "arguments": {"command": ["sh", "-c", "echo oops >&2; exit 3"]}}]},
    {"tool_calls": [{"name": "read_file", "arguments": {"file_path": "notes.txt", "limit": 1}}]},
    {"tool_calls": [{"name": "no_such_tool", "arguments": {}}]},
    {"tool_calls": [{"name": "shell", "arguments": "{not json"}]},
    {
        "tool_calls": [
            {
                "name": "apply_patch",
                "arguments": {
                    "input": "*** Begin Patch\n*** Update File: nope.txt\n@@\n-x\n+y\n*** End Patch"
                },
            }
        ]
    },
    {
        "tool_calls": [
            {
                "name": "update_plan",
                "arguments": {"plan": [{"step": "write notes", "status": "completed"}]},
            }
        ]
    },
    {"content": "Wrote notes.txt with two lines."},
]


@pytest.fixture
def fixed_repo() -> Iterator[Path]:
    top = Path(tempfile.mkdtemp(prefix="agentrt-golden-", dir="/tmp"))
    repo = top / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    yield repo
    shutil.rmtree(top, ignore_errors=True)


def _normalise(text: str, repo: Path) -> str:
    """The raw stream with the repository path and the thread id replaced; nothing re-serialised."""
    thread_id = json.loads(text.splitlines()[0])["thread_id"]
    return text.replace(str(repo), "<REPO>").replace(thread_id, "<THREAD>")


@pytest.mark.parametrize("wire_api", ["chat", "responses"])
def test_exec_json_stream_matches_the_recorded_golden_file(
    tmp_path: Path, fixed_repo: Path, wire_api: str
) -> None:
    golden = DATA / f"exec-golden-{wire_api}.jsonl"
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    sim = SimProcess(["--policy", "script", "--script", str(script)])
    url = sim.start()
    try:
        home = tmp_path / "home"
        home.mkdir()
        (home / "config.toml").write_text(
            'model = "agentrt-sim"\nmodel_provider = "sim"\n\n[model_providers.sim]\nname = "sim"\n'
            f'base_url = "{url}"\nwire_api = "{wire_api}"\nrequires_api_key = false\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
        env |= {"AGENTRT_HOME": str(home), "SHELL": "/bin/bash"}
        proc = subprocess.run(
            [sys.executable, "-m", "agentrt", "exec", "--json", "-C", str(fixed_repo)]
            + ["-s", "workspace-write", "write the notes"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    finally:
        sim.close()
    assert proc.returncode == 0, proc.stderr
    got = _normalise(proc.stdout, fixed_repo)
    if os.environ.get("AGENTRT_REGOLD"):
        golden.write_text(got)
    want = golden.read_text()
    got_lines, want_lines = got.splitlines(), want.splitlines()
    assert [json.loads(x)["type"] for x in got_lines] == [json.loads(x)["type"] for x in want_lines]
    for index, (g, w) in enumerate(zip(got_lines, want_lines, strict=True)):
        assert g == w, f"event {index} differs"
    assert got == want  # byte for byte: key order, separators, escaping and line ends included
