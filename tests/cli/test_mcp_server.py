"""``agentrt mcp-server`` driven by the MCP SDK's own client over stdio, and by the real Codex CLI as its
MCP client where Codex is present (skipped, saying why, where it is not).

agentrt's sessions talk to the simulator's script policy (the reply is picked by the number of
assistant turns in the request): step 0 runs ``touch made.txt`` with ``shell``, then three answers. What
the model was told about a command (ran, denied and why) is read back from the session's rollout.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from agentrt.mcpserver.tools import ArgumentError, reply_arguments, start_arguments, toml_override

SCRIPT = [
    {"content": "", "tool_calls": [{"name": "shell", "arguments": {"command": ["touch", "made.txt"]}}]},
    {"content": "first answer"},
    {"content": "second answer"},
    {"content": "third answer"},
]


# -- the arguments, without the SDK ----------------------------------------------------------------------


def test_arguments_become_session_options() -> None:
    start = start_arguments(
        {
            "prompt": "go",
            "cwd": "sub",
            "approval-policy": "untrusted",
            "sandbox": "workspace-write",
            "config": {"model_reasoning_effort": "high", "sandbox_workspace_write.network_access": True},
            "base-instructions": "be brief",
            "developer-instructions": "say why",
        },
        overrides=['model="m"'],
    )
    options = start.options
    assert start.prompt == "go" and options.cwd == Path("sub") and options.skip_git_repo_check
    assert options.extra_flags == {"approval_policy": "untrusted", "sandbox_mode": "workspace-write"}
    assert list(options.overrides) == [
        'model="m"',
        'model_reasoning_effort="high"',
        "sandbox_workspace_write.network_access=true",
    ]
    assert (options.base_instructions, options.developer_instructions) == ("be brief", "say why")
    assert reply_arguments({"conversationId": "abc", "prompt": "more"}).thread_id == "abc"


def test_config_values_are_written_as_toml_the_config_loader_reads() -> None:
    from agentrt.config.load import parse_override

    item = toml_override("model_providers.x", {"name": 'a "b"', "query_params": {"v": "1"}, "base_url": "é"})
    assert parse_override(item)["model_providers"]["x"]["name"] == 'a "b"'
    assert toml_override("k", [1, 2.5, False]) == "k=[1, 2.5, false]"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({}, "prompt must be a non-empty string"),
        ({"prompt": "x", "sandbox": "none"}, "sandbox must be one of"),
        ({"prompt": "x", "promt": "y"}, "unknown argument(s) promt"),
        ({"prompt": "x", "config": {"a": None}}, "has no TOML value"),
        ({"prompt": "x", "config": ["a"]}, "config must be an object"),
    ],
)
def test_bad_arguments_are_refused(args: dict[str, Any], problem: str) -> None:
    with pytest.raises(ArgumentError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        start_arguments(args)


def test_base_and_developer_instructions_open_the_history(tmp_path: Path) -> None:
    from agentrt.agent.session import SessionOptions, _new_history
    from agentrt.config import load_config

    config = load_config(tmp_path, env={}, user_config=False)
    options = SessionOptions(base_instructions="BASE", developer_instructions="DEV")
    history = _new_history(tmp_path, tmp_path, config, {}, None, options)
    assert [(m["role"], m["content"]) for m in history[:2]] == [("system", "BASE"), ("system", "DEV")]
    assert history[2]["role"] == "user"


# -- the server, driven by the SDK's client ---------------------------------------------------------------

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from agentrt.model.sim.process import SimProcess

    pytest.importorskip("mcp", reason="the MCP SDK is not installed (pip install 'agentrt[mcp]')")
    script = tmp_path_factory.mktemp("sim") / "script.json"
    script.write_text(json.dumps(SCRIPT))
    with SimProcess(["--policy", "script", "--script", str(script)]) as sim:
        yield sim.url


def clean_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "CODEX_", "AGENTRT_"))
    }


def agentrt_home(home: Path, url: str) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "agentrt-sim"\nmodel_provider = "sim"\nmodel_context_window = 32768\n'
        f'[model_providers.sim]\nname = "sim"\nbase_url = "{url}"\nwire_api = "responses"\n'
        "requires_api_key = false\n"
    )
    return clean_env() | {"AGENTRT_HOME": str(home)}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


class Seen:
    """What the client saw: ``agentrt/event`` notifications, progress, elicitation requests."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.progress: list[str] = []
        self.asked: list[Any] = []

    def kinds(self) -> list[str]:
        return [e["msg"]["type"] for e in self.events]

    async def until(self, kind: str, count: int = 1) -> None:
        """Notifications may be dispatched after the call's result: wait for them (bounded)."""
        for _ in range(200):
            if self.kinds().count(kind) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {kind} event in {self.kinds()}")


