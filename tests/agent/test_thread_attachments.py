"""A tool that leaves content for the model (``view_image``): the loop sends it in a user message
right after the calls' results, once."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from agentrt.agent.thread import ATTACHED_NOTE, Thread
from agentrt.events import Recorder
from agentrt.model.scripted import ScriptedModel
from agentrt.tools.registry import ToolRegistry
from agentrt.tools.view_image import ViewImageTool

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_an_image_a_tool_asked_for_follows_the_results_once(tmp_path: Path) -> None:
    (tmp_path / "dot.png").write_bytes(PNG)
    view = {"name": "view_image", "arguments": {"path": "dot.png"}}
    model = ScriptedModel([{"tool_calls": [view]}, "It is one pixel.", "again"])
    thread = Thread(model, ToolRegistry([ViewImageTool()]), Recorder(), cwd=tmp_path)
    asyncio.run(thread.run_turn("what is in dot.png?"))
    second, _ = model.requests[1]
    assert [m["role"] for m in second[-3:]] == ["assistant", "tool", "user"]
    content = second[-1]["content"]
    assert content[0] == {"type": "text", "text": ATTACHED_NOTE}
    assert [p["type"] for p in content[1:]] == ["image_url"]
    assert base64.b64encode(PNG).decode() in content[1]["image_url"]["url"]
    asyncio.run(thread.run_turn("and now?"))
    third, _ = model.requests[2]
    assert sum(1 for m in third if m["role"] == "user" and isinstance(m["content"], list)) == 1  # not re-sent
