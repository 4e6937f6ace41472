"""A session's extension tools (sub-agents, memory, MCP) survive a switch of approval policy or
sandbox (``/approvals``), which replaces the session's own tool set."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

from agentrt.agent.session import SessionOptions, open_session
from agentrt.events import Fanout


def test_extension_tools_stay_offered_after_reconfigure(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"content": "ok"}]))
    home = tmp_path / "home"
    home.mkdir()
    options = SessionOptions(
        cwd=tmp_path, sim_script=script, skip_git_repo_check=True, enable=["multi_agent", "memories"],
        extra_flags={"sandbox_mode": "read-only", "approval_policy": "never"},
    )  # fmt: skip

    async def main() -> tuple[set[str], set[str]]:
        env = {"AGENTRT_HOME": str(home)}
        async with open_session(options, env, Fanout([]), stderr=io.StringIO()) as session:
            before = set(session.thread.tools.tools)
            await session.reconfigure(approval_policy="on-request", sandbox_mode="workspace-write")
            await session.run_turn("hello")
            return before, set(session.thread.tools.tools)

    before, after = asyncio.run(main())
    assert {"spawn_agent", "wait_agent", "close_agent", "remember", "shell"} <= before
    assert before <= after


def test_a_parity_sessions_goal_outlives_reconfigure(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"content": "ok"}]))
    options = SessionOptions(
        cwd=tmp_path, sim_script=script, skip_git_repo_check=True,
        extra_flags={"parity": True, "sandbox_mode": "read-only", "approval_policy": "never"},
    )  # fmt: skip

    async def main() -> str:
        env = {"AGENTRT_HOME": str(tmp_path / "home")}
        async with open_session(options, env, Fanout([]), stderr=io.StringIO()) as session:
            ctx = session.thread.ctx
            await session.thread.tools.tools["create_goal"].run({"objective": "ship it"}, ctx)
            await session.reconfigure(approval_policy="on-request")
            return await session.thread.tools.tools["get_goal"].run({}, ctx)

    (tmp_path / "home").mkdir()
    assert json.loads(asyncio.run(main()))["goal"]["objective"] == "ship it"