@asynccontextmanager
async def client(
    env: dict[str, str],
    cwd: Path,
    *,
    mode: str = "auto",
    answer: dict[str, Any] | None = None,
    args: tuple[str, ...] | list[str] = (),
) -> AsyncIterator[tuple[Any, Seen]]:
    """``agentrt mcp-server`` under the SDK's client; ``answer``: the elicitation answer (``None``: the
    client declares no elicitation capability)."""
    import mcp_types as types
    from mcp import Client
    from mcp.client import ClientExtension, NotificationBinding
    from mcp.client.stdio import StdioServerParameters
    from pydantic import BaseModel, ConfigDict, Field

    seen = Seen()

    class EventParams(BaseModel):
        model_config = ConfigDict(extra="allow", populate_by_name=True)
        meta: dict[str, Any] = Field(alias="_meta")
        id: str
        msg: dict[str, Any]

    async def on_event(params: EventParams) -> None:
        seen.events.append(params.model_dump(by_alias=True))

    class Events(ClientExtension):
        identifier = "dev.agentrt.test/events"

        def notifications(self) -> list[NotificationBinding[Any]]:
            return [NotificationBinding(method="agentrt/event", params_type=EventParams, handler=on_event)]

    async def elicit(ctx: Any, params: Any) -> types.ElicitResult:
        seen.asked.append(params)
        assert answer is not None
        return types.ElicitResult.model_validate(answer)

    server = StdioServerParameters(
        command=sys.executable, args=["-m", "agentrt", "mcp-server", *args], env=env, cwd=str(cwd)
    )
    async with Client(
        server,
        mode=mode,  # type: ignore[arg-type]
        extensions=[Events()],
        elicitation_callback=elicit if answer is not None else None,
        read_timeout_seconds=60,
    ) as session:
        yield session, seen


