"""The human renderer's usage line, and where its numbers come from."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from agentrt.agent.render import HumanSink
from agentrt.agent.thread import Thread
from agentrt.events import Recorder, TokenUsage, TurnCompleted
from agentrt.model.client import OpenAIClient
from agentrt.model.endpoint import Endpoint
from agentrt.model.sim import SimConfig, start_sim_server
from agentrt.tools.registry import ToolRegistry


def usage_line(usage: TokenUsage) -> str:
    out = io.StringIO()
    HumanSink(out, color=False).emit(TurnCompleted(usage))
    return out.getvalue().strip()


def test_reported_usage_shows_input_and_output() -> None:
    usage = TokenUsage(input_tokens=1200, output_tokens=80)
    assert usage.as_dict() == {
        "input_tokens": 1200, "cached_input_tokens": 0, "cache_write_input_tokens": 0,
        "output_tokens": 80, "reasoning_output_tokens": 0,
    }  # fmt: skip
    assert usage_line(usage) == "tokens used: input 1200, output 80"


def test_counted_usage_does_not_claim_zero_input() -> None:
    # llama.cpp's server sends no usage in streams: agentrt counts the output and must not print
    # "input 0" as if the prompt were free.
    usage = TokenUsage(output_tokens=637, counted=True)
    assert usage.as_dict()["counted"] is True
    line = usage_line(usage)
    assert line == "tokens used: output 637 (counted by agentrt: the server reported no usage)"
    assert "input" not in line


def test_a_turn_against_a_server_without_usage_is_marked_counted(tmp_path: Path) -> None:
    # A real stream from the simulator told not to send usage, as llama.cpp's server does.
    async def main() -> Recorder:
        recorder = Recorder()
        script = ({"content": "All done here."},)
        async with await start_sim_server(SimConfig(policy="script", script=script)) as server:
            client = OpenAIClient(
                Endpoint(server.base_url, "agentrt-sim"), params={"stream_options": {"include_usage": False}}
            )
            try:
                await Thread(client, ToolRegistry([]), recorder, cwd=tmp_path).run_turn("Say you are done.")
            finally:
                await client.aclose()
        return recorder

    (done,) = [e for e in asyncio.run(main()).events if isinstance(e, TurnCompleted)]
    assert done.usage.counted is True and done.usage.output_tokens > 0
