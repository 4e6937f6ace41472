"""A small real MCP server for the client's tests, written with the official SDK (``MCPServer``).

Tools: ``echo`` (read-only), ``slow`` (sleeps, for timeouts), ``fail`` (an error result), ``crash`` (the
process dies mid-call), ``hang`` (never answers), ``note`` (no read-only hint: a side effect, appended
to ``--notes FILE``), ``env`` (one environment variable, to check what the server was given) and
``configure`` (a schema with ``$ref``/``anyOf``/``default``, to check sanitising). A resource
``note://readme`` and a template ``note://{name}``.

Options: ``--name``, ``--startup-delay S`` (sleep before serving), ``--never-start`` (never answers the
handshake), ``--pidfile FILE`` (its pid, for the tests' "nothing left running" checks), ``--notes FILE``,
``--http PORT`` (streamable HTTP on 127.0.0.1 instead of stdio; 0 picks a port, written to
``--portfile``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="echo")
    parser.add_argument("--startup-delay", type=float, default=0.0)
    parser.add_argument("--never-start", action="store_true")
    parser.add_argument("--pidfile")
    parser.add_argument("--notes")
    parser.add_argument("--http", type=int)
    parser.add_argument("--portfile")
    args = parser.parse_args()
    if args.pidfile:
        with open(args.pidfile, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\n")
    if args.never_start:  # reads nothing, answers nothing: the handshake never completes
        while True:
            time.sleep(3600)
    if args.startup_delay:
        time.sleep(args.startup_delay)
    server = build(args.name, args.notes)
    if args.http is None:
        server.run("stdio")
        return
    serve_http(server, args.http, args.portfile)


class Item(BaseModel):
    key: str
    value: int = 0


def build(name: str, notes: str | None):  # type: ignore[no-untyped-def]
    import anyio
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp_types import ToolAnnotations

    server = MCPServer(name)
    read_only = ToolAnnotations(read_only_hint=True)

    @server.tool(description="Echo the text back.", annotations=read_only)
    def echo(text: str) -> str:
        return f"echo: {text}"

    @server.tool(description="Sleep for some seconds, then answer.", annotations=read_only)
    async def slow(seconds: float) -> str:
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool(description="Always fails.", annotations=read_only)
    def fail(message: str) -> str:
        raise ToolError(f"failed on purpose: {message}")

    @server.tool(description="The server process dies while answering.")
    def crash() -> str:
        os._exit(3)

    @server.tool(description="Never answers.", annotations=read_only)
    async def hang() -> str:
        await anyio.sleep_forever()
        return "unreachable"

    @server.tool(description="Write a note (a side effect).")
    def note(text: str) -> str:
        if notes:
            with open(notes, "a", encoding="utf-8") as f:
                f.write(text + "\n")
        return f"noted: {text}"

    @server.tool(description="The value of one environment variable of the server.", annotations=read_only)
    def env(name: str) -> str:
        return os.environ.get(name, "<unset>")

    @server.tool(description="A tool with a rich schema.", annotations=read_only)
    def configure(items: list[Item], mode: Literal["fast", "safe"] = "safe", label: str | None = None) -> str:
        return f"{mode}:{label}:{','.join(f'{i.key}={i.value}' for i in items)}"

    @server.resource("note://readme", name="readme", description="The readme note.", mime_type="text/plain")
    def readme() -> str:
        return "hello from the readme"

    @server.resource("note://{topic}", name="topic", description="A note on a topic.")
    def topic(topic: str) -> str:
        return f"a note on {topic}"

    return server


def serve_http(server, port: int, portfile: str | None) -> None:  # type: ignore[no-untyped-def]
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    if portfile:
        Path(portfile).write_text(str(sock.getsockname()[1]), encoding="utf-8")
    app = server.streamable_http_app()
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