def rollout_of(home: Path, thread_id: str) -> list[dict[str, Any]]:
    [path] = list((home / "sessions").rglob(f"rollout-*{thread_id}.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def tool_outputs(home: Path, thread_id: str) -> list[str]:
    lines = rollout_of(home, thread_id)
    text = json.dumps(lines)
    assert "touch" in text, "the model's command is in the rollout"
    outputs = []
    for line in lines:
        payload = line.get("payload") or {}
        if payload.get("type") == "function_call_output":
            outputs.append(str(payload.get("output")))
        elif payload.get("role") == "tool":
            outputs.append(str(payload.get("content")))
    return outputs


@slow
def test_tools_are_listed_with_codex_shapes(tmp_path: Path, sim_url: str) -> None:
    async def main() -> None:
        async with client(agentrt_home(tmp_path / "home", sim_url), tmp_path) as (session, _):
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert set(tools) == {"agentrt", "agentrt-reply"}
            start, reply = tools["agentrt"], tools["agentrt-reply"]
            assert start.input_schema["required"] == ["prompt"]
            assert set(start.input_schema["properties"]) == {
                "prompt", "model", "profile", "cwd", "approval-policy", "sandbox", "config",
                "base-instructions", "developer-instructions", "compact-prompt",
            }  # fmt: skip
            assert start.input_schema["properties"]["sandbox"]["enum"] == [
                "read-only", "workspace-write", "danger-full-access",
            ]  # fmt: skip
            assert start.input_schema["properties"]["approval-policy"]["enum"] == [
                "untrusted", "on-failure", "on-request", "never",
            ]  # fmt: skip
            assert set(reply.input_schema["properties"]) == {"threadId", "conversationId", "prompt"}
            for tool in (start, reply):
                assert tool.output_schema == {
                    "type": "object",
                    "properties": {"threadId": {"type": "string"}, "content": {"type": "string"}},
                    "required": ["threadId", "content"],
                }

    asyncio.run(main())


@slow
def test_start_reply_progress_and_resume_by_exec(tmp_path: Path, repo: Path, sim_url: str) -> None:
    home = tmp_path / "home"
    env = agentrt_home(home, sim_url)

    async def main() -> str:
        async with client(env, tmp_path) as (session, seen):
            args = {"prompt": "make a file", "cwd": str(repo), "approval-policy": "never",
                    "sandbox": "workspace-write"}  # fmt: skip
            first = await session.call_tool("agentrt", args)
            assert not first.is_error, first.content
            thread_id = first.structured_content["threadId"]
            assert first.structured_content == {"threadId": thread_id, "content": "first answer"}
            assert first.content[0].text == "first answer"  # the text too, as Codex answers
            assert (repo / "made.txt").exists()  # never asks: the command ran (sandboxed)
            await seen.until("turn.completed")
            kinds = seen.kinds()
            assert kinds[:2] == ["thread.started", "turn.started"] and kinds[-1] == "turn.completed"
            commands = [
                e["msg"]["item"]
                for e in seen.events
                if e["msg"].get("item", {}).get("type") == "command_execution"
            ]
            assert commands and commands[-1]["status"] == "completed"
            assert {e["_meta"]["threadId"] for e in seen.events} == {thread_id}

            second = await session.call_tool("agentrt-reply", {"threadId": thread_id, "prompt": "and then?"})
            assert not second.is_error, second.content
            assert second.structured_content == {"threadId": thread_id, "content": "second answer"}
            await seen.until("turn.completed", 2)

            missing = await session.call_tool("agentrt-reply", {"threadId": "no-such-thread", "prompt": "hi"})
            assert missing.is_error and "Session not found" in missing.content[0].text
            bad = await session.call_tool("agentrt", {"prompt": "x", "sandbox": "sideways"})
            assert bad.is_error and "sandbox must be one of" in bad.content[0].text
            return str(thread_id)

    thread_id = asyncio.run(main())
    prompts = [line["payload"] for line in rollout_of(home, thread_id) if line.get("type") == "response_item"]
    assert "and then?" in json.dumps(prompts)  # both turns in the one normal rollout
    resumed = subprocess.run(
        [sys.executable, "-m", "agentrt", "exec", "resume", thread_id, "go on"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.strip() == "third answer"  # the resumed request carried the three answers


@slow
@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_approval_is_denied_when_the_client_cannot_elicit(
    tmp_path: Path, repo: Path, sim_url: str, mode: str
) -> None:
    home = tmp_path / "home"

    async def main() -> str:
        async with client(agentrt_home(home, sim_url), tmp_path, mode=mode) as (session, _):
            args = {"prompt": "make a file", "cwd": str(repo), "approval-policy": "untrusted",
                    "sandbox": "workspace-write"}  # fmt: skip
            result = await session.call_tool("agentrt", args)
            assert result.structured_content["content"] == "first answer", result.content
            return str(result.structured_content["threadId"])

    thread_id = asyncio.run(main())
    assert not (repo / "made.txt").exists()
    [output] = tool_outputs(home, thread_id)
    assert "the MCP client did not approve this command" in output
    assert "no elicitation capability" in output


@slow
@pytest.mark.parametrize(
    "mode", ["legacy", "auto"]
)  # elicitation/create, or InputRequiredResult (2026-07-28)
@pytest.mark.parametrize(
    ("answer", "ran", "told"),
    [
        ({"action": "accept", "content": {"decision": "approved"}}, True, None),
        ({"action": "accept", "content": {"decision": "denied", "instead": "use echo"}}, False, "use echo"),
        ({"action": "decline"}, False, "did not approve"),
    ],
)
def test_approval_is_asked_through_elicitation(
    tmp_path: Path, repo: Path, sim_url: str, mode: str, answer: dict[str, Any], ran: bool, told: str | None
) -> None:
    home = tmp_path / "home"

    async def main() -> tuple[str, Seen]:
        async with client(agentrt_home(home, sim_url), tmp_path, mode=mode, answer=answer) as (session, seen):
            args = {"prompt": "make a file", "cwd": str(repo), "approval-policy": "untrusted",
                    "sandbox": "workspace-write"}  # fmt: skip
            result = await session.call_tool("agentrt", args)
            assert result.structured_content["content"] == "first answer", result.content
            return str(result.structured_content["threadId"]), seen

    thread_id, seen = asyncio.run(main())
    [asked] = seen.asked
    assert "touch made.txt" in asked.message and str(repo) in asked.message
    assert asked.requested_schema["properties"]["decision"]["enum"] == [
        "approved", "approved_for_session", "denied",
    ]  # fmt: skip
    if mode == "legacy":
        assert asked.meta["threadId"] == thread_id and asked.meta["agentrt_command"] == ["touch", "made.txt"]
    assert (repo / "made.txt").exists() is ran
    [output] = tool_outputs(home, thread_id)
    if told is not None:
        assert told in output
    else:
        assert "did not approve" not in output


@slow
def test_a_session_closed_to_make_room_is_reopened_from_its_rollout(
    tmp_path: Path, repo: Path, sim_url: str
) -> None:
    async def main() -> None:
        async with client(
            agentrt_home(tmp_path / "home", sim_url), tmp_path, args=["--max-sessions", "1"]
        ) as (
            session,
            seen,
        ):
            args = {"prompt": "make a file", "cwd": str(repo), "approval-policy": "never",
                    "sandbox": "workspace-write"}  # fmt: skip
            first = (await session.call_tool("agentrt", args)).structured_content
            other = (await session.call_tool("agentrt", args)).structured_content  # closes the first
            assert other["threadId"] != first["threadId"] and other["content"] == "first answer"
            again = await session.call_tool(
                "agentrt-reply", {"threadId": first["threadId"], "prompt": "more"}
            )
            assert again.structured_content == {"threadId": first["threadId"], "content": "second answer"}
            await seen.until("turn.completed", 3)
            assert seen.kinds().count("thread.started") == 3  # the reply reopened the thread

    asyncio.run(main())


@slow
def test_the_server_closes_its_sessions_and_exits_when_stdin_closes(
    tmp_path: Path, repo: Path, sim_url: str
) -> None:
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentrt", "mcp-server"], env=agentrt_home(home, sim_url), cwd=tmp_path,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None

    def send(message: dict[str, Any]) -> None:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        proc.stdin.flush()

    def response(request_id: int) -> dict[str, Any]:
        assert proc.stdout is not None
        while True:
            line = json.loads(proc.stdout.readline())
            if line.get("id") == request_id:
                return dict(line)

    try:
        send({"id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {},
              "clientInfo": {"name": "raw", "version": "0"}}})  # fmt: skip
        assert response(1)["result"]["serverInfo"]["name"] == "agentrt"
        send({"method": "notifications/initialized"})
        send({"id": 2, "method": "tools/call", "params": {"name": "agentrt", "arguments": {
            "prompt": "make a file", "cwd": str(repo), "approval-policy": "never", "sandbox": "workspace-write"}}})  # fmt: skip
        result = response(2)["result"]
        assert result["structuredContent"]["content"] == "first answer"
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    lines = rollout_of(home, result["structuredContent"]["threadId"])
    assert lines[0]["type"] == "session_meta"


# -- the real Codex CLI as the MCP client -----------------------------------------------------------------


@slow
def test_codex_calls_agentrt_as_its_mcp_server(
    tmp_path: Path, repo: Path, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import capture_server
    from codex_peer import SKIP_REASON, codex_binary

    codex = codex_binary()
    if codex is None:
        pytest.skip(SKIP_REASON)
    # Codex 0.169 offers a server's tools as one namespace (mcp__agentrt) and calls them by name within it.
    plain = capture_server._events

    def namespaced(reply: dict[str, Any], n: int) -> Iterator[dict[str, Any]]:
        for event in plain(reply, n):
            item = event.get("item")
            if item and item.get("type") == "function_call" and "/" in item["name"]:
                space, name = item["name"].split("/")
                event = {**event, "item": {**item, "name": name, "namespace": space}}
            yield event

    monkeypatch.setattr(capture_server, "_events", namespaced)
    ahome = tmp_path / "ahome"
    agentrt_env = agentrt_home(ahome, sim_url)
    call = {
        "prompt": "make a file",
        "cwd": str(repo),
        "approval-policy": "never",
        "sandbox": "workspace-write",
    }

    # Codex 0.169 does not wait for its MCP servers before the first request: a server still starting
    # (agentrt's imports the SDK) is offered only in a later one. So the model waits (a short command)
    # until the request offers the agentrt tools, calls `agentrt` once, then answers.
    def reply_for(self: Any, body: dict[str, Any]) -> dict[str, Any]:
        if any(i.get("namespace") == "mcp__agentrt" for i in body.get("input", ())):
            return {"text": "codex is done"}
        if any(t.get("name") == "mcp__agentrt" for t in body.get("tools", ())):
            return {"calls": [{"name": "mcp__agentrt/agentrt", "arguments": call}]}
        return {"calls": [{"name": "exec_command", "arguments": {"cmd": "sleep 0.5"}}]}

    monkeypatch.setattr(capture_server.CaptureServer, "reply_for", reply_for)
    with capture_server.capture_server([]) as outer:
        chome = tmp_path / "chome"
        chome.mkdir()
        server_env = ", ".join(
            f"{k} = {json.dumps(agentrt_env[k])}"
            for k in ("AGENTRT_HOME", "PATH", "HOME")
            if k in agentrt_env
        )
        (chome / "config.toml").write_text(
            f'model = "scripted"\nmodel_provider = "local"\n[model_providers.local]\nname = "local"\n'
            f'base_url = "{outer.url}"\nenv_key = "LOCAL_KEY"\nwire_api = "responses"\n'
            f"[mcp_servers.agentrt]\ncommand = {json.dumps(sys.executable)}\n"
            # Room for a slow start on a loaded machine (Codex's default gives a server 10 s).
            f'args = ["-m", "agentrt", "mcp-server"]\nstartup_timeout_sec = 120\nenv = {{ {server_env} }}\n'
        )
        env = clean_env() | {"CODEX_HOME": str(chome), "LOCAL_KEY": "x"}
        # Codex asks before an MCP call that is not read-only; exec cannot ask, so approvals are off there.
        done = subprocess.run(
            [str(codex), "exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
             "use agentrt"], cwd=repo, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    calls = [
        e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "mcp_tool_call"
    ]
    assert len(calls) == 1, f"Codex made no single agentrt call: {done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    [call_item] = calls
    assert call_item["status"] == "completed", call_item
    structured = call_item["result"]["structured_content"]
    assert structured["content"] == "first answer"
    outputs = [
        i for r in outer.requests for i in r.body.get("input", []) if i.get("type") == "function_call_output"
    ]
    assert outputs and structured["threadId"] in json.dumps(outputs[-1])  # Codex's model got agentrt's answer
    assert (repo / "made.txt").exists()
    assert rollout_of(ahome, structured["threadId"])[0]["type"] == "session_meta"
