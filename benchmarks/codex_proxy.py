"""A loopback proxy that lets Codex CLI play the simulator's ``coding-agent`` policy (for ``peers.py``).

The policy calls agentrt's tools, ``shell {"command": [argv…]}`` and ``apply_patch {"input": patch}``;
Codex 0.169 offers neither to an unknown model, only ``exec_command {"cmd": "…"}`` (whose handler
applies an ``apply_patch`` heredoc itself). The proxy forwards every request to the simulator as is
and rewrites each function call in the Responses SSE stream: ``shell`` becomes ``exec_command`` with
the argv joined for bash, ``apply_patch`` becomes ``exec_command`` with an ``apply_patch`` heredoc.
Argument deltas of rewritten calls are dropped (the ``…arguments.done``, ``output_item.done`` and
``response.completed`` events carry the rewritten arguments); all other events pass through as they
arrive, so the simulator's pacing reaches Codex unchanged. It runs in the benchmark's own process
(not counted against Codex).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import threading
from typing import Any
from urllib.parse import urlsplit


def codex_arguments(name: str, arguments: str) -> str:
    """``exec_command`` arguments for a ``shell`` or ``apply_patch`` call's arguments."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        return arguments
    if name == "shell":
        return json.dumps({"cmd": shlex.join(args.get("command") or [])})
    return json.dumps({"cmd": f"apply_patch <<'AGENTRT_PATCH'\n{args.get('input', '')}AGENTRT_PATCH"})


def rewrite_call(item: dict[str, Any]) -> dict[str, Any]:
    """A ``function_call`` item with agentrt's tool names turned into Codex's ``exec_command``."""
    if item.get("type") != "function_call" or item.get("name") not in ("shell", "apply_patch"):
        return item
    arguments = codex_arguments(item["name"], item["arguments"]) if item.get("arguments") else ""
    return {**item, "name": "exec_command", "arguments": arguments}


def rewrite_event(event: dict[str, Any]) -> dict[str, Any] | None:
    """The event to send on (``None``: drop it)."""
    kind = event.get("type")
    if kind == "response.function_call_arguments.delta":
        return None
    if isinstance(event.get("item"), dict):
        event = {**event, "item": rewrite_call(event["item"])}
    if kind == "response.function_call_arguments.done" and isinstance(event.get("arguments"), str):
        name = "shell" if '"command"' in event["arguments"] else "apply_patch"
        event = {**event, "arguments": codex_arguments(name, event["arguments"])}
    response = event.get("response")
    if isinstance(response, dict) and isinstance(response.get("output"), list):
        event = {**event, "response": {**response, "output": [rewrite_call(i) for i in response["output"]]}}
    return event


def rewrite_block(block: bytes) -> bytes | None:
    """One SSE event block (``event: …\\ndata: {…}``), rewritten."""
    lines = block.split(b"\n")
    out = []
    for line in lines:
        if line.startswith(b"data: {"):
            event = rewrite_event(json.loads(line[6:]))
            if event is None:
                return None
            line = b"data: " + json.dumps(event).encode()
        out.append(line)
    return b"\n".join(out)


async def _read_head(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    first, *rest = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in rest if h)}
    return first.encode("latin-1"), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                return b"".join(parts)
            parts.append(data[:-2])
    return await reader.readexactly(int(headers.get("content-length", "0")))


async def _chunks(reader: asyncio.StreamReader, headers: dict[str, str]) -> Any:
    """The upstream body as it arrives (chunked or until EOF)."""
    if headers.get("transfer-encoding", "").lower() != "chunked":
        while data := await reader.read(65536):
            yield data
        return
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        data = await reader.readexactly(size + 2)
        if size == 0:
            return
        yield data[:-2]


class CodexProxy:
    """``with CodexProxy(sim_url) as url:`` — a proxy at ``url`` (``http://127.0.0.1:PORT/v1``)."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.url = ""

    def __enter__(self) -> str:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0, limit=1 << 22), self._loop
        ).result()
        self._server = server
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one request after another on this connection
                try:
                    line, headers = await _read_head(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                body = await _read_body(reader, headers)
                await self._forward(line, headers, body, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _forward(
        self, line: bytes, headers: dict[str, str], body: bytes, writer: asyncio.StreamWriter
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection(self._host, self._port, limit=1 << 22)
        keep = {
            k: v
            for k, v in headers.items()
            if k not in ("host", "connection", "transfer-encoding", "content-length")
        }
        head = [
            line.decode("latin-1"),
            f"host: {self._host}:{self._port}",
            "connection: close",
            f"content-length: {len(body)}",
        ]
        head += [f"{k}: {v}" for k, v in keep.items()]
        up_writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        status, up_headers = await _read_head(up_reader)
        sse = "text/event-stream" in up_headers.get("content-type", "")
        out = {
            k: v
            for k, v in up_headers.items()
            if k not in ("transfer-encoding", "content-length", "connection")
        }
        writer.write(status + b"\r\n" + "".join(f"{k}: {v}\r\n" for k, v in out.items()).encode("latin-1"))
        writer.write(b"transfer-encoding: chunked\r\n\r\n")
        buffer = b""
        async for data in _chunks(up_reader, up_headers):
            if not sse:
                _chunk(writer, data)
                continue
            buffer += data
            *blocks, buffer = buffer.split(b"\n\n")
            for block in blocks:
                rewritten = rewrite_block(block)
                if rewritten is not None:
                    _chunk(writer, rewritten + b"\n\n")
            await writer.drain()
        if buffer:
            _chunk(writer, buffer)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        up_writer.close()


def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    if data:
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
