"""The MCP client's pieces in-process: schema sanitising, names, the hub's task discipline, lean imports."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentrt.events import Recorder
from agentrt.tools.mcp import McpHub, ServerConfig, qualified_name, sanitize_schema
from agentrt.tools.registry import ToolContext, ToolRegistry

ECHO = Path(__file__).resolve().parents[1] / "mcp_servers" / "echo_server.py"


def test_sanitize_follows_codex_and_inlines_local_refs() -> None:
    schema = {
        "type": "object",
        "$defs": {"P": {"type": "object", "properties": {"x": {"type": "integer", "minimum": 0}}}},
        "properties": {
            "p": {"$ref": "#/$defs/P"},
            "u": {"type": ["null", "number"]},
            "free": True,
            "arr": {"type": "array"},
            "inferred": {"properties": {"a": {}}},
            "fmt": {"format": "date-time"},
            "num": {"maximum": 3},
        },
        "required": ["p", "gone"],
        "additionalProperties": {"title": "x"},
    }
    out = sanitize_schema(schema)
    assert out["properties"]["p"] == {"type": "object", "properties": {"x": {"type": "integer"}}}
    assert out["properties"]["u"] == {"type": "number"}
    assert out["properties"]["free"] == {"type": "string"}
    assert out["properties"]["arr"] == {"type": "array", "items": {"type": "string"}}
    assert out["properties"]["inferred"] == {"type": "object", "properties": {"a": {"type": "string"}}}
    assert out["properties"]["fmt"] == {"type": "string"}
    assert out["properties"]["num"] == {"type": "number"}
    assert out["required"] == ["p"]
    assert out["additionalProperties"] == {"type": "string"}
    assert sanitize_schema({}) == {"type": "object", "properties": {}}
    recursive = {
        "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
        "$ref": "#/$defs/N",
    }
    assert sanitize_schema(recursive)["type"] == "object"  # a recursive $ref ends (bounded)


def test_qualified_names_fit_the_model_apis() -> None:
    assert qualified_name("echo", "echo") == "echo__echo"
    assert qualified_name("my.server", "do/it") == "my_server__do_it"
    long = qualified_name("s" * 40, "t" * 40)
    assert len(long) == 64 and long.startswith("s" * 20)
    assert long != qualified_name("s" * 40, "t" * 39 + "u")


def hub_for(servers: list[ServerConfig], registry: ToolRegistry, sink: Recorder) -> McpHub:
    from agentrt.events import ItemIds

    ctx = ToolContext(Path.cwd(), sink.emit, ItemIds())

    async def never(argv: Any, cwd: str, reason: str) -> str | None:
        raise AssertionError("nothing here asks")

    return McpHub(
        servers, env=dict(__import__("os").environ), cwd=Path.cwd(), registry=lambda: registry,
        ctx=lambda: ctx, policy=lambda: "never", ask=never,
    )  # fmt: skip


def echo(name: str, *args: str, **kw: Any) -> ServerConfig:
    return ServerConfig(name, command=sys.executable, args=(str(ECHO), *args), **kw)


@pytest.mark.slow
def test_servers_open_and_close_their_contexts_in_one_task_on_every_path() -> None:
    """Up, timed out while starting, and closed while still starting: no anyio cancel-scope error, no
    exception left in a task, and each ends in the state it should."""

    async def main() -> dict[str, str]:
        loop = asyncio.get_running_loop()
        errors: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        registry, sink = ToolRegistry([]), Recorder()
        hub = hub_for(
            [
                echo("up"),
                echo("stuck", "--never-start", startup_timeout_s=1.0),
                echo("slow", "--startup-delay", "30"),
            ],
            registry,
            sink,
        )
        hub.start()
        await asyncio.wait_for(hub.servers["stuck"].done_starting.wait(), 20)
        await asyncio.wait_for(hub.servers["up"].done_starting.wait(), 20)
        states = {name: s.state for name, s in hub.servers.items()}
        await hub.close()  # "slow" is still starting: it is stopped too
        assert all(s.task is not None and s.task.done() for s in hub.servers.values())
        for s in hub.servers.values():
            assert s.task is not None and (s.task.cancelled() or s.task.exception() is None)
        assert errors == []
        return states | {f"{n}-after": s.state for n, s in hub.servers.items()}

    states = asyncio.run(main())
    assert states["up"] == "ready" and states["stuck"] == "failed" and states["slow"] == "starting"
    assert states["up-after"] == "stopped"


def imported(stderr: str) -> set[str]:
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.slow
def test_exec_without_mcp_servers_never_imports_the_sdk(tmp_path: Path) -> None:
    import json

    script = tmp_path / "s.json"
    script.write_text(json.dumps([{"content": "done"}]))

    def run(config: str) -> set[str]:
        home = tmp_path / f"home{len(config)}"
        home.mkdir()
        (home / "config.toml").write_text(config)
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "agentrt", "exec", "--skip-git-repo-check", "--sim", str(script), "hi"],
            cwd=tmp_path, env={**__import__("os").environ, "AGENTRT_HOME": str(home)}, capture_output=True,
            text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return imported(done.stderr)

    without = run("")
    assert (
        "agentrt" in without
        and "mcp" not in without
        and "mcp_types" not in without
        and "anyio" not in without
    )
    disabled = run(f'[mcp_servers.off]\ncommand = "{sys.executable}"\nenabled = false\n')
    assert "mcp" not in disabled  # configured but disabled: nothing starts, nothing is imported
    served = run(f'[mcp_servers.echo]\ncommand = "{sys.executable}"\nargs = ["{ECHO}"]\n')
    assert "mcp" in served  # the counter-check: the listing does show it when a server runs
