"""``PathMap``: container paths (a task's ``/app``) taken by the in-process tools as the commands take them."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from agentrt.events import ItemIds, Recorder
from agentrt.messages import ToolCall
from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.process import Confinement
from agentrt.tools.apply_patch.fsops import local_write
from agentrt.tools.coding import coding_tools
from agentrt.tools.paths import PathMap
from agentrt.tools.registry import ToolContext, ToolRegistry

CONTAINER = "/agentrt-test-app"
"""A container path that is nowhere on this host, so an untranslated path cannot land anywhere real."""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "scratch" / "app"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    return root


def call(ws: Path, name: str, args: dict[str, Any], paths: PathMap | None = None, **tools: Any) -> str:
    registry = ToolRegistry(coding_tools(Confinement(NoSandbox(), dict(os.environ)), local_write, **tools))
    ctx = ToolContext(ws, Recorder().emit, ItemIds(), paths or PathMap.of([(CONTAINER, ws)]))
    return asyncio.run(registry.dispatch(ToolCall("c1", name, json.dumps(args)), ctx))


def test_host_and_shown_translate_only_under_a_mount(tmp_path: Path) -> None:
    app, logs, verifier = tmp_path / "app", tmp_path / "logs", tmp_path / "v"
    for d in (app, logs, verifier):
        d.mkdir()
    paths = PathMap.of([("/app", app), ("/logs", logs), ("/logs/verifier/", verifier)])
    assert paths.host("/app/x.py") == str(app / "x.py")
    assert paths.host("/app") == str(app) and paths.host("/app/") == str(app)
    assert paths.host("//app/./sub//y") == str(app / "sub" / "y")
    assert paths.host("/logs/verifier/reward.txt") == str(verifier / "reward.txt")  # the longer mount
    assert paths.host("/logs/agent/a.txt") == str(logs / "agent" / "a.txt")
    for untouched in ("/application/x", "/app/../etc/passwd", "x.py", "app/x.py", "/etc/hosts"):
        assert paths.host(untouched) == untouched
    assert paths.shown(app / "pkg" / "m.py") == "/app/pkg/m.py" and paths.shown(app) == "/app"
    assert paths.shown(tmp_path / "other") == str(tmp_path / "other")
    assert PathMap().host("/app/x.py") == "/app/x.py"
    with pytest.raises(ValueError, match="absolute"):
        PathMap.of([("app", app)])


def test_apply_patch_takes_container_paths(ws: Path) -> None:
    patch = (
        f"*** Begin Patch\n*** Update File: {CONTAINER}/pkg/mod.py\n@@\n def f():\n-    return 1\n+    return 2\n"
        f"*** Add File: {CONTAINER}/pkg/new.py\n+x = 1\n"
        f"*** Update File: {CONTAINER}/pkg/new.py\n*** Move to: {CONTAINER}/moved.py\n@@\n-x = 1\n+x = 3\n"
        "*** End Patch"
    )
    out = call(ws, "apply_patch", {"input": patch})
    assert out.startswith("Success."), out
    assert f"M {CONTAINER}/pkg/mod.py" in out  # reported as the model spelled it
    assert (ws / "pkg" / "mod.py").read_text() == "def f():\n    return 2\n"
    assert (ws / "moved.py").read_text() == "x = 3\n" and not (ws / "pkg" / "new.py").exists()
    shell_form = (
        f"apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: {CONTAINER}/s.txt\n+s\n*** End Patch\nEOF"
    )
    out = call(ws, "shell", {"command": ["bash", "-lc", shell_form]})
    assert out.startswith("Success."), out
    assert (ws / "s.txt").read_text() == "s\n"


def test_apply_patch_without_the_map_does_not_translate(ws: Path, tmp_path: Path) -> None:
    patch = f"*** Begin Patch\n*** Update File: {CONTAINER}/pkg/mod.py\n@@\n-    return 1\n+    return 2\n*** End Patch"
    out = call(ws, "apply_patch", {"input": patch}, paths=PathMap.of([("/elsewhere", tmp_path)]))
    assert out.startswith("error:") and CONTAINER in out
    assert (ws / "pkg" / "mod.py").read_text() == "def f():\n    return 1\n"


def test_file_tools_and_workdir_take_container_paths(ws: Path) -> None:
    assert call(ws, "read_file", {"file_path": f"{CONTAINER}/pkg/mod.py"}) == "L1: def f():\nL2:     return 1"
    listing = call(ws, "list_dir", {"dir_path": CONTAINER})
    assert listing.splitlines()[0] == f"Absolute path: {CONTAINER}" and "pkg/" in listing
    assert (
        call(ws, "grep_files", {"pattern": "return", "path": f"{CONTAINER}/pkg"}) == f"{CONTAINER}/pkg/mod.py"
    )
    out = json.loads(call(ws, "shell", {"command": ["pwd"], "workdir": f"{CONTAINER}/pkg"}))
    assert out["output"].strip() == str((ws / "pkg").resolve())


def test_a_bound_directory_is_readable_inside_a_hidden_one(ws: Path) -> None:
    """A task's workspace lies in its scratch directory, which is hidden from every task's commands;
    the layout binds the workspace back into view, and the file tools show it likewise."""
    scratch = ws.parent
    (scratch / "secret.txt").write_text("s")
    hidden = {"hidden": [scratch], "bound": [ws]}
    assert call(ws, "read_file", {"file_path": f"{CONTAINER}/pkg/mod.py"}, **hidden).startswith("L1:")
    refused = call(ws, "read_file", {"file_path": str(scratch / "secret.txt")}, **hidden)
    assert "hidden" in refused
    assert "hidden" in call(ws, "read_file", {"file_path": "pkg/mod.py"}, hidden=[scratch])
